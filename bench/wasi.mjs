// Runs a wasm32-wasip1 program in Node's WASI (the V8 that workerd embeds), with the file
// system visible at its own paths (pass absolute ones).
// Usage: node --no-warnings bench/wasi.mjs PROGRAM.wasm ARGS...
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const [program, ...args] = process.argv.slice(2);
const wasi = new WASI({
  version: "preview1",
  args: [program, ...args],
  preopens: { "/": "/" },
  returnOnExit: true,
});
const module = await WebAssembly.compile(readFileSync(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
