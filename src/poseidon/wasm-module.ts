/**
 * @module poseidon/wasm-module
 *
 * Emits, at run time and without any toolchain, the WebAssembly module that runs the Poseidon permutation
 * over the BN254 scalar field r. Field elements are 9 limbs of 29 bits (261 bits) in Montgomery form with
 * R = 2^261, stored as 9 little-endian u32 words in 40-byte slots. A limb product has 58 bits, so a 64-bit
 * column sums products without carrying: a product or square with its reduction puts at most 18 products in
 * a column (< 2^63), and a dot product carries once every 3 terms (3 x 9 + 9 products < 2^63): the matrix
 * steps of Poseidon cost one reduction per output instead of one per product. (Measured against 10 limbs of
 * 27 bits, which needs no carry pass in dot products: 9 x 29 is 8-15% faster by CPU time.)

 * Exported functions (pointers are byte offsets into the imported memory, see `LAYOUT`):
 * - `load(t, c)`: state[i] = toMontgomery(io[i]) + c[i] for i < t (io holds canonical values as 8 u32).
 * - `fullRound(t, c, m)`: state[i] = S-box(state[i]) (+ c[i] when c != 0), then state = M x state, M given
 *   as t rows of t elements (row i = the coefficients of output i).
 * - `partialRounds(t, rounds, c, s)`: the sparse partial rounds of circomlib's optimized Poseidon.
 * - `finish()`: io[0] = canonical(fromMontgomery(state[0])).
 *
 * Bounds (why no step overflows; every value stays below 4r < 2^256, every REDC input below r * R):
 * REDC(T) < T / R + r, so REDC(T) < 2r whenever T < r * R (R / r > 169); an S-box input is below 2r + r
 * (9 r^2), a dot product sums at most 17 products of a value < 4r and a constant < r (68 r^2), a partial-round
 * update multiplies a value < 3r by a constant (3 r^2) and subtracts 2r when the sum reaches it.
 *
 * Security caveat: this is arithmetic on public and private data alike but makes no constant-time claim
 * (data-dependent conditional subtraction); it computes commitments, it never handles long-term keys.
 */
import { FIELD_ORDER } from "../core/field.ts";

export const LIMB_BITS = 29;
export const LIMBS = 9;
export const ELEMENT_BYTES = 40;
/** Montgomery radix exponent: R = 2^(LIMBS * LIMB_BITS). */
export const RADIX_BITS = LIMB_BITS * LIMBS;
/** The widest permutation (16 inputs plus the capacity element). */
export const MAX_STATE = 17;

/** Byte offsets of the scratch areas; constants of one width start at `constants`. */
export const LAYOUT = Object.freeze({
  io: 0,
  state: 1024,
  tmp: 2048,
  square: 3072,
  fourth: 3112,
  radixSquared: 3152,
  constants: 4096,
});

const LIMB_MASK = (1n << BigInt(LIMB_BITS)) - 1n;

/** Limbs of a non-negative integer below 2^270. */
export function toLimbs(value: bigint): bigint[] {
  return Array.from({ length: LIMBS }, (_, i) => (value >> BigInt(i * LIMB_BITS)) & LIMB_MASK);
}

// ---------------------------------------------------------------------------------------------------------
// A minimal WebAssembly binary writer (only what the field code needs).

const I32 = 0x7f;
const I64 = 0x7e;
const OP = {
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  if: 0x04,
  call: 0x10,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i64Load: 0x29,
  i64Load32U: 0x35,
  i64Store: 0x37,
  i64Store32: 0x3e,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i64Eqz: 0x50,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  i32RemU: 0x70,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64And: 0x83,
  i64Or: 0x84,
  i64Shl: 0x86,
  i64ShrS: 0x87,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
} as const;

function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

function signedLeb(value: bigint): number[] {
  const out: number[] = [];
  let rest = value;
  for (;;) {
    const byte = Number(rest & 0x7fn);
    rest >>= 7n;
    const done = (rest === 0n && (byte & 0x40) === 0) || (rest === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function vector(items: readonly number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

/** One function body under construction: parameters are locals 0..n-1, `local()` adds more. */
class Body {
  readonly code: number[] = [];
  private readonly extra: number[] = [];
  constructor(private readonly paramCount: number) {}

  local(type: number): number {
    this.extra.push(type);
    return this.paramCount + this.extra.length - 1;
  }

  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  get(index: number): this {
    return this.op(OP.localGet, ...unsignedLeb(index));
  }
  set(index: number): this {
    return this.op(OP.localSet, ...unsignedLeb(index));
  }
  tee(index: number): this {
    return this.op(OP.localTee, ...unsignedLeb(index));
  }
  i32(value: number): this {
    return this.op(OP.i32Const, ...signedLeb(BigInt(value)));
  }
  i64(value: bigint): this {
    return this.op(OP.i64Const, ...signedLeb(BigInt.asIntN(64, value)));
  }
  /** `memory[pointer + offset]` as u32 zero-extended to i64 (pointer already on the stack). */
  load32(offset: number): this {
    return this.op(OP.i64Load32U, 2, ...unsignedLeb(offset));
  }
  /** Stores the low 32 bits of an i64 (stack: pointer, value). */
  store32(offset: number): this {
    return this.op(OP.i64Store32, 2, ...unsignedLeb(offset));
  }
  load64(offset: number): this {
    return this.op(OP.i64Load, 0, ...unsignedLeb(offset));
  }
  store64(offset: number): this {
    return this.op(OP.i64Store, 0, ...unsignedLeb(offset));
  }
  call(index: number): this {
    return this.op(OP.call, ...unsignedLeb(index));
  }
  /** `local += delta` for an i32 local. */
  bump(index: number, delta: number): this {
    return this.get(index).i32(delta).op(OP.i32Add).set(index);
  }
  /** do { body } while (++counter < limit): counter starts at 0; limit >= 1. */
  repeat(counter: number, limit: number, body: () => void): this {
    this.i32(0).set(counter);
    this.op(OP.loop, 0x40);
    body();
    this.bump(counter, 1);
    this.get(counter).get(limit).op(OP.i32LtU, OP.brIf, 0, OP.end);
    return this;
  }

  encode(): number[] {
    const groups: number[][] = this.extra.map((type) => [1, type]);
    const content = [...vector(groups), ...this.code, OP.end];
    return [...unsignedLeb(content.length), ...content];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Field arithmetic code generation

const MODULUS_LIMBS = toLimbs(FIELD_ORDER);
const TWICE_MODULUS_LIMBS = toLimbs(2n * FIELD_ORDER);
/** -r^-1 mod 2^27, the per-limb Montgomery factor. */
const MONTGOMERY_FACTOR = (() => {
  const base = 1n << BigInt(LIMB_BITS);
  let inverse = 1n;
  // Newton iteration for r^-1 mod 2^27 (r is odd): each step doubles the correct low bits.
  for (let i = 0; i < 5; i++) inverse = (inverse * (2n - FIELD_ORDER * inverse)) % base;
  return (base - (((inverse % base) + base) % base)) % base;
})();

/** Locals shared by the arithmetic emitters: 20 accumulator columns and scratch. */
interface Columns {
  readonly column: number[];
  readonly a: number[];
  readonly b: number[];
  readonly m: number;
}

function allocateColumns(body: Body): Columns {
  return {
    column: Array.from({ length: 2 * LIMBS }, () => body.local(I64)),
    a: Array.from({ length: LIMBS }, () => body.local(I64)),
    b: Array.from({ length: LIMBS }, () => body.local(I64)),
    m: body.local(I64),
  };
}

function emitZeroColumns(body: Body, cols: Columns): void {
  for (const column of cols.column) body.i64(0n).set(column);
}

function emitLoadElement(body: Body, pointer: number, into: number[]): void {
  into.forEach((local, i) => {
    body
      .get(pointer)
      .load32(4 * i)
      .set(local);
  });
}

/** local column += x * y (i64 locals). */
function emitMulAdd(body: Body, column: number, x: number, y: number): void {
  body.get(column).get(x).get(y).op(OP.i64Mul, OP.i64Add).set(column);
}

/** column[i + k] += a[i] * b[k] for all i, k (schoolbook product into the columns). */
function emitAccumulateProduct(body: Body, cols: Columns): void {
  for (let i = 0; i < LIMBS; i++) {
    for (let k = 0; k < LIMBS; k++) {
      const column = cols.column[i + k] as number;
      emitMulAdd(body, column, cols.a[i] as number, cols.b[k] as number);
    }
  }
}

/** columns = a * b for the elements at the pointers in locals 1 and 2 (the `(out, a, b)` functions). */
function emitProductOfArguments(body: Body, cols: Columns): void {
  emitLoadElement(body, 1, cols.a);
  emitLoadElement(body, 2, cols.b);
  emitZeroColumns(body, cols);
  emitAccumulateProduct(body, cols);
}

/** column = a^2 (columns must be zero): off-diagonal products once, with a doubled operand. */
function emitAccumulateSquare(body: Body, cols: Columns): void {
  for (let i = 0; i < LIMBS; i++) {
    body
      .get(cols.a[i] as number)
      .i64(1n)
      .op(OP.i64Shl)
      .set(cols.b[i] as number);
  }
  for (let i = 0; i < LIMBS; i++) {
    const diagonal = cols.column[2 * i] as number;
    emitMulAdd(body, diagonal, cols.a[i] as number, cols.a[i] as number);
    for (let k = i + 1; k < LIMBS; k++) {
      const column = cols.column[i + k] as number;
      emitMulAdd(body, column, cols.b[i] as number, cols.a[k] as number);
    }
  }
}

/** Reduces the columns (see `emitReduce`) and stores the result at the pointer in local `out`. */
function emitReduceInto(body: Body, cols: Columns, out: number): void {
  emitReduce(body, cols);
  emitStoreLimbs(body, out, cols.column.slice(LIMBS));
}

/**
 * Montgomery reduction of the columns (value T < r * 2^270) into limbs column[10..19] (< 2r, 27 bits each).
 */
function emitReduce(body: Body, cols: Columns): void {
  const mask = LIMB_MASK;
  for (let i = 0; i < LIMBS; i++) {
    const low = cols.column[i] as number;
    body.get(low).i64(mask).op(OP.i64And).i64(MONTGOMERY_FACTOR).op(OP.i64Mul).i64(mask).op(OP.i64And);
    body.set(cols.m);
    MODULUS_LIMBS.forEach((limb, k) => {
      if (limb === 0n) return;
      const column = cols.column[i + k] as number;
      body.get(column).get(cols.m).i64(limb).op(OP.i64Mul, OP.i64Add).set(column);
    });
    const next = cols.column[i + 1] as number;
    body.get(next).get(low).i64(BigInt(LIMB_BITS)).op(OP.i64ShrU, OP.i64Add).set(next);
  }
  emitNormalize(body, cols.column.slice(LIMBS));
}

/** Carries each limb's bits above 27 into the next limb (the top limb keeps its carry). */
function emitNormalize(body: Body, limbs: readonly number[]): void {
  for (let k = 0; k + 1 < limbs.length; k++) {
    const limb = limbs[k] as number;
    const next = limbs[k + 1] as number;
    body.get(next).get(limb).i64(BigInt(LIMB_BITS)).op(OP.i64ShrU, OP.i64Add).set(next);
    body.get(limb).i64(LIMB_MASK).op(OP.i64And).set(limb);
  }
}

function emitStoreLimbs(body: Body, pointer: number, limbs: readonly number[]): void {
  limbs.forEach((local, i) => {
    body
      .get(pointer)
      .get(local)
      .store32(4 * i);
  });
}

/**
 * limbs := limbs - q when limbs >= q (limbs normalized, q given as constant limbs); `scratch` holds the
 * candidate difference. Branch-free per limb: borrow chain, then a select on the final borrow.
 */
function emitConditionalSubtract(
  body: Body,
  limbs: readonly number[],
  q: readonly bigint[],
  scratch: number[],
) {
  const borrow = scratch[LIMBS] as number;
  body.i64(0n).set(borrow);
  limbs.forEach((limb, k) => {
    const difference = scratch[k] as number;
    body
      .get(limb)
      .i64(q[k] as bigint)
      .op(OP.i64Sub)
      .get(borrow)
      .op(OP.i64Sub)
      .tee(difference);
    body.i64(63n).op(OP.i64ShrU).set(borrow);
    body.get(difference).i64(LIMB_MASK).op(OP.i64And).set(difference);
  });
  limbs.forEach((limb, k) => {
    // keep = borrow (limbs < q); select(a, b, cond) = cond ? a : b
    body
      .get(limb)
      .get(scratch[k] as number)
      .get(borrow)
      .op(OP.i32WrapI64, OP.select)
      .set(limb);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Functions of the module (index order = definition order)

/** Dot-product terms accumulated between two carry passes (3 x 9 products + 9 of the reduction < 2^6). */
const DOT_GROUP = 3;

const FN = {
  mul: 0,
  square: 1,
  dot: 2,
  add: 3,
  mulAdd: 4,
  sbox: 5,
  load: 6,
  fullRound: 7,
  partial: 8,
  finish: 9,
};

/** mul(out, a, b): out = a * b / R (< 2r). */
function mulFunction(): Body {
  const body = new Body(3);
  const cols = allocateColumns(body);
  emitProductOfArguments(body, cols);
  emitReduceInto(body, cols, 0);
  return body;
}

/** square(out, a): out = a^2 / R. */
function squareFunction(): Body {
  const body = new Body(2);
  const cols = allocateColumns(body);
  emitLoadElement(body, 1, cols.a);
  emitZeroColumns(body, cols);
  emitAccumulateSquare(body, cols);
  emitReduceInto(body, cols, 0);
  return body;
}

/** dot(out, coefficients, values, n): out = sum_{j<n} coefficients[j] * values[j] / R (both contiguous). */
function dotFunction(): Body {
  const body = new Body(4);
  const cols = allocateColumns(body);
  const j = body.local(I32);
  emitZeroColumns(body, cols);
  body.repeat(j, 3, () => {
    emitLoadElement(body, 1, cols.a);
    emitLoadElement(body, 2, cols.b);
    emitAccumulateProduct(body, cols);
    body.bump(1, ELEMENT_BYTES).bump(2, ELEMENT_BYTES);
    // Every DOT_GROUP terms, carry the columns so none passes 2^64 (bounds in the module comment).
    body.get(j).i32(1).op(OP.i32Add).i32(DOT_GROUP).op(OP.i32RemU, OP.i32Eqz, OP.if, 0x40);
    emitNormalize(body, cols.column);
    body.op(OP.end);
  });
  emitReduceInto(body, cols, 0);
  return body;
}

/** add(out, a, b): out = a + b, normalized limbs (no reduction; callers keep the sum below 4r). */
function addFunction(): Body {
  const body = new Body(3);
  const limbs = Array.from({ length: LIMBS }, () => body.local(I64));
  limbs.forEach((limb, i) => {
    body
      .get(1)
      .load32(4 * i)
      .get(2)
      .load32(4 * i)
      .op(OP.i64Add)
      .set(limb);
  });
  emitNormalize(body, limbs);
  emitStoreLimbs(body, 0, limbs);
  return body;
}

/** mulAdd(out, a, b): out = out + a * b / R, then minus 2r when >= 2r (out < 2r before and after). */
function mulAddFunction(): Body {
  const body = new Body(3);
  const cols = allocateColumns(body);
  emitProductOfArguments(body, cols);
  emitReduce(body, cols);
  const result = cols.column.slice(LIMBS);
  result.forEach((limb, i) => {
    body
      .get(limb)
      .get(0)
      .load32(4 * i)
      .op(OP.i64Add)
      .set(limb);
  });
  emitNormalize(body, result);
  emitConditionalSubtract(body, result, TWICE_MODULUS_LIMBS, [...cols.a, cols.m]);
  emitStoreLimbs(body, 0, result);
  return body;
}

/** sbox(x): x = x^5 / R^4 (Montgomery x^5), through the two scratch slots. */
function sboxFunction(): Body {
  const body = new Body(1);
  body.i32(LAYOUT.square).get(0).call(FN.square);
  body.i32(LAYOUT.fourth).i32(LAYOUT.square).call(FN.square);
  body.get(0).i32(LAYOUT.fourth).get(0).call(FN.mul);
  return body;
}

/** load(t, c): state[i] = io[i] * R^2 / R + c[i]; io[i] is 8 canonical u32 words (zero-padded to 40 bytes). */
function loadFunction(): Body {
  const body = new Body(2);
  const i = body.local(I32);
  const io = body.local(I32);
  const state = body.local(I32);
  const limbs = Array.from({ length: LIMBS }, () => body.local(I64));
  body.i32(LAYOUT.io).set(io).i32(LAYOUT.state).set(state);
  body.repeat(i, 0, () => {
    limbs.forEach((limb, k) => {
      const bit = k * LIMB_BITS;
      body
        .get(io)
        .load64(bit >> 3)
        .i64(BigInt(bit & 7))
        .op(OP.i64ShrU)
        .i64(LIMB_MASK)
        .op(OP.i64And)
        .set(limb);
    });
    emitStoreLimbs(body, state, limbs);
    body.get(state).get(state).i32(LAYOUT.radixSquared).call(FN.mul);
    body.get(state).get(state).get(1).call(FN.add);
    body.bump(io, ELEMENT_BYTES).bump(state, ELEMENT_BYTES).bump(1, ELEMENT_BYTES);
  });
  return body;
}

/** fullRound(t, c, m): S-box on every element, add c (when c != 0), then multiply by the t x t rows m. */
function fullRoundFunction(): Body {
  const body = new Body(3);
  const i = body.local(I32);
  const element = body.local(I32);
  const out = body.local(I32);
  const rowBytes = body.local(I32);
  body.i32(LAYOUT.state).set(element);
  body.repeat(i, 0, () => {
    body.get(element).call(FN.sbox);
    body.get(1).op(OP.i32Eqz, OP.if, 0x40);
    body.op(0x05); // else
    body.get(element).get(element).get(1).call(FN.add);
    body.bump(1, ELEMENT_BYTES);
    body.op(OP.end);
    body.bump(element, ELEMENT_BYTES);
  });
  body.get(0).i32(ELEMENT_BYTES).op(OP.i32Mul).set(rowBytes);
  body.i32(LAYOUT.tmp).set(out);
  body.repeat(i, 0, () => {
    body.get(out).get(2).i32(LAYOUT.state).get(0).call(FN.dot);
    body.get(2).get(rowBytes).op(OP.i32Add).set(2);
    body.bump(out, ELEMENT_BYTES);
  });
  emitCopyTmpToState(body, i);
  return body;
}

/** state[0..t) := tmp[0..t) (five 64-bit words per element). */
function emitCopyTmpToState(body: Body, counter: number): void {
  const offset = body.local(I32);
  const words = body.local(I32);
  body
    .get(0)
    .i32(ELEMENT_BYTES / 8)
    .op(OP.i32Mul)
    .set(words);
  body.i32(0).set(offset);
  body.repeat(counter, words, () => {
    body.get(offset).get(offset).load64(LAYOUT.tmp).store64(LAYOUT.state);
    body.bump(offset, 8);
  });
}

/**
 * partialRounds(t, rounds, c, s): per round r: state[0] = sbox(state[0]) + c[r]; new state[0] =
 * dot(s[r][0..t), state); state[k] += state[0] * s[r][t + k - 1] for k = 1..t-1 (s[r] has 2t-1 elements).
 */
function partialRoundsFunction(): Body {
  const body = new Body(4);
  const r = body.local(I32);
  const k = body.local(I32);
  const element = body.local(I32);
  const coefficient = body.local(I32);
  const last = body.local(I32);
  body.get(0).i32(-1).op(OP.i32Add).set(last);
  body.repeat(r, 1, () => {
    body.i32(LAYOUT.state).call(FN.sbox);
    body.i32(LAYOUT.state).i32(LAYOUT.state).get(2).call(FN.add);
    body.bump(2, ELEMENT_BYTES);
    body.i32(LAYOUT.tmp).get(3).i32(LAYOUT.state).get(0).call(FN.dot);
    body.get(3).get(0).i32(ELEMENT_BYTES).op(OP.i32Mul, OP.i32Add).set(coefficient);
    body.i32(LAYOUT.state + ELEMENT_BYTES).set(element);
    body.repeat(k, last, () => {
      body.get(element).i32(LAYOUT.state).get(coefficient).call(FN.mulAdd);
      body.bump(element, ELEMENT_BYTES).bump(coefficient, ELEMENT_BYTES);
    });
    body.get(coefficient).set(3);
    for (let w = 0; w < ELEMENT_BYTES / 8; w++) {
      body
        .i32(0)
        .i32(0)
        .load64(LAYOUT.tmp + 8 * w)
        .store64(LAYOUT.state + 8 * w);
    }
  });
  return body;
}

/** finish(): io[0] = canonical value of state[0] (out of Montgomery form, below r) as 8 u32 words. */
function finishFunction(): Body {
  const body = new Body(0);
  const cols = allocateColumns(body);
  emitZeroColumns(body, cols);
  cols.column.slice(0, LIMBS).forEach((column, i) => {
    body
      .i32(LAYOUT.state)
      .load32(4 * i)
      .set(column);
  });
  emitReduce(body, cols);
  const result = cols.column.slice(LIMBS);
  emitConditionalSubtract(body, result, MODULUS_LIMBS, [...cols.a, cols.m]);
  emitPackWords(body, result);
  return body;
}

/** Repacks 27-bit limbs into 8 u32 words at io[0]. */
function emitPackWords(body: Body, limbs: readonly number[]): void {
  const accumulator = body.local(I64);
  body.i64(0n).set(accumulator);
  let bits = 0;
  let word = 0;
  for (const limb of limbs) {
    body.get(accumulator).get(limb).i64(BigInt(bits)).op(OP.i64Shl, OP.i64Or).set(accumulator);
    bits += LIMB_BITS;
    while (bits >= 32 && word < 8) {
      body
        .i32(LAYOUT.io)
        .get(accumulator)
        .store32(4 * word);
      body.get(accumulator).i64(32n).op(OP.i64ShrU).set(accumulator);
      bits -= 32;
      word++;
    }
  }
  // The value is below 2^254, so bits past word 7 are zero.
}

/** The complete module: imports `env.memory`, exports the round functions. */
export function poseidonWasmBytes(): Uint8Array {
  const functions: { body: Body; params: number; exported?: string }[] = [
    { body: mulFunction(), params: 3 },
    { body: squareFunction(), params: 2 },
    { body: dotFunction(), params: 4 },
    { body: addFunction(), params: 3 },
    { body: mulAddFunction(), params: 3 },
    { body: sboxFunction(), params: 1 },
    { body: loadFunction(), params: 2, exported: "load" },
    { body: fullRoundFunction(), params: 3, exported: "fullRound" },
    { body: partialRoundsFunction(), params: 4, exported: "partialRounds" },
    { body: finishFunction(), params: 0, exported: "finish" },
  ];
  const arities = [...new Set(functions.map((fn) => fn.params))];
  const types = arities.map((params) => [0x60, ...vector(Array.from({ length: params }, () => [I32])), 0]);
  const imports = [[...name("env"), ...name("memory"), 0x02, 0x00, 1]];
  const exports = functions.flatMap((fn, index) =>
    fn.exported === undefined ? [] : [[...name(fn.exported), 0x00, ...unsignedLeb(index)]],
  );
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector(imports)),
    ...section(3, vector(functions.map((fn) => unsignedLeb(arities.indexOf(fn.params))))),
    ...section(7, vector(exports)),
    ...section(10, vector(functions.map((fn) => fn.body.encode()))),
  ];
  return Uint8Array.from(bytes);
}
