// Posts COUNT bodies of BODIES_FILE (from line FROM, 0-based) to URL/v1/rerank, one at a time, and prints
// where the answers' encoder states came from (`user_state`: stored, cached, computed,
// none), their backends and degradation flags: what the load runs measured, in kind.
//
// Usage: TOKEN=… node bench/mix.mjs URL BODIES_FILE [COUNT=200] [FROM=0]
import { readFileSync } from "node:fs";

const [url, file, count = "200", from = "0"] = process.argv.slice(2);
if (!url || !file) {
  console.error("usage: TOKEN=… node bench/mix.mjs URL BODIES_FILE [COUNT=200] [FROM=0]");
  process.exit(2);
}
const bodies = readFileSync(file, "utf8").trim().split("\n").slice(Number(from), Number(from) + Number(count));
const tally = { user_state: {}, backend: {}, degraded: {} };
const add = (kind, key) => (tally[kind][key] = (tally[kind][key] ?? 0) + 1);
for (const body of bodies) {
  const answer = await fetch(`${url}/v1/rerank`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.TOKEN ?? ""}` },
    body,
  });
  if (!answer.ok) {
    add("backend", `HTTP ${answer.status}`);
    continue;
  }
  const json = await answer.json();
  add("user_state", json.user_state ?? "(not reported)");
  add("backend", json.backend);
  const flags = Object.keys(json.degraded ?? {}).filter((k) => {
    const v = json.degraded[k];
    return Array.isArray(v) ? v.length > 0 : Boolean(v);
  });
  add("degraded", flags.length ? flags.join("+") : "no");
}
const show = (o) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");
console.log(`  ${bodies.length} answers: user_state ${show(tally.user_state)}; backend ${show(tally.backend)}; degraded ${show(tally.degraded)}`);
