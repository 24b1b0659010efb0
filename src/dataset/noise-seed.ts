/**
 * @module dataset/noise-seed
 *
 * The operator's secret noise seed and its commitment (design.md 8.1). The seed and its blind are derived
 * from the dataset secret (`deriveSecretValues` under the domain "zktally/noise-seed/v1", so they are held
 * exactly where the dataset secret is, and a new epoch gets a new seed); the signed v2 manifest states
 * `noiseCommitment = PoseidonEx([seed, blind], TAG_NOISE_SEED)`, which binds the operator to the seed
 * before any query (Poseidon is collision resistant) and hides it (the 248-bit blind).
 *
 * Security caveats: the seed and blind are secrets of the operator side: never in manifests, bundles or logs.
 * Whoever knows the seed predicts every noise draw and can remove the noise from answers.
 */
import type { PoseidonEx } from "./commitment.ts";
import { deriveSecretValues } from "./salt.ts";

/** int(utf8("zktally/noise-seed/v1")), the Poseidon capacity tag of the seed commitment. */
export const TAG_NOISE_SEED = 178916657140077753263919676101047269880992065615409n;
export const NOISE_SEED_DOMAIN = "zktally/noise-seed/v1";

export interface NoiseSecret {
  /** Below 2^248. */
  readonly seed: bigint;
  /** Below 2^248; makes the commitment hiding. */
  readonly blind: bigint;
}

/** The noise seed and blind of dataset `datasetId` at `epoch`, from its dataset secret. */
export function deriveNoiseSecret(datasetSecret: Uint8Array, datasetId: string, epoch: number): NoiseSecret {
  const [seed, blind] = deriveSecretValues(datasetSecret, NOISE_SEED_DOMAIN, datasetId, epoch, 2) as [
    bigint,
    bigint,
  ];
  return { seed, blind };
}

/** noiseCommitment = PoseidonEx([seed, blind], TAG_NOISE_SEED). */
export function noiseSeedCommitment(poseidon: PoseidonEx, secret: NoiseSecret): bigint {
  return poseidon([secret.seed, secret.blind], TAG_NOISE_SEED);
}
