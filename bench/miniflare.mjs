// Serves the built Worker (build/worker) in workerd through Miniflare's API, without the
// Node proxy that `wrangler dev` puts in front, reading the KV state `wrangler dev` persisted
// in .wrangler/state. Prints "ready <url>" and runs until SIGTERM.
//
// Usage (from the repository root, Node 22): PORT=8788 node bench/miniflare.mjs
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";

const token = (readFileSync(".dev.vars", "utf8").match(/^ADMIN_TOKEN=(.*)$/m) ?? [])[1] ?? "";
const mf = new Miniflare({
  modules: true,
  scriptPath: "build/worker/shim.mjs",
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: "2026-11-01",
  // The namespace id of wrangler.toml, so this reads what `wrangler dev` wrote.
  kvNamespaces: { FEATURES: "00000000000000000000000000000000" },
  kvPersist: ".wrangler/state/v3/kv",
  bindings: { ADMIN_TOKEN: token, POINTER_CHECK_SECONDS: "5", CORS_ORIGIN: "*" },
  host: "127.0.0.1",
  port: Number(process.env.PORT ?? 8788),
});
const url = await mf.ready;
console.log(`ready ${url}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
