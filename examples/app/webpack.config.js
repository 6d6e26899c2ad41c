// A plain webpack 5 app: nothing here is for bitnet-web. webpack follows the package's
// `new Worker(new URL(…, import.meta.url))` and `new URL("….wasm", import.meta.url)` on its own.
import path from "node:path";
import HtmlWebpackPlugin from "html-webpack-plugin";

export default {
  mode: "production",
  entry: "./main.js",
  output: { path: path.resolve("dist-webpack"), filename: "main.js", clean: true },
  // index.html loads ./main.js, which is the bundle here.
  plugins: [new HtmlWebpackPlugin({ template: "index.html", inject: false })],
  performance: { hints: false },
};
