/**
 * @module setup/fast/ptau
 *
 * `writeDevPtau`: a phase-2-ready powers-of-tau file, byte-compatible with snarkjs `powersoftau new` +
 * `contribute` + `prepare phase2`, computed directly from known secrets tau, alpha, beta. Every point is a
 * fixed-base multiple of a generator with a scalar computed in Fr (powers of tau, Lagrange evaluations
 * L_j(tau) per domain size), so the file costs about 15 * 2^power fixed-base multiplications instead of
 * the FFTs in the exponent snarkjs runs. Layout (as snarkjs writes it, points affine LEM = little-endian
 * Montgomery): 1 header, 2 tauG1 (2^(p+1)-1), 3 tauG2 (2^p), 4 alphaTauG1 (2^p), 5 betaTauG1 (2^p),
 * 6 betaG2 (1), 7 contributions (one record, named "zktally INSECURE development ptau", so `snarkjs
 * powersoftau verify` accepts the file), 12-15 Lagrange bases of tauG1 (blocks 2^0..2^(p+1)), tauG2,
 * alphaTauG1, betaTauG1 (blocks 2^0..2^p). The file is written to a temp name and renamed into place, then a
 * sidecar `<file>.json` compatible with `src/setup/ptau.ts` (`DevPtauSidecar`) is written last.
 *
 * SECURITY: INSECURE, development only. The caller (and this process) knows the toxic waste, so anyone with
 * the secrets can forge proofs for every key derived from the file. Secrets are returned only on request.
 * Power 28 (a 2^29 tauG1 block beyond the 2-adic domain, a file over 100 GB) is not supported.
 */

import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { type BinFileHandle, createBinFile, endWriteSection, startWriteSection } from "@iden3/binfileutils";
import { blake2b } from "@noble/hashes/blake2.js";
import { writeFileAtomic } from "../../storage/atomic-write.ts";
import { digestsOfFile } from "../../storage/file-digest.ts";
import { type Progress, silentProgress, timedStep } from "../../util/progress.ts";
import { devPtauSidecarJson } from "../setup-common.ts";
import {
  type ContributionRecord,
  contributionsSectionBody,
  createPtauKey,
  DEV_CONTRIBUTION_NAME,
  firstChallengeHash,
  partialHashState,
  ptauKeyBytes,
  randomChaCha,
} from "./contribution.ts";
import { type FastCurve, type Group, getCurve, SetupError } from "./curve.ts";
import { encodeScalars, FQ_MODULUS } from "./field.ts";
import { lagrangeSpec, listSpec, powersSpec, type ScalarSpec, truncatedLagrangeSpec } from "./lagrange.ts";
import { type FixedBasePool, withPool } from "./pool.ts";
import { assertToxicWaste, randomToxicWaste, type ToxicWaste } from "./secrets.ts";

/** Largest power the fast writer produces (power 28 needs a coset block snarkjs computes specially). */
export const MAX_FAST_PTAU_POWER = 27;

/** Points per streamed chunk (G2 chunks are a quarter of this). */
const CHUNK_POINTS = 1 << 15;

export const FAST_PTAU_GENERATOR =
  "zktally setup/fast writeDevPtau (known toxic waste, direct fixed-base evaluation, one recorded contribution)";

export interface WriteDevPtauOptions {
  /** Power p: the file supports circuits with up to 2^p - 1 constraints + public signals. 1..27. */
  readonly power: number;
  /** Destination .ptau path; the sidecar goes to `<outPath>.json`. */
  readonly outPath: string;
  /** Secrets to use (tests, reproducible dev setups); crypto-random when omitted. */
  readonly secrets?: ToxicWaste;
  /** Return the secrets in the result (needed for `newDevZKey`); default false. */
  readonly revealSecrets?: boolean;
  /** Write the phase-2 sections 12-15 (default true); false yields snarkjs `contribute` output. */
  readonly phase2?: boolean;
  /** Worker threads for the fixed-base multiplications (default: available parallelism). */
  readonly threads?: number;
  readonly progress?: Progress;
}

export interface DevPtauResult {
  readonly path: string;
  readonly power: number;
  readonly sha256: string;
  readonly blake2b512: string;
  /** Sidecar path; absent when `phase2: false` (an unprepared file must not enter the dev ptau cache). */
  readonly sidecarPath?: string;
  readonly insecure: true;
  readonly phase2: boolean;
  /** snarkjs's response hash of the recorded contribution (hex). */
  readonly contributionHash: string;
  /** Present only with `revealSecrets: true`. */
  readonly secrets?: ToxicWaste;
}

/** Checks the options and returns the validated power, path and secrets. */
function checkOptions(opts: WriteDevPtauOptions): { power: number; outPath: string; secrets: ToxicWaste } {
  if (typeof opts !== "object" || opts === null) throw new TypeError("options must be an object");
  const { power, outPath } = opts;
  if (!Number.isInteger(power) || power < 1 || power > 28) {
    throw new RangeError(`power must be an integer in 1..28, got ${String(power)}`);
  }
  if (power > MAX_FAST_PTAU_POWER) {
    throw new RangeError(
      `power ${power} is not supported by the fast writer (max ${MAX_FAST_PTAU_POWER}): use snarkjs`,
    );
  }
  if (typeof outPath !== "string" || outPath.trim() === "" || outPath.includes("\0")) {
    throw new TypeError(`outPath must be a non-empty file path, got ${JSON.stringify(outPath)}`);
  }
  for (const flag of ["revealSecrets", "phase2"] as const) {
    if (opts[flag] !== undefined && typeof opts[flag] !== "boolean") {
      throw new TypeError(`${flag} must be a boolean, got ${JSON.stringify(opts[flag])}`);
    }
  }
  if (opts.secrets !== undefined) assertToxicWaste(opts.secrets, "secrets");
  return { power, outPath: path.resolve(outPath), secrets: opts.secrets ?? randomToxicWaste() };
}

/** Writes a development ptau of `power` from known secrets (see the module comment). */
export async function writeDevPtau(opts: WriteDevPtauOptions): Promise<DevPtauResult> {
  const { power, outPath, secrets } = checkOptions(opts);
  const phase2 = opts.phase2 ?? true;
  const progress = opts.progress ?? silentProgress;
  if ((await stat(outPath).catch(() => undefined))?.isDirectory()) {
    throw new TypeError(`outPath is a directory: ${outPath}`);
  }
  await mkdir(path.dirname(outPath), { recursive: true });
  const tmp = `${outPath}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    const curve = await getCurve();
    const contributionHash = await timedStep(
      progress,
      "ptau",
      `fast INSECURE dev ptau power ${power}${phase2 ? "" : " (no phase 2)"}`,
      () =>
        withPool({ threads: opts.threads }, async (pool) => {
          const n = 2 ** power;
          await pool.prepare("G1", (phase2 ? 12 : 4) * n);
          await pool.prepare("G2", (phase2 ? 3 : 1) * n);
          return writePtauFile(tmp, { curve, pool, power, secrets, phase2, progress });
        }),
    );
    const [sha256, blake2b512] = (await digestsOfFile(tmp, ["sha256", "blake2b512"])) as [string, string];
    const sidecarPath = phase2 ? `${outPath}.json` : undefined;
    // Any old sidecar describes the file being replaced: drop it first (it is rewritten last, if at all).
    await rm(`${outPath}.json`, { force: true });
    await rename(tmp, outPath);
    if (sidecarPath) await writeSidecar(sidecarPath, power, sha256, blake2b512);
    return {
      path: outPath,
      power,
      sha256,
      blake2b512,
      ...(sidecarPath ? { sidecarPath } : {}),
      insecure: true,
      phase2,
      contributionHash: Buffer.from(contributionHash).toString("hex"),
      ...(opts.revealSecrets ? { secrets } : {}),
    };
  } finally {
    await rm(tmp, { force: true });
  }
}

async function writeSidecar(sidecarPath: string, power: number, sha256: string, blake2b512: string) {
  await writeFileAtomic(
    sidecarPath,
    devPtauSidecarJson(power, { sha256, blake2b512 }, { generator: FAST_PTAU_GENERATOR }),
  );
}

interface WriteContext {
  readonly curve: FastCurve;
  readonly pool: FixedBasePool;
  readonly power: number;
  readonly secrets: ToxicWaste;
  readonly phase2: boolean;
  readonly progress: Progress;
}

/** Where a phase-1 section's body starts, for the second (uncompressed) hashing pass. */
interface WrittenSection {
  readonly group: Group;
  readonly start: number;
  readonly points: number;
}

type ScalarSource = (start: number, count: number) => ScalarSpec;

/** Writes the whole file; returns the contribution's response hash. */
async function writePtauFile(fileName: string, ctx: WriteContext): Promise<Uint8Array> {
  const { curve, power, secrets } = ctx;
  const n = 2 ** power;
  const fd = await createBinFile(fileName, "ptau", 1, ctx.phase2 ? 11 : 7, 1 << 22, 1 << 24);
  try {
    await writeHeader(fd, power);
    const challenge = firstChallengeHash(curve, power);
    const response = blake2b.create({ dkLen: 64 }).update(challenge);
    const { tau, alpha, beta } = secrets;
    const phase1: [number, Group, number, ScalarSource][] = [
      [2, "G1", 2 * n - 1, (s, c) => powersSpec(tau, s, c)],
      [3, "G2", n, (s, c) => powersSpec(tau, s, c)],
      [4, "G1", n, (s, c) => powersSpec(tau, s, c, alpha)],
      [5, "G1", n, (s, c) => powersSpec(tau, s, c, beta)],
      [6, "G2", 1, () => listSpec([beta])],
    ];
    const written: WrittenSection[] = [];
    const firstPoints: Uint8Array[][] = [];
    for (const [id, group, count, source] of phase1) {
      ctx.progress("ptau", `section ${id}: ${count} ${group} points`);
      const start = await beginSection(fd, id);
      firstPoints.push(await streamPoints(fd, ctx.pool, group, count, source, (c) => response.update(c)));
      await endWriteSection(fd);
      written.push({ group, start, points: count });
    }
    const [t1, t2, a1, b1, b2] = firstPoints as [
      Uint8Array[],
      Uint8Array[],
      Uint8Array[],
      Uint8Array[],
      Uint8Array[],
    ];
    const key = createPtauKey(curve, challenge, secrets, randomChaCha());
    const partialHash = partialHashState(response);
    const responseHash = response.update(ptauKeyBytes(curve, key, false)).digest();
    const nextChallenge = await nextChallengeHash(fd, ctx.pool, responseHash, written);
    const record: ContributionRecord = {
      tauG1: t1[1] as Uint8Array,
      tauG2: t2[1] as Uint8Array,
      alphaG1: a1[0] as Uint8Array,
      betaG1: b1[0] as Uint8Array,
      betaG2: b2[0] as Uint8Array,
      key,
      partialHash,
      nextChallenge,
      name: DEV_CONTRIBUTION_NAME,
    };
    await beginSection(fd, 7);
    await fd.write(contributionsSectionBody(curve, record));
    await endWriteSection(fd);
    if (ctx.phase2) await writeLagrangeSections(fd, ctx);
    return responseHash;
  } finally {
    await fd.close();
  }
}

/** Section 1: u32 n8 = 32, q (32 bytes LE), u32 power, u32 ceremonyPower (= power). */
async function writeHeader(fd: BinFileHandle, power: number): Promise<void> {
  const body = new Uint8Array(4 + 32 + 4 + 4);
  const view = new DataView(body.buffer);
  view.setUint32(0, 32, true);
  body.set(encodeScalars([FQ_MODULUS]), 4);
  view.setUint32(36, power, true);
  view.setUint32(40, power, true);
  await beginSection(fd, 1);
  await fd.write(body);
  await endWriteSection(fd);
}

async function beginSection(fd: BinFileHandle, id: number): Promise<number> {
  await startWriteSection(fd, id);
  return fd.pos;
}

/**
 * Multiplies the generator of `group` by `count` scalars from `source` in chunks and appends the affine LEM
 * points. `onCompressed` (if given) receives
 * the compressed encodings in order. Returns the first two points.
 */
async function streamPoints(
  fd: BinFileHandle,
  pool: FixedBasePool,
  group: Group,
  count: number,
  source: ScalarSource,
  onCompressed?: (c: Uint8Array) => void,
): Promise<Uint8Array[]> {
  const chunk = group === "G1" ? CHUNK_POINTS : CHUNK_POINTS / 4;
  const size = group === "G1" ? 64 : 128;
  const first: Uint8Array[] = [];
  const formats = { lem: true, c: onCompressed !== undefined };
  const launch = (start: number) => {
    const result = pool.multiply(group, source(start, Math.min(chunk, count - start)), formats);
    result.catch(() => {}); // awaited below; this only avoids an unhandled rejection while writing
    return result;
  };
  // One chunk in flight while the previous one is written and hashed on this thread.
  let pending = launch(0);
  for (let start = 0; start < count; start += chunk) {
    const { lem, c } = await pending;
    if (start + chunk < count) pending = launch(start + chunk);
    if (!lem) throw new SetupError("fixed-base pool returned no points");
    if (start === 0)
      for (let i = 0; i < Math.min(2, count); i++) first.push(lem.slice(i * size, (i + 1) * size));
    await fd.write(lem);
    if (onCompressed && c) onCompressed(c);
  }
  return first;
}

/** BLAKE2b-512(responseHash || uncompressed points of sections 2-6), read back from the file. */
async function nextChallengeHash(
  fd: BinFileHandle,
  pool: FixedBasePool,
  responseHash: Uint8Array,
  sections: readonly WrittenSection[],
): Promise<Uint8Array> {
  const hasher = createHash("blake2b512").update(responseHash);
  const resume = fd.pos;
  for (const { group, start, points } of sections) {
    const size = group === "G1" ? 64 : 128;
    for (let i = 0; i < points; i += CHUNK_POINTS) {
      const count = Math.min(CHUNK_POINTS, points - i);
      const lem = await fd.read(count * size, start + i * size);
      hasher.update(await pool.convert(group, lem, "u"));
    }
  }
  fd.pos = resume;
  return new Uint8Array(hasher.digest());
}

/** Sections 12-15: Lagrange bases for every domain 2^0 .. 2^p (tauG1 also 2^(p+1), truncated). */
async function writeLagrangeSections(fd: BinFileHandle, ctx: WriteContext): Promise<void> {
  const { power, secrets, pool } = ctx;
  const { tau, alpha, beta } = secrets;
  const plan: [number, Group, bigint][] = [
    [12, "G1", 1n],
    [13, "G2", 1n],
    [14, "G1", alpha],
    [15, "G1", beta],
  ];
  for (const [id, group, scale] of plan) {
    ctx.progress("ptau", `section ${id}: Lagrange bases 2^0..2^${id === 12 ? power + 1 : power} (${group})`);
    await beginSection(fd, id);
    for (let bits = 0; bits <= power; bits++) {
      await streamPoints(fd, pool, group, 2 ** bits, (s, c) => lagrangeSpec(tau, bits, s, c, scale));
    }
    if (id === 12) {
      const bits = power + 1;
      await streamPoints(fd, pool, group, 2 ** bits, (s, c) => truncatedLagrangeSpec(tau, bits, s, c));
    }
    await endWriteSection(fd);
  }
}
