// The Worker's entry: instantiates the wasm-bindgen output (bundler target) and hands each
// request to the Rust `fetch` export. Copied next to the generated files by
// scripts/build-worker.sh.
import * as glue from "./resonance_worker_bg.js";
import wasmModule from "./resonance_worker_bg.wasm";

const instance = new WebAssembly.Instance(wasmModule, {
  "./resonance_worker_bg.js": glue,
});
glue.__wbg_set_wasm(instance.exports);
if (typeof instance.exports.__wbindgen_start === "function") {
  instance.exports.__wbindgen_start();
}

export default {
  fetch(request, env, ctx) {
    return glue.fetch(request, env, ctx);
  },
};
