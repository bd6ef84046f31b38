// A fresh isolate's first seconds: the first rerank, then requests one after another for
// SECONDS, which queue behind what the isolate does after answering (reading the model's
// graph, then building its plan: `waitUntil`, on the isolate's one thread).
//
// Prints the first answer's round trip and timing_ms, then for the requests after it their
// round trips (p50, max), how many were answered `model_warming`, and when the first answer
// scored by the model came (ms after the first request). Run it with a body that needs the
// model (RECENT=1: a recent track the stored history lacks) to see the model path arrive.
//
// Usage: TOKEN=... [RECENT=1] [SECONDS=2] node bench/cold.mjs URL BODY_FILE
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";

const [url, bodyFile] = process.argv.slice(2);
const template = JSON.parse(readFileSync(bodyFile, "utf8"));
if (process.env.RECENT === "1") template.recent_tracks = [template.candidates[0]];
const body = JSON.stringify(template);
const seconds = Number(process.env.SECONDS ?? 2);

// node:http rather than fetch: fetch's first request to an origin costs Node a hundred
// milliseconds or more of its own, which would be counted as the Worker's.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function rerank() {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${url}/v1/rerank`,
      {
        method: "POST",
        agent,
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.TOKEN ?? ""}` },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => {
          const answer = JSON.parse(text);
          if (response.statusCode !== 200) reject(new Error(`${response.statusCode}: ${text}`));
          else resolve({ ms: performance.now() - began, answer });
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

const start = performance.now();
const first = await rerank();
const after = [];
let warming = 0;
const needsModel = first.answer.user_state !== "stored";
let scoredAt = first.answer.degraded.model_warming ? null : 0;
while (performance.now() - start < seconds * 1000) {
  const { ms, answer } = await rerank();
  after.push(ms);
  if (answer.degraded.model_warming) warming++;
  else scoredAt ??= performance.now() - start;
}
after.sort((a, b) => a - b);
const f = (x) => x.toFixed(1);
console.log(
  `  first: round trip ${f(first.ms)} ms, timing_ms ${first.answer.timing_ms}, user_state ${first.answer.user_state}, model_warming ${first.answer.degraded.model_warming}`,
);
console.log(
  `  the next ${after.length} in ${seconds} s: round trip p50 ${f(after[after.length >> 1])} ms, slowest ${after.slice(-3).reverse().map(f).join(", ")} ms; ${warming} answered model_warming${needsModel ? `; first scored by the model ${scoredAt === null ? "never" : `${f(scoredAt)} ms after the first request`}` : ""}`,
);
