// Serves the built Worker (build/worker) in workerd through Miniflare's API, without the
// Node proxy that `wrangler dev` puts in front, reading the KV state `wrangler dev` persisted
// in .wrangler/state. Prints "ready <url>" and runs until SIGTERM.
//
// Usage (from the repository root, Node 22):
//   PORT=8788 [FLOOR=1] [INSPECTOR_PORT=9229] [WORKER_BUILD=dir] node bench/miniflare.mjs
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const devVars = readFileSync(".dev.vars", "utf8");
const secret = (name) => (devVars.match(new RegExp(`^${name}=(.*)$`, "m")) ?? [])[1]?.replace(/^'(.*)'$/, "$1") ?? "";
// Miniflare 5 takes a new options shape; its converter accepts the documented v4 one.
// Every module of build/worker, listed (Miniflare 5 no longer follows imports on its own).
// WORKER_BUILD: another build folder (a build of an earlier commit, for before/after).
const root = process.env.WORKER_BUILD ?? "build/worker";
const files = readdirSync(root, { recursive: true }).filter((f) => /\.(mjs|js|wasm)$/.test(f));
files.sort((a, b) => (a === "shim.mjs" ? -1 : b === "shim.mjs" ? 1 : a.localeCompare(b)));
const options = convertV4MiniflareOptions({
  modulesRoot: root,
  modules: files.map((f) => ({
    type: f.endsWith(".wasm") ? "CompiledWasm" : "ESModule",
    path: join(root, f),
  })),
  compatibilityDate: "2026-11-01",
  // The namespace id of wrangler.toml, so this reads what `wrangler dev` wrote.
  kvNamespaces: { FEATURES: "00000000000000000000000000000000" },
  bindings: {
    ADMIN_TOKEN: secret("ADMIN_TOKEN"),
    SERVICE_TOKEN: secret("SERVICE_TOKEN"),
    LISTENER_TOKEN_KEYS: secret("LISTENER_TOKEN_KEYS"),
    POINTER_CHECK_SECONDS: "5",
    ALLOWED_ORIGINS: "http://127.0.0.1:3000",
  },
  // As wrangler.toml declares them; high enough that the benchmark's one listener and one
  // address measure the limiter's cost, not its refusals.
  ratelimits: {
    CLIENT_LIMITER: { namespace_id: "1001", simple: { limit: 1_000_000, period: 60 } },
    LISTENER_LIMITER: { namespace_id: "1002", simple: { limit: 1_000_000, period: 60 } },
  },
  host: "127.0.0.1",
  port: Number(process.env.PORT ?? 8788),
  // INSPECTOR_PORT: V8's inspector on that port (bench/profile.mjs samples through it).
  ...(process.env.INSPECTOR_PORT
    ? { inspectorPort: Number(process.env.INSPECTOR_PORT) }
    : {}),
});
// FLOOR=1: a Worker that answers "ok" and does nothing else, on the same workerd and port:
// the latency this machine's workerd gives any Worker, against which the rerank's is read.
const floor = convertV4MiniflareOptions({
  modules: true,
  script: "export default { fetch() { return new Response('ok'); } };",
  compatibilityDate: "2026-11-01",
  host: "127.0.0.1",
  port: Number(process.env.PORT ?? 8788),
});
const mf = new Miniflare(
  process.env.FLOOR === "1" ? floor : { ...options, resourcePersistencePath: ".wrangler/state/v3" },
);
const url = await mf.ready;
console.log(`ready ${url}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
