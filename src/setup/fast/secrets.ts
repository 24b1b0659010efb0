/**
 * @module setup/fast/secrets
 *
 * The toxic waste of a development powers-of-tau: tau, alpha, beta in Fr. `randomToxicWaste()` draws them
 * from `crypto.randomBytes` (64 bytes reduced mod r, so the bias is below 2^-250); `assertToxicWaste`
 * checks caller-supplied values.
 *
 * SECURITY: whoever knows these values can forge Groth16 proofs for every key derived from the ptau. They
 * exist only to make development setups fast; keep them in memory, never log them, and never derive
 * production keys from a ptau whose secrets were ever known.
 */

import { createHash, randomBytes } from "node:crypto";
import { FIELD_ORDER } from "../../core/field.ts";
import { FR_TWO_ADICITY, frPow } from "./field.ts";

/** The phase-1 secrets of a development ptau (all in 1..r-1). */
export interface ToxicWaste {
  readonly tau: bigint;
  readonly alpha: bigint;
  readonly beta: bigint;
}

const FIELDS = ["tau", "alpha", "beta"] as const;

/**
 * Throws a precise TypeError/RangeError unless every secret is a bigint in 1..r-1 and tau lies outside
 * every power-of-two evaluation domain (tau^(2^28) != 1; otherwise Lagrange bases are undefined).
 */
export function assertToxicWaste(secrets: ToxicWaste, name = "secrets"): void {
  if (typeof secrets !== "object" || secrets === null) {
    throw new TypeError(`${name} must be an object {tau, alpha, beta}`);
  }
  for (const field of FIELDS) {
    const value = secrets[field];
    if (typeof value !== "bigint") throw new TypeError(`${name}.${field} must be a bigint`);
    if (value <= 0n || value >= FIELD_ORDER) throw new RangeError(`${name}.${field} must be in 1..r-1`);
  }
  if (frPow(secrets.tau, 1n << BigInt(FR_TWO_ADICITY)) === 1n) {
    throw new RangeError(`${name}.tau is a root of unity of a power-of-two domain`);
  }
}

function randomFieldElement(): bigint {
  for (;;) {
    const v = BigInt(`0x${randomBytes(64).toString("hex")}`) % FIELD_ORDER;
    if (v !== 0n) return v;
  }
}

/** Fresh crypto-random secrets. */
export function randomToxicWaste(): ToxicWaste {
  for (;;) {
    const secrets = { tau: randomFieldElement(), alpha: randomFieldElement(), beta: randomFieldElement() };
    if (frPow(secrets.tau, 1n << BigInt(FR_TWO_ADICITY)) !== 1n) return secrets;
  }
}

/**
 * Deterministic secrets from a seed (SHA-512 of a domain tag, the seed and a counter, reduced mod r), for
 * reproducible development setups: the same seed always yields the same ptau secrets, so a cached dev ptau
 * can be reused with `newDevZKey` in a later process. Anyone who knows the seed can forge proofs.
 */
export function toxicWasteFromSeed(seed: string | Uint8Array): ToxicWaste {
  if (typeof seed !== "string" && !(seed instanceof Uint8Array)) {
    throw new TypeError("seed must be a string or Uint8Array");
  }
  const seedBytes = typeof seed === "string" ? new TextEncoder().encode(seed) : seed;
  if (seedBytes.byteLength === 0) throw new RangeError("seed must not be empty");
  for (let counter = 0; ; counter++) {
    const derive = (label: string) => {
      const digest = createHash("sha512")
        .update(`zktally/dev-ptau-secrets/v1/${label}/${counter}\0`)
        .update(seedBytes)
        .digest("hex");
      return BigInt(`0x${digest}`) % FIELD_ORDER;
    };
    const secrets = { tau: derive("tau"), alpha: derive("alpha"), beta: derive("beta") };
    if (secrets.tau !== 0n && secrets.alpha !== 0n && secrets.beta !== 0n) {
      if (frPow(secrets.tau, 1n << BigInt(FR_TWO_ADICITY)) !== 1n) return secrets;
    }
  }
}
