// A static export: the page is client-side only (the rerank runs in the browser), so `out/`
// is plain files that any static server can host; scripts/serve.mjs serves it locally.
import { fileURLToPath } from "node:url";

/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  images: { unoptimized: true },
  // The repository root has its own package-lock.json (wrangler); this app is its own root.
  turbopack: { root: fileURLToPath(new URL(".", import.meta.url)) },
};

export default nextConfig;
