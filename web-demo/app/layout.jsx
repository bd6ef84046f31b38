import "./globals.css";

export const metadata = {
  title: "Resonance: rerank in your browser",
  description: "SASRec and a listener-aware heuristic, reranking candidates on WebGPU or the CPU",
};

/** @param {{ children: import("react").ReactNode }} props */
export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
