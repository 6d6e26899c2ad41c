// The only configuration bitnet-web needs: the two headers that make the page cross-origin
// isolated, so that the engine can use more than one thread. Without them it runs on one.
const isolated = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default {
  server: { headers: isolated },
  preview: { headers: isolated },
};
