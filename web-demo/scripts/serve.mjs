// Serves the static export (out/) on 127.0.0.1, with the right type for .wasm.
//
//   node scripts/serve.mjs [--port 3000] [--root out] [--demo DIR] [--dev-listener-keys FILE]
//
// --demo serves /demo/ from another folder (the tests bundle their own snapshot). Prints
// "serving http://127.0.0.1:PORT" once listening (--port 0 picks a free port).
//
// --dev-listener-keys turns on the demo's token endpoint, GET /demo/token?user_id=ID: it
// plays the music service's backend, minting a 10-minute listener token (HS256, docs/DESIGN.md
// §5) for a listener of the bundled demo (and no one else) with the first key of
// LISTENER_TOKEN_KEYS in FILE (a wrangler .dev.vars; scripts/worker.sh writes the local one).
// Without the flag the endpoint answers 404: a real deployment mints tokens in its backend.

import { createHmac } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    root: { type: "string", default: new URL("../out", import.meta.url).pathname },
    demo: { type: "string" },
    "dev-listener-keys": { type: "string" },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: ${args.port} is not a port number`);
  process.exit(2);
}

/** The signing key of the token endpoint ({ kid, secret }), or null when it is off. */
const signingKey = (() => {
  const file = args["dev-listener-keys"];
  if (!file) return null;
  const line = readFileSync(file, "utf8").match(/^LISTENER_TOKEN_KEYS=(.*)$/m)?.[1]?.trim();
  const json = line?.replace(/^'(.*)'$/, "$1");
  const [kid, secret] = Object.entries(json ? JSON.parse(json) : {})[0] ?? [];
  if (!kid || typeof secret !== "string") {
    console.error(`--dev-listener-keys: ${file} holds no LISTENER_TOKEN_KEYS={"<kid>": "<secret>"} line`);
    process.exit(2);
  }
  return { kid, secret };
})();

/** The audience and lifetime of listener tokens (crates/access/src/listener.rs). */
const AUDIENCE = "resonance-edge";
const TOKEN_SECONDS = 600;

/** A listener token for `sub`, as any backend's JWT library would sign it. */
function mintListenerToken(sub) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const iat = Math.floor(Date.now() / 1000);
  const body = `${part({ alg: "HS256", typ: "JWT", kid: signingKey.kid })}.${part({ sub, aud: AUDIENCE, iat, exp: iat + TOKEN_SECONDS })}`;
  const signature = createHmac("sha256", signingKey.secret).update(body).digest("base64url");
  return { token: `${body}.${signature}`, expiresAt: iat + TOKEN_SECONDS };
}

/** The listener ids of the bundled demo (the only ones the endpoint mints for). */
async function demoListeners() {
  const found = await findFile("/demo/demo.json");
  if (!found) return new Set();
  const bundle = JSON.parse(readFileSync(found.file, "utf8"));
  return new Set((bundle.listeners ?? []).map((l) => l.userId));
}

/** GET /demo/token?user_id=ID: the shared error envelope on every refusal. */
async function tokenEndpoint(url, res) {
  const answer = (status, body) =>
    res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" }).end(JSON.stringify(body));
  const refuse = (status, code, message, field) => answer(status, { error: { code, message, ...(field && { field }) } });
  if (!signingKey) {
    return refuse(404, "demo_tokens_disabled", "the demo's token endpoint is off (serve.mjs --dev-listener-keys; scripts/web.sh passes .dev.vars)");
  }
  const user = url.searchParams.get("user_id");
  if (!user) return refuse(422, "invalid_field", "user_id is required", "user_id");
  if (!(await demoListeners()).has(user)) {
    return refuse(403, "forbidden", "the demo mints tokens only for the bundled demo listeners", "user_id");
  }
  return answer(200, mintListenerToken(user));
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

/** The file a URL path names under `base`, or null when it leaves `base`. */
function inside(base, path) {
  const file = normalize(join(base, decodeURIComponent(path)));
  return file === base || file.startsWith(base + sep) ? file : null;
}

async function findFile(path) {
  const [base, rest] =
    args.demo && path.startsWith("/demo/")
      ? [resolve(args.demo), path.slice("/demo".length)]
      : [resolve(args.root), path];
  const file = inside(base, rest);
  if (!file) return null;
  for (const candidate of [file, join(file, "index.html"), `${file}.html`]) {
    const info = await stat(candidate).catch(() => null);
    if (info?.isFile()) return { file: candidate, size: info.size };
  }
  return null;
}

const server = createServer(async (req, res) => {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD" }).end();
    return;
  }
  let path;
  let url;
  try {
    url = new URL(req.url, "http://localhost");
    path = url.pathname;
    decodeURIComponent(path);
  } catch {
    res.writeHead(400).end("bad path");
    return;
  }
  if (path === "/demo/token") return tokenEndpoint(url, res);
  const found = await findFile(path);
  if (!found) {
    res.writeHead(404, { "Content-Type": "text/plain" }).end(`not found: ${path}`);
    return;
  }
  res.writeHead(200, {
    "Content-Type": TYPES[extname(found.file)] ?? "application/octet-stream",
    "Content-Length": found.size,
    "Cache-Control": "no-cache",
  });
  if (req.method === "HEAD") res.end();
  else createReadStream(found.file).pipe(res);
});

server.listen(port, "127.0.0.1", () => {
  console.log(`serving http://127.0.0.1:${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
