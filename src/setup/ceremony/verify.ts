/**
 * @module setup/ceremony/verify
 *
 * Anyone: `verifyCeremony` replays a ceremony from its files: r1cs and ptau identity, the transcript's order
 * and shape, every file hash, the chain of contribution hashes in the final zkey (and in each intermediate
 * present), snarkjs `verifyFromR1cs`, a contributed verification key and, optionally, the keys-manifest pins.
 *
 * Security caveats: soundness needs ONE honest contributor who destroyed their entropy; each contributor must
 * check that the published transcript contains the hash they were given (`expect`). The transcript is not
 * signed: its integrity comes from the independently published contribution hashes and this replay; the
 * ptau is identified by its published BLAKE2b-512 against the verifier's own table. snarkjs's verifier prints
 * `INVALID(...)` lines to the console on some failures.
 */

import { existsSync } from "node:fs";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { sha256File } from "../../storage/file-digest.ts";
import { type Progress, silentProgress } from "../../util/progress.ts";
import { hashPtauFile } from "../ceremony-ptau.ts";
import { HERMEZ_PTAU_HASHES, type PublishedPtau } from "../ceremony-ptau-hashes.ts";
import { type KeysManifest, loadPinnedVkey, type PinnedCircuit, pinnedEntry } from "../keys-manifest.ts";
import { assertPhase2Contributed, vkeyHash } from "../phase2.ts";
import { snarkjsLogger } from "../ptau.ts";
import { assertInputFile } from "../setup-common.ts";
import { CeremonyError } from "./errors.ts";
import {
  type CeremonyEntry,
  type CeremonyTranscript,
  latestZkey,
  normalizeContributionHash,
  readTranscript,
} from "./transcript.ts";
import { assertChain, readZkeyContributions } from "./zkey-contributions.ts";

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

export async function assertFileSha(check: string, filePath: string, expected: string): Promise<void> {
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
  assertInputFile(ptauPath, "ptau", "pass the ptau the ceremony started from (--ptau FILE)");
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
