// Sequential reranks against a Worker: the round trip seen by the client and the Worker's own
// `timing_ms` (time inside the isolate), as p50 / p99 / mean over N requests.
//
// Usage: TOKEN=... node bench/timing.mjs URL BODY_FILE [N=300]
// TOKEN is the bearer token sent (the service token, or a listener token for BODY_FILE's
// listener: `trainer listener-token`).
// VARY_USERS=1 sends each request for another synthetic listener (u00001, u00002, …), so the
// Worker runs the model every time instead of reusing a cached encoder state.
// RECENT=1 adds two random candidates as `recent_tracks` (a history the stored state lacks,
// and one the isolate's state cache has almost never seen): the model runs on each request,
// with the listener's features warm, so timing_ms is the model path's cost.
import { readFileSync } from "node:fs";

const [url, bodyFile, n = "300"] = process.argv.slice(2);
const template = JSON.parse(readFileSync(bodyFile, "utf8"));
const vary = process.env.VARY_USERS === "1";
const recent = process.env.RECENT === "1";
const pick = () => template.candidates[Math.floor(Math.random() * template.candidates.length)];
const roundTrips = [];
const inside = [];
for (let i = 0; i < Number(n) + 20; i++) {
  const user = vary ? `u${String(i + 1).padStart(5, "0")}` : template.user_id;
  const body = JSON.stringify({
    ...template,
    user_id: user,
    ...(recent ? { recent_tracks: [pick(), pick()] } : {}),
  });
  const began = performance.now();
  const response = await fetch(`${url}/v1/rerank`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.TOKEN ?? ""}` },
    body,
  });
  const answer = await response.json();
  const elapsed = performance.now() - began;
  if (!response.ok) throw new Error(`${response.status}: ${JSON.stringify(answer)}`);
  if (i >= 20) {
    // the first 20 warm the isolate
    roundTrips.push(elapsed);
    inside.push(answer.timing_ms);
  }
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, mean ${mean.toFixed(2)} ms`;
};
console.log(`  sequential round trip (${roundTrips.length}): ${stats(roundTrips)}`);
console.log(`  timing_ms inside the Worker:      ${stats(inside)}`);
