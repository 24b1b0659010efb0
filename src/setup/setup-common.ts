/**
 * @module setup/setup-common
 *
 * Definitions shared by the snarkjs-based and the fast development setup (no setup imports, so neither side
 * forms a cycle): the setup error type, the check that an input file exists, the ptau power limit, and the
 * dev ptau sidecar format with its warning.
 */
import { existsSync } from "node:fs";
import { InputError, type ZktallyErrorOptions } from "../util/errors.ts";

/** A trusted-setup step failed or produced something unusable. */
export class SetupError extends InputError {
  constructor(message: string, options: ZktallyErrorOptions & { code?: string } = {}) {
    super(options.code ?? "setup_failed", message, options);
  }
}

/**
 * A file the user named (a ptau, a ceremony transcript, a zkey) must exist: a missing one is a typo in the
 * command line (exit 2, `file_not_found`), not an internal error.
 */
export function assertInputFile(file: string, what: string, hint?: string): void {
  if (!existsSync(file)) {
    throw new SetupError(`${what} ${file} does not exist`, {
      code: "file_not_found",
      path: file,
      ...(hint === undefined ? {} : { hint }),
    });
  }
}

/** A ptau of too low a power for circuit `id` (`how`: what the need was computed from, or ""). */
export function ptauTooSmall(
  id: string,
  needed: number,
  ptauPath: string,
  power: number,
  how: string,
): SetupError {
  return new SetupError(`${id} needs a ptau of power >= ${needed}${how}, ${ptauPath} has power ${power}`, {
    code: "ptau_too_small",
    hint: `use a ceremony ptau of power >= ${needed} (powersOfTau28_hez_final_${String(needed).padStart(2, "0")}.ptau), or for development only zktally setup --dev --circuit ${id} (INSECURE keys from a development ptau of the power it needs)`,
  });
}

/** snarkjs supports domains up to 2^28 on BN254 (the 2-adicity of the scalar field). */
export const MAX_PTAU_POWER = 28;

/** Sidecar metadata next to each dev ptau file. */
export interface DevPtauSidecar {
  readonly power: number;
  readonly insecure: true;
  readonly note: string;
  readonly sha256: string;
  readonly blake2b512: string;
  readonly createdAt: string;
  readonly generator: string;
  /**
   * Seed of the toxic waste (tau, alpha, beta) for fast development setups (`toxicWasteFromSeed`); present
   * only for ptau files made by the fast generator. INSECURE by design: it lets later processes compute
   * zkeys directly from the secrets, and lets anyone holding it forge proofs.
   */
  readonly secretsSeed?: string;
}

export const DEV_PTAU_NOTE =
  "DEVELOPMENT ONLY - INSECURE: generated locally by zktally with one random contribution and no ceremony. " +
  "Whoever generated it could forge proofs for every key derived from it. Never use it for production keys.";

/** The sidecar of a dev ptau, as JSON text (written last, next to the file, to mark it complete). */
export function devPtauSidecarJson(
  power: number,
  digests: { readonly sha256: string; readonly blake2b512: string },
  origin: { readonly generator: string; readonly secretsSeed?: string },
): string {
  const sidecar: DevPtauSidecar = {
    power,
    insecure: true,
    note: DEV_PTAU_NOTE,
    sha256: digests.sha256,
    blake2b512: digests.blake2b512,
    createdAt: new Date().toISOString(),
    ...origin,
  };
  return `${JSON.stringify(sidecar, null, 2)}\n`;
}
