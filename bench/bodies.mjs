// Writes the benchmark's request bodies, one JSON body a line: each a random listener of the
// world with history (a play or like) and `CANDIDATES` distinct random catalogue tracks, the
// service's view of "a listener and a few hundred candidates". Seeded, so before and after
// measure the same bodies. DISTINCT=1: each body another listener (COUNT at most the
// listeners with history), for runs over listeners an isolate has never seen.
//
// Usage: node bench/bodies.mjs DATA_DIR OUT [COUNT=1000] [CANDIDATES=100] [SEED=16]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [data, out, count = "1000", candidates = "100", seed = "16"] = process.argv.slice(2);
if (!data || !out) {
  console.error("usage: node bench/bodies.mjs DATA_DIR OUT [COUNT] [CANDIDATES] [SEED]");
  process.exit(2);
}
// mulberry32: a small seeded generator, enough to pick bodies reproducibly.
let state = Number(seed) >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const rows = (file) => readFileSync(join(data, file), "utf8").trim().split("\n").slice(1);
const tracks = rows("catalogue.csv").map((line) => line.slice(0, line.indexOf(",")));
const listeners = new Set();
for (const line of rows("events.csv")) {
  const [user, , , event] = line.split(",", 4);
  if (event === "play" || event === "like") listeners.add(user);
}
const users = [...listeners].sort();
const want = Number(candidates);
if (want > tracks.length) throw new Error(`${want} candidates, but the catalogue has ${tracks.length} tracks`);
const distinct = process.env.DISTINCT === "1";
if (distinct && Number(count) > users.length) throw new Error(`${count} distinct listeners, but ${users.length} have history`);
// A seeded shuffle, whose first COUNT are the distinct listeners (only then: the default
// bodies stay those of earlier measurements).
const order = distinct ? users.map((u) => [random(), u]).sort((a, b) => a[0] - b[0]).map(([, u]) => u) : [];
const lines = [];
for (let i = 0; i < Number(count); i++) {
  const picked = new Set();
  while (picked.size < want) picked.add(tracks[Math.floor(random() * tracks.length)]);
  const user_id = distinct ? order[i] : users[Math.floor(random() * users.length)];
  lines.push(JSON.stringify({ user_id, candidates: [...picked] }));
}
writeFileSync(out, lines.join("\n") + "\n");
console.log(`${lines.length} bodies (${users.length} listeners with history, ${tracks.length} tracks) in ${out}`);
