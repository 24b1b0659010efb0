/**
 * @module setup/fast/contribution
 *
 * The phase-1 contribution record of a development ptau, built the way snarkjs `powersoftau contribute`
 * builds it (`powersoftau_contribute.js`, `keypair.js`, `powersoftau_utils.js`), so `snarkjs powersoftau
 * verify` accepts the file: the first challenge hash of the blank accumulator, the proof-of-knowledge public
 * key (g1_s, g1_s*x, g2_sp*x per secret x in tau/alpha/beta, with g2_sp hashed from the challenge), the
 * BLAKE2b response hash over the compressed points (stored as the 216-byte partial hash state snarkjs keeps),
 * and the next challenge hash over the uncompressed points.
 *
 * Security caveat: the record proves knowledge of tau/alpha/beta, it does not hide them from whoever ran
 * this code; the ptau stays an INSECURE development artifact.
 */

import { createHash, randomBytes } from "node:crypto";
import { blake2b } from "@noble/hashes/blake2.js";
import type { CurveRng, FastCurve, WasmGroup } from "./curve.ts";
import type { ToxicWaste } from "./secrets.ts";

/** Contribution name written into every fast dev ptau. */
export const DEV_CONTRIBUTION_NAME = "zktally INSECURE development ptau";

/** ffjavascript's ChaCha20-based RNG (the exact stream snarkjs derives hash-to-G2 points from). */
export class ChaCha implements CurveRng {
  private readonly state: number[];
  private readonly buff: number[] = new Array(16).fill(0);
  private idx = 16;

  constructor(seed: readonly number[]) {
    if (seed.length !== 8) throw new RangeError("ChaCha seed must be 8 u32 words");
    this.state = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, ...seed.map((s) => s >>> 0), 0, 0, 0, 0];
  }

  nextU32(): number {
    if (this.idx === 16) this.update();
    return this.buff[this.idx++] as number;
  }

  nextU64(): bigint {
    const hi = BigInt(this.nextU32());
    return hi * 0x100000000n + BigInt(this.nextU32());
  }

  nextBool(): boolean {
    return (this.nextU32() & 1) === 1;
  }

  private update(): void {
    const st = this.buff;
    for (let i = 0; i < 16; i++) st[i] = this.state[i] as number;
    for (let i = 0; i < 10; i++) {
      quarterRound(st, 0, 4, 8, 12);
      quarterRound(st, 1, 5, 9, 13);
      quarterRound(st, 2, 6, 10, 14);
      quarterRound(st, 3, 7, 11, 15);
      quarterRound(st, 0, 5, 10, 15);
      quarterRound(st, 1, 6, 11, 12);
      quarterRound(st, 2, 7, 8, 13);
      quarterRound(st, 3, 4, 9, 14);
    }
    for (let i = 0; i < 16; i++) st[i] = ((st[i] as number) + (this.state[i] as number)) >>> 0;
    this.idx = 0;
    for (let i = 12; i < 16; i++) {
      this.state[i] = ((this.state[i] as number) + 1) >>> 0;
      if (this.state[i] !== 0) break;
    }
  }
}

function quarterRound(st: number[], a: number, b: number, c: number, d: number): void {
  const rot = (v: number, n: number) => ((v << n) | (v >>> (32 - n))) >>> 0;
  st[a] = ((st[a] as number) + (st[b] as number)) >>> 0;
  st[d] = rot(((st[d] as number) ^ (st[a] as number)) >>> 0, 16);
  st[c] = ((st[c] as number) + (st[d] as number)) >>> 0;
  st[b] = rot(((st[b] as number) ^ (st[c] as number)) >>> 0, 12);
  st[a] = ((st[a] as number) + (st[b] as number)) >>> 0;
  st[d] = rot(((st[d] as number) ^ (st[a] as number)) >>> 0, 8);
  st[c] = ((st[c] as number) + (st[d] as number)) >>> 0;
  st[b] = rot(((st[b] as number) ^ (st[c] as number)) >>> 0, 7);
}

/** A ChaCha seeded with 32 crypto-random bytes. */
export function randomChaCha(): ChaCha {
  const bytes = randomBytes(32);
  return new ChaCha(Array.from({ length: 8 }, (_, i) => bytes.readUInt32BE(i * 4)));
}

function uncompressed(G: WasmGroup, p: Uint8Array): Uint8Array {
  const out = new Uint8Array(G.F.n8 * 2);
  G.toRprUncompressed(out, 0, p);
  return out;
}

/**
 * snarkjs's initial challenge: BLAKE2b-512 over BLAKE2b-512("") and the uncompressed points of the blank
 * accumulator (2^(p+1)-1 tauG1, 2^p tauG2, 2^p alphaTauG1, 2^p betaTauG1 generators, one betaG2).
 */
export function firstChallengeHash(curve: FastCurve, power: number): Uint8Array {
  const hasher = createHash("blake2b512");
  hasher.update(createHash("blake2b512").digest());
  const g1 = uncompressed(curve.G1, curve.G1.g);
  const g2 = uncompressed(curve.G2, curve.G2.g);
  const repeat = (point: Uint8Array, count: number) => {
    const block = Math.min(count, 1 << 14);
    const buf = new Uint8Array(block * point.byteLength);
    for (let i = 0; i < block; i++) buf.set(point, i * point.byteLength);
    for (let done = 0; done < count; done += block) {
      hasher.update(buf.subarray(0, Math.min(block, count - done) * point.byteLength));
    }
  };
  const n = 2 ** power;
  repeat(g1, 2 * n - 1);
  repeat(g2, n);
  repeat(g1, n);
  repeat(g1, n);
  hasher.update(g2);
  return new Uint8Array(hasher.digest());
}

/** Proof-of-knowledge key of one secret x: g1_s, g1_sx = x*g1_s, g2_spx = x*g2_sp (affine LEM points). */
export interface PokKey {
  readonly g1_s: Uint8Array;
  readonly g1_sx: Uint8Array;
  readonly g2_spx: Uint8Array;
}

export interface PtauKey {
  readonly tau: PokKey;
  readonly alpha: PokKey;
  readonly beta: PokKey;
}

/** snarkjs `keypair.getG2sp`: hash (personalization, challenge, U(g1_s), U(g1_sx)) to a G2 point. */
export function hashToG2sp(
  curve: FastCurve,
  personalization: number,
  challenge: Uint8Array,
  g1s: Uint8Array,
  g1sx: Uint8Array,
): Uint8Array {
  const h = blake2b
    .create({ dkLen: 64 })
    .update(new Uint8Array([personalization]))
    .update(challenge)
    .update(uncompressed(curve.G1, g1s))
    .update(uncompressed(curve.G1, g1sx))
    .digest();
  const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const seed = Array.from({ length: 8 }, (_, i) => view.getUint32(i * 4));
  return curve.G2.toAffine(curve.G2.fromRng(new ChaCha(seed)));
}

/** The contribution key for known secrets (snarkjs `createPTauKey` with the private keys given). */
export function createPtauKey(
  curve: FastCurve,
  challenge: Uint8Array,
  secrets: ToxicWaste,
  rng: CurveRng,
): PtauKey {
  const { G1, G2 } = curve;
  const pok = (x: bigint, personalization: number): PokKey => {
    const g1_s = G1.toAffine(G1.fromRng(rng));
    const g1_sx = G1.toAffine(G1.timesScalar(g1_s, x));
    const g2_sp = hashToG2sp(curve, personalization, challenge, g1_s, g1_sx);
    return { g1_s, g1_sx, g2_spx: G2.toAffine(G2.timesScalar(g2_sp, x)) };
  };
  return { tau: pok(secrets.tau, 0), alpha: pok(secrets.alpha, 1), beta: pok(secrets.beta, 2) };
}

/** The key as snarkjs serializes it: 6 G1 then 3 G2 points, LEM (file) or uncompressed (hashes). */
export function ptauKeyBytes(curve: FastCurve, key: PtauKey, montgomery: boolean): Uint8Array {
  const g1 = [key.tau.g1_s, key.tau.g1_sx, key.alpha.g1_s, key.alpha.g1_sx, key.beta.g1_s, key.beta.g1_sx];
  const g2 = [key.tau.g2_spx, key.alpha.g2_spx, key.beta.g2_spx];
  const out = new Uint8Array(6 * 64 + 3 * 128);
  let at = 0;
  for (const [G, points] of [
    [curve.G1, g1],
    [curve.G2, g2],
  ] as const) {
    for (const p of points) {
      if (montgomery) G.toRprLEM(out, at, p);
      else G.toRprUncompressed(out, at, p);
      at += G.F.n8 * 2;
    }
  }
  return out;
}

/** Internal state of @noble/hashes' BLAKE2b (the fields snarkjs `misc.toPartialHash` serializes). */
interface Blake2bState {
  buffer: Uint8Array;
  pos: number;
  length: number;
  [word: string]: unknown;
}

/**
 * snarkjs `misc.toPartialHash`: the 128-byte block buffer, the eight 64-bit chaining words as lo/hi u32
 * pairs, the bytes already compressed and the buffered byte count (216 bytes, little-endian u32s).
 */
export function partialHashState(hasher: ReturnType<typeof blake2b.create>): Uint8Array {
  const state = hasher as unknown as Blake2bState;
  if (
    !(state.buffer instanceof Uint8Array) ||
    state.buffer.byteLength !== 128 ||
    typeof state.v0l !== "number"
  ) {
    throw new Error("unexpected @noble/hashes BLAKE2b internals: cannot serialize the partial hash");
  }
  const out = new Uint8Array(216);
  const words = new DataView(out.buffer);
  out.set(state.buffer);
  for (let i = 0; i < 8; i++) {
    words.setUint32(128 + i * 8, (state[`v${i}l`] as number) >>> 0, true);
    words.setUint32(128 + i * 8 + 4, (state[`v${i}h`] as number) >>> 0, true);
  }
  words.setUint32(128 + 64, (state.length - state.pos) >>> 0, true);
  words.setUint32(128 + 72, state.pos >>> 0, true);
  return out;
}

/** The points and hashes of the single contribution a fast dev ptau records. */
export interface ContributionRecord {
  readonly tauG1: Uint8Array;
  readonly tauG2: Uint8Array;
  readonly alphaG1: Uint8Array;
  readonly betaG1: Uint8Array;
  readonly betaG2: Uint8Array;
  readonly key: PtauKey;
  readonly partialHash: Uint8Array;
  readonly nextChallenge: Uint8Array;
  readonly name: string;
}

/** Body of ptau section 7 with one contribution (type 0, name parameter), as `writeContributions` writes it. */
export function contributionsSectionBody(curve: FastCurve, record: ContributionRecord): Uint8Array {
  const name = new TextEncoder().encode(record.name.substring(0, 64));
  if (name.byteLength > 255) throw new RangeError("contribution name is longer than 255 UTF-8 bytes");
  const key = ptauKeyBytes(curve, record.key, true);
  const parts = [
    u32(1),
    record.tauG1,
    record.tauG2,
    record.alphaG1,
    record.betaG1,
    record.betaG2,
    key,
    record.partialHash,
    record.nextChallenge,
    u32(0),
    u32(2 + name.byteLength),
    new Uint8Array([1, name.byteLength]),
    name,
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}
