// Debian's Chromium, driven by playwright-core (never a downloaded browser).
//
// WebGPU in headless Chromium needs --enable-unsafe-webgpu; it then offers SwiftShader's
// adapter (a CPU emulation of a GPU). Without the flag, navigator.gpu exists but yields no
// adapter, which is the fallback case.

import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const FLAGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** A fresh headless Chromium (a new profile each time), with or without WebGPU. */
export function launch({ webgpu }) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: webgpu ? [...FLAGS, "--enable-unsafe-webgpu"] : FLAGS,
  });
}

/** Opens the demo page and waits until it is ready; returns { page, info, problems }. */
export async function openDemo(browser, url, { timeoutMs = 180_000 } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.setDefaultTimeout(timeoutMs);
  await page.goto(url);
  await page.waitForFunction(() => window.resonanceDemo !== undefined);
  const info = await page.evaluate(() => window.resonanceDemo.ready);
  return { page, info, problems };
}
