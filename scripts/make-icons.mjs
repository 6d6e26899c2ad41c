// Renders www/icons/icon.svg into the PNG sizes a web app manifest needs (192 and 512, the sizes
// Chromium's install check asks for), with Debian's Chromium. Run once after changing the SVG:
//   node scripts/make-icons.mjs
// The PNGs are committed; nothing in `make test` or `make serve` runs this.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../www/icons");
const svg = fs.readFileSync(path.join(dir, "icon.svg"), "utf8");
const { browser } = await launchChromium({ persistent: false });
for (const size of [192, 512]) {
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  await page.setContent(`<style>html,body{margin:0;background:transparent}</style>${svg.replace("<svg ", `<svg width="${size}" height="${size}" `)}`);
  await page.screenshot({ path: path.join(dir, `icon-${size}.png`), omitBackground: true });
  await page.close();
}
await browser.close();
console.log(`wrote ${dir}/icon-192.png and icon-512.png`);
