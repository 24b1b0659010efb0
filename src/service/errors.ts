/**
 * @module service/errors
 *
 * The service's own failures, in the one error model (util/errors.ts). Stores and services throw these (and
 * the other `ZktallyError`s); only the HTTP layer (http-errors.ts) turns them into statuses and headers.
 *
 * Security caveat: messages are sent to clients verbatim; build them from the request and public state only,
 * never from records, salts, secrets, witness values or internal exception text.
 */
import { IntegrityError, UnavailableError } from "../util/errors.ts";

/** The audit log could not be written: the request is refused rather than served unaccounted for. */
export class AuditUnavailableError extends UnavailableError {
  constructor(cause?: unknown) {
    super("audit_unavailable", "the audit log cannot be written; the request was not carried out", {
      retryAfterSeconds: 5,
      cause,
    });
  }
}

/** A stored dataset failed decryption or its recomputed root differs from its manifest. */
export class DatasetIntegrityError extends IntegrityError {
  constructor(
    readonly datasetId: string,
    readonly epoch: number,
    reason: string,
  ) {
    super("dataset_integrity", `dataset ${datasetId} epoch ${epoch}: ${reason}`);
  }
}
