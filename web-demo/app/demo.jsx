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
  openSnapshot,
  openWorker,
  rerankRequest,
  webgpuProblem,
  workerFeatures,
} from "../lib/resonance";
import { LatencyHistogram } from "./histogram";

const DEFAULT_WORKER = "http://127.0.0.1:8787";

/** Everything loaded once: demo data, source, module, and one reranker per engine. */
class Session {
  static async open(params) {
    const session = new Session();
    session.demo = await loadDemo();
    const workerBase = params.get("worker") ?? DEFAULT_WORKER;
    try {
      session.source = await openWorker(workerBase);
    } catch (e) {
      session.workerError = e.message;
      try {
        session.source = await openSnapshot(session.demo);
      } catch (snapshotError) {
        throw new Error(
          `no model to rerank with. ${e.message}; and ${snapshotError.message} ` +
            "(scripts/demo.sh publishes a model and bundles a snapshot)",
        );
      }
    }
    session.rerankers = new Map();
    session.features = new Map(); // user id → snapshot JSON (Worker mode)
    session.preference = params.get("engine") ?? "auto";
    session.main = await session.reranker(session.preference);
    return session;
  }

  /** A reranker on `preference`: `webgpu`, `cpu`, or `auto` (WebGPU when the browser offers
   *  an adapter and the model loads on it, else the CPU, with the reason kept). */
  async reranker(preference) {
    if (!this.rerankers.has(preference)) {
      const loading = this.loadReranker(preference);
      this.rerankers.set(preference, loading);
      loading.catch(() => this.rerankers.delete(preference));
    }
    return this.rerankers.get(preference);
  }

  async loadReranker(preference) {
    const load = async (kind) => {
      const module = await loadModule(kind);
      const { modelBytes, modelVersion } = this.source;
      const reranker = await module.glue.BrowserReranker.load(modelBytes, modelVersion);
      return Object.assign(reranker, { module, fallbackReason: null });
    };
    if (preference === "webgpu" || preference === "cpu") return load(preference);
    if (preference !== "auto") throw new Error(`engine: ${preference} is not auto, webgpu or cpu`);
    let reason = await webgpuProblem();
    if (!reason) {
      try {
        return await load("webgpu");
      } catch (e) {
        reason = `WebGPU failed: ${e.message}`;
      }
    }
    return Object.assign(await load("cpu"), { fallbackReason: `No WebGPU: ${reason}` });
  }

  listener(userId) {
    const listener = this.demo.listeners.find((l) => l.userId === userId);
    if (!listener) throw new Error(`no demo listener ${userId}`);
    return listener;
  }

  /** Gives `reranker` the features of `listener`; resolves to the ms spent fetching them and
   *  the listener's interest graph (null when the store has none). */
  async prepare(reranker, listener, request) {
    const started = performance.now();
    let json;
    if (this.source.kind === "worker") {
      if (!this.features.has(listener.userId)) {
        this.features.set(listener.userId, await workerFeatures(this.source.base, request));
      }
      json = this.features.get(listener.userId);
    } else {
      json = this.source.featuresJson;
    }
    if (reranker.loadedFeatures !== json) {
      reranker.setFeatures(json);
      reranker.loadedFeatures = json;
    }
    const featuresMs = performance.now() - started;
    if (this.parsedFrom !== json) {
      this.parsed = JSON.parse(json);
      this.parsedFrom = json;
    }
    const stored = this.parsed.users?.[listener.userId];
    return { featuresMs, graph: stored ? JSON.parse(stored).interest_graph ?? null : null };
  }

  /** One rerank; resolves to { answer, ms, featuresMs, graph }. */
  async rerank(preference, userId, transformerWeight) {
    const reranker = await this.reranker(preference);
    const listener = this.listener(userId);
    const request = rerankRequest(listener, transformerWeight);
    const { featuresMs, graph } = await this.prepare(reranker, listener, request);
    const started = performance.now();
    const answer = JSON.parse(await reranker.rerank(JSON.stringify(request)));
    return { answer, ms: performance.now() - started, featuresMs, graph };
  }

  /** Rerank timings for one engine: the model load and the first call of a fresh reranker,
   *  then `runs` calls with the encoder-state cache cleared (the model runs each time), then
   *  `runs` served from that cache. The module itself was loaded before (see info()). */
  async bench(preference, userId, runs) {
    this.rerankers.delete(preference);
    const load = performance.now();
    const reranker = await this.reranker(preference);
    const loadMs = performance.now() - load;
    const first = await this.rerank(preference, userId, 0.7);
    const model = [];
    const cached = [];
    for (let i = 0; i < runs; i++) {
      reranker.clearStates();
      model.push((await this.rerank(preference, userId, 0.7)).ms);
    }
    for (let i = 0; i < runs; i++) cached.push((await this.rerank(preference, userId, 0.7)).ms);
    const wasmBytes = reranker.module.wasmBytes;
    return { engine: reranker.engine, wasmBytes, loadMs, firstMs: first.ms, model, cached };
  }

  info() {
    return {
      source: this.source.kind,
      workerError: this.workerError ?? null,
      modelVersion: this.source.modelVersion,
      featureVersion: this.source.featureVersion,
      engine: this.main.engine,
      fallbackReason: this.main.fallbackReason ?? null,
      wasmBytes: this.main.module.wasmBytes,
      moduleLoadMs: this.main.module.loadMs,
      listeners: this.demo.listeners.map((l) => l.userId),
    };
  }
}

export default function Demo() {
  const session = useRef(null);
  const [status, setStatus] = useState({ state: "loading", message: "loading the demo…" });
  const [info, setInfo] = useState(null);
  const [userId, setUserId] = useState(null);
  const [weight, setWeight] = useState(0.7);
  const [result, setResult] = useState(null);
  const [latencies, setLatencies] = useState([]);

  useEffect(() => {
    const params = new URLSearchParams(window.location.search);
    const opening = Session.open(params);
    window.resonanceDemo = {
      ready: opening.then((s) => s.info()),
      rerank: async (engine, user, w = 0.7) => (await (await opening).rerank(engine, user, w)).answer,
      bench: async (engine, user, runs = 20) => (await opening).bench(engine, user, runs),
    };
    opening.then(
      (s) => {
        session.current = s;
        setInfo(s.info());
        setUserId(s.demo.listeners[0]?.userId ?? null);
        setStatus({ state: "ready" });
      },
      (e) => setStatus({ state: "error", message: e.message }),
    );
  }, []);

  const rerank = useCallback(async (user, w) => {
    const s = session.current;
    if (!s || !user) return;
    try {
      const { answer, ms, featuresMs, graph } = await s.rerank(s.preference, user, w);
      const history = JSON.parse((await s.main).history(user));
      setResult({ answer, ms, featuresMs, graph, history, listener: s.listener(user) });
      // The first rerank compiles the GPU shaders (or tract's plan): shown apart.
      if (s.firstRerankMs === undefined) s.firstRerankMs = ms;
      else setLatencies((l) => [...l.slice(-199), ms]);
      setStatus({ state: "ready" });
    } catch (e) {
      setStatus({ state: "error", message: `the rerank failed: ${e.message}` });
    }
  }, []);

  useEffect(() => {
    rerank(userId, weight);
  }, [userId, weight, rerank]);

  const catalogue = session.current?.demo.catalogue ?? {};
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
      {info && (
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
