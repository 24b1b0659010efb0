/**
 * @module setup/fast/pool-worker
 *
 * Worker thread of the fixed-base pool (`pool.ts`). It instantiates the BN254 wasm code of snarkjs's
 * ffjavascript/wasmcurves (passed in by the main thread, so both sides run bit-identical arithmetic) on its
 * own memory and serves requests:
 *   init {code}                          compile + instantiate
 *   rows {group, w, rows, generator}     comb table rows k: [d * 2^(w*k) * G for d < 2^w], affine LEM
 *   table {group, w, table}              install a full comb table
 *   mul {group, spec, count, formats}    scalars from a spec (explicit list, geometric series or Lagrange
 *                                        evaluations, computed with the wasm Fr code), then a d-ary comb:
 *                                        sum of table entries per scalar, batch to affine, optionally to
 *                                        compressed (C) / uncompressed (U) encodings
 *   expand {spec, count}                 just the scalars of a spec (32-byte LE words)
 *   convert {group, points, to}          LEM affine -> "u" or "c"
 *   subToU {group, a, b}                 U(a_i - b_i) via subAffine + batchToAffine + batchLEMtoU, the exact
 *                                        op sequence snarkjs newZKey hashes H points with
 * Plain JavaScript (no TypeScript) because worker threads load it without tsx/vitest transforms.
 *
 * Security caveat: it multiplies by whatever scalars it gets (toxic waste of INSECURE dev setups) with
 * variable-time arithmetic, and does not wipe its heap between requests.
 */

import { parentPort } from "node:worker_threads";

/** wasm64K pages; ffjavascript's worker uses the same cap (2 GiB). */
const MAX_PAGES = 32767;
const N8 = { G1: 32, G2: 64 };
const PREFIX = { G1: "g1m", G2: "g2m" };

let instance;
let memory;
/** group -> {ptr, w, nWin} of the installed comb table */
const tables = new Map();

function u32() {
  return new Uint32Array(memory.buffer, 0, 1);
}

/** Bump allocation on the wasm heap pointer at address 0 (the wasm code allocates its temporaries there). */
function alloc(length) {
  const head = u32();
  while (head[0] & 3) head[0]++;
  const ptr = head[0];
  head[0] += length;
  // Keep `length` bytes of headroom above the new top for the wasm code's own temporaries.
  const needed = head[0] + length + (1 << 16);
  if (needed > memory.buffer.byteLength) {
    const pages = Math.ceil(needed / 0x10000);
    if (pages > MAX_PAGES) throw new RangeError(`pool worker needs ${pages} wasm pages (max ${MAX_PAGES})`);
    memory.grow(pages - memory.buffer.byteLength / 0x10000);
  }
  return ptr;
}

/** Grows memory so the wasm code can allocate `bytes` of temporaries above the current heap top. */
function reserve(bytes) {
  const needed = u32()[0] + bytes + (1 << 16);
  if (needed > memory.buffer.byteLength) {
    const pages = Math.ceil(needed / 0x10000);
    if (pages > MAX_PAGES) throw new RangeError(`pool worker needs ${pages} wasm pages (max ${MAX_PAGES})`);
    memory.grow(pages - memory.buffer.byteLength / 0x10000);
  }
}

function put(ptr, bytes) {
  new Uint8Array(memory.buffer).set(bytes, ptr);
}

function get(ptr, length) {
  return new Uint8Array(memory.buffer).slice(ptr, ptr + length);
}

/** Runs `fn` and releases its heap allocations afterwards (persistent tables are allocated outside). */
function scoped(fn) {
  const mark = u32()[0];
  try {
    return fn();
  } finally {
    u32()[0] = mark;
  }
}

async function init({ code }) {
  const module = await WebAssembly.compile(code);
  memory = new WebAssembly.Memory({ initial: 64, maximum: MAX_PAGES });
  instance = await WebAssembly.instantiate(module, { env: { memory } });
  return null;
}

function fn(group, name) {
  return instance.exports[`${PREFIX[group]}_${name}`];
}

function buildRows({ group, w, rows, generator }) {
  const n8 = N8[group];
  const sA = n8 * 2;
  const sJ = n8 * 3;
  const size = 1 << w;
  const out = new Uint8Array(rows.length * size * sA);
  scoped(() => {
    const pGen = alloc(sA);
    put(pGen, generator);
    const pBase = alloc(sJ);
    const pBaseAff = alloc(sA);
    const pRow = alloc(size * sJ);
    rows.forEach((k, index) => {
      fn(group, "zero")(pBase);
      fn(group, "addMixed")(pBase, pGen, pBase);
      for (let i = 0; i < w * k; i++) fn(group, "double")(pBase, pBase);
      fn(group, "toAffine")(pBase, pBaseAff);
      fn(group, "zero")(pRow);
      for (let d = 1; d < size; d++) fn(group, "addMixed")(pRow + (d - 1) * sJ, pBaseAff, pRow + d * sJ);
      reserve(size * sJ);
      fn(group, "batchToAffine")(pRow, size, pRow);
      out.set(get(pRow, size * sA), index * size * sA);
    });
  });
  return out;
}

function installTable({ group, w, table }) {
  const n8 = N8[group];
  const nWin = Math.ceil(254 / w);
  if (table.byteLength !== nWin * (1 << w) * n8 * 2) throw new RangeError("comb table has the wrong size");
  if (tables.has(group)) throw new Error(`a ${group} table is already installed`);
  // Persistent: allocated below every later scoped() mark.
  const ptr = alloc(table.byteLength);
  put(ptr, table);
  tables.set(group, { ptr, w, nWin });
  return null;
}

/**
 * Writes `count` Fr scalars (standard form, 32-byte LE) at a fresh heap pointer, from a spec:
 *   list      {scalars}                       given bytes
 *   geometric {first, ratio}                  first * ratio^i
 *   lagrange  {factor, tau, wFirst, w, correction}
 *             factor * x_i / (tau - x_i) - correction * x_i with x_i = wFirst * w^i
 * Field elements arrive as 32-byte LE standard-form words and are computed in Montgomery form.
 */
function scalarsFor(spec, count) {
  const p = alloc(count * 32);
  if (spec.kind === "list") {
    if (spec.scalars.byteLength !== count * 32) throw new RangeError("scalar list has the wrong length");
    put(p, spec.scalars);
    return p;
  }
  const ex = instance.exports;
  const mont = (bytes) => {
    const q = alloc(32);
    put(q, bytes);
    ex.frm_toMontgomery(q, q);
    return q;
  };
  if (spec.kind === "geometric") {
    const ratio = mont(spec.ratio);
    ex.frm_copy(mont(spec.first), p);
    for (let i = 1; i < count; i++) ex.frm_mul(p + (i - 1) * 32, ratio, p + i * 32);
  } else if (spec.kind === "lagrange") {
    const [factor, tau, w, correction] = [spec.factor, spec.tau, spec.w, spec.correction].map(mont);
    const xs = alloc(count * 32);
    const den = alloc(count * 32);
    const inv = alloc(count * 32);
    const tmp = alloc(32);
    ex.frm_copy(mont(spec.wFirst), xs);
    for (let i = 1; i < count; i++) ex.frm_mul(xs + (i - 1) * 32, w, xs + i * 32);
    for (let i = 0; i < count; i++) ex.frm_sub(tau, xs + i * 32, den + i * 32);
    reserve((count + 1) * 32);
    ex.frm_batchInverse(den, 32, count, inv, 32);
    const correct = !ex.frm_isZero(correction);
    for (let i = 0; i < count; i++) {
      const out = p + i * 32;
      ex.frm_mul(xs + i * 32, inv + i * 32, out);
      ex.frm_mul(out, factor, out);
      if (correct) {
        ex.frm_mul(xs + i * 32, correction, tmp);
        ex.frm_sub(out, tmp, out);
      }
    }
  } else {
    throw new RangeError(`unknown scalar spec ${spec.kind}`);
  }
  ex.frm_batchFromMontgomery(p, count, p);
  return p;
}

function multiply({ group, spec, count, formats }) {
  const table = tables.get(group);
  if (!table) throw new Error(`no ${group} comb table installed`);
  const n8 = N8[group];
  const sA = n8 * 2;
  const sJ = n8 * 3;
  const n = count;
  const { ptr, w, nWin } = table;
  const mask = (1 << w) - 1;
  const rowBytes = (1 << w) * sA;
  const addMixed = fn(group, "addMixed");
  const zero = fn(group, "zero");
  const result = {};
  scoped(() => {
    const pScalars = scalarsFor(spec, n);
    const pAcc = alloc(n * sJ);
    if (formats.scalars) result.scalars = get(pScalars, n * 32);
    // Views are taken after the last alloc (a memory.grow detaches older views).
    const words = new Uint32Array(memory.buffer, pScalars, n * 8);
    for (let i = 0; i < n; i++) {
      const acc = pAcc + i * sJ;
      zero(acc);
      const base = i * 8;
      for (let k = 0; k < nWin; k++) {
        const bit = k * w;
        const word = bit >>> 5;
        const shift = bit & 31;
        let digit = words[base + word] >>> shift;
        if (shift + w > 32 && word < 7) digit |= words[base + word + 1] << (32 - shift);
        digit &= mask;
        if (digit !== 0) addMixed(acc, ptr + k * rowBytes + digit * sA, acc);
      }
    }
    reserve(n * sJ);
    fn(group, "batchToAffine")(pAcc, n, pAcc);
    if (formats.lem) result.lem = get(pAcc, n * sA);
    if (formats.c) {
      const pC = alloc(n * n8);
      fn(group, "batchLEMtoC")(pAcc, n, pC);
      result.c = get(pC, n * n8);
    }
    if (formats.u) {
      fn(group, "batchLEMtoU")(pAcc, n, pAcc);
      result.u = get(pAcc, n * sA);
    }
  });
  return result;
}

function convert({ group, points, to }) {
  const n8 = N8[group];
  const n = points.byteLength / (n8 * 2);
  return scoped(() => {
    const pIn = alloc(points.byteLength);
    put(pIn, points);
    if (to === "u") {
      fn(group, "batchLEMtoU")(pIn, n, pIn);
      return get(pIn, points.byteLength);
    }
    const pOut = alloc(n * n8);
    fn(group, "batchLEMtoC")(pIn, n, pOut);
    return get(pOut, n * n8);
  });
}

function subToU({ group, a, b }) {
  const n8 = N8[group];
  const sA = n8 * 2;
  const sJ = n8 * 3;
  const n = a.byteLength / sA;
  return scoped(() => {
    const pA = alloc(a.byteLength);
    const pB = alloc(b.byteLength);
    const pOut = alloc(n * sJ);
    put(pA, a);
    put(pB, b);
    const sub = fn(group, "subAffine");
    for (let i = 0; i < n; i++) sub(pA + i * sA, pB + i * sA, pOut + i * sJ);
    reserve(n * sJ);
    fn(group, "batchToAffine")(pOut, n, pOut);
    fn(group, "batchLEMtoU")(pOut, n, pOut);
    return get(pOut, n * sA);
  });
}

function expand({ spec, count }) {
  return scoped(() => get(scalarsFor(spec, count), count * 32));
}

const handlers = { init, rows: buildRows, table: installTable, mul: multiply, expand, convert, subToU };

parentPort.on("message", async ({ id, op, args }) => {
  try {
    const value = await handlers[op](args);
    const transfer = [];
    if (value instanceof Uint8Array) transfer.push(value.buffer);
    else if (value) for (const part of Object.values(value)) transfer.push(part.buffer);
    parentPort.postMessage({ id, ok: true, value }, transfer);
  } catch (error) {
    parentPort.postMessage({ id, ok: false, error: String(error?.stack ?? error) });
  }
});
