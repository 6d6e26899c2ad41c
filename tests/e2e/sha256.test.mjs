// The page-side SHA-256 (pkg/src/sha256.js) against node:crypto, which we did not write: random
// lengths around the block and padding edges, fed in random chunkings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Sha256 } from "../../pkg/src/sha256.js";

test("sha256.js equals node:crypto for every length 0-300 and random chunkings", () => {
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  for (let len = 0; len <= 300; len++) {
    const data = randomBytes(len);
    const h = new Sha256();
    for (let i = 0; i < len;) {
      const step = 1 + rand(140);
      h.update(data.subarray(i, i + step));
      i += step;
    }
    assert.equal(h.hex(), createHash("sha256").update(data).digest("hex"), `length ${len}`);
  }
  const big = randomBytes(3 * 2 ** 20 + 17);
  assert.equal(new Sha256().update(big).hex(), createHash("sha256").update(big).digest("hex"));
  assert.equal(new Sha256().update(new Uint8Array()).hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});
