"use client";

// The demo: pick a listener, see their interest graph, history and candidates, and the reranked list with
// the transformer and heuristic parts of each score; the mix, the engine, and what each
// rerank cost. `window.resonanceDemo` exposes the same operations to the browser tests and
// the benchmark (tests/browser.mjs, bench/browser.mjs).

import { useCallback, useEffect, useRef, useState } from "react";
import { InterestGraph } from "./interest";
import {
  loadDemo,
  loadModule,
  messageOf,
  openSnapshot,
  openWorker,
  rerankRequest,
  webgpuProblem,
  workerFeatures,
} from "../lib/resonance";
import { LatencyHistogram } from "./histogram";

// (The generated InterestGraph type is named in full: the component has its name.)
/** @typedef {import("../lib/generated/MixWeights").MixWeights} MixWeights */
/** @typedef {import("../lib/generated/RerankRequest").RerankRequest} RerankRequest */
/** @typedef {import("../lib/generated/RerankResponse").RerankResponse} RerankResponse */
/** @typedef {import("../lib/resonance").BrowserReranker} BrowserReranker */
/** @typedef {import("../lib/resonance").DemoBundle} DemoBundle */
/** @typedef {import("../lib/resonance").DemoListener} DemoListener */
/** @typedef {import("../lib/resonance").HistoryEntry} HistoryEntry */
/** @typedef {import("../lib/resonance").LoadedModule} LoadedModule */
/** @typedef {import("../lib/resonance").ModuleKind} ModuleKind */
/** @typedef {import("../lib/resonance").Source} Source */

/**
 * A reranker with the module it came from, why `auto` did not pick WebGPU, what `auto`
 * measured when it could run both engines, and the features it holds.
 * @typedef {BrowserReranker & { module: LoadedModule, fallbackReason: string | null,
 *   warmUp?: WarmUp, loadedFeatures?: string }} Reranker
 */

/**
 * `auto`'s measurement on this device: the median of a few model-path reranks on each engine.
 * @typedef {{ webgpuMs: number, cpuMs: number, runs: number }} WarmUp
 */

/** Timed reranks per engine in `auto`'s warm-up (after one untimed call that compiles it). */
const WARM_UP_RUNS = 5;

/**
 * One rerank as the page shows it.
 * @typedef {{ answer: RerankResponse, ms: number, featuresMs: number, graph: import("../lib/generated/InterestGraph").InterestGraph | null }} Rerank
 */

/** @typedef {ReturnType<Session["info"]>} Info */

const DEFAULT_WORKER = "http://127.0.0.1:8787";

/** Everything loaded once: demo data, source, module, and one reranker per engine. */
class Session {
  /**
   * @param {DemoBundle} demo
   * @param {Source} source
   * @param {string | null} workerError
   * @param {string} preference
   */
  constructor(demo, source, workerError, preference) {
    this.demo = demo;
    this.source = source;
    this.workerError = workerError;
    this.preference = preference;
    /** @type {Map<string, Promise<Reranker>>} */
    this.rerankers = new Map();
    /** @type {Map<string, string>} user id → snapshot JSON (Worker mode) */
    this.features = new Map();
    /** @type {Reranker | null} the reranker of `preference`, once loaded */
    this.main = null;
    /** @type {number | undefined} */
    this.firstRerankMs = undefined;
  }

  /** @param {URLSearchParams} params */
  static async open(params) {
    const demo = await loadDemo();
    const workerBase = params.get("worker") ?? DEFAULT_WORKER;
    const preference = params.get("engine") ?? "auto";
    /** @type {Source} */
    let source;
    let workerError = null;
    try {
      source = await openWorker(workerBase, preference);
    } catch (e) {
      workerError = messageOf(e);
      try {
        source = await openSnapshot(demo);
      } catch (snapshotError) {
        throw new Error(
          `no model to rerank with. ${workerError}; and ${messageOf(snapshotError)} ` +
            "(scripts/demo.sh publishes a model and bundles a snapshot)",
        );
      }
    }
    const session = new Session(demo, source, workerError, preference);
    session.main = await session.reranker(preference);
    return session;
  }

  /** The main reranker (loaded by `open`). */
  get mainReranker() {
    if (!this.main) throw new Error("the session is not open");
    return this.main;
  }

  /** The mix a request gets by default: the model's own (tuned by `trainer eval`, sent by the
   *  Worker or bundled), else the shared mixer's 0.7 / 0.3. */
  get defaultWeights() {
    return /** @type {MixWeights} */ (JSON.parse(this.mainReranker.mix));
  }

  /** A reranker on `preference`: `webgpu`, `cpu`, or `auto` (WebGPU when the browser offers
   *  an adapter, the model loads on it and a warm-up measures it faster than the CPU here,
   *  else the CPU, with the reason kept).
   *  @param {string} preference
   *  @returns {Promise<Reranker>} */
  async reranker(preference) {
    let loading = this.rerankers.get(preference);
    if (!loading) {
      loading = this.loadReranker(preference);
      this.rerankers.set(preference, loading);
      loading.catch(() => this.rerankers.delete(preference));
    }
    return loading;
  }

  /** @param {string} preference
   *  @returns {Promise<Reranker>} */
  async loadReranker(preference) {
    /** @param {ModuleKind} kind
     *  @returns {Promise<Reranker>} */
    const load = async (kind) => {
      const module = await loadModule(kind);
      const { modelBytes, modelVersion, modelMix } = this.source;
      const reranker = await module.glue.BrowserReranker.load(modelBytes, modelVersion, modelMix);
      return Object.assign(reranker, { module, fallbackReason: null });
    };
    if (preference === "webgpu" || preference === "cpu") return load(preference);
    if (preference !== "auto") throw new Error(`engine: ${preference} is not auto, webgpu or cpu`);
    let reason = await webgpuProblem();
    let webgpu = null;
    if (!reason) {
      try {
        webgpu = await load("webgpu");
      } catch (e) {
        reason = `WebGPU failed: ${messageOf(e)}`;
      }
    }
    const cpu = await load("cpu");
    if (!webgpu) return Object.assign(cpu, { fallbackReason: `No WebGPU: ${reason}` });
    // Both run here: an adapter says nothing about speed, and for a model this small WebGPU
    // (dispatch and readback per call) is often slower than wasm. Measure, then pick.
    const warmUp = {
      webgpuMs: await this.warmUpMs(webgpu),
      cpuMs: await this.warmUpMs(cpu),
      runs: WARM_UP_RUNS,
    };
    if (warmUp.webgpuMs <= warmUp.cpuMs) return Object.assign(webgpu, { warmUp });
    const measured = `${warmUp.cpuMs.toFixed(2)} ms a rerank against WebGPU's ${warmUp.webgpuMs.toFixed(2)} ms`;
    return Object.assign(cpu, { warmUp, fallbackReason: `The CPU is faster on this device (${measured})` });
  }

  /** The median ms of WARM_UP_RUNS reranks of the first demo listener on `reranker`, each
   *  running the model (its encoder-state cache cleared), after one untimed call.
   *  @param {Reranker} reranker */
  async warmUpMs(reranker) {
    const listener = this.demo.listeners[0];
    const request = rerankRequest(listener, JSON.parse(reranker.mix).transformer);
    await this.prepare(reranker, listener, request);
    const body = JSON.stringify(request);
    await reranker.rerank(body);
    const times = [];
    for (let i = 0; i < WARM_UP_RUNS; i++) {
      reranker.clearStates();
      const started = performance.now();
      await reranker.rerank(body);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }

  /** @param {string} userId */
  listener(userId) {
    const listener = this.demo.listeners.find((l) => l.userId === userId);
    if (!listener) throw new Error(`no demo listener ${userId}`);
    return listener;
  }

  /** Gives `reranker` the features of `listener`; resolves to the ms spent fetching them and
   *  the listener's interest graph (null when the store has none), decoded by the module.
   *  @param {Reranker} reranker
   *  @param {DemoListener} listener
   *  @param {RerankRequest} request */
  async prepare(reranker, listener, request) {
    const started = performance.now();
    let json;
    if (this.source.kind === "worker") {
      json = this.features.get(listener.userId);
      if (json === undefined) {
        json = await workerFeatures(this.source.base, request);
        this.features.set(listener.userId, json);
      }
    } else {
      json = this.source.featuresJson;
    }
    if (reranker.loadedFeatures !== json) {
      reranker.setFeatures(json);
      reranker.loadedFeatures = json;
    }
    const featuresMs = performance.now() - started;
    const graph = /** @type {Rerank["graph"]} */ (
      JSON.parse(reranker.interestGraph(listener.userId))
    );
    return { featuresMs, graph };
  }

  /** One rerank at `transformerWeight` (the default mix's when undefined).
   *  @param {string} preference
   *  @param {string} userId
   *  @param {number} [transformerWeight]
   *  @returns {Promise<Rerank>} */
  async rerank(preference, userId, transformerWeight = this.defaultWeights.transformer) {
    const reranker = await this.reranker(preference);
    const listener = this.listener(userId);
    const request = rerankRequest(listener, transformerWeight);
    const { featuresMs, graph } = await this.prepare(reranker, listener, request);
    const started = performance.now();
    let text;
    try {
      text = await reranker.rerank(JSON.stringify(request));
    } catch (e) {
      // The module rejects with the error envelope's JSON, which it decodes itself.
      const body = messageOf(e);
      throw new Error(reranker.module.glue.errorMessage(body) ?? body);
    }
    const answer = /** @type {RerankResponse} */ (JSON.parse(text));
    return { answer, ms: performance.now() - started, featuresMs, graph };
  }

  /** Rerank timings for one engine: the model load and the first call of a fresh reranker,
   *  then `runs` calls with the encoder-state cache cleared (the model runs each time), then
   *  `runs` served from that cache, at the default mix. The module itself was loaded before
   *  (see info()).
   *  @param {string} preference
   *  @param {string} userId
   *  @param {number} runs */
  async bench(preference, userId, runs) {
    this.rerankers.delete(preference);
    const load = performance.now();
    const reranker = await this.reranker(preference);
    const loadMs = performance.now() - load;
    const first = await this.rerank(preference, userId);
    const model = [];
    const cached = [];
    for (let i = 0; i < runs; i++) {
      reranker.clearStates();
      model.push((await this.rerank(preference, userId)).ms);
    }
    for (let i = 0; i < runs; i++) cached.push((await this.rerank(preference, userId)).ms);
    const wasmBytes = reranker.module.wasmBytes;
    return { engine: reranker.engine, wasmBytes, loadMs, firstMs: first.ms, model, cached };
  }

  info() {
    const main = this.mainReranker;
    return {
      source: this.source.kind,
      workerError: this.workerError,
      modelVersion: this.source.modelVersion,
      featureVersion: this.source.featureVersion,
      engine: main.engine,
      fallbackReason: main.fallbackReason,
      warmUp: main.warmUp ?? null,
      wasmBytes: main.module.wasmBytes,
      moduleLoadMs: main.module.loadMs,
      listeners: this.demo.listeners.map((l) => l.userId),
    };
  }
}

/** @typedef {{ state: "loading" | "ready" | "error", message?: string }} Status */
/** @typedef {Rerank & { history: HistoryEntry[], listener: DemoListener }} Result */

export default function Demo() {
  const session = useRef(/** @type {Session | null} */ (null));
  const [status, setStatus] = useState(/** @type {Status} */ ({ state: "loading", message: "loading the demo…" }));
  const [info, setInfo] = useState(/** @type {Info | null} */ (null));
  const [userId, setUserId] = useState(/** @type {string | null} */ (null));
  // The transformer's share of the mix: the module's default until the slider moves.
  const [weight, setWeight] = useState(/** @type {number | null} */ (null));
  const [result, setResult] = useState(/** @type {Result | null} */ (null));
  const [latencies, setLatencies] = useState(/** @type {number[]} */ ([]));

  useEffect(() => {
    const params = new URLSearchParams(window.location.search);
    const opening = Session.open(params);
    /** @type {any} */ (window).resonanceDemo = {
      ready: opening.then((s) => s.info()),
      /** @param {string} engine @param {string} user @param {number} [w] */
      rerank: async (engine, user, w) => (await (await opening).rerank(engine, user, w)).answer,
      /** @param {string} engine @param {string} user */
      bench: async (engine, user, runs = 20) => (await opening).bench(engine, user, runs),
    };
    opening.then(
      (s) => {
        session.current = s;
        setInfo(s.info());
        setWeight(s.defaultWeights.transformer);
        setUserId(s.demo.listeners[0]?.userId ?? null);
        setStatus({ state: "ready" });
      },
      (e) => setStatus({ state: "error", message: messageOf(e) }),
    );
  }, []);

  const rerank = useCallback(async (/** @type {string | null} */ user, /** @type {number | null} */ w) => {
    const s = session.current;
    if (!s || !user || w === null) return;
    try {
      const { answer, ms, featuresMs, graph } = await s.rerank(s.preference, user, w);
      const history = /** @type {HistoryEntry[]} */ (JSON.parse(s.mainReranker.history(user)));
      setResult({ answer, ms, featuresMs, graph, history, listener: s.listener(user) });
      // The first rerank compiles the GPU shaders (or tract's plan): shown apart.
      if (s.firstRerankMs === undefined) s.firstRerankMs = ms;
      else setLatencies((l) => [...l.slice(-199), ms]);
      setStatus({ state: "ready" });
    } catch (e) {
      setStatus({ state: "error", message: `the rerank failed: ${messageOf(e)}` });
    }
  }, []);

  useEffect(() => {
    rerank(userId, weight);
  }, [userId, weight, rerank]);

  const catalogue = session.current?.demo.catalogue ?? {};
  /** @param {string} id */
  const name = (id) => catalogue[id] ?? { title: id, artist: "?", genre: "?" };
  return (
    <div className="demo" data-status={status.state}>
      {status.state === "error" && <p className="error" role="alert">{status.message}</p>}
      {status.state === "loading" && <p className="loading">{status.message}</p>}
      {info && (
        <section className="badges">
          <span className={`badge engine-${info.engine}`} data-testid="engine">
            {info.engine === "webgpu" ? "WebGPU" : "CPU (tract)"}
          </span>
          <span className="badge" data-testid="source">
            {info.source === "worker"
              ? `features from the Worker (version ${info.featureVersion})`
              : "bundled snapshot"}
          </span>
          <span className="badge">model {info.modelVersion}</span>
          <span className="badge">
            module {(info.wasmBytes / 1e6).toFixed(2)} MB, loaded in {info.moduleLoadMs.toFixed(0)} ms
          </span>
          {info.fallbackReason && <p className="note">{info.fallbackReason}</p>}
          {info.workerError && <p className="note">Worker unavailable ({info.workerError}); using the bundled snapshot.</p>}
        </section>
      )}
      {info && weight !== null && (
        <section className="controls">
          <label>
            Listener{" "}
            <select value={userId ?? ""} onChange={(e) => setUserId(e.target.value)} data-testid="listener">
              {info.listeners.map((id) => (
                <option key={id} value={id}>{id}</option>
              ))}
            </select>
          </label>
          <label>
            Transformer {Math.round(weight * 100)}% / heuristic {Math.round((1 - weight) * 100)}%{" "}
            <input type="range" min="0" max="1" step="0.05" value={weight}
              onChange={(e) => setWeight(Number(e.target.value))} data-testid="mix" />
          </label>
        </section>
      )}
      {result && (
        <div className="columns">
          <section>
            <h2>Interest graph</h2>
            <InterestGraph graph={result.graph} />
            <h2>Recent history</h2>
            <ol className="history">
              {result.history.slice(-12).reverse().map((h, i) => (
                <li key={`${h.trackId}-${i}`}>
                  <b>{name(h.trackId).artist}</b> · {name(h.trackId).genre} · <i>{h.mood ?? "?"}</i>
                </li>
              ))}
            </ol>
            <h2>Candidates ({result.listener.candidates.length})</h2>
            <p className="candidates">
              {result.listener.candidates.slice(0, 30).map((id) => name(id).title).join(" · ")}
              {result.listener.candidates.length > 30 ? " …" : ""}
            </p>
            <h2>Latency</h2>
            <p data-testid="latency">
              last rerank {result.ms.toFixed(1)} ms in the page ({result.answer.timing_ms.toFixed(1)} ms in the
              module){result.featuresMs > 1 ? `, features ${result.featuresMs.toFixed(0)} ms` : ""}
            </p>
            {session.current?.firstRerankMs !== undefined && (
              <p className="first-call">
                first rerank {session.current.firstRerankMs.toFixed(0)} ms (it compiles the engine&apos;s
                kernels once)
              </p>
            )}
            <LatencyHistogram values={latencies} />
          </section>
          <section>
            <h2>Reranked on {result.answer.backend}</h2>
            <table className="ranked" data-testid="ranked">
              <thead>
                <tr><th>#</th><th>track</th><th>artist</th><th>genre</th><th>score</th><th>transformer</th><th>heuristic</th></tr>
              </thead>
              <tbody>
                {result.answer.ranked.slice(0, 25).map((r, i) => (
                  <tr key={r.track_id}>
                    <td>{i + 1}</td>
                    <td>{name(r.track_id).title}</td>
                    <td>{name(r.track_id).artist}</td>
                    <td>{name(r.track_id).genre}</td>
                    <td>{r.score.toFixed(3)}</td>
                    <td>{r.transformer == null ? "–" : r.transformer.toFixed(3)}</td>
                    <td>{r.heuristic.toFixed(3)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
      )}
    </div>
  );
}
