// Rerank time in the browser, per engine: the web demo's page in headless Chromium, one
// demo listener (history 50, 100 candidates with the demo model), through the page's module.
//
//   node bench/browser.mjs [--url http://127.0.0.1:3000/] [--runs 30] [--user ID]
//
// For each engine it reports the model load (weights to the GPU, or tract's plan), the first
// rerank (for WebGPU: shader compilation), reranks that run the model (the encoder-state
// cache cleared before each), and reranks served from that cache. In headless Chromium here
// WebGPU is SwiftShader, a CPU emulation: its figures say nothing about real GPUs.

import { parseArgs } from "node:util";
import { launch, openDemo } from "../web-demo/tests/chromium.mjs";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:3000/" },
    runs: { type: "string", default: "30" },
    user: { type: "string" },
  },
});
const runs = Number(args.runs);

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const ms = (v) => `${v.toFixed(2)} ms`;

const browser = await launch({ webgpu: true });
try {
  const { page, info } = await openDemo(browser, args.url);
  const user = args.user ?? info.listeners[0];
  console.log(
    `page: ${args.url} (features from ${info.source}, model ${info.modelVersion}); listener ${user}; ${runs} runs`,
  );
  console.log("engine     module    model load  first call   model p50   model p90   model mean  cached p50");
  for (const engine of ["webgpu", "cpu"]) {
    const r = await page.evaluate(([e, u, n]) => window.resonanceDemo.bench(e, u, n), [engine, user, runs]);
    const mean = r.model.reduce((a, b) => a + b, 0) / r.model.length;
    console.log(
      [r.engine.padEnd(10), `${(r.wasmBytes / 1e6).toFixed(2)} MB`.padStart(8), ms(r.loadMs).padStart(11), ms(r.firstMs).padStart(12),
        ms(quantile(r.model, 0.5)).padStart(11), ms(quantile(r.model, 0.9)).padStart(11),
        ms(mean).padStart(11), ms(quantile(r.cached, 0.5)).padStart(11)].join(" "),
    );
  }
  const chose = info.warmUp
    ? `measured WebGPU ${ms(info.warmUp.webgpuMs)}, CPU ${ms(info.warmUp.cpuMs)} a rerank (median of ${info.warmUp.runs})`
    : info.fallbackReason;
  console.log(`the page (engine=auto) chose ${info.engine}: ${chose}`);
  console.log("(WebGPU here is SwiftShader, a CPU emulation; the figure says nothing about real GPUs.)");
} finally {
  await browser.close();
}
