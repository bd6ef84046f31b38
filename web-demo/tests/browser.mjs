// The browser half of tests/tests/browser.rs: opens the demo page in real headless Chromium,
// reranks every demo listener with the requested engines through the page's own module, and
// writes what it saw as JSON for the Rust test to check against the Worker and the native core.
//
//   node tests/browser.mjs --url URL --out FILE [--webgpu on|off] [--engines webgpu,cpu]
//                          [--screenshot FILE] [--expect-error]
//
// Exits non-zero when the page fails to load or shows an error, unless --expect-error: then
// it waits for the page's error message and writes it.

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { launch, openDemo } from "./chromium.mjs";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    out: { type: "string" },
    webgpu: { type: "string", default: "on" },
    engines: { type: "string", default: "auto" },
    screenshot: { type: "string" },
    "expect-error": { type: "boolean", default: false },
  },
});
if (!args.url || !args.out) {
  console.error("usage: node tests/browser.mjs --url URL --out FILE [--webgpu on|off] [--engines a,b] [--screenshot FILE]");
  process.exit(2);
}

const browser = await launch({ webgpu: args.webgpu === "on" });
if (args["expect-error"]) {
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 600 } });
    await page.goto(args.url);
    const alert = page.locator(".error[role=alert]");
    await alert.waitFor({ timeout: 60_000 });
    if (args.screenshot) await page.screenshot({ path: args.screenshot });
    await writeFile(args.out, JSON.stringify({ error: await alert.innerText() }));
  } finally {
    await browser.close();
  }
  process.exit(0);
}
try {
  const { page, info, problems } = await openDemo(browser, args.url);
  const answers = [];
  for (const user of info.listeners) {
    for (const engine of args.engines.split(",")) {
      // At the model's mix (the reranker's `mix`: the Worker's X-Model-Mix, or the bundle's).
      const answer = await page.evaluate(([e, u]) => window.resonanceDemo.rerank(e, u), [engine, user]);
      answers.push({ user, engine, answer });
    }
  }
  // The page's own view of the first listener: the table and the badge.
  await page.waitForSelector("[data-testid=ranked] tbody tr");
  const ui = {
    rows: await page.locator("[data-testid=ranked] tbody tr").count(),
    engineBadge: await page.locator("[data-testid=engine]").innerText(),
    sourceBadge: await page.locator("[data-testid=source]").innerText(),
    status: await page.locator(".demo").getAttribute("data-status"),
    interestEntries: await page.locator("[data-testid=interest-graph] .weight").count(),
  };
  // Moving the mix slider reranks: all transformer, the table follows the transformer part.
  await page.locator("[data-testid=mix]").fill("1");
  await page.waitForFunction(() => /^[1-9]\d* rerank/.test(document.querySelector(".histogram figcaption")?.textContent ?? ""));
  ui.transformerColumnAtFullMix = await page
    .locator("[data-testid=ranked] tbody tr td:nth-child(6)")
    .allInnerTexts();
  if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
  await writeFile(args.out, JSON.stringify({ info, answers, ui, problems }, null, 1));
  console.log(`${info.engine} (${info.source}): ${answers.length} reranks, ${problems.length} problems`);
} finally {
  await browser.close();
}
