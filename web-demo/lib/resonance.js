// Where the page's model and features come from, and the browser module, loaded lazily.
//
// - The Worker (default http://127.0.0.1:8787, `?worker=` to change): GET /health, GET
//   /v1/model (the published ONNX graph), POST /v1/features (what one rerank reads).
// - The bundled snapshot in /demo/ (written by `trainer snapshot`), when the Worker is down.
// - The browser module (/pkg/webgpu/ or /pkg/cpu/, built by scripts/build-web.sh): fetched
//   on first use, only the engine's own, never bundled by Next, so the page stays small.
//
// The wire types are generated from the Rust types (web-demo/lib/generated/, by ts-rs) and the
// page is checked against them (`npx tsc -p jsconfig.json`); the module decodes what the page
// must not read itself: error bodies (errorMessage) and stored feature values (interestGraph).

/** @typedef {import("./generated/HealthResponse").HealthResponse} HealthResponse */
/** @typedef {import("./generated/InterestGraph").InterestGraph} InterestGraph */
/** @typedef {import("./generated/MixWeights").MixWeights} MixWeights */
/** @typedef {import("./generated/Mood").Mood} Mood */
/** @typedef {import("./generated/RerankRequest").RerankRequest} RerankRequest */
/** @typedef {import("./generated/RerankResponse").RerankResponse} RerankResponse */

/**
 * A `BrowserReranker` of the browser module (crates/browser/src/bindings.rs); JSON crosses as
 * text in the generated wire types' shapes.
 * @typedef {object} BrowserReranker
 * @property {string} engine `webgpu` or `tract-cpu`.
 * @property {string} modelVersion
 * @property {string} mix The model's `MixWeights` as JSON: what a rerank without `weights` gets.
 * @property {(snapshotJson: string) => Uint32Array} setFeatures Returns [users, tracks].
 * @property {(requestJson: string) => Promise<string>} rerank A `RerankResponse`'s JSON; rejects
 *   with an `Error` whose message is an `ErrorBody`'s JSON.
 * @property {(userId: string) => string} history `[{ trackId, mood }]` as JSON.
 * @property {(userId: string) => string} interestGraph An `InterestGraph`'s JSON, or `null`.
 * @property {() => void} clearStates
 */

/**
 * The browser module's exports (wasm-bindgen's `--target web` glue).
 * @typedef {object} Glue
 * @property {(init: { module_or_path: ArrayBuffer }) => Promise<unknown>} default
 * @property {{ load(onnx: Uint8Array, modelVersion: string, mix: string | null): Promise<BrowserReranker> }} BrowserReranker
 * @property {(body: string) => string | undefined} errorMessage The message of an error body
 *   (`field: message`), or undefined when it is not the shared error envelope.
 * @property {() => string} defaultWeights The `MixWeights` of a model without its own, as JSON.
 */

/** @typedef {{ glue: Glue, wasmBytes: number, loadMs: number }} LoadedModule */
/** @typedef {"webgpu" | "cpu"} ModuleKind */

/** One entry of a `history` answer. @typedef {{ trackId: string, mood: Mood | null }} HistoryEntry */

/**
 * The bundled demo data (/demo/demo.json, written by `trainer snapshot`).
 * @typedef {{ userId: string, candidates: string[], hour: number }} DemoListener
 * @typedef {{ title: string, artist: string, genre: string }} CatalogueEntry
 * @typedef {{ modelVersion: string, modelMix?: MixWeights, featureVersion: number, listeners: DemoListener[],
 *   catalogue: Record<string, CatalogueEntry> }} DemoBundle
 */

/**
 * Where the model and features come from.
 * `modelMix`: the model's `MixWeights` as JSON, null for a model without its own.
 * @typedef {{ kind: "worker", base: string, modelVersion: string, modelMix: string | null,
 *   modelBytes: Uint8Array, featureVersion: number }} WorkerSource
 * @typedef {{ kind: "snapshot", modelVersion: string, modelMix: string | null,
 *   modelBytes: Uint8Array, featureVersion: number, featuresJson: string }} SnapshotSource
 * @typedef {WorkerSource | SnapshotSource} Source
 */

// One module per engine (scripts/build-web.sh builds both), so a page downloads one.
/** @type {Record<ModuleKind, string>} */
const MODULES = { webgpu: "/pkg/webgpu/", cpu: "/pkg/cpu/" };
const DEMO_URL = "/demo/";

// A real dynamic import of a URL at run time, out of the bundler's sight.
const importAtRunTime = /** @type {(url: string) => Promise<Glue>} */ (
  new Function("url", "return import(url)")
);

/** @type {Map<ModuleKind, Promise<LoadedModule>>} */
const modules = new Map();

/**
 * Loads an engine's wasm module once; resolves to { glue, wasmBytes, loadMs }.
 * @param {ModuleKind} kind
 * @returns {Promise<LoadedModule>}
 */
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
    return loading;
  }
  return /** @type {Promise<LoadedModule>} */ (modules.get(kind));
}

/** What a caught value says. @param {unknown} e */
export function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

/** Why WebGPU cannot run here, or null when the browser offers an adapter. Asked before
 *  downloading the WebGPU module.
 *  @returns {Promise<string | null>} */
export async function webgpuProblem() {
  // `navigator.gpu` is not in TypeScript's DOM library yet.
  const gpu = /** @type {{ gpu?: { requestAdapter(): Promise<unknown> } }} */ (globalThis.navigator ?? {}).gpu;
  if (!gpu) return "this browser does not expose WebGPU (navigator.gpu)";
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? null : "the browser offers no WebGPU adapter (no GPU, or WebGPU disabled)";
  } catch (e) {
    return `asking for a WebGPU adapter failed: ${messageOf(e)}`;
  }
}

/** The module an engine preference (`webgpu`, `cpu` or `auto`) loads first: `auto` tries
 *  WebGPU when the browser offers an adapter.
 *  @param {string} preference
 *  @returns {Promise<ModuleKind>} */
export async function firstModule(preference) {
  if (preference === "webgpu" || preference === "cpu") return preference;
  return (await webgpuProblem()) ? "cpu" : "webgpu";
}

/**
 * The message of an error answer for a person, or null when it has none. The browser module
 * decodes the body (`errorMessage`: the shared error envelope as "field: message"), so the
 * page never reads its shape. Only JSON answers (the Worker's) are decoded, with a module
 * already loaded, else the one the page is about to run on (`engine`: after a Worker error
 * the page loads it next anyway, and loadModule keeps it), so no download serves only an
 * error message when the page can still rerank.
 * @param {Response} response
 * @param {string} engine
 * @returns {Promise<string | null>}
 */
async function errorMessage(response, engine) {
  if (!response.headers.get("Content-Type")?.includes("json")) return null;
  try {
    const body = await response.text();
    const loading = modules.values().next().value ?? loadModule(await firstModule(engine));
    return (await loading).glue.errorMessage(body) ?? null;
  } catch {
    return null;
  }
}

/**
 * `fetch` with a timeout over the whole exchange (the answer and its body), throwing an
 * `Error` that starts with `what` when there is no answer, it is not a success (with the
 * error answer's message), or its body does not arrive in time. Resolves to the answer's
 * headers and its body read by `read`.
 * @template T
 * @param {string} url
 * @param {RequestInit & { timeoutMs?: number, engine?: string }} init
 * @param {string} what
 * @param {(response: Response) => Promise<T>} read
 * @returns {Promise<{ headers: Headers, body: T }>}
 */
async function fetchOk(url, init, what, read) {
  const { timeoutMs = 10_000, engine = "auto", ...rest } = init;
  const signal = AbortSignal.timeout(timeoutMs);
  /** Why the exchange stopped: "timeout" when the signal fired, else the error's message. */
  const reason = (/** @type {unknown} */ e) => (signal.aborted ? `timeout after ${timeoutMs} ms` : messageOf(e));
  let response;
  try {
    response = await fetch(url, { ...rest, signal });
  } catch (e) {
    throw new Error(`${what}: ${url} did not answer (${reason(e)})`);
  }
  if (!response.ok) {
    const message = (await errorMessage(response, engine)) ?? `HTTP ${response.status}`;
    throw new Error(`${what}: ${message}`);
  }
  try {
    return { headers: response.headers, body: await read(response) };
  } catch (e) {
    throw new Error(`${what}: ${url} answered, but its body did not arrive (${reason(e)})`);
  }
}

/** @param {Response} r */
const asText = (r) => r.text();
/** @param {Response} r */
const asBytes = async (r) => new Uint8Array(await r.arrayBuffer());

/** The demo's listeners, candidates and track names (bundled).
 *  @returns {Promise<DemoBundle>} */
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

/** The Worker's live model and feature version; throws with the reason when unusable.
 *  `engine` is the page's engine preference (for decoding the Worker's error answers).
 *  @param {string} base
 *  @param {string} engine
 *  @returns {Promise<WorkerSource>} */
export async function openWorker(base, engine) {
  const answer = await fetchOk(`${base}/health`, { timeoutMs: 5000, engine }, "the Worker", asText);
  const health = /** @type {HealthResponse} */ (JSON.parse(answer.body));
  if (!health.modelLoaded) {
    throw new Error(`the Worker has no model${health.modelError ? `: ${health.modelError}` : " (run `trainer daily`)"}`);
  }
  if (!health.featuresVersion) throw new Error("the Worker has no live feature version (run `trainer daily`)");
  // The model streams from KV chunk by chunk: a cold Worker on a busy machine takes seconds.
  const model = await fetchOk(`${base}/v1/model`, { timeoutMs: 60_000, engine }, "the Worker's model", asBytes);
  return {
    kind: "worker",
    base,
    modelVersion: model.headers.get("X-Model-Version") ?? health.modelVersion ?? "unknown",
    // The model's mix as JSON (tuned by `trainer eval`); a Worker older than it sends none.
    modelMix: model.headers.get("X-Model-Mix"),
    modelBytes: model.body,
    featureVersion: health.featuresVersion,
  };
}

/** The bundled snapshot: model and features for the demo listeners.
 *  @param {DemoBundle} demo
 *  @returns {Promise<SnapshotSource>} */
export async function openSnapshot(demo) {
  const model = await fetchOk(`${DEMO_URL}model.onnx`, {}, "the bundled model", asBytes);
  const features = await fetchOk(`${DEMO_URL}features.json`, {}, "the bundled features", asText);
  return {
    kind: "snapshot",
    modelVersion: demo.modelVersion,
    modelMix: demo.modelMix ? JSON.stringify(demo.modelMix) : null,
    modelBytes: model.body,
    featureVersion: demo.featureVersion,
    featuresJson: features.body,
  };
}

/** Listener tokens by listener id, until a minute before they expire.
 *  @type {Map<string, { token: string, expiresAt: number }>} */
const tokens = new Map();

/**
 * A listener token for `userId`: the Worker answers questions about a listener only to them
 * (docs/DESIGN.md §5). A music service's page gets it from its own backend; the demo's comes
 * from the demo server's token endpoint (/demo/token, on only in local development).
 * @param {string} userId
 * @returns {Promise<string>}
 */
export async function listenerToken(userId) {
  const cached = tokens.get(userId);
  if (cached && cached.expiresAt - 60 > Date.now() / 1000) return cached.token;
  const answer = await fetchOk(
    `${DEMO_URL}token?user_id=${encodeURIComponent(userId)}`,
    {},
    "the demo's listener token",
    asText,
  );
  const minted = /** @type {{ token: string, expiresAt: number }} */ (JSON.parse(answer.body));
  tokens.set(userId, minted);
  return minted.token;
}

/** What a rerank of `request` reads, from the Worker (a snapshot's JSON text, handed to the
 *  module as it is), asked with the listener's own token.
 *  @param {string} base
 *  @param {RerankRequest} request
 *  @returns {Promise<string>} */
export async function workerFeatures(base, request) {
  const token = await listenerToken(request.user_id);
  const response = await fetchOk(
    `${base}/v1/features`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify(request),
    },
    "the Worker's features",
    asText,
  );
  return response.body;
}

/** A rerank request as the Worker takes it.
 *  @param {DemoListener} listener
 *  @param {number} transformerWeight
 *  @returns {RerankRequest} */
export function rerankRequest(listener, transformerWeight) {
  return {
    user_id: listener.userId,
    candidates: listener.candidates,
    context: { hour: listener.hour },
    weights: { transformer: transformerWeight, heuristic: 1 - transformerWeight },
  };
}
