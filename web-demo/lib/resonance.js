// Where the page's model and features come from, and the browser module, loaded lazily.
//
// - The Worker (default http://127.0.0.1:8787, `?worker=` to change): GET /health, GET
//   /v1/model (the published ONNX graph), POST /v1/features (what one rerank reads).
// - The bundled snapshot in /demo/ (written by `trainer snapshot`), when the Worker is down.
// - The browser module (/pkg/webgpu/ or /pkg/cpu/, built by scripts/build-web.sh): fetched
//   on first use, only the engine's own, never bundled by Next, so the page stays small.

// One module per engine (scripts/build-web.sh builds both), so a page downloads one.
const MODULES = { webgpu: "/pkg/webgpu/", cpu: "/pkg/cpu/" };
const DEMO_URL = "/demo/";

// A real dynamic import of a URL at run time, out of the bundler's sight.
const importAtRunTime = new Function("url", "return import(url)");

const modules = new Map();

/** Loads an engine's wasm module once; resolves to { glue, wasmBytes, loadMs }. */
export function loadModule(kind) {
  if (!modules.has(kind)) {
    const loading = (async () => {
      const started = performance.now();
      const base = MODULES[kind];
      const response = await fetch(`${base}resonance_browser_bg.wasm`);
      if (!response.ok) {
        throw new Error(
          `the ${kind} module is missing (${base}: HTTP ${response.status}); ` +
            "build it with scripts/build-web.sh",
        );
      }
      const bytes = await response.arrayBuffer();
      const glue = await importAtRunTime(`${base}resonance_browser.js`);
      await glue.default({ module_or_path: bytes });
      return { glue, wasmBytes: bytes.byteLength, loadMs: performance.now() - started };
    })();
    modules.set(kind, loading);
    loading.catch(() => modules.delete(kind));
  }
  return modules.get(kind);
}

/** Why WebGPU cannot run here, or null when the browser offers an adapter. Asked before
 *  downloading the WebGPU module. */
export async function webgpuProblem() {
  if (!globalThis.navigator?.gpu) return "this browser does not expose WebGPU (navigator.gpu)";
  try {
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? null : "the browser offers no WebGPU adapter (no GPU, or WebGPU disabled)";
  } catch (e) {
    return `asking for a WebGPU adapter failed: ${e.message}`;
  }
}

async function fetchOk(url, init, what) {
  let response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(init?.timeoutMs ?? 5000) });
  } catch (e) {
    throw new Error(`${what}: ${url} did not answer (${e.name === "TimeoutError" ? "timeout" : e.message})`);
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      message = body.message ?? body.error ?? message;
    } catch {}
    throw new Error(`${what}: ${message}`);
  }
  return response;
}

/** The demo's listeners, candidates and track names (bundled). */
export async function loadDemo() {
  const response = await fetch(`${DEMO_URL}demo.json`).catch(() => null);
  if (!response?.ok) {
    throw new Error(
      "no demo data is bundled (/demo/demo.json): run scripts/demo.sh, which writes it with " +
        "`trainer snapshot`",
    );
  }
  return response.json();
}

/** The Worker's live model and feature version; throws with the reason when unusable. */
export async function openWorker(base) {
  const health = await (await fetchOk(`${base}/health`, { timeoutMs: 2000 }, "the Worker")).json();
  if (!health.modelLoaded) {
    throw new Error(`the Worker has no model${health.modelError ? `: ${health.modelError}` : " (publish one)"}`);
  }
  if (!health.featuresVersion) throw new Error("the Worker has no live feature version (publish one)");
  const response = await fetchOk(`${base}/v1/model`, { timeoutMs: 10000 }, "the Worker's model");
  return {
    kind: "worker",
    base,
    modelVersion: response.headers.get("X-Model-Version") ?? health.modelVersion,
    modelBytes: new Uint8Array(await response.arrayBuffer()),
    featureVersion: health.featuresVersion,
  };
}

/** The bundled snapshot: model and features for the demo listeners. */
export async function openSnapshot(demo) {
  const model = await fetchOk(`${DEMO_URL}model.onnx`, {}, "the bundled model");
  const features = await fetchOk(`${DEMO_URL}features.json`, {}, "the bundled features");
  return {
    kind: "snapshot",
    modelVersion: demo.modelVersion,
    modelBytes: new Uint8Array(await model.arrayBuffer()),
    featureVersion: demo.featureVersion,
    featuresJson: await features.text(),
  };
}

/** What a rerank of `request` reads, from the Worker (a snapshot's JSON text). */
export async function workerFeatures(base, request) {
  const response = await fetchOk(
    `${base}/v1/features`,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) },
    "the Worker's features",
  );
  return response.text();
}

/** A rerank request as the Worker takes it. */
export function rerankRequest(listener, transformerWeight) {
  return {
    user_id: listener.userId,
    candidates: listener.candidates,
    context: { hour: listener.hour },
    weights: { transformer: transformerWeight, heuristic: 1 - transformerWeight },
  };
}
