/**
 * @module setup/ceremony
 *
 * A multi-party Groth16 phase 2 with files passed around (docs/ceremony.md):
 * `initCeremony` (operator: copies the r1cs, creates `<id>_0000.zkey` with snarkjs `newZKey` against a checked
 * ptau and writes the transcript `ceremony.json`), `contributeCeremony` (each party in turn: snarkjs
 * `contribute`, prints the contribution hash to publish, appends it to the transcript), `beaconCeremony` (a
 * public random beacon closes the ceremony), `verifyCeremony` (anyone: replays everything) and
 * `finalizeCeremony` (operator: verifies, installs the final zkey where the prover finds it, pins the
 * verification key in the keys manifest and the ptau's hashes in `<keysDir>/ptau.json`).
 *
 * Transcript `ceremony.json` (`zktally-ceremony/v1`): circuit {id, sourceHash, constraints, nPublic,
 * r1cs {file, sha256}}, `circuitHash` (snarkjs's BLAKE2b circuit hash), ptau {file, power, sha256, blake2b512,
 * trusted, published}, initial {file, sha256}, an ordered list of contributions {index, kind, name, file,
 * zkeySha256, contributionHash, beacon?} and, once finalized, final {file, zkeySha256, vkeySha256}. Files are
 * bare names in the transcript's directory.
 *
 * Contribution hashes are recomputed from the zkey itself (its MPC section: BLAKE2b-512 of the
 * contribution's public key and transcript, exactly what snarkjs prints as "Contribution Hash" and what
 * `zkey verify` lists), so a transcript cannot claim a contribution the zkey does not contain.
 *
 * Security caveats:
 * - Soundness needs ONE honest contributor who destroyed their entropy; each contributor must check that the
 *   published transcript contains the hash they were given (`verify --expect HASH`).
 * - A beacon alone adds no secret (anyone can recompute it): at least one ordinary contribution is required,
 *   and the beacon must come last. Zero-contribution keys (delta = gamma) are refused everywhere.
 * - The transcript is not signed: its integrity comes from the independently published contribution hashes
 *   and the replay (`verifyFromR1cs` against the r1cs and the ptau); the ptau is identified by its
 *   published BLAKE2b-512 (`ceremony-ptau.ts`).
 * - snarkjs's own verifier prints `INVALID(...)` lines to the console on some failures.
 */

import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { z } from "zod";
import { type Progress, silentProgress } from "../util/progress.ts";
import {
  type CeremonyPtauOptions,
  checkCeremonyPtau,
  hashPtauFile,
  writePtauRecord,
} from "./ceremony-ptau.ts";
import { HERMEZ_PTAU_HASHES, type PublishedPtau } from "./ceremony-ptau-hashes.ts";
import type { CompiledCircuit } from "./compile.ts";
import {
  type KeysManifest,
  loadPinnedVkey,
  type PinnedCircuit,
  pinCircuit,
  pinnedEntry,
} from "./keys-manifest.ts";
import {
  assertCircuitId,
  commitStagingDir,
  makeStagingDir,
  readBinSection,
  sha256File,
  writeFileAtomic,
  zkeyArtifactPaths,
  zkeyDir,
} from "./paths.ts";
import { assertPhase2Contributed, type Phase2Input, vkeyHash } from "./phase2.ts";
import { requiredPtauPower, SetupError, snarkjsLogger } from "./ptau.ts";

/** A ceremony step or check failed; `check` names which (stable, for tests and tooling). */
export class CeremonyError extends SetupError {
  override name = "CeremonyError";
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(message);
  }
}

export const CEREMONY_FORMAT = "zktally-ceremony/v1";
export const TRANSCRIPT_FILE = "ceremony.json";
export const DEFAULT_BEACON_NAME = "zktally final beacon";
/** snarkjs bounds for the beacon's 2^n SHA-256 iterations. */
export const BEACON_ITERATIONS_MIN = 10;
export const BEACON_ITERATIONS_MAX = 63;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "lowercase hex SHA-256");
const hex128 = z.string().regex(/^[0-9a-f]{128}$/, "lowercase hex BLAKE2b-512");
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "a bare file name");
/** Printable ASCII, at most 64 characters: snarkjs stores the name in the zkey and truncates at 64. */
const contributorName = z.string().regex(/^[\x20-\x7e]{1,64}$/, "1..64 printable ASCII characters");
const count = z.number().int().nonnegative();

const entrySchema = z.strictObject({
  index: z.number().int().min(1),
  kind: z.enum(["contribution", "beacon"]),
  name: contributorName,
  file: fileName,
  zkeySha256: hex64,
  contributionHash: hex128,
  beacon: z
    .strictObject({
      hash: z.string().regex(/^([0-9a-f]{2}){1,255}$/, "1..255 bytes of lowercase hex"),
      iterationsExp: z.number().int().min(BEACON_ITERATIONS_MIN).max(BEACON_ITERATIONS_MAX),
    })
    .optional(),
});

const transcriptSchema = z.strictObject({
  format: z.literal(CEREMONY_FORMAT),
  circuit: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/),
    sourceHash: hex64,
    constraints: count,
    nPublic: count,
    r1cs: z.strictObject({ file: fileName, sha256: hex64 }),
  }),
  circuitHash: hex128,
  ptau: z.strictObject({
    file: z.string().min(1).max(255),
    power: z.number().int().min(1).max(28),
    sha256: hex64,
    blake2b512: hex128,
    trusted: z.boolean(),
    published: z.string().nullable(),
  }),
  initial: z.strictObject({ file: fileName, sha256: hex64 }),
  contributions: z.array(entrySchema),
  final: z.strictObject({ file: fileName, zkeySha256: hex64, vkeySha256: hex64 }).optional(),
});

export type CeremonyEntry = z.infer<typeof entrySchema>;
export type CeremonyTranscript = z.infer<typeof transcriptSchema>;

/** Parses a transcript; throws `TypeError` naming the first offending field. */
export function parseTranscript(value: unknown, source = "ceremony transcript"): CeremonyTranscript {
  const result = transcriptSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.map(String).join(".") || "(root)";
    throw new TypeError(`${source}: invalid field ${field}: ${issue?.message ?? "invalid"}`);
  }
  result.data.contributions.forEach((entry, i) => {
    const where = `${source}: invalid field contributions.${i}`;
    if (entry.index !== i + 1) throw new TypeError(`${where}.index: expected ${i + 1}, got ${entry.index}`);
    if ((entry.kind === "beacon") !== (entry.beacon !== undefined)) {
      throw new TypeError(`${where}.beacon: required exactly for kind "beacon"`);
    }
  });
  return result.data;
}

export async function readTranscript(transcriptPath: string): Promise<CeremonyTranscript> {
  if (!existsSync(transcriptPath)) throw new TypeError(`transcript does not exist: ${transcriptPath}`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(transcriptPath, "utf8"));
  } catch (err) {
    throw new TypeError(`${transcriptPath}: not valid JSON (${(err as Error).message})`);
  }
  return parseTranscript(json, transcriptPath);
}

async function writeTranscript(transcriptPath: string, transcript: CeremonyTranscript): Promise<void> {
  const valid = parseTranscript(transcript);
  await writeFileAtomic(transcriptPath, `${JSON.stringify(valid, null, 2)}\n`);
}

/** The hash as snarkjs prints it: 4 lines of 4 groups of 8 hex digits. */
export function formatContributionHash(hex: string): string {
  if (!/^[0-9a-f]{128}$/.test(hex)) throw new TypeError("contribution hash must be 128 lowercase hex digits");
  const groups = hex.match(/.{8}/g) as string[];
  return [0, 4, 8, 12].map((i) => groups.slice(i, i + 4).join(" ")).join("\n");
}

/** Accepts a hash as published (contiguous hex, or snarkjs's grouped lines); returns 128 lowercase hex. */
export function normalizeContributionHash(text: string): string {
  const hex = String(text).replace(/\s+/g, "").toLowerCase();
  if (!/^[0-9a-f]{128}$/.test(hex)) {
    throw new TypeError(
      `not a contribution hash (128 hex digits): ${JSON.stringify(String(text).slice(0, 40))}`,
    );
  }
  return hex;
}

// ---------------------------------------------------------------------------------------------------------
// Reading the MPC section of a zkey

/** One phase-2 contribution as recorded in a zkey (section 10). */
export interface ZkeyContribution {
  readonly index: number;
  readonly kind: "contribution" | "beacon";
  readonly name: string | undefined;
  /** BLAKE2b-512 of the contribution's public key and transcript: snarkjs's "Contribution Hash". */
  readonly contributionHash: string;
  readonly beacon?: { readonly hash: string; readonly iterationsExp: number };
}

export interface ZkeyContributions {
  /** snarkjs's circuit hash (BLAKE2b-512 over the initial key), the same for every zkey of one circuit + ptau. */
  readonly circuitHash: string;
  readonly contributions: readonly ZkeyContribution[];
}

interface CurveGroup {
  toRprUncompressed(out: Uint8Array, offset: number, point: Uint8Array): void;
}

/** The BN254 curve object of ffjavascript (shared with snarkjs; `terminateCurveWorkers` stops it). */
async function bn128(): Promise<{ G1: CurveGroup; G2: CurveGroup }> {
  return (await snarkjs.curves.getCurveFromName("bn128")) as unknown as { G1: CurveGroup; G2: CurveGroup };
}

const G1_BYTES = 64;
const G2_BYTES = 128;
const GROTH16_PROTOCOL_ID = 1;
const MPC_SECTION = 10;

/** A bounds-checked cursor over a section body. */
function sectionReader(buf: Buffer, zkeyPath: string) {
  let offset = 0;
  const take = (length: number): Buffer => {
    if (offset + length > buf.length) {
      throw new CeremonyError("zkey-format", `${zkeyPath}: truncated contributions section`);
    }
    const slice = buf.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  return { take, u32: () => take(4).readUInt32LE(0), done: () => offset === buf.length };
}

/**
 * Reads the contributions recorded in a zkey's MPC section and recomputes each contribution hash the way
 * snarkjs does (`hashPubKey`: deltaAfter, g1_s, g1_sx in G1 and g2_spx in G2, uncompressed, then the
 * 64-byte transcript), without loading the rest of the key.
 */
export async function readZkeyContributions(zkeyPath: string): Promise<ZkeyContributions> {
  if (!existsSync(zkeyPath)) throw new TypeError(`zkey does not exist: ${zkeyPath}`);
  const header = await readBinSection(zkeyPath, "zkey", 1, 16);
  if (header.length < 4 || header.readUInt32LE(0) !== GROTH16_PROTOCOL_ID) {
    throw new CeremonyError("zkey-format", `${zkeyPath}: not a Groth16 zkey`);
  }
  const section = await readBinSection(zkeyPath, "zkey", MPC_SECTION, 1 << 24);
  const reader = sectionReader(section, zkeyPath);
  const curve = await bn128();
  const uncompressed = (group: CurveGroup, bytes: Buffer, size: number): Uint8Array => {
    const out = new Uint8Array(size);
    group.toRprUncompressed(out, 0, new Uint8Array(bytes));
    return out;
  };
  const circuitHash = reader.take(64).toString("hex");
  const n = reader.u32();
  const contributions: ZkeyContribution[] = [];
  for (let i = 0; i < n; i++) {
    const hasher = createHash("blake2b512");
    for (let g = 0; g < 3; g++) hasher.update(uncompressed(curve.G1, reader.take(G1_BYTES), G1_BYTES));
    hasher.update(uncompressed(curve.G2, reader.take(G2_BYTES), G2_BYTES));
    hasher.update(reader.take(64));
    const type = reader.u32();
    const params = parseContributionParams(reader.take(reader.u32()), zkeyPath, i);
    if (type !== 0 && type !== 1)
      throw new CeremonyError("zkey-format", `${zkeyPath}: contribution ${i + 1} has type ${type}`);
    const kind = type === 1 ? "beacon" : "contribution";
    if (kind === "beacon" && !params.beacon) {
      throw new CeremonyError("zkey-format", `${zkeyPath}: beacon ${i + 1} lacks its hash or iterations`);
    }
    contributions.push({
      index: i + 1,
      kind,
      name: params.name,
      contributionHash: hasher.digest("hex"),
      ...(kind === "beacon" ? { beacon: params.beacon } : {}),
    });
  }
  if (!reader.done())
    throw new CeremonyError("zkey-format", `${zkeyPath}: trailing bytes in contributions section`);
  return { circuitHash, contributions };
}

/** Contribution parameters: sorted (type, value) records: 1 name, 2 iterations exponent, 3 beacon hash. */
function parseContributionParams(
  buf: Buffer,
  zkeyPath: string,
  i: number,
): { name?: string; beacon?: { hash: string; iterationsExp: number } } {
  const reader = sectionReader(buf, zkeyPath);
  let last = 0;
  let name: string | undefined;
  let iterationsExp: number | undefined;
  let hash: string | undefined;
  while (!reader.done()) {
    const type = reader.take(1)[0] as number;
    if (type <= last)
      throw new CeremonyError("zkey-format", `${zkeyPath}: contribution ${i + 1} parameters unsorted`);
    last = type;
    if (type === 1) name = reader.take(reader.take(1)[0] as number).toString("utf8");
    else if (type === 2) iterationsExp = reader.take(1)[0] as number;
    else if (type === 3) hash = reader.take(reader.take(1)[0] as number).toString("hex");
    else throw new CeremonyError("zkey-format", `${zkeyPath}: contribution ${i + 1} has parameter ${type}`);
  }
  return {
    ...(name !== undefined ? { name } : {}),
    ...(hash !== undefined && iterationsExp !== undefined ? { beacon: { hash, iterationsExp } } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Operator: init

export interface InitCeremonyOptions extends CeremonyPtauOptions {
  /** The compiled circuit (its r1cs is copied into the ceremony directory). */
  readonly compiled: Phase2Input;
  readonly ptauPath: string;
  /** Ceremony directory (created; must not already hold a transcript). */
  readonly dir: string;
  readonly progress?: Progress;
}

export interface CeremonyStep {
  readonly transcript: CeremonyTranscript;
  readonly transcriptPath: string;
  /** The zkey this step wrote. */
  readonly zkeyPath: string;
}

const zkeyFileName = (id: string, index: number) => `${id}_${String(index).padStart(4, "0")}.zkey`;

/** Checks the ptau, copies the r1cs, creates the zero-contribution zkey and the transcript. */
export async function initCeremony(opts: InitCeremonyOptions): Promise<CeremonyStep> {
  const { compiled, dir } = opts;
  assertCircuitId(compiled?.id);
  if (typeof dir !== "string" || dir === "") throw new TypeError("dir must be a directory path");
  const transcriptPath = path.join(dir, TRANSCRIPT_FILE);
  if (existsSync(transcriptPath)) {
    throw new CeremonyError(
      "exists",
      `${transcriptPath} already exists: refusing to restart a ceremony in place`,
    );
  }
  const ptau = await checkCeremonyPtau(opts.ptauPath, opts);
  const needed = requiredPtauPower(compiled);
  if (needed > ptau.power) {
    throw new RangeError(
      `${compiled.id} needs a ptau of power >= ${needed}, ${opts.ptauPath} has power ${ptau.power}`,
    );
  }
  const progress = opts.progress ?? silentProgress;
  const r1csFile = `${compiled.id}.r1cs`;
  const staging = await makeStagingDir(dir);
  try {
    await copyFile(compiled.r1csPath, path.join(staging, r1csFile));
    const initialFile = zkeyFileName(compiled.id, 0);
    const { logger, failure } = snarkjsLogger((m) => progress("ceremony", `  snarkjs: ${m}`));
    const csHash = await snarkjs.zKey.newZKey(
      path.join(staging, r1csFile),
      opts.ptauPath,
      path.join(staging, initialFile),
      logger,
    );
    if (csHash === -1) throw new CeremonyError("new-zkey", `newZKey failed: ${failure() ?? "unknown error"}`);
    const transcript: CeremonyTranscript = {
      format: CEREMONY_FORMAT,
      circuit: {
        id: compiled.id,
        sourceHash: compiled.sourceHash,
        constraints: compiled.constraints,
        nPublic: compiled.publicInputs + compiled.publicOutputs,
        r1cs: { file: r1csFile, sha256: await sha256File(path.join(staging, r1csFile)) },
      },
      circuitHash: Buffer.from(csHash).toString("hex"),
      ptau: {
        file: path.basename(opts.ptauPath),
        power: ptau.power,
        sha256: ptau.sha256,
        blake2b512: ptau.blake2b512,
        trusted: ptau.trusted,
        published: ptau.published?.file ?? null,
      },
      initial: { file: initialFile, sha256: await sha256File(path.join(staging, initialFile)) },
      contributions: [],
    };
    for (const file of [r1csFile, initialFile]) await rename(path.join(staging, file), path.join(dir, file));
    await writeTranscript(transcriptPath, transcript);
    progress("ceremony", `initialised ${compiled.id}: ${path.join(dir, initialFile)} (no contribution yet)`);
    return { transcript, transcriptPath, zkeyPath: path.join(dir, initialFile) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Contributors: contribute and beacon

interface StepFiles {
  /** Transcript path; default `<dir of inZkey>/ceremony.json`, else `./ceremony.json`. */
  readonly transcriptPath?: string;
  /** The latest zkey of the ceremony; default the one the transcript names. */
  readonly inZkey?: string;
  /** Where to write the new zkey (inside the transcript's directory); default `<id>_<NNNN>.zkey`. */
  readonly outZkey?: string;
  readonly progress?: Progress;
}

export interface ContributeOptions extends StepFiles {
  readonly name: string;
  /** Extra entropy (snarkjs mixes in 64 random bytes itself; 64 more are appended here). */
  readonly entropy?: string;
}

export interface BeaconOptions extends StepFiles {
  /** The public beacon value, hex (e.g. a future block hash announced in advance). */
  readonly beaconHash: string;
  /** 2^iterationsExp SHA-256 iterations (10..63). */
  readonly iterationsExp: number;
  readonly name?: string;
}

export interface ContributionResult extends CeremonyStep {
  readonly entry: CeremonyEntry;
}

function transcriptPathFor(files: StepFiles): string {
  if (files.transcriptPath) return files.transcriptPath;
  return path.join(files.inZkey ? path.dirname(files.inZkey) : ".", TRANSCRIPT_FILE);
}

function latestZkey(t: CeremonyTranscript): { file: string; sha256: string } {
  const last = t.contributions.at(-1);
  return last ? { file: last.file, sha256: last.zkeySha256 } : t.initial;
}

/** Resolves and checks the in/out files of a contribution or beacon step. */
async function prepareStep(files: StepFiles, kind: CeremonyEntry["kind"]) {
  const transcriptPath = transcriptPathFor(files);
  const transcript = await readTranscript(transcriptPath);
  const dir = path.dirname(transcriptPath);
  if (transcript.final) throw new CeremonyError("closed", "the ceremony is finalized: no more contributions");
  if (transcript.contributions.some((c) => c.kind === "beacon")) {
    throw new CeremonyError("closed", "the ceremony already has its beacon: no more contributions");
  }
  if (kind === "beacon" && !transcript.contributions.some((c) => c.kind === "contribution")) {
    throw new CeremonyError(
      "no-contribution",
      "a beacon alone is public: at least one contribution must come first",
    );
  }
  const latest = latestZkey(transcript);
  const inZkey = files.inZkey ?? path.join(dir, latest.file);
  const inSha = await sha256File(inZkey);
  if (inSha !== latest.sha256) {
    throw new CeremonyError(
      "not-latest",
      `${inZkey} (sha256 ${inSha}) is not the latest zkey of this ceremony (${latest.file}, sha256 ${latest.sha256})`,
    );
  }
  const index = transcript.contributions.length + 1;
  const outZkey = files.outZkey ?? path.join(dir, zkeyFileName(transcript.circuit.id, index));
  if (path.resolve(path.dirname(outZkey)) !== path.resolve(dir)) {
    throw new TypeError(`outZkey must be in the transcript's directory ${dir}: ${outZkey}`);
  }
  fileName.parse(path.basename(outZkey));
  if (existsSync(outZkey))
    throw new CeremonyError("exists", `${outZkey} already exists: refusing to overwrite it`);
  return { transcriptPath, transcript, inZkey, outZkey, index };
}

/** Adds one contribution (snarkjs `zKey.contribute`) and records its hash in the transcript. */
export async function contributeCeremony(opts: ContributeOptions): Promise<ContributionResult> {
  const name = contributorName.safeParse(opts.name);
  if (!name.success) throw new TypeError("name must be 1..64 printable ASCII characters");
  const step = await prepareStep(opts, "contribution");
  const entropy = `${opts.entropy ?? ""}${randomBytes(64).toString("hex")}`;
  return writeStep(step, { kind: "contribution", name: name.data }, opts.progress, (tmp, logger) =>
    snarkjs.zKey.contribute(step.inZkey, tmp, name.data, entropy, logger),
  );
}

/** Applies the final public beacon (snarkjs `zKey.beacon`) and records it. */
export async function beaconCeremony(opts: BeaconOptions): Promise<ContributionResult> {
  const hash = String(opts.beaconHash ?? "").toLowerCase();
  if (!/^([0-9a-f]{2}){1,255}$/.test(hash)) throw new TypeError("beaconHash must be 1..255 bytes of hex");
  const exp = opts.iterationsExp;
  if (!Number.isInteger(exp) || exp < BEACON_ITERATIONS_MIN || exp > BEACON_ITERATIONS_MAX) {
    throw new RangeError(
      `iterationsExp must be an integer in ${BEACON_ITERATIONS_MIN}..${BEACON_ITERATIONS_MAX}`,
    );
  }
  const name = contributorName.safeParse(opts.name ?? DEFAULT_BEACON_NAME);
  if (!name.success) throw new TypeError("name must be 1..64 printable ASCII characters");
  const step = await prepareStep(opts, "beacon");
  const beacon = { hash, iterationsExp: exp };
  return writeStep(step, { kind: "beacon", name: name.data, beacon }, opts.progress, (tmp, logger) =>
    snarkjs.zKey.beacon(step.inZkey, tmp, name.data, hash, exp, logger),
  );
}

type Step = Awaited<ReturnType<typeof prepareStep>>;

async function writeStep(
  step: Step,
  what: Pick<CeremonyEntry, "kind" | "name" | "beacon">,
  progress: Progress = silentProgress,
  run: (tmp: string, logger: snarkjs.SnarkjsLogger) => Promise<Uint8Array | false>,
): Promise<ContributionResult> {
  const tmp = `${step.outZkey}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    const { logger, failure } = snarkjsLogger((m) => progress("ceremony", `  snarkjs: ${m}`));
    const returned = await run(tmp, logger);
    if (returned === false || failure())
      throw new CeremonyError("snarkjs", `${what.kind} failed: ${failure() ?? "false"}`);
    const contributionHash = Buffer.from(returned).toString("hex");
    await assertExtendsChain(tmp, step.transcript, { ...what, contributionHash });
    await rename(tmp, step.outZkey);
  } finally {
    await rm(tmp, { force: true });
  }
  const written = await readZkeyContributions(step.outZkey);
  const entry: CeremonyEntry = {
    index: step.index,
    kind: what.kind,
    name: what.name,
    file: path.basename(step.outZkey),
    zkeySha256: await sha256File(step.outZkey),
    contributionHash: (written.contributions.at(-1) as ZkeyContribution).contributionHash,
    ...(what.beacon ? { beacon: what.beacon } : {}),
  };
  const transcript = { ...step.transcript, contributions: [...step.transcript.contributions, entry] };
  await writeTranscript(step.transcriptPath, transcript);
  progress("ceremony", `${what.kind} #${entry.index} (${entry.name}) written to ${step.outZkey}`);
  return { transcript, transcriptPath: step.transcriptPath, zkeyPath: step.outZkey, entry };
}

/** The new zkey must hold the transcript's chain plus exactly the contribution snarkjs just reported. */
async function assertExtendsChain(
  zkeyPath: string,
  transcript: CeremonyTranscript,
  added: Pick<CeremonyEntry, "kind" | "name" | "contributionHash">,
): Promise<void> {
  const read = await readZkeyContributions(zkeyPath);
  const expected = [...transcript.contributions, { ...added, index: transcript.contributions.length + 1 }];
  assertChain(read, transcript.circuitHash, expected, zkeyPath);
}

/** Compares the contributions in a zkey with transcript entries, in order. */
function assertChain(
  read: ZkeyContributions,
  circuitHash: string,
  entries: readonly Pick<CeremonyEntry, "index" | "kind" | "name" | "contributionHash" | "beacon">[],
  zkeyPath: string,
): void {
  if (read.circuitHash !== circuitHash) {
    throw new CeremonyError(
      "circuit-hash",
      `${zkeyPath} belongs to another circuit or ptau (circuit hash ${read.circuitHash.slice(0, 16)}…, transcript ${circuitHash.slice(0, 16)}…)`,
    );
  }
  if (read.contributions.length !== entries.length) {
    throw new CeremonyError(
      "contribution-count",
      `${zkeyPath} holds ${read.contributions.length} contributions, the transcript lists ${entries.length}`,
    );
  }
  entries.forEach((entry, i) => {
    const actual = read.contributions[i] as ZkeyContribution;
    const where = `contribution #${i + 1} (${entry.name})`;
    if (actual.contributionHash !== entry.contributionHash) {
      throw new CeremonyError(
        "contribution-hash",
        `${where}: the zkey's hash ${actual.contributionHash} differs from the transcript's ${entry.contributionHash}`,
      );
    }
    if (actual.kind !== entry.kind || actual.name !== entry.name) {
      throw new CeremonyError(
        "contribution-meta",
        `${where}: the zkey records ${actual.kind} "${actual.name ?? ""}"`,
      );
    }
    if (
      entry.beacon &&
      (actual.beacon?.hash !== entry.beacon.hash ||
        actual.beacon?.iterationsExp !== entry.beacon.iterationsExp)
    ) {
      throw new CeremonyError(
        "beacon",
        `${where}: the zkey's beacon parameters differ from the transcript's`,
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Anyone: verify

export interface VerifyCeremonyOptions {
  readonly transcriptPath: string;
  readonly ptauPath: string;
  /** Also check that `<keysDir>/manifest.json` pins exactly the resulting key. */
  readonly keysDir?: string;
  /** Contribution hashes that must be in the chain (each contributor's published hash). */
  readonly expect?: readonly string[];
  /** Published ptau table (default Hermez); used when the transcript claims a trusted ptau. */
  readonly table?: readonly PublishedPtau[];
  /**
   * Check a ceremony that is still open (what a contributor runs before contributing): the latest zkey is
   * replayed, no contribution or beacon is required yet, and the keys manifest is not checked.
   */
  readonly inProgress?: boolean;
  readonly progress?: Progress;
}

export interface CeremonyReport {
  readonly transcript: CeremonyTranscript;
  /** The replayed zkey: the final one, or the latest one of a ceremony in progress. */
  readonly finalZkeyPath: string;
  readonly vkey: snarkjs.Groth16VerificationKey;
  readonly vkeyHash: string;
  /** True when the ptau is a published ceremony file. */
  readonly trustedPtau: boolean;
  /** Intermediate zkeys (initial included) found and checked / listed in the transcript but not present. */
  readonly intermediatesChecked: readonly string[];
  readonly intermediatesMissing: readonly string[];
  readonly manifestChecked: boolean;
}

/**
 * Replays a ceremony: r1cs and ptau identity, the transcript's order and shape (≥ 1 contribution, beacon
 * last), every file hash present, the chain of contribution hashes recomputed from the final zkey (and each
 * intermediate present), snarkjs `verifyFromR1cs`, a contributed verification key and, with `keysDir`, the
 * manifest pins. Throws `CeremonyError` (`check` names the failed check) at the first problem.
 */
export async function verifyCeremony(opts: VerifyCeremonyOptions): Promise<CeremonyReport> {
  const progress = opts.progress ?? silentProgress;
  const inProgress = opts.inProgress === true;
  const transcript = await readTranscript(opts.transcriptPath);
  const dir = path.dirname(opts.transcriptPath);
  const r1csPath = path.join(dir, transcript.circuit.r1cs.file);
  await assertFileSha("r1cs", r1csPath, transcript.circuit.r1cs.sha256);
  const trustedPtau = await assertPtau(transcript, opts.ptauPath, opts.table ?? HERMEZ_PTAU_HASHES);
  assertShape(transcript, inProgress);
  const latest = latestZkey(transcript);
  const finalZkeyPath = path.join(dir, latest.file);
  await assertFileSha("final-zkey", finalZkeyPath, latest.sha256);
  if (
    transcript.final &&
    (transcript.final.file !== latest.file || transcript.final.zkeySha256 !== latest.sha256)
  ) {
    throw new CeremonyError("final", "transcript final does not name the last contribution's zkey");
  }
  const chain = await readZkeyContributions(finalZkeyPath);
  assertChain(chain, transcript.circuitHash, transcript.contributions, finalZkeyPath);
  const intermediates = await checkIntermediates(transcript, dir);
  progress(
    "ceremony",
    `replaying ${transcript.contributions.length} contributions with snarkjs verifyFromR1cs`,
  );
  await assertVerifiesFromR1cs(r1csPath, opts.ptauPath, finalZkeyPath);
  const vkey = await verifiedVkey(
    finalZkeyPath,
    transcript,
    !inProgress || transcript.contributions.length > 0,
  );
  const hash = vkeyHash(vkey);
  if (transcript.final && transcript.final.vkeySha256 !== hash) {
    throw new CeremonyError(
      "final",
      `transcript final.vkeySha256 ${transcript.final.vkeySha256} is not the key's ${hash}`,
    );
  }
  assertExpectedHashes(transcript, opts.expect ?? []);
  const checkManifest = opts.keysDir !== undefined && !inProgress;
  if (checkManifest) {
    await assertManifestPins(opts.keysDir as string, transcript, {
      finalSha: latest.sha256,
      vkeyHash: hash,
      trustedPtau,
    });
  }
  return {
    transcript,
    finalZkeyPath,
    vkey,
    vkeyHash: hash,
    trustedPtau,
    ...intermediates,
    manifestChecked: checkManifest,
  };
}

function assertExpectedHashes(t: CeremonyTranscript, expected: readonly string[]): void {
  for (const text of expected) {
    const wanted = normalizeContributionHash(text);
    if (!t.contributions.some((c) => c.contributionHash === wanted)) {
      throw new CeremonyError(
        "expected-hash",
        `contribution hash ${wanted.slice(0, 16)}… is not in the ceremony`,
      );
    }
  }
}

async function assertFileSha(check: string, filePath: string, expected: string): Promise<void> {
  if (!existsSync(filePath)) throw new CeremonyError(check, `${filePath} is missing`);
  const actual = await sha256File(filePath);
  if (actual !== expected) {
    throw new CeremonyError(check, `${filePath} has sha256 ${actual}, the transcript says ${expected}`);
  }
}

/** The ptau must be the transcript's file; a "trusted" claim must hold against the verifier's own table. */
async function assertPtau(
  t: CeremonyTranscript,
  ptauPath: string,
  table: readonly PublishedPtau[],
): Promise<boolean> {
  if (!existsSync(ptauPath)) throw new TypeError(`ptauPath does not exist: ${ptauPath}`);
  const { sha256, blake2b512 } = await hashPtauFile(ptauPath);
  if (sha256 !== t.ptau.sha256 || blake2b512 !== t.ptau.blake2b512) {
    throw new CeremonyError(
      "ptau",
      `${ptauPath} is not the ceremony's ptau (sha256 ${sha256}, transcript ${t.ptau.sha256})`,
    );
  }
  const published = table.some((entry) => entry.blake2b512 === blake2b512);
  if (t.ptau.trusted && !published) {
    throw new CeremonyError(
      "ptau",
      `the transcript claims a published ptau but ${blake2b512.slice(0, 16)}… is not in the table`,
    );
  }
  return published && t.ptau.trusted;
}

/** At least one real contribution and a beacon, last and only last (in progress: no beacon or a last one). */
function assertShape(t: CeremonyTranscript, inProgress: boolean): void {
  const beacons = t.contributions.filter((c) => c.kind === "beacon");
  if (beacons.length > 1 || (beacons.length === 1 && t.contributions.at(-1)?.kind !== "beacon")) {
    throw new CeremonyError("beacon", "the ceremony may hold one public beacon, as its last entry");
  }
  if (inProgress) return;
  if (!t.contributions.some((c) => c.kind === "contribution")) {
    throw new CeremonyError(
      "no-contribution",
      "the ceremony has no contribution: its key would be forgeable",
    );
  }
  if (beacons.length !== 1) throw new CeremonyError("beacon", "the ceremony must end with a public beacon");
}

/** Every intermediate zkey present must hash as recorded and hold the matching prefix of the chain. */
async function checkIntermediates(t: CeremonyTranscript, dir: string) {
  const checked: string[] = [];
  const missing: string[] = [];
  // Every zkey before the latest one (which verifyCeremony replays in full).
  const files = [t.initial.file, ...t.contributions.map((c) => c.file)].slice(0, -1);
  for (const [i, file] of files.entries()) {
    const filePath = path.join(dir, file);
    if (!existsSync(filePath)) {
      missing.push(file);
      continue;
    }
    const expectedSha = i === 0 ? t.initial.sha256 : (t.contributions[i - 1] as CeremonyEntry).zkeySha256;
    await assertFileSha("intermediate-zkey", filePath, expectedSha);
    assertChain(await readZkeyContributions(filePath), t.circuitHash, t.contributions.slice(0, i), filePath);
    checked.push(file);
  }
  return { intermediatesChecked: checked, intermediatesMissing: missing };
}

async function assertVerifiesFromR1cs(r1csPath: string, ptauPath: string, zkeyPath: string): Promise<void> {
  const { logger, failure } = snarkjsLogger();
  let ok: boolean;
  try {
    ok = await snarkjs.zKey.verifyFromR1cs(r1csPath, ptauPath, zkeyPath, logger);
  } catch (err) {
    throw new CeremonyError("verify-r1cs", `snarkjs could not verify ${zkeyPath}: ${(err as Error).message}`);
  }
  if (ok !== true) {
    throw new CeremonyError(
      "verify-r1cs",
      `${zkeyPath} does not verify against the r1cs and ptau: ${failure() ?? "false"}`,
    );
  }
}

async function verifiedVkey(
  zkeyPath: string,
  t: CeremonyTranscript,
  requireContribution: boolean,
): Promise<snarkjs.Groth16VerificationKey> {
  const vkey = await snarkjs.zKey.exportVerificationKey(zkeyPath);
  if (vkey.protocol !== "groth16" || vkey.curve !== "bn128") {
    throw new CeremonyError("vkey", `unexpected key protocol/curve ${vkey.protocol}/${vkey.curve}`);
  }
  if (vkey.nPublic !== t.circuit.nPublic) {
    throw new CeremonyError("vkey", `key has nPublic ${vkey.nPublic}, the circuit ${t.circuit.nPublic}`);
  }
  try {
    if (requireContribution) assertPhase2Contributed(vkey);
  } catch (err) {
    throw new CeremonyError("no-contribution", (err as Error).message);
  }
  return vkey;
}

async function assertManifestPins(
  keysDir: string,
  t: CeremonyTranscript,
  actual: { finalSha: string; vkeyHash: string; trustedPtau: boolean },
): Promise<void> {
  const id = t.circuit.id;
  let pinned: { manifest: KeysManifest; entry: PinnedCircuit };
  try {
    pinned = await pinnedEntry(keysDir, id);
  } catch (err) {
    throw new CeremonyError("manifest", (err as Error).message);
  }
  const { manifest, entry } = pinned;
  const pairs: [string, string | boolean, string | boolean][] = [
    ["vkeySha256", entry.vkeySha256, actual.vkeyHash],
    ["zkeySha256", entry.zkeySha256, actual.finalSha],
    ["r1csSha256", entry.r1csSha256, t.circuit.r1cs.sha256],
    ["sourceHash", entry.sourceHash, t.circuit.sourceHash],
    ["ptau.sha256", manifest.ptau.sha256, t.ptau.sha256],
    ["insecure", manifest.insecure, !actual.trustedPtau],
  ];
  for (const [field, pinnedValue, ceremonyValue] of pairs) {
    if (pinnedValue !== ceremonyValue) {
      throw new CeremonyError(
        "manifest",
        `keys manifest ${field} of ${id} is ${pinnedValue}, the ceremony gives ${ceremonyValue}`,
      );
    }
  }
  try {
    await loadPinnedVkey(keysDir, id);
  } catch (err) {
    throw new CeremonyError("manifest", `pinned vkey file of ${id}: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Operator: finalize

export interface FinalizeCeremonyOptions {
  readonly transcriptPath: string;
  readonly ptauPath: string;
  /** The compiled circuit (same sources and r1cs as the ceremony): its wasm is pinned with the key. */
  readonly compiled: Pick<CompiledCircuit, "id" | "sourceHash" | "constraints" | "r1csPath" | "wasmPath">;
  readonly keysDir: string;
  readonly buildDir?: string;
  /** Replace pins of another ptau / a differing entry in the keys manifest. */
  readonly replace?: boolean;
  readonly table?: readonly PublishedPtau[];
  readonly progress?: Progress;
}

export interface FinalizeResult {
  readonly report: CeremonyReport;
  readonly transcript: CeremonyTranscript;
  readonly vkeyPath: string;
  /** Where the prover finds the final zkey (the setup cache entry for this circuit and ptau). */
  readonly installedZkeyPath: string;
  readonly entry: PinnedCircuit;
  readonly manifest: KeysManifest;
}

/**
 * Verifies the ceremony, exports the verification key (refusing one without contribution), records it as the
 * transcript's final key, installs the zkey in the setup cache and pins it in `<keysDir>/manifest.json`.
 */
export async function finalizeCeremony(opts: FinalizeCeremonyOptions): Promise<FinalizeResult> {
  const report = await verifyCeremony({ ...opts, keysDir: undefined, inProgress: false });
  const t = report.transcript;
  const { compiled } = opts;
  if (compiled.id !== t.circuit.id || compiled.sourceHash !== t.circuit.sourceHash) {
    throw new CeremonyError(
      "circuit",
      `compiled circuit ${compiled.id} (${compiled.sourceHash.slice(0, 16)}…) is not the ceremony's ${t.circuit.id} (${t.circuit.sourceHash.slice(0, 16)}…)`,
    );
  }
  await assertFileSha("r1cs", compiled.r1csPath, t.circuit.r1cs.sha256);
  const dir = path.dirname(opts.transcriptPath);
  const vkeyPath = path.join(dir, `${t.circuit.id}.vkey.json`);
  await writeFileAtomic(vkeyPath, `${JSON.stringify(report.vkey, null, 2)}\n`);
  const last = t.contributions.at(-1) as CeremonyEntry;
  const transcript: CeremonyTranscript = {
    ...t,
    final: { file: last.file, zkeySha256: last.zkeySha256, vkeySha256: report.vkeyHash },
  };
  await writeTranscript(opts.transcriptPath, transcript);
  const installedZkeyPath = await installInSetupCache(report, opts.buildDir);
  const { entry, manifest } = await pinCircuit(
    opts.keysDir,
    {
      compiled,
      keys: { zkeyPath: installedZkeyPath, vkey: report.vkey },
      ptau: { power: t.ptau.power, sha256: t.ptau.sha256, insecure: !report.trustedPtau },
    },
    { replace: opts.replace },
  );
  await writePtauRecord(opts.keysDir, {
    path: opts.ptauPath,
    power: t.ptau.power,
    sha256: t.ptau.sha256,
    blake2b512: t.ptau.blake2b512,
    published: report.trustedPtau
      ? (opts.table ?? HERMEZ_PTAU_HASHES).find((e) => e.blake2b512 === t.ptau.blake2b512)
      : undefined,
    trusted: report.trustedPtau,
    ...(report.trustedPtau
      ? {}
      : { untrustedReason: "not a published ceremony file (override at ceremony init)" }),
  });
  (opts.progress ?? silentProgress)(
    "ceremony",
    `${t.circuit.id} finalized: vkey ${report.vkeyHash.slice(0, 16)}… pinned in ${opts.keysDir}`,
  );
  return { report, transcript, vkeyPath, installedZkeyPath, entry, manifest };
}

/** Writes the final zkey, vkey and a `setup.json` into the phase-2 cache entry the prover reads. */
async function installInSetupCache(report: CeremonyReport, buildDir?: string): Promise<string> {
  const t = report.transcript;
  const target = zkeyDir(t.circuit.id, t.circuit.sourceHash, t.ptau.sha256, buildDir);
  const staging = await makeStagingDir(path.dirname(target));
  try {
    const files = zkeyArtifactPaths(staging);
    await copyFile(report.finalZkeyPath, files.zkey);
    const zkeySha256 = await sha256File(files.zkey);
    const last = t.contributions.at(-1) as CeremonyEntry;
    if (zkeySha256 !== last.zkeySha256)
      throw new CeremonyError("final-zkey", "final zkey changed while installing it");
    await writeFileAtomic(files.vkey, `${JSON.stringify(report.vkey, null, 2)}\n`);
    const meta = {
      id: t.circuit.id,
      sourceHash: t.circuit.sourceHash,
      ptauSha256: t.ptau.sha256,
      ptauPower: t.ptau.power,
      zkeySha256,
      vkeyHash: report.vkeyHash,
      contributions: t.contributions.map((c) => c.name),
    };
    await writeFileAtomic(files.meta, `${JSON.stringify(meta, null, 2)}\n`);
    await rm(target, { recursive: true, force: true });
    await commitStagingDir(staging, target);
    return zkeyArtifactPaths(target).zkey;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
