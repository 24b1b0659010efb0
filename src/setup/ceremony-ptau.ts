/**
 * @module setup/ceremony-ptau
 *
 * Production powers of tau: `checkCeremonyPtau` identifies a ptau file by its BLAKE2b-512 against the table
 * of published ceremony files (`ceremony-ptau-hashes.ts`, copied from the snarkjs README) and refuses an
 * unknown or altered file unless the caller explicitly overrides; `setupWithCeremonyPtau` then compiles the
 * given circuits, runs phase 2 against that file and pins the keys, the ptau SHA-256 in
 * `<keysDir>/manifest.json` and both ptau hashes plus the matched table entry in `<keysDir>/ptau.json`.
 *
 * Security caveats:
 * - The table is the trust anchor: a file is "published" only if its full-file BLAKE2b-512 is in it. The
 *   file name proves nothing (a renamed dev file is "unknown", an edited Hermez file is "altered").
 * - An override (`allowUnknownPtau`) is recorded: the keys manifest gets `insecure: true` and `ptau.json`
 *   says `trusted: false` with the reason, so such keys can never pass for ceremony keys.
 * - `setupWithCeremonyPtau` runs phase 2 with this machine's randomness only: phase 1 is public, but the
 *   operator alone holds the phase-2 toxic waste. Keys partners must trust come from a multi-party phase 2
 *   (`ceremony/`, docs/ceremony.md).
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import path from "node:path";
import type { Groth16VerificationKey } from "snarkjs";
import { shapeFromId } from "../circuits/shape.ts";
import { writeFileAtomic } from "../storage/atomic-write.ts";
import { type Progress, silentProgress } from "../util/progress.ts";
import { HERMEZ_PTAU_HASHES, HERMEZ_PTAU_SOURCE, type PublishedPtau } from "./ceremony-ptau-hashes.ts";
import { type CompiledCircuit, compileCircuit } from "./compile.ts";
import { type KeysManifest, type PinnedCircuit, pinCircuit } from "./keys-manifest.ts";
import { type CircuitKeys, setupCircuit } from "./phase2.ts";
import { MAX_PTAU_POWER, readPtauPower, requiredPtauPower, SetupError } from "./ptau.ts";
import { assertInputFile, ptauTooSmall } from "./setup-common.ts";

export type { PublishedPtau } from "./ceremony-ptau-hashes.ts";
export { HERMEZ_PTAU_HASHES, HERMEZ_PTAU_SOURCE } from "./ceremony-ptau-hashes.ts";

/** Why a ptau file is not a published ceremony file. */
export type UntrustedReason = "unknown" | "altered";

/** A ptau file that is not in the published table, refused because no override was given. */
export class UntrustedPtauError extends SetupError {
  override name = "UntrustedPtauError";
  constructor(
    message: string,
    readonly reason: UntrustedReason,
    readonly ptauPath: string,
    readonly blake2b512: string,
  ) {
    super(message);
  }
}

/** The identity of a ptau file and whether it is a published ceremony file. */
export interface CeremonyPtauCheck {
  readonly path: string;
  /** Power from the file header. */
  readonly power: number;
  readonly sha256: string;
  readonly blake2b512: string;
  /** The table entry whose hash matched; undefined when none did. */
  readonly published: PublishedPtau | undefined;
  /** True only when the hash is in the table. */
  readonly trusted: boolean;
  /** Set when the file was accepted through the override: why it is not trusted. */
  readonly untrustedReason?: string;
}

export interface CeremonyPtauOptions {
  /** Table of published files; default the Hermez table. Tests inject their own. */
  readonly table?: readonly PublishedPtau[];
  /** Accept a file that is not in the table (loudly; the result says `trusted: false`). */
  readonly allowUnknownPtau?: boolean;
  /** Receives the loud override warning (default: stderr). */
  readonly warn?: (line: string) => void;
}

const HEX_BLAKE2B = /^[0-9a-f]{128}$/;

/** Validates a table of published files; throws `TypeError` naming the offending entry field. */
export function assertPtauTable(table: readonly PublishedPtau[]): void {
  if (!Array.isArray(table)) throw new TypeError("table must be an array of {power, file, blake2b512}");
  table.forEach((entry, i) => {
    if (!Number.isInteger(entry?.power) || entry.power < 1 || entry.power > MAX_PTAU_POWER) {
      throw new TypeError(`table[${i}].power must be an integer in 1..${MAX_PTAU_POWER}`);
    }
    if (typeof entry.file !== "string" || entry.file === "" || entry.file !== path.basename(entry.file)) {
      throw new TypeError(`table[${i}].file must be a bare file name`);
    }
    if (typeof entry.blake2b512 !== "string" || !HEX_BLAKE2B.test(entry.blake2b512)) {
      throw new TypeError(`table[${i}].blake2b512 must be 128 lowercase hex digits`);
    }
  });
}

/** SHA-256 and BLAKE2b-512 of a file in one streamed pass (ceremony files reach gigabytes). */
export function hashPtauFile(filePath: string): Promise<{ sha256: string; blake2b512: string }> {
  return new Promise((resolve, reject) => {
    const sha = createHash("sha256");
    const blake = createHash("blake2b512");
    createReadStream(filePath)
      .on("error", reject)
      .on("data", (chunk) => {
        sha.update(chunk);
        blake.update(chunk);
      })
      .on("end", () => resolve({ sha256: sha.digest("hex"), blake2b512: blake.digest("hex") }));
  });
}

/**
 * Identifies `ptauPath` against the published table. Throws `UntrustedPtauError` for a file whose hash is
 * not in the table ("altered" when its name is that of a published file, "unknown" otherwise) unless
 * `allowUnknownPtau` is set, in which case it warns and returns `trusted: false`.
 */
export async function checkCeremonyPtau(
  ptauPath: string,
  opts: CeremonyPtauOptions = {},
): Promise<CeremonyPtauCheck> {
  if (typeof ptauPath !== "string" || ptauPath === "") throw new TypeError("ptauPath must be a file path");
  assertInputFile(ptauPath, "ptau");
  const table = opts.table ?? HERMEZ_PTAU_HASHES;
  assertPtauTable(table);
  const power = await readPtauPower(ptauPath);
  const { sha256, blake2b512 } = await hashPtauFile(ptauPath);
  const published = table.find((entry) => entry.blake2b512 === blake2b512);
  if (published) {
    if (published.power !== power) {
      throw new SetupError(
        `${ptauPath}: header says power ${power} but its hash is that of ${published.file} (power ${published.power})`,
      );
    }
    return { path: ptauPath, power, sha256, blake2b512, published, trusted: true };
  }
  const { reason, message } = describeUntrusted(ptauPath, blake2b512, table);
  if (!opts.allowUnknownPtau) {
    throw new UntrustedPtauError(
      `${message}; refusing it (pass --allow-unknown-ptau to override: the keys will be marked insecure)`,
      reason,
      ptauPath,
      blake2b512,
    );
  }
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  warn(`WARNING: ${message}.`);
  warn(
    "WARNING: --allow-unknown-ptau given: keys derived from it are marked INSECURE (manifest insecure: true).",
  );
  return {
    path: ptauPath,
    power,
    sha256,
    blake2b512,
    published: undefined,
    trusted: false,
    untrustedReason: message,
  };
}

function describeUntrusted(
  ptauPath: string,
  blake2b512: string,
  table: readonly PublishedPtau[],
): { reason: UntrustedReason; message: string } {
  const sameName = table.find((entry) => entry.file === path.basename(ptauPath));
  if (sameName) {
    return {
      reason: "altered",
      message:
        `${ptauPath} is named like the published ${sameName.file} but its BLAKE2b-512 ${blake2b512} differs ` +
        `from the published ${sameName.blake2b512} (altered or corrupt file)`,
    };
  }
  return {
    reason: "unknown",
    message: `${ptauPath} (BLAKE2b-512 ${blake2b512}) is not a published ceremony file (${HERMEZ_PTAU_SOURCE})`,
  };
}

/** `<keysDir>/ptau.json`: which ptau the pinned keys were derived from, with both hashes. */
export interface PtauRecord {
  readonly file: string;
  readonly power: number;
  readonly sha256: string;
  readonly blake2b512: string;
  readonly trusted: boolean;
  /** Matched table entry (file name as published), or null. */
  readonly published: string | null;
  readonly source: string;
  readonly untrustedReason?: string;
}

export const PTAU_RECORD_FILE = "ptau.json";

/** Writes `<keysDir>/ptau.json` for a checked ptau. */
export async function writePtauRecord(keysDir: string, check: CeremonyPtauCheck): Promise<PtauRecord> {
  const record: PtauRecord = {
    file: path.basename(check.path),
    power: check.power,
    sha256: check.sha256,
    blake2b512: check.blake2b512,
    trusted: check.trusted,
    published: check.published?.file ?? null,
    source: check.trusted ? HERMEZ_PTAU_SOURCE : "not a published ceremony file (override)",
    ...(check.untrustedReason ? { untrustedReason: check.untrustedReason } : {}),
  };
  await writeFileAtomic(path.join(keysDir, PTAU_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

export interface CeremonySetupOptions extends CeremonyPtauOptions {
  readonly keysDir: string;
  readonly buildDir?: string;
  readonly progress?: Progress;
  /** Replace pins of another ptau (e.g. switch from development keys); without it a different ptau is refused. */
  readonly replace?: boolean;
}

export interface CeremonySetupCircuit {
  readonly compiled: CompiledCircuit;
  readonly keys: CircuitKeys;
  readonly entry: PinnedCircuit;
  readonly vkey: Groth16VerificationKey;
}

export interface CeremonySetupResult {
  readonly ptau: CeremonyPtauCheck;
  readonly circuits: readonly CeremonySetupCircuit[];
  readonly manifest: KeysManifest;
}

/**
 * The ptau power an aggregate circuit's main file needs at least, from its shape alone (undefined for other
 * circuits): every record value is range-checked to W bits and every clause makes two (W+1)-bit comparisons
 * per record, so it has at least N·(F·W + 2·C·(W+1)) constraints.
 */
function aggregateFloorPower(mainPath: string): number | undefined {
  let shape: ReturnType<typeof shapeFromId>;
  try {
    shape = shapeFromId(path.basename(mainPath, ".circom"));
  } catch {
    return undefined;
  }
  const constraints = shape.capacity * (shape.fields * shape.width + 2 * shape.clauses * (shape.width + 1));
  return requiredPtauPower({ constraints, publicInputs: 0, publicOutputs: 0 });
}

/**
 * Checks the ptau (refusing unknown files unless overridden), compiles every main file, runs phase 2 against
 * the ptau and pins the results; `insecure` in the manifest is `!trusted`.
 */
export async function setupWithCeremonyPtau(
  ptauPath: string,
  mainPaths: readonly string[],
  opts: CeremonySetupOptions,
): Promise<CeremonySetupResult> {
  if (!Array.isArray(mainPaths) || mainPaths.length === 0) {
    throw new TypeError("mainPaths must be a non-empty array of repo-relative .circom paths");
  }
  if (typeof opts?.keysDir !== "string" || opts.keysDir === "") throw new TypeError("keysDir must be a path");
  const progress = opts.progress ?? silentProgress;
  const ptau = await checkCeremonyPtau(ptauPath, opts);
  progress(
    "ptau",
    ptau.trusted
      ? `${path.basename(ptauPath)} is the published ${ptau.published?.file} (power ${ptau.power})`
      : `${path.basename(ptauPath)} is NOT a published ceremony file: keys will be insecure`,
  );
  // Before compiling (minutes for a large shape): a ptau too small for an aggregate shape's floor is refused.
  for (const main of mainPaths) {
    const floor = aggregateFloorPower(main);
    if (floor !== undefined && floor > ptau.power)
      throw ptauTooSmall(
        path.basename(main, ".circom"),
        floor,
        ptauPath,
        ptau.power,
        " (from its shape, before compiling)",
      );
  }
  const compiled: CompiledCircuit[] = [];
  for (const main of mainPaths)
    compiled.push(await compileCircuit(main, { buildDir: opts.buildDir, progress }));
  for (const circuit of compiled) {
    const needed = requiredPtauPower(circuit);
    if (needed > ptau.power) throw ptauTooSmall(circuit.id, needed, ptauPath, ptau.power, "");
  }
  const pinnedPtau = { power: ptau.power, sha256: ptau.sha256, insecure: !ptau.trusted };
  const circuits: CeremonySetupCircuit[] = [];
  let manifest: KeysManifest | undefined;
  for (const circuit of compiled) {
    const keys = await setupCircuit(circuit, ptauPath, {
      buildDir: opts.buildDir,
      progress,
      ptauSha256: ptau.sha256,
    });
    const pinned = await pinCircuit(
      opts.keysDir,
      { compiled: circuit, keys, ptau: pinnedPtau },
      { replace: opts.replace },
    );
    manifest = pinned.manifest;
    circuits.push({ compiled: circuit, keys, entry: pinned.entry, vkey: keys.vkey });
  }
  await writePtauRecord(opts.keysDir, ptau);
  return { ptau, circuits, manifest: manifest as KeysManifest };
}
