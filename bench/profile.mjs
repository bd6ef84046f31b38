// Where a Worker's CPU goes under load: V8's sampling profiler, through workerd's inspector
// (Miniflare's `inspectorPort`), while wrk posts the benchmark's bodies. Prints the functions
// with the most self time (wasm functions by their Rust names, when the module keeps its name
// section: bench/profile.sh builds one that does) and writes the whole profile as a
// .cpuprofile that Chrome's DevTools (Performance, "Load profile") opens.
//
// Usage: INSPECTOR_PORT=9229 node bench/profile.mjs URL SECONDS OUT.cpuprofile
//   with bench/miniflare.mjs running (INSPECTOR_PORT set there too) and wrk started by the
//   caller for the same SECONDS (bench/profile.sh does both).
import { writeFileSync } from "node:fs";

const [url, seconds, out] = process.argv.slice(2);
if (!url || !seconds || !out) {
  console.error("usage: node bench/profile.mjs URL SECONDS OUT.cpuprofile");
  process.exit(2);
}
const inspector = `http://127.0.0.1:${process.env.INSPECTOR_PORT ?? 9229}`;
const targets = await (await fetch(`${inspector}/json/list`)).json();
// Miniflare names the user's Worker (ours is unnamed) "core:user:<name>".
const target = targets.find((t) => (t.id ?? "").startsWith("core:user:")) ?? targets[0];
if (!target) throw new Error(`no inspector target at ${inspector}/json/list`);

const socket = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = () => reject(new Error(`cannot reach ${target.webSocketDebuggerUrl}`));
});
let next = 0;
const pending = new Map();
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  const waiter = pending.get(message.id);
  if (!waiter) return;
  pending.delete(message.id);
  message.error ? waiter.reject(new Error(message.error.message)) : waiter.resolve(message.result);
};
const call = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, method, params }));
  });

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 }); // microseconds
await call("Profiler.start");
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
const { profile } = await call("Profiler.stop");
socket.close();
writeFileSync(out, JSON.stringify(profile));

// Self time per function: samples whose top frame is the node.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const selfByName = new Map();
for (const [id, count] of counts) {
  const frame = byId.get(id).callFrame;
  const name = frame.functionName || `(anonymous ${frame.url.split("/").pop()}:${frame.lineNumber})`;
  selfByName.set(name, (selfByName.get(name) ?? 0) + count);
}
const total = profile.samples.length;
const idle = selfByName.get("(idle)") ?? 0;
console.log(`${total} samples, ${((100 * idle) / total).toFixed(1)}% idle; self time of the busy samples:`);
const rows = [...selfByName].filter(([name]) => name !== "(idle)").sort((a, b) => b[1] - a[1]);
for (const [name, count] of rows.slice(0, Number(process.env.TOP ?? 30))) {
  const share = (100 * count) / (total - idle);
  console.log(`  ${share.toFixed(1).padStart(5)}%  ${name.slice(0, 150)}`);
}
