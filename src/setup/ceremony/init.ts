/**
 * @module setup/ceremony/init
 *
 * Operator, first step: checks the ptau (`ceremony-ptau.ts`), copies the r1cs into the ceremony directory,
 * creates the zero-contribution zkey `<id>_0000.zkey` with snarkjs `newZKey` and writes the transcript.
 *
 * Security caveats: the initial zkey has no contribution and is forgeable by anyone; it only becomes a key
 * after at least one honest contribution and the beacon. A directory that already holds a transcript is
 * refused, so a running ceremony cannot be restarted in place; files are staged and renamed.
 */

import { existsSync } from "node:fs";
import { copyFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { makeStagingDir } from "../../storage/atomic-write.ts";
import { sha256File } from "../../storage/file-digest.ts";
import { type Progress, silentProgress } from "../../util/progress.ts";
import { type CeremonyPtauOptions, checkCeremonyPtau } from "../ceremony-ptau.ts";
import { assertCircuitId } from "../paths.ts";
import type { Phase2Input } from "../phase2.ts";
import { requiredPtauPower, snarkjsLogger } from "../ptau.ts";
import { ptauTooSmall } from "../setup-common.ts";
import { CeremonyError } from "./errors.ts";
import {
  CEREMONY_FORMAT,
  type CeremonyTranscript,
  TRANSCRIPT_FILE,
  writeTranscript,
  zkeyFileName,
} from "./transcript.ts";

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
    throw ptauTooSmall(compiled.id, needed, opts.ptauPath, ptau.power, "");
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
