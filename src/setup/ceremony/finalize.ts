/**
 * @module setup/ceremony/finalize
 *
 * Operator, last step: `finalizeCeremony` verifies the whole ceremony, exports the verification key, records
 * it as the transcript's final key, installs the final zkey where the prover finds it (the setup cache entry
 * of the circuit and ptau) and pins the key in `<keysDir>/manifest.json` and the ptau's hashes in
 * `<keysDir>/ptau.json`.
 *
 * Security caveats: a key without contribution is refused (by the replay); the compiled circuit must be the
 * ceremony's (same id, source hash and r1cs); the installed zkey is re-hashed after copying. Keys from an
 * unpublished ptau are pinned as `insecure`.
 */

import { copyFile, rm } from "node:fs/promises";
import path from "node:path";
import { commitStagingDir, makeStagingDir, writeFileAtomic } from "../../storage/atomic-write.ts";
import { sha256File } from "../../storage/file-digest.ts";
import { type Progress, silentProgress } from "../../util/progress.ts";
import { writePtauRecord } from "../ceremony-ptau.ts";
import { HERMEZ_PTAU_HASHES, type PublishedPtau } from "../ceremony-ptau-hashes.ts";
import type { CompiledCircuit } from "../compile.ts";
import { type KeysManifest, type PinnedCircuit, pinCircuit } from "../keys-manifest.ts";
import { zkeyArtifactPaths, zkeyDir } from "../paths.ts";
import { CeremonyError } from "./errors.ts";
import { type CeremonyEntry, type CeremonyTranscript, writeTranscript } from "./transcript.ts";
import { assertFileSha, type CeremonyReport, verifyCeremony } from "./verify.ts";

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
