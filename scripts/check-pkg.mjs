// `npm pack` in pkg/ runs this first (prepack): it refuses to pack a package whose build is missing
// or older than its sources, with the command that fixes it, so a fresh clone never packs an
// empty package.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../pkg");
const dist = path.join(pkg, "dist");
const sources = fs.readdirSync(path.join(pkg, "src")).filter((f) => f.endsWith(".js"));
const built = [
  ...sources,
  ...["wasm-relaxed", "wasm-simd", "wasm-threads", "wasm-threads-simd"].flatMap((b) => [`${b}/bitnet_web.js`, `${b}/bitnet_web_bg.wasm`]),
];
const missing = built.filter((f) => !fs.existsSync(path.join(dist, f)));
const stale = sources.filter((f) => !missing.includes(f) && fs.statSync(path.join(pkg, "src", f)).mtimeMs > fs.statSync(path.join(dist, f)).mtimeMs);
if (missing.length || stale.length) {
  const what = missing.length ? `pkg/dist lacks ${missing.join(", ")}` : `pkg/dist is older than pkg/src (${stale.join(", ")})`;
  console.error(`bitnet-web: not packing: ${what}. Build it first with \`make build-web\` in the repository root.`);
  process.exit(1);
}
for (const f of ["LICENSE", "README.md", "index.d.ts"]) {
  if (!fs.existsSync(path.join(pkg, f))) {
    console.error(`bitnet-web: not packing: pkg/${f} is missing.`);
    process.exit(1);
  }
}
