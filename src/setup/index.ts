/**
 * @module setup
 *
 * The setup pipeline: compile a main `.circom` file (cached by source hash), derive a development ptau,
 * run the Groth16 phase-2 setup (contribution + beacon + verifyFromR1cs), and pin the results in the keys
 * manifest. `buildDevKeys` chains all of it for a list of main files.
 *
 * SECURITY: `buildDevKeys` uses an INSECURE locally generated ptau; the manifest it writes says
 * `insecure: true`. Production keys need a public ceremony ptau and an independent phase-2 ceremony.
 */

import { type Progress, silentProgress } from "../util/progress.ts";
import { type CompiledCircuit, compileCircuit } from "./compile.ts";
import { toxicWasteFromSeed } from "./fast/index.ts";
import { type KeysManifest, type PinnedCircuit, pinCircuit, readKeysManifest } from "./keys-manifest.ts";
import { type CircuitKeys, setupCircuit } from "./phase2.ts";
import { type DevPtau, devPtau, requiredPtauPower } from "./ptau.ts";

export * from "./compile.ts";
export * from "./keys-manifest.ts";
export * from "./main-files.ts";
export * from "./paths.ts";
export * from "./phase2.ts";
export * from "./ptau.ts";

export interface BuildDevKeysOptions {
  /** Where `manifest.json` and `<id>.vkey.json` are written. */
  readonly keysDir: string;
  readonly buildDir?: string;
  readonly progress?: Progress;
  /** Use at least this ptau power (e.g. to share one ptau with circuits added later). */
  readonly minPtauPower?: number;
  /** Passed to `pinCircuit`: overwrite differing pins / accept a different ptau. */
  readonly replace?: boolean;
}

export interface BuiltCircuit {
  readonly compiled: CompiledCircuit;
  readonly keys: CircuitKeys;
  readonly entry: PinnedCircuit;
}

export interface BuildDevKeysResult {
  readonly ptau: DevPtau;
  readonly circuits: readonly BuiltCircuit[];
  readonly manifest: KeysManifest;
}

/**
 * Compiles every main file, picks one dev ptau large enough for all of them (and for the ptau already pinned
 * in the manifest, so the same file keeps being used), runs phase 2 for each and pins the results.
 */
export async function buildDevKeys(
  mainPaths: readonly string[],
  opts: BuildDevKeysOptions,
): Promise<BuildDevKeysResult> {
  if (!Array.isArray(mainPaths) || mainPaths.length === 0) {
    throw new TypeError("mainPaths must be a non-empty array of repo-relative .circom paths");
  }
  const progress = opts.progress ?? silentProgress;
  const common = { buildDir: opts.buildDir, progress };
  const compiled: CompiledCircuit[] = [];
  for (const main of mainPaths) compiled.push(await compileCircuit(main, common));
  const existing = await readKeysManifest(opts.keysDir);
  const power = Math.max(
    opts.minPtauPower ?? 1,
    existing?.ptau.power ?? 1,
    ...compiled.map(requiredPtauPower),
  );
  const ptau = await devPtau(power, common);
  const circuits: BuiltCircuit[] = [];
  let manifest = existing;
  for (const circuit of compiled) {
    const keys = await setupCircuit(circuit, ptau.path, {
      ...common,
      ptauSha256: ptau.sha256,
      ...(ptau.secretsSeed === undefined ? {} : { devSecrets: toxicWasteFromSeed(ptau.secretsSeed) }),
    });
    const pinned = await pinCircuit(
      opts.keysDir,
      { compiled: circuit, keys, ptau: { power: ptau.power, sha256: ptau.sha256, insecure: true } },
      { replace: opts.replace },
    );
    manifest = pinned.manifest;
    circuits.push({ compiled: circuit, keys, entry: pinned.entry });
  }
  return { ptau, circuits, manifest: manifest as KeysManifest };
}
