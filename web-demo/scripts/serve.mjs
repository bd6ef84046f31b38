// Serves the static export (out/) on 127.0.0.1, with the right type for .wasm.
//
//   node scripts/serve.mjs [--port 3000] [--root out] [--demo DIR]
//
// --demo serves /demo/ from another folder (the tests bundle their own snapshot). Prints
// "serving http://127.0.0.1:PORT" once listening (--port 0 picks a free port).

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    root: { type: "string", default: new URL("../out", import.meta.url).pathname },
    demo: { type: "string" },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: ${args.port} is not a port number`);
  process.exit(2);
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
  try {
    path = new URL(req.url, "http://localhost").pathname;
    decodeURIComponent(path);
  } catch {
    res.writeHead(400).end("bad path");
    return;
  }
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
