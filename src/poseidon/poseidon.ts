/**
 * @module poseidon/poseidon
 *
 * Fast Poseidon over the BN254 scalar field, bit-for-bit circomlib's `PoseidonEx(nInputs, 1)` with an
 * initial state (capacity element) and circomlibjs' `buildPoseidon()(inputs, initialState, 1)`, for 1..16
 * inputs. It runs circomlib's optimized (sparse partial round) permutation in a WebAssembly module emitted
 * by `wasm-module.ts`; constants ship as generated modules, one per width, loaded only for the widths asked.
 * Browser-safe: no `node:` imports, asynchronous WebAssembly compilation only.
 *
 * Security caveats: inputs must be canonical field elements (0 <= x < r); anything else throws instead of
 * being reduced silently, so two different inputs can never hash alike by wrapping. Not constant-time.
 */

import { FIELD_ORDER } from "../core/field.ts";
import { ELEMENT_BYTES, LAYOUT, MAX_STATE, poseidonWasmBytes, RADIX_BITS, toLimbs } from "./wasm-module.ts";

/** PoseidonEx(inputs, initialState)[0]. */
export type PoseidonHash = (inputs: readonly bigint[], initialState: bigint) => bigint;

export const MAX_POSEIDON_INPUTS = MAX_STATE - 1;
const FULL_ROUNDS = 8;

interface WidthConstants {
  readonly PARTIAL_ROUNDS: number;
  readonly CONSTANTS: string;
}

/** Static loaders, so bundlers see every width (and split them) while a caller loads only those it needs. */
const CONSTANT_MODULES: Readonly<Record<number, () => Promise<WidthConstants>>> = {
  2: () => import("./constants/t2.ts"),
  3: () => import("./constants/t3.ts"),
  4: () => import("./constants/t4.ts"),
  5: () => import("./constants/t5.ts"),
  6: () => import("./constants/t6.ts"),
  7: () => import("./constants/t7.ts"),
  8: () => import("./constants/t8.ts"),
  9: () => import("./constants/t9.ts"),
  10: () => import("./constants/t10.ts"),
  11: () => import("./constants/t11.ts"),
  12: () => import("./constants/t12.ts"),
  13: () => import("./constants/t13.ts"),
  14: () => import("./constants/t14.ts"),
  15: () => import("./constants/t15.ts"),
  16: () => import("./constants/t16.ts"),
  17: () => import("./constants/t17.ts"),
};

interface Exports {
  load(t: number, c: number): void;
  fullRound(t: number, c: number, m: number): void;
  partialRounds(t: number, rounds: number, c: number, s: number): void;
  finish(): void;
}

/** One instantiated permutation of width t with its constants in Montgomery form. */
interface Permutation {
  readonly t: number;
  readonly exports: Exports;
  readonly words: Uint32Array;
  readonly partialRounds: number;
  /** Byte offsets of the round constants C, the rows of M and P (transposed), and the sparse S. */
  readonly c: number;
  readonly m: number;
  readonly p: number;
  readonly s: number;
}

let modulePromise: Promise<WebAssembly.Module> | undefined;

function compiledModule(): Promise<WebAssembly.Module> {
  modulePromise ??= WebAssembly.compile(poseidonWasmBytes() as Uint8Array<ArrayBuffer>);
  return modulePromise;
}

export interface PoseidonOptions {
  /** Input counts (1..16) to prepare; default all. Other counts then throw a RangeError. */
  readonly inputCounts?: readonly number[];
}

/** Builds the hash for the requested input counts (compiles once, instantiates one module per width). */
export async function buildPoseidonHash(options: PoseidonOptions = {}): Promise<PoseidonHash> {
  const counts = options.inputCounts ?? Array.from({ length: MAX_POSEIDON_INPUTS }, (_, i) => i + 1);
  for (const count of counts) assertInputCount(count);
  const module = await compiledModule();
  const permutations = new Map<number, Permutation>();
  await Promise.all(
    [...new Set(counts)].map(async (count) => {
      permutations.set(count, await instantiate(module, count + 1));
    }),
  );
  return (inputs, initialState) => {
    const permutation = permutations.get(inputs.length);
    if (permutation === undefined) {
      assertInputCount(inputs.length);
      throw new RangeError(`Poseidon with ${inputs.length} inputs was not prepared (inputCounts option)`);
    }
    return permute(permutation, inputs, initialState);
  };
}

function assertInputCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_POSEIDON_INPUTS) {
    throw new RangeError(`Poseidon takes 1..${MAX_POSEIDON_INPUTS} inputs (got ${count})`);
  }
}

async function instantiate(module: WebAssembly.Module, t: number): Promise<Permutation> {
  const loader = CONSTANT_MODULES[t];
  if (loader === undefined) throw new RangeError(`no Poseidon constants for width ${t}`);
  const { PARTIAL_ROUNDS: partialRounds, CONSTANTS } = await loader();
  const values = decodeConstants(CONSTANTS);
  const cCount = FULL_ROUNDS * t + partialRounds;
  const sCount = (2 * t - 1) * partialRounds;
  if (values.length !== cCount + 2 * t * t + sCount) {
    throw new Error(`Poseidon constants for width ${t} have ${values.length} values`);
  }
  const c = values.slice(0, cCount);
  const m = transpose(values.slice(cCount, cCount + t * t), t);
  const p = transpose(values.slice(cCount + t * t, cCount + 2 * t * t), t);
  const s = values.slice(cCount + 2 * t * t);
  const ordered = [...c, ...m, ...p, ...s];
  const bytes = LAYOUT.constants + ordered.length * ELEMENT_BYTES;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const words = new Uint32Array(memory.buffer);
  writeLimbs(words, LAYOUT.radixSquared, (1n << BigInt(2 * RADIX_BITS)) % FIELD_ORDER);
  ordered.forEach((value, index) => {
    writeLimbs(words, LAYOUT.constants + index * ELEMENT_BYTES, toMontgomery(value));
  });
  const base = LAYOUT.constants;
  return {
    t,
    exports: instance.exports as unknown as Exports,
    words,
    partialRounds,
    c: base,
    m: base + cCount * ELEMENT_BYTES,
    p: base + (cCount + t * t) * ELEMENT_BYTES,
    s: base + (cCount + 2 * t * t) * ELEMENT_BYTES,
  };
}

/** circomlibjs stores M[j][i] (input j, output i); the module wants row i = coefficients of output i. */
function transpose(flat: readonly bigint[], t: number): bigint[] {
  return Array.from({ length: t * t }, (_, index) => flat[(index % t) * t + Math.floor(index / t)] as bigint);
}

function decodeConstants(base64: string): bigint[] {
  const binary = atob(base64);
  const values: bigint[] = [];
  for (let offset = 0; offset < binary.length; offset += 32) {
    let hex = "";
    for (let byte = 31; byte >= 0; byte--) {
      hex += binary
        .charCodeAt(offset + byte)
        .toString(16)
        .padStart(2, "0");
    }
    values.push(BigInt(`0x${hex}`));
  }
  return values;
}

function toMontgomery(value: bigint): bigint {
  return (value << BigInt(RADIX_BITS)) % FIELD_ORDER;
}

function writeLimbs(words: Uint32Array, byteOffset: number, value: bigint): void {
  toLimbs(value).forEach((limb, i) => {
    words[byteOffset / 4 + i] = Number(limb);
  });
}

function permute(perm: Permutation, inputs: readonly bigint[], initialState: bigint): bigint {
  const { t, exports: wasm } = perm;
  writeCanonical(perm.words, 0, initialState);
  for (let i = 0; i < inputs.length; i++) writeCanonical(perm.words, i + 1, inputs[i] as bigint);
  const rowBytes = t * ELEMENT_BYTES;
  let c = perm.c;
  wasm.load(t, c);
  c += rowBytes;
  for (let round = 0; round < FULL_ROUNDS / 2 - 1; round++, c += rowBytes) wasm.fullRound(t, c, perm.m);
  wasm.fullRound(t, c, perm.p);
  c += rowBytes;
  wasm.partialRounds(t, perm.partialRounds, c, perm.s);
  c += perm.partialRounds * ELEMENT_BYTES;
  for (let round = 0; round < FULL_ROUNDS / 2 - 1; round++, c += rowBytes) wasm.fullRound(t, c, perm.m);
  wasm.fullRound(t, 0, perm.m);
  wasm.finish();
  return readCanonical(perm.words);
}

/** Writes a canonical value as 8 little-endian u32 words into io element `index` (words 8, 9 stay 0). */
function writeCanonical(words: Uint32Array, index: number, value: bigint): void {
  if (typeof value !== "bigint" || value < 0n || value >= FIELD_ORDER) {
    throw new RangeError(
      `Poseidon input ${index === 0 ? "initialState" : index - 1} is not a field element below r`,
    );
  }
  const hex = value.toString(16).padStart(64, "0");
  const base = (LAYOUT.io + index * ELEMENT_BYTES) / 4;
  for (let word = 0; word < 8; word++) {
    words[base + word] = Number.parseInt(hex.slice(56 - 8 * word, 64 - 8 * word), 16);
  }
}

function readCanonical(words: Uint32Array): bigint {
  let hex = "0x";
  for (let word = 7; word >= 0; word--)
    hex += (words[LAYOUT.io / 4 + word] as number).toString(16).padStart(8, "0");
  return BigInt(hex);
}
