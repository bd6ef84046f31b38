"use client";

/** @typedef {import("../lib/generated/InterestGraph").InterestGraph} InterestGraph */

/** Bars for the heaviest entries of a name → weight map.
 *  @param {{ title: string, weights: InterestGraph["topArtists"], max?: number }} props */
function Weights({ title, weights, max = 6 }) {
  const entries = Object.entries(weights).sort((a, b) => b[1] - a[1]).slice(0, max);
  if (entries.length === 0) return null;
  return (
    <div className="weights">
      <h3>{title}</h3>
      {entries.map(([name, w]) => (
        <div key={name} className="weight">
          <span className="bar" style={{ width: `${Math.round(w * 100)}%` }} />
          <span className="label">{name}</span>
          <span className="value">{w.toFixed(2)}</span>
        </div>
      ))}
    </div>
  );
}

/** The listener's interest graph, as the reranker's heuristic reads it (decoded by the
 *  browser module from the listener's stored features).
 *  @param {{ graph: InterestGraph | null }} props */
export function InterestGraph({ graph }) {
  if (!graph) {
    return <p className="note" data-testid="interest-graph">No interest graph for this listener.</p>;
  }
  return (
    <div className="interest" data-testid="interest-graph">
      <Weights title="Top artists" weights={graph.topArtists} />
      <Weights title="Top genres" weights={graph.topGenres} />
      {graph.moods.length > 0 && <p><b>Moods:</b> {graph.moods.join(", ")}</p>}
      {graph.themes.length > 0 && <p><b>Themes:</b> {graph.themes.join(", ")}</p>}
      {graph.insights.length > 0 && (
        <ul className="insights">
          {graph.insights.map((insight) => <li key={insight}>{insight}</li>)}
        </ul>
      )}
    </div>
  );
}
