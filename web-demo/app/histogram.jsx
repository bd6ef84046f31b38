// A small histogram of rerank latencies (SVG, no chart library).

const WIDTH = 320;
const HEIGHT = 90;
const BINS = 16;

/** @param {{ values: number[] }} props */
export function LatencyHistogram({ values }) {
  if (values.length === 0) return <p className="histogram">move the slider or pick a listener to collect timings</p>;
  const sorted = [...values].sort((a, b) => a - b);
  const quantile = (/** @type {number} */ q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const max = Math.max(sorted[sorted.length - 1], 1e-3);
  const counts = new Array(BINS).fill(0);
  for (const v of values) counts[Math.min(BINS - 1, Math.floor((v / max) * BINS))] += 1;
  const top = Math.max(...counts);
  const barWidth = WIDTH / BINS;
  return (
    <figure className="histogram">
      <svg width={WIDTH} height={HEIGHT + 16} role="img" aria-label="rerank latency histogram">
        {counts.map((c, i) => {
          const h = (c / top) * HEIGHT;
          return <rect key={i} x={i * barWidth + 1} y={HEIGHT - h} width={barWidth - 2} height={h} />;
        })}
        <text x="0" y={HEIGHT + 14}>0</text>
        <text x={WIDTH} y={HEIGHT + 14} textAnchor="end">{max.toFixed(1)} ms</text>
      </svg>
      <figcaption>
        {values.length} rerank{values.length === 1 ? "" : "s"} · p50 {quantile(0.5).toFixed(1)} ms · p90 {quantile(0.9).toFixed(1)} ms
      </figcaption>
    </figure>
  );
}
