// Which WebAssembly SIMD this browser runs, decided by validating tiny modules.
//
// Relaxed SIMD is checked op by op, all twenty of the proposal (0xfd 0x100-0x113), not by one:
// a browser can ship them piecemeal. WebKit with its relaxed-SIMD option on validates
// `i8x16.relaxed_swizzle` but not `f32x4.relaxed_max` (op 270), which the relaxed build uses, so a
// one-opcode probe picked that build and the page failed with "invalid extended simd op 270".

/** Operand count (v128 values) of each relaxed-SIMD op. */
const RELAXED_OPS = {
  0x100: 2, // i8x16.relaxed_swizzle
  0x101: 1, 0x102: 1, 0x103: 1, 0x104: 1, // i32x4.relaxed_trunc_*
  0x105: 3, 0x106: 3, 0x107: 3, 0x108: 3, // f32x4/f64x2.relaxed_madd/nmadd
  0x109: 3, 0x10a: 3, 0x10b: 3, 0x10c: 3, // i8x16 … i64x2.relaxed_laneselect
  0x10d: 2, 0x10e: 2, 0x10f: 2, 0x110: 2, // f32x4/f64x2.relaxed_min/max
  0x111: 2, // i16x8.relaxed_q15mulr_s
  0x112: 2, // i16x8.relaxed_dot_i8x16_i7x16_s
  0x113: 3, // i32x4.relaxed_dot_i8x16_i7x16_add_s
};
/** i8x16.add: any SIMD128 op will do for plain SIMD. */
const SIMD_OP = [0x6e, 2];

const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};

/** A module with one function `() -> ()` that applies SIMD op `op` to `arity` zero vectors. */
export function probe(op, arity) {
  const zero = [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const 0
  const body = [0, ...new Array(arity).fill(zero).flat(), 0xfd, ...leb(op), 0x1a, 0x0b]; // no locals … drop end
  const code = [1, ...leb(body.length), ...body];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, ...leb(code.length), ...code]);
}

/** The relaxed-SIMD ops this browser lacks (none: the relaxed builds can run). */
export function missingRelaxedOps() {
  return Object.entries(RELAXED_OPS).filter(([op, arity]) => !WebAssembly.validate(probe(Number(op), arity))).map(([op]) => Number(op));
}

/** "relaxed", "simd" or null: the best build this browser can run. */
export function simdLevel() {
  if (!WebAssembly.validate(probe(...SIMD_OP))) return null;
  return missingRelaxedOps().length === 0 ? "relaxed" : "simd";
}
