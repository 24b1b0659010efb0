/**
 * @module service/errors
 *
 * Typed errors the service turns into HTTP responses: `ApiError` carries a status, a stable machine code and
 * a message that is safe to show the caller. Anything else that reaches the error handler is an internal
 * error and is answered with a bare `500 internal_error` (the details go to the operator's log only).
 *
 * Security caveat: `ApiError` messages are sent to clients verbatim; build them from the request and public
 * state only, never from records, salts, secrets, witness values or internal exception text.
 */

export interface ApiErrorOptions {
  /** Extra response headers, e.g. `WWW-Authenticate` or `Retry-After`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Extra JSON fields merged into the body (public values only). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** An error answered with `status` and `{error: code, message, ...extra}`. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly headers: Readonly<Record<string, string>>;
  readonly extra: Readonly<Record<string, unknown>>;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`ApiError status must be 400..599 (got ${status})`);
    }
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }
}

export const badRequest = (code: string, message: string, extra?: Record<string, unknown>) =>
  new ApiError(400, code, message, { extra });

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} not found`);

/** The audit log could not be written: the request is refused rather than served unaccounted for. */
export class AuditUnavailableError extends ApiError {
  override name = "AuditUnavailableError";
  constructor() {
    super(503, "audit_unavailable", "the audit log cannot be written; the request was not carried out", {
      headers: { "Retry-After": "5" },
    });
  }
}

/** A stored dataset failed decryption or its recomputed root differs from its manifest. */
export class DatasetIntegrityError extends Error {
  override name = "DatasetIntegrityError";
  constructor(
    readonly datasetId: string,
    readonly epoch: number,
    reason: string,
  ) {
    super(`dataset ${datasetId} epoch ${epoch}: ${reason}`);
  }
}
