/**
 * @module setup/phase2
 *
 * Circuit-specific Groth16 setup (phase 2) with snarkjs: `newZKey` from r1cs + ptau, one contribution with
 * crypto-random entropy, a random beacon, then `verifyFromR1cs` (must return true) and the verification key
 * export. Results are cached under `<build>/zkeys/<id>/<sourceHash>-<ptauSha256>/` (16 hex chars each),
 * built in a staging directory that is renamed into place when complete; intermediate zkeys are deleted.
 *
 * Security caveats: the contribution and beacon are generated locally, so the toxic waste of this phase is only
 * as safe as this machine. A key whose `vk_delta_2` still equals `vk_gamma_2` (the G2 generator) had no
 * phase-2 contribution and lets anyone forge proofs; `assertPhase2Contributed` refuses it, and every key
 * produced or loaded here goes through that check. Keys derived from a dev ptau are insecure regardless.
 */

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { commitStagingDir, makeStagingDir, writeFileAtomic } from "../storage/atomic-write.ts";
import { sha256File } from "../storage/file-digest.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { type Progress, silentProgress, timedStep } from "../util/progress.ts";
import { parseStrictJson } from "../util/strict-json.ts";
import { vkeyHash } from "../verifier/vkey.ts";
import type { CompiledCircuit } from "./compile.ts";
import { newDevZKey, type ToxicWaste } from "./fast/index.ts";
import { zkeyArtifactPaths, zkeyDir } from "./paths.ts";
import { readPtauPower, requiredPtauPower, SetupError, snarkjsLogger } from "./ptau.ts";
import { ptauTooSmall } from "./setup-common.ts";

/** The BN254 G2 generator in snarkjs's projective JSON form (= `vk_gamma_2` of every snarkjs Groth16 key). */
export const G2_GENERATOR: readonly (readonly string[])[] = [
  [
    "10857046999023057135944570762232829481370756359578518086990519993285655852781",
    "11559732032986387107991004021392285783925812861821192530917403151452391805634",
  ],
  [
    "8495653923123431417604973247489272438418190587263600148770280649306958101930",
    "4082367875863433681332203403145435568316851327593401208105741076214120093531",
  ],
  ["1", "0"],
];

export const CONTRIBUTION_NAME = "zktally dev contribution";
export const BEACON_NAME = "zktally dev beacon";
/** snarkjs beacon iterations exponent (2^10 hash iterations; snarkjs allows 10..63). */
export const BEACON_ITERATIONS_EXP = 10;

/** The compiled-circuit fields phase 2 needs. */
export type Phase2Input = Pick<
  CompiledCircuit,
  "id" | "sourceHash" | "r1csPath" | "constraints" | "publicInputs" | "publicOutputs"
>;

export interface SetupOptions {
  readonly buildDir?: string;
  readonly progress?: Progress;
  /** SHA-256 of the ptau file when already known (skips re-hashing a large file). */
  readonly ptauSha256?: string;
  /** Redo the setup even when a cache entry exists. */
  readonly force?: boolean;
  /**
   * Toxic waste of a fast INSECURE dev ptau (`DevPtau.secretsSeed`): the initial zkey is then computed
   * directly (`newDevZKey`, byte-identical to snarkjs newZKey) and the final key checked with
   * `verifyFromInit` against it, instead of two slow snarkjs recomputations of the circuit's QAP.
   */
  readonly devSecrets?: ToxicWaste;
}

/** Result of a circuit setup. */
export interface CircuitKeys {
  readonly id: string;
  readonly sourceHash: string;
  readonly ptauSha256: string;
  readonly dir: string;
  readonly zkeyPath: string;
  readonly vkeyPath: string;
  readonly vkey: snarkjs.Groth16VerificationKey;
  /** Hex SHA-256 of the canonical JSON of `vkey`. */
  readonly vkeyHash: string;
  readonly zkeySha256: string;
  /** True when served from the cache. */
  readonly cached: boolean;
}

/** Cache metadata `setup.json`, written last before the entry is committed. */
interface SetupMeta {
  readonly id: string;
  readonly sourceHash: string;
  readonly ptauSha256: string;
  readonly ptauPower: number;
  readonly zkeySha256: string;
  readonly vkeyHash: string;
  readonly contributions: readonly string[];
}

/** The pinned key identity: the verifier's one definition (strict parse, then SHA-256 of canonical JSON). */
export { vkeyHash };

/** Throws `SetupError` when a key shows no phase-2 contribution (delta equal to gamma or the G2 generator). */
export function assertPhase2Contributed(
  vkey: Pick<snarkjs.Groth16VerificationKey, "vk_gamma_2" | "vk_delta_2">,
): void {
  const delta = canonicalJson(vkey.vk_delta_2);
  if (delta === canonicalJson(vkey.vk_gamma_2) || delta === canonicalJson(G2_GENERATOR)) {
    throw new SetupError(
      "verification key has vk_delta_2 == vk_gamma_2: no phase-2 contribution, refusing it",
    );
  }
}

/** Runs (or loads from cache) the phase-2 setup of a compiled circuit against a ptau file. */
export async function setupCircuit(
  compiled: Phase2Input,
  ptauPath: string,
  opts: SetupOptions = {},
): Promise<CircuitKeys> {
  const progress = opts.progress ?? silentProgress;
  if (!existsSync(ptauPath)) throw new TypeError(`ptauPath does not exist: ${ptauPath}`);
  if (!existsSync(compiled.r1csPath))
    throw new TypeError(`compiled.r1csPath does not exist: ${compiled.r1csPath}`);
  const ptauSha256 = opts.ptauSha256 ?? (await sha256File(ptauPath));
  const dir = zkeyDir(compiled.id, compiled.sourceHash, ptauSha256, opts.buildDir);
  if (!opts.force) {
    const hit = await readCacheEntry(dir, compiled, ptauSha256);
    if (hit) {
      progress("setup", `${compiled.id} cache hit (vkey ${hit.vkeyHash.slice(0, 16)})`);
      return hit;
    }
  }
  const ptauPower = await readPtauPower(ptauPath);
  const needed = requiredPtauPower(compiled);
  if (ptauPower < needed) {
    throw ptauTooSmall(compiled.id, needed, ptauPath, ptauPower, "");
  }
  return timedStep(
    progress,
    "setup",
    `${compiled.id} groth16 phase 2 (${compiled.constraints} constraints)`,
    () => runPhase2(compiled, ptauPath, { ptauSha256, ptauPower, dir, opts }),
  );
}

async function readCacheEntry(
  dir: string,
  compiled: Phase2Input,
  ptauSha256: string,
): Promise<CircuitKeys | undefined> {
  const files = zkeyArtifactPaths(dir);
  if (![files.meta, files.zkey, files.vkey].every((f) => existsSync(f))) return undefined;
  const meta = parseStrictJson(await readFile(files.meta, "utf8")) as SetupMeta;
  if (meta.sourceHash !== compiled.sourceHash || meta.ptauSha256 !== ptauSha256) return undefined;
  const zkeySha256 = await sha256File(files.zkey);
  if (zkeySha256 !== meta.zkeySha256)
    throw new SetupError(`cached zkey ${files.zkey} does not match its setup.json`);
  const vkey = parseStrictJson(await readFile(files.vkey, "utf8")) as snarkjs.Groth16VerificationKey;
  if (vkeyHash(vkey) !== meta.vkeyHash)
    throw new SetupError(`cached vkey ${files.vkey} does not match its setup.json`);
  assertPhase2Contributed(vkey);
  return {
    id: compiled.id,
    sourceHash: compiled.sourceHash,
    ptauSha256,
    dir,
    zkeyPath: files.zkey,
    vkeyPath: files.vkey,
    vkey,
    vkeyHash: meta.vkeyHash,
    zkeySha256,
    cached: true,
  };
}

interface Phase2Job {
  readonly ptauSha256: string;
  readonly ptauPower: number;
  readonly dir: string;
  readonly opts: SetupOptions;
}

async function runPhase2(compiled: Phase2Input, ptauPath: string, job: Phase2Job): Promise<CircuitKeys> {
  const staging = await makeStagingDir(path.dirname(job.dir));
  try {
    const staged = zkeyArtifactPaths(staging);
    const initial = path.join(staging, "0.zkey");
    const contributed = path.join(staging, "1.zkey");
    const forward = (message: string) =>
      (job.opts.progress ?? silentProgress)("setup", `  ${compiled.id} snarkjs: ${message}`);
    const files = { initial, contributed, final: staged.zkey };
    await createContributedZkey(compiled.r1csPath, ptauPath, files, forward, job.opts.devSecrets);
    await rm(contributed, { force: true });
    const vkey = await verifiedVerificationKey(compiled, ptauPath, files, job.opts.devSecrets !== undefined);
    await rm(initial, { force: true });
    const meta: SetupMeta = {
      id: compiled.id,
      sourceHash: compiled.sourceHash,
      ptauSha256: job.ptauSha256,
      ptauPower: job.ptauPower,
      zkeySha256: await sha256File(staged.zkey),
      vkeyHash: vkeyHash(vkey),
      contributions: [CONTRIBUTION_NAME, BEACON_NAME],
    };
    await writeFileAtomic(staged.vkey, `${JSON.stringify(vkey, null, 2)}\n`);
    await writeFileAtomic(staged.meta, `${JSON.stringify(meta, null, 2)}\n`);
    if (job.opts.force || !existsSync(zkeyArtifactPaths(job.dir).meta))
      await rm(job.dir, { recursive: true, force: true });
    await commitStagingDir(staging, job.dir);
    // If another process committed first, its (equally valid) entry is the one on disk: return that.
    const committed = await readCacheEntry(job.dir, compiled, job.ptauSha256);
    if (!committed) throw new SetupError(`setup cache entry ${job.dir} vanished after commit`);
    return { ...committed, cached: false };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

interface Phase2Files {
  readonly initial: string;
  readonly contributed: string;
  readonly final: string;
}

/**
 * newZKey (or its fast twin from known dev secrets) -> contribute (crypto entropy) -> beacon (random hash);
 * every snarkjs failure value is checked.
 */
async function createContributedZkey(
  r1csPath: string,
  ptauPath: string,
  files: Phase2Files,
  forward: (message: string) => void,
  devSecrets: ToxicWaste | undefined,
): Promise<void> {
  const { initial, contributed, final } = files;
  const { logger, failure } = snarkjsLogger(forward);
  if (devSecrets) {
    await newDevZKey({ r1csPath, ptauPath, zkeyPath: initial, secrets: devSecrets });
  } else {
    const csHash = await snarkjs.zKey.newZKey(r1csPath, ptauPath, initial, logger);
    if (csHash === -1) throw new SetupError(`newZKey failed: ${failure() ?? "unknown error"}`);
  }
  const entropy = randomBytes(64).toString("hex");
  await snarkjs.zKey.contribute(initial, contributed, CONTRIBUTION_NAME, entropy, logger);
  const beaconHash = randomBytes(32).toString("hex");
  const beacon = await snarkjs.zKey.beacon(
    contributed,
    final,
    BEACON_NAME,
    beaconHash,
    BEACON_ITERATIONS_EXP,
    logger,
  );
  if (beacon === false) throw new SetupError(`zkey beacon failed: ${failure() ?? "unknown error"}`);
  const problem = failure();
  if (problem) throw new SetupError(`phase 2 reported errors: ${problem}`);
}

/**
 * The final zkey must verify — from the r1cs (snarkjs recomputes the initial key), or, when the initial key
 * was computed here from dev secrets, from that initial key (contribution chain, same checks on the points);
 * the exported key must show a phase-2 contribution.
 */
async function verifiedVerificationKey(
  compiled: Phase2Input,
  ptauPath: string,
  files: Phase2Files,
  fromInit: boolean,
): Promise<snarkjs.Groth16VerificationKey> {
  const { logger, failure } = snarkjsLogger();
  const zkeyPath = files.final;
  const ok = fromInit
    ? await snarkjs.zKey.verifyFromInit(files.initial, ptauPath, zkeyPath, logger)
    : await snarkjs.zKey.verifyFromR1cs(compiled.r1csPath, ptauPath, zkeyPath, logger);
  if (ok !== true) {
    const check = fromInit ? "verifyFromInit" : "verifyFromR1cs";
    throw new SetupError(`zkey of ${compiled.id} failed ${check}: ${failure() ?? "false"}`);
  }
  const vkey = await snarkjs.zKey.exportVerificationKey(zkeyPath, logger);
  if (vkey.protocol !== "groth16" || vkey.curve !== "bn128") {
    throw new SetupError(`unexpected verification key protocol/curve ${vkey.protocol}/${vkey.curve}`);
  }
  const nPublic = compiled.publicInputs + compiled.publicOutputs;
  if (vkey.nPublic !== nPublic || vkey.IC.length !== nPublic + 1) {
    throw new SetupError(
      `verification key of ${compiled.id} has nPublic ${vkey.nPublic}, expected ${nPublic}`,
    );
  }
  assertPhase2Contributed(vkey);
  return vkey;
}
