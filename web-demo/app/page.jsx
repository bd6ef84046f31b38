import Demo from "./demo";

export default function Page() {
  return (
    <main>
      <header>
        <h1>Resonance</h1>
        <p>
          A listener and a hundred candidate tracks, reranked inside this page: SASRec on your
          GPU through WebGPU (or on the CPU where there is none), mixed with a heuristic built
          from the listener&apos;s features.
        </p>
      </header>
      <Demo />
    </main>
  );
}
