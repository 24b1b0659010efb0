/**
 * @module service/context
 *
 * Everything a request handler or the job runner needs, built once at boot by `openService` (server.ts) and
 * passed to `createApp`. Tests build it the same way, so they exercise the real stores on a real database.
 *
 * Security caveat: the context holds unsealed signing keys (inside the token service, the audit log and the
 * dataset store) and the KeyRing; it must never be serialised or logged.
 */
import type { Groth16VerificationKey } from "snarkjs";
import type { AggregateShape } from "../circuits/shape.ts";
import type { ServiceAudit } from "./audit.ts";
import type { ServiceConfig } from "./config.ts";
import type { DatasetStore } from "./datasets.ts";
import type { Db } from "./db.ts";
import type { JobStore } from "./jobs.ts";
import type { Logger } from "./logger.ts";
import type { PartnerStore } from "./partners.ts";
import type { FixedWindowLimiter } from "./rate-limit.ts";
import type { ReleaseStore } from "./releases.ts";
import type { TokenService } from "./tokens.ts";

/** The circuit this instance proves with, its pinned verification key and the key's hash. */
export interface ServedCircuit {
  readonly id: string;
  readonly shape: AggregateShape;
  readonly vkey: Groth16VerificationKey;
  readonly vkeyHash: string;
  readonly nPublic: number;
  readonly constraints: number;
  /** True for keys from an insecure development setup (keys manifest `insecure`). */
  readonly insecure: boolean;
}

export interface ServiceContext {
  readonly config: ServiceConfig;
  readonly db: Db;
  readonly logger: Logger;
  readonly audit: ServiceAudit;
  readonly partners: PartnerStore;
  readonly datasets: DatasetStore;
  readonly jobs: JobStore;
  /** Admin releases (releases.ts) and their release budget ledger. */
  readonly releases: ReleaseStore;
  readonly tokens: TokenService;
  readonly circuit: ServedCircuit;
  /** Hex Ed25519 public key that signs dataset manifests (what partners pin). */
  readonly operatorKey: string;
  readonly limiters: { readonly api: FixedWindowLimiter; readonly token: FixedWindowLimiter };
  /**
   * Rotates the storage key and re-encrypts datasets and service keys; `within` runs in the re-encrypting
   * transaction (the audit entry). Returns how many envelopes rows were re-encrypted.
   */
  readonly rotateStorageKey: (within: (reencrypted: number) => void) => Promise<number>;
  /** Wakes the job runner after a submission (no-op when this instance proves nothing). */
  readonly wake: () => void;
  readonly now: () => number;
}
