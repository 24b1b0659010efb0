/**
 * @module audit
 *
 * The audit log: an RFC 6962 Merkle log of request decisions in SQLite with signed tree heads and receipts
 * (docs/audit.md). `AuditLog` writes (and rotates its signing key, audit/log-keys); `verifyAuditLog`,
 * `verifyReceipt` and `verifyHeadConsistency` check with public log keys only.
 */
export { AuditLog, type AuditLogOptions, type EntryQuery, type LogKeyRotated } from "./log.ts";
export {
  LOG_KEY_ROTATION_ACTION,
  type LogKeyRotation,
  type LogKeySchedule,
  type LogKeySpan,
  logKeySchedule,
} from "./log-keys.ts";
export {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";
export { importLogSigner, verifyTreeHead } from "./sth.ts";
export {
  hasAuditLog,
  readEntries,
  readHeads,
  readLatestHead,
  readRawEntries,
  readRawHeads,
  readStoredLogKey,
  readStoredLogKeys,
} from "./store.ts";
export {
  type AuditDecision,
  type AuditEntry,
  type AuditEvent,
  AuditFormatError,
  AuditIntegrityError,
  type AuditReceipt,
  looksSecretName,
  type SignedTreeHead,
  type StoredEntry,
  validateEvent,
} from "./types.ts";
export {
  type CheckResult,
  type LogVerification,
  type VerifyLogOptions,
  verifyAuditLog,
  verifyHeadConsistency,
  verifyReceipt,
} from "./verify.ts";
