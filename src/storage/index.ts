/**
 * @module storage
 *
 * Encryption at rest (docs/audit.md, "Encryption at rest"): a key file of AES-256-GCM data keys with
 * rotation and destruction, and envelopes bound to dataset id, epoch, purpose and key id.
 */

export type { KeyFileContent, KeyRecord } from "./keyfile.ts";
export {
  associatedData,
  DecryptError,
  type DecryptFailure,
  type Envelope,
  type EnvelopeAad,
  type EnvelopeContext,
  KeyFileError,
  type KeyInfo,
  KeyRing,
} from "./keyring.ts";
