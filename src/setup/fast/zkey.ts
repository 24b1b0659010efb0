/**
 * @module setup/fast/zkey
 *
 * `newDevZKey`: the initial Groth16 zkey of snarkjs `zKey.newZKey(r1cs, ptau, zkey)`, byte for byte, for a
 * ptau whose secrets (tau, alpha, beta) are known. Instead of one multi-exponentiation over the ptau's
 * Lagrange points per wire, every wire's A_i(tau), B_i(tau), C_i(tau) is evaluated in Fr from the r1cs and
 * the Lagrange scalars L_c(tau), and each key point is one fixed-base multiplication:
 *   A_i = A_i(tau) G1, B1_i = B_i(tau) G1, B2_i = B_i(tau) G2,
 *   IC_i (i <= nPublic) and C_i (i > nPublic) = (beta A_i(tau) + alpha B_i(tau) + C_i(tau)) G1,
 * where, as in snarkjs, A also gets one extra row L_{nConstraints+i} per public signal i (input
 * consistency). H points are copied from the ptau (odd entries of the tauG1 Lagrange block 2^(cirPower+1)),
 * and the circuit hash replays snarkjs's exact hashing, including its H-point quirk (it hashes U(tauG1[i+d] -
 * tauG1[i]) read from the file in 2^14-point chunks, overshooting to d points once d - 1 > 2^14).
 * Section order 1, 2, 4, 3, 9, 8, 5, 6, 7, 10 and all encodings follow `zkey_new.js`.
 * The result is written to a temp file and renamed into place. After it, the normal snarkjs
 * `zKey.contribute` / `zKey.beacon` / `zKey.verifyFromR1cs` apply unchanged.
 *
 * SECURITY: INSECURE, development only: it requires the ptau's toxic waste, and it checks that the given
 * secrets match the ptau (first powers, alpha, beta, sampled Lagrange points) before trusting them. Keys
 * derived this way must still get a phase-2 contribution, and remain forgeable by whoever knows the secrets.
 */

import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  type BinFileHandle,
  type BinSections,
  createBinFile,
  endWriteSection,
  readBinFile,
  startWriteSection,
} from "@iden3/binfileutils";
import { FIELD_ORDER } from "../../core/field.ts";
import { sha256File } from "../../storage/file-digest.ts";
import { type Progress, silentProgress, timedStep } from "../../util/progress.ts";
import { type FastCurve, type Group, getCurve, SetupError } from "./curve.ts";
import { encodeScalars, FQ_MODULUS, FR_TWO_ADICITY, frAdd, frMul, frReduce } from "./field.ts";
import { evaluateSpec, lagrangeSpec, listSpec } from "./lagrange.ts";
import { type FixedBasePool, withPool } from "./pool.ts";
import { assertBinMagic, forEachTerm, type R1cs, readCoefficient, readR1cs } from "./r1cs.ts";
import { assertToxicWaste, type ToxicWaste } from "./secrets.ts";

export interface NewDevZKeyOptions {
  readonly r1csPath: string;
  /** A prepared ptau made from `secrets` (e.g. by `writeDevPtau`). */
  readonly ptauPath: string;
  readonly zkeyPath: string;
  readonly secrets: ToxicWaste;
  readonly threads?: number;
  readonly progress?: Progress;
}

export interface DevZKeyResult {
  readonly zkeyPath: string;
  /** snarkjs's circuit hash (what `newZKey` returns), hex. */
  readonly csHash: string;
  readonly sha256: string;
  readonly domainSize: number;
  readonly nVars: number;
  readonly nPublic: number;
  readonly insecure: true;
}

const SG1 = 64;
const SG2 = 128;
/** Wires per streamed chunk of a point section. */
const WIRE_CHUNK = 1 << 15;
/** snarkjs hashHPoints chunk (its `Math.min(domainSize - 1, CHUNK_SIZE)` makes the last chunk overshoot). */
const H_HASH_CHUNK = 1 << 14;

/** snarkjs `misc.log2`: floor(log2(v)) for v >= 1, 0 for v = 0 (32-bit). */
export function snarkjsLog2(v: number): number {
  return v <= 0 ? 0 : 31 - Math.clz32(v);
}

function assertFile(name: string, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(`${name} must be a non-empty path, got ${JSON.stringify(value)}`);
  }
  if (!existsSync(value)) throw new TypeError(`${name} does not exist: ${value}`);
  return value;
}

/** Writes the snarkjs-identical initial zkey of `r1csPath` over `ptauPath` (see the module comment). */
export async function newDevZKey(opts: NewDevZKeyOptions): Promise<DevZKeyResult> {
  if (typeof opts !== "object" || opts === null) throw new TypeError("options must be an object");
  const r1csPath = assertFile("r1csPath", opts.r1csPath);
  const ptauPath = assertFile("ptauPath", opts.ptauPath);
  if (typeof opts.zkeyPath !== "string" || opts.zkeyPath.trim() === "" || opts.zkeyPath.includes("\0")) {
    throw new TypeError(`zkeyPath must be a non-empty file path, got ${JSON.stringify(opts.zkeyPath)}`);
  }
  assertToxicWaste(opts.secrets, "secrets");
  const zkeyPath = path.resolve(opts.zkeyPath);
  if ((await stat(zkeyPath).catch(() => undefined))?.isDirectory()) {
    throw new TypeError(`zkeyPath is a directory: ${zkeyPath}`);
  }
  const progress = opts.progress ?? silentProgress;
  await mkdir(path.dirname(zkeyPath), { recursive: true });
  const tmp = `${zkeyPath}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  await assertBinMagic(ptauPath, "ptau");
  const ptau = await readBinFile(ptauPath, "ptau", 1, 1 << 22, 1 << 24);
  try {
    const r1cs = await readR1cs(r1csPath);
    const plan = await planKey(ptau.fd, ptau.sections, r1cs, ptauPath);
    await checkSecrets(ptau.fd, ptau.sections, plan, opts.secrets);
    const csHash = await timedStep(
      progress,
      "zkey",
      `fast INSECURE dev zkey (${r1cs.header.nConstraints} constraints, domain 2^${plan.cirPower})`,
      () =>
        withPool({ threads: opts.threads }, async (pool) => {
          await pool.prepare("G1", 4 * r1cs.header.nVars);
          await pool.prepare("G2", r1cs.header.nVars);
          const ctx: KeyContext = {
            ...plan,
            r1cs,
            pool,
            secrets: opts.secrets,
            ptau,
            curve: await getCurve(),
          };
          return writeZkeyFile(tmp, ctx, progress);
        }),
    );
    const sha256 = await sha256File(tmp);
    await rename(tmp, zkeyPath);
    const { nVars } = r1cs.header;
    return {
      zkeyPath,
      csHash,
      sha256,
      domainSize: plan.domainSize,
      nVars,
      nPublic: plan.nPublic,
      insecure: true,
    };
  } finally {
    await ptau.fd.close();
    await rm(tmp, { force: true });
  }
}

interface KeyPlan {
  readonly power: number;
  readonly cirPower: number;
  readonly domainSize: number;
  readonly nPublic: number;
}

interface KeyContext extends KeyPlan {
  readonly r1cs: R1cs;
  readonly pool: FixedBasePool;
  readonly secrets: ToxicWaste;
  readonly ptau: { fd: BinFileHandle; sections: BinSections };
  readonly curve: FastCurve;
}

/** Reads the ptau header, checks its sections, and sizes the circuit's domain as snarkjs does. */
async function planKey(fd: BinFileHandle, sections: BinSections, r1cs: R1cs, file: string): Promise<KeyPlan> {
  const header = sections[1]?.[0];
  if (!header) throw new SetupError(`${file}: ptau has no header`);
  const n8 = await fd.readULE32(header.p);
  const q = await fd.read(n8);
  if (n8 !== 32 || !Buffer.from(q).equals(Buffer.from(encodeScalars([FQ_MODULUS])))) {
    throw new SetupError(`${file}: ptau is not over BN254`);
  }
  const power = await fd.readULE32();
  for (const id of [2, 3, 4, 5, 6, 12, 13, 14, 15]) {
    if (sections[id]?.length !== 1) {
      throw new SetupError(
        `${file}: ptau section ${id} missing or duplicated${id >= 12 ? " (not prepared)" : ""}`,
      );
    }
  }
  const expect: [number, number][] = [
    [2, (2 ** (power + 1) - 1) * SG1],
    [12, (2 ** (power + 2) - 1) * SG1],
    [13, (2 ** (power + 1) - 1) * SG2],
  ];
  for (const [id, size] of expect) {
    if (sections[id]?.[0]?.size !== size)
      throw new SetupError(`${file}: ptau section ${id} has the wrong size`);
  }
  const { nConstraints, nPubInputs, nOutputs } = r1cs.header;
  const nPublic = nOutputs + nPubInputs;
  const cirPower = snarkjsLog2(nConstraints + nPubInputs + nOutputs) + 1;
  if (cirPower > power) {
    throw new RangeError(
      `circuit needs ptau power ${cirPower} (${nConstraints} constraints + ${nPublic} public), ${file} has ${power}`,
    );
  }
  if (cirPower > FR_TWO_ADICITY)
    throw new RangeError(`circuit domain 2^${cirPower} exceeds 2^${FR_TWO_ADICITY}`);
  return { power, cirPower, domainSize: 2 ** cirPower, nPublic };
}

/** Points the secrets predict vs the ptau's: the first powers, alpha, beta, and Lagrange samples. */
async function checkSecrets(fd: BinFileHandle, sections: BinSections, plan: KeyPlan, s: ToxicWaste) {
  const curve = await getCurve();
  const at = (id: number, index: number, size: number) => (sections[id]?.[0]?.p as number) + index * size;
  const d = plan.domainSize;
  const block = d - 1; // first index of the 2^cirPower block in sections 12-15
  const l0 = evaluateSpec(lagrangeSpec(s.tau, plan.cirPower, 0, 1))[0] as bigint;
  const lLast = evaluateSpec(lagrangeSpec(s.tau, plan.cirPower, d - 1, 1))[0] as bigint;
  const samples: [string, Group, number, bigint][] = [
    ["tauG1[1]", "G1", at(2, 1, SG1), s.tau],
    ["tauG2[1]", "G2", at(3, 1, SG2), s.tau],
    ["alphaTauG1[0]", "G1", at(4, 0, SG1), s.alpha],
    ["betaTauG1[0]", "G1", at(5, 0, SG1), s.beta],
    ["betaG2", "G2", at(6, 0, SG2), s.beta],
    ["lagrange tauG1[0]", "G1", at(12, block, SG1), l0],
    ["lagrange tauG1[last]", "G1", at(12, block + d - 1, SG1), lLast],
    ["lagrange tauG2[0]", "G2", at(13, block, SG2), l0],
    ["lagrange alphaTauG1[0]", "G1", at(14, block, SG1), frMul(s.alpha, l0)],
    ["lagrange betaTauG1[0]", "G1", at(15, block, SG1), frMul(s.beta, l0)],
  ];
  for (const [name, group, position, scalar] of samples) {
    const G = curve[group];
    const onFile = await fd.read(group === "G1" ? SG1 : SG2, position);
    if (!G.eq(onFile, G.toAffine(G.timesScalar(G.g, scalar)))) {
      throw new SetupError(`secrets do not match the ptau (${name} differs): not the ptau of these secrets`);
    }
  }
}

/** Per-wire evaluations and the coefficient section, from one pass over the r1cs. */
interface WireEvaluations {
  readonly a: bigint[];
  readonly b: bigint[];
  readonly c: bigint[];
  readonly coefficients: Uint8Array;
}

/** R^2 mod r with R = 2^256: snarkjs stores coefficients as coef * R^2 (Montgomery of coef * R). */
const R2 = (((1n << 256n) % FIELD_ORDER) * ((1n << 256n) % FIELD_ORDER)) % FIELD_ORDER;

async function evaluateWires(ctx: KeyContext): Promise<WireEvaluations> {
  const { r1cs, nPublic, cirPower } = ctx;
  const { nVars, nConstraints } = r1cs.header;
  const rows = nConstraints + nPublic + 1;
  const lagrange = await ctx.pool.expand(lagrangeSpec(ctx.secrets.tau, cirPower, 0, rows));
  const lagrangeAt = (row: number) => readCoefficient(lagrange, row * 32);
  let abTerms = 0;
  forEachTerm(r1cs, (matrix) => {
    if (matrix !== 2) abTerms++;
  });
  const coefficients = new CoefficientWriter(abTerms + nPublic + 1);
  const a: bigint[] = new Array(nVars).fill(0n);
  const b: bigint[] = new Array(nVars).fill(0n);
  const c: bigint[] = new Array(nVars).fill(0n);
  let row = -1;
  let lRow = 0n;
  forEachTerm(r1cs, (matrix, constraint, wire, coefOffset) => {
    if (constraint !== row) {
      row = constraint;
      lRow = lagrangeAt(row);
    }
    const coef = readCoefficient(r1cs.constraints, coefOffset);
    const target = matrix === 0 ? a : matrix === 1 ? b : c;
    target[wire] = frAdd(target[wire] as bigint, frMul(coef, lRow));
    if (matrix !== 2) coefficients.add(matrix, constraint, wire, coef);
  });
  for (let s = 0; s <= nPublic; s++) {
    a[s] = frAdd(a[s] as bigint, lagrangeAt(nConstraints + s));
    coefficients.add(0, nConstraints + s, s, 1n);
  }
  return { a, b, c, coefficients: coefficients.finish() };
}

/** Section 4: u32 count, then (u32 matrix, u32 constraint, u32 signal, coef * R^2 mod r as 32 bytes LE). */
class CoefficientWriter {
  private readonly out: Uint8Array;
  private readonly view: DataView;
  private next = 0;

  constructor(private readonly count: number) {
    this.out = new Uint8Array(4 + count * 44);
    this.view = new DataView(this.out.buffer);
    this.view.setUint32(0, count, true);
  }

  add(matrix: number, constraint: number, signal: number, coef: bigint): void {
    if (this.next >= this.count) throw new SetupError("more r1cs coefficients than counted");
    const at = 4 + this.next++ * 44;
    this.view.setUint32(at, matrix, true);
    this.view.setUint32(at + 4, constraint, true);
    this.view.setUint32(at + 8, signal, true);
    let v = frMul(coef, R2);
    for (let limb = 0; limb < 4; limb++) {
      this.view.setBigUint64(at + 12 + limb * 8, BigInt.asUintN(64, v), true);
      v >>= 64n;
    }
  }

  finish(): Uint8Array {
    if (this.next !== this.count) throw new SetupError("fewer r1cs coefficients than counted");
    return this.out;
  }
}

function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

async function writeZkeyFile(fileName: string, ctx: KeyContext, progress: Progress): Promise<string> {
  const { r1cs, nPublic, secrets } = ctx;
  const { nVars } = r1cs.header;
  const hasher = createHash("blake2b512");
  progress("zkey", "evaluating wires at tau");
  const wires = await evaluateWires(ctx);
  const fd = await createBinFile(fileName, "zkey", 1, 10, 1 << 22, 1 << 24);
  try {
    await section(fd, 1, async () => fd.writeULE32(1));
    await section(fd, 2, () => writeGrothHeader(fd, ctx, hasher));
    await section(fd, 4, () => fd.write(wires.coefficients));
    const { alpha, beta } = secrets;
    const icOrC = (s: number) =>
      frAdd(
        frAdd(frMul(beta, wires.a[s] as bigint), frMul(alpha, wires.b[s] as bigint)),
        wires.c[s] as bigint,
      );
    const pointSections: [number, Group, number, (i: number) => bigint][] = [
      [3, "G1", nPublic + 1, icOrC],
      [8, "G1", nVars - nPublic - 1, (i) => icOrC(i + nPublic + 1)],
      [5, "G1", nVars, (i) => wires.a[i] as bigint],
      [6, "G1", nVars, (i) => wires.b[i] as bigint],
      [7, "G2", nVars, (i) => wires.b[i] as bigint],
    ];
    for (const [id, group, count, scalarOf] of pointSections) {
      progress("zkey", `section ${id}: ${count} ${group} points`);
      await section(fd, id, () => writePoints(fd, ctx.pool, group, count, scalarOf, hasher));
      if (id === 3) {
        progress("zkey", `section 9: ${ctx.domainSize} H points (copied from the ptau)`);
        await section(fd, 9, () => writeHPoints(fd, ctx));
        await hashHPoints(ctx, hasher);
      }
    }
    const csHash = new Uint8Array(hasher.digest());
    await section(fd, 10, async () => {
      await fd.write(csHash);
      await fd.writeULE32(0);
    });
    return Buffer.from(csHash).toString("hex");
  } finally {
    await fd.close();
  }
}

async function section(fd: BinFileHandle, id: number, body: () => Promise<void>): Promise<void> {
  await startWriteSection(fd, id);
  await body();
  await endWriteSection(fd);
}

/** Section 2: sizes, primes, counts, then alpha1, beta1, beta2 (from the ptau), gamma2, delta1, delta2. */
async function writeGrothHeader(fd: BinFileHandle, ctx: KeyContext, hasher: ReturnType<typeof createHash>) {
  const { curve, ptau, r1cs } = ctx;
  const head = new Uint8Array(4 + 32 + 4 + 32 + 12);
  const view = new DataView(head.buffer);
  view.setUint32(0, 32, true);
  head.set(encodeScalars([FQ_MODULUS]), 4);
  view.setUint32(36, 32, true);
  head.set(encodeScalars([FIELD_ORDER]), 40);
  view.setUint32(72, r1cs.header.nVars, true);
  view.setUint32(76, ctx.nPublic, true);
  view.setUint32(80, ctx.domainSize, true);
  await fd.write(head);
  const first = (id: number, size: number) => ptau.fd.read(size, ptau.sections[id]?.[0]?.p as number);
  const g1 = curve.G1.toAffine(curve.G1.g);
  const g2 = curve.G2.toAffine(curve.G2.g);
  const points: [Group, Uint8Array][] = [
    ["G1", await first(4, SG1)],
    ["G1", await first(5, SG1)],
    ["G2", await first(6, SG2)],
    ["G2", g2],
    ["G1", g1],
    ["G2", g2],
  ];
  for (const [group, lem] of points) {
    await fd.write(lem);
    hasher.update(await ctx.pool.convert(group, lem, "u"));
  }
}

/** A point section: one fixed-base multiple per wire, written LEM and hashed uncompressed (count first). */
async function writePoints(
  fd: BinFileHandle,
  pool: FixedBasePool,
  group: Group,
  count: number,
  scalarOf: (i: number) => bigint,
  hasher: ReturnType<typeof createHash>,
): Promise<void> {
  hasher.update(u32be(count));
  const launch = (lo: number) => {
    const scalars = Array.from({ length: Math.min(count, lo + WIRE_CHUNK) - lo }, (_, i) =>
      frReduce(scalarOf(lo + i)),
    );
    const result = pool.multiply(group, listSpec(scalars), { lem: true, u: true });
    result.catch(() => {}); // awaited below; this only avoids an unhandled rejection while writing
    return result;
  };
  // One chunk in flight while the previous one is written and hashed on this thread.
  let pending = launch(0);
  for (let lo = 0; lo < count; lo += WIRE_CHUNK) {
    const { lem, u } = await pending;
    if (lo + WIRE_CHUNK < count) pending = launch(lo + WIRE_CHUNK);
    if (!lem || !u) throw new SetupError("fixed-base pool returned no points");
    await fd.write(lem);
    hasher.update(u);
  }
}

/**
 * Section 9 exactly as snarkjs fills it: for cirPower < 28 the odd entries 1, 3, ..., 2d - 1 of the
 * 2^(cirPower+1) tauG1 Lagrange block; for cirPower = 28 the d points after that block's first d.
 */
async function writeHPoints(fd: BinFileHandle, ctx: KeyContext): Promise<void> {
  const { ptau, domainSize: d, cirPower } = ctx;
  const base = ptau.sections[12]?.[0]?.p as number;
  if (cirPower === FR_TWO_ADICITY) {
    const from = base + (2 ** (cirPower + 1) - 1) * SG1 + d * SG1;
    for (let i = 0; i < d; i += WIRE_CHUNK)
      await fd.write(await ptau.fd.read(Math.min(WIRE_CHUNK, d - i) * SG1, from + i * SG1));
    return;
  }
  const blockStart = base + (2 * d - 1) * SG1;
  for (let lo = 0; lo < d; lo += WIRE_CHUNK) {
    const n = Math.min(WIRE_CHUNK, d - lo);
    const pairs = await ptau.fd.read(2 * n * SG1, blockStart + 2 * lo * SG1);
    const odd = new Uint8Array(n * SG1);
    for (let i = 0; i < n; i++) odd.set(pairs.subarray((2 * i + 1) * SG1, (2 * i + 2) * SG1), i * SG1);
    await fd.write(odd);
  }
}

/** snarkjs `hashHPoints`: u32 (d - 1), then U(tauG1[i + d] - tauG1[i]) read from the ptau, chunk quirk included. */
async function hashHPoints(ctx: KeyContext, hasher: ReturnType<typeof createHash>): Promise<void> {
  const { ptau, domainSize: d } = ctx;
  const tauG1 = ptau.sections[2]?.[0]?.p as number;
  hasher.update(u32be(d - 1));
  for (let i = 0; i < d - 1; i += H_HASH_CHUNK) {
    const n = Math.min(d - 1, H_HASH_CHUNK);
    const high = await ptau.fd.read(n * SG1, tauG1 + (i + d) * SG1);
    const low = await ptau.fd.read(n * SG1, tauG1 + i * SG1);
    hasher.update(await ctx.pool.subtractToUncompressed(high, low));
  }
}
