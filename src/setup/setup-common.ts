/**
 * @module setup/setup-common
 *
 * Definitions shared by the snarkjs-based and the fast development setup (no imports, so neither side forms
 * a cycle): the setup error type, the ptau power limit, and the dev ptau sidecar format with its warning.
 */
import { InputError, type ZktallyErrorOptions } from "../util/errors.ts";

/** A trusted-setup step failed or produced something unusable. */
export class SetupError extends InputError {
  constructor(message: string, options: ZktallyErrorOptions & { code?: string } = {}) {
    super(options.code ?? "setup_failed", message, options);
  }
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
