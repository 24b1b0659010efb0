/**
 * @module service/http-errors
 *
 * The one place where errors become HTTP answers. A `ZktallyError` gets its status from `STATUS_BY_CODE`
 * when its code needs a status of its own, else from its kind (`STATUS_BY_KIND`); its body is
 * `{error: code, message, path?, hint?, ...details, requestId}`; `Retry-After` comes from
 * `retryAfterSeconds` and the `WWW-Authenticate` challenges (RFC 6750 section 3, RFC 6749 section 5.2)
 * from the authentication codes. Anything else is a programming error: the caller logs it once and answers
 * {@link INTERNAL_ANSWER} (no message, no stack).
 *
 * Security caveat: only `ZktallyError` text reaches a response; see util/errors.ts for what it may contain.
 */
import {
  AccessError,
  ConflictError,
  type ErrorKind,
  InputError,
  LimitError,
  type ZktallyError,
} from "../util/errors.ts";

const REALM = 'realm="zktally"';

/** Codes whose status differs from their kind's. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  unauthorized: 401,
  invalid_token: 401,
  invalid_client: 401,
  payload_too_large: 413,
  unsupported_media_type: 415,
};

const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  input: 400,
  access: 403,
  not_found: 404,
  conflict: 409,
  limit: 429,
  integrity: 500,
  prover: 500,
  unavailable: 503,
};

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, unknown>>;
}

export const INTERNAL_ANSWER: HttpAnswer = {
  status: 500,
  headers: {},
  body: { error: "internal_error", message: "internal error" },
};

export function statusOf(error: ZktallyError): number {
  return STATUS_BY_CODE[error.code] ?? STATUS_BY_KIND[error.kind];
}

/** `Bearer realm="zktally", error=..., error_description=..., scope=...` */
export function bearerChallenge(error?: string, description?: string, scope?: string): string {
  const parts = [REALM];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, "")}"`);
  if (scope) parts.push(`scope="${scope}"`);
  return `Bearer ${parts.join(", ")}`;
}

function challengeOf(error: ZktallyError): string | undefined {
  switch (error.code) {
    case "unauthorized":
      return bearerChallenge();
    case "invalid_token":
      return bearerChallenge("invalid_token", error.message);
    case "insufficient_scope":
      return bearerChallenge("insufficient_scope", undefined, String(error.details.scope ?? ""));
    case "invalid_client":
      return `Basic ${REALM}`;
    default:
      return undefined;
  }
}

export function httpAnswerOf(error: ZktallyError): HttpAnswer {
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.retryAfterSeconds);
  const challenge = challengeOf(error);
  if (challenge !== undefined) headers["WWW-Authenticate"] = challenge;
  const { code, ...rest } = error.toJSON();
  return { status: statusOf(error), headers, body: { error: code, ...rest } };
}

// ----------------------------------------------------------------- errors only the HTTP layer raises

export const unauthorized = (description?: string) =>
  description === undefined
    ? new AccessError("unauthorized", "a bearer token is required")
    : new AccessError("invalid_token", description);

export const invalidRequest = (message: string, path?: string) =>
  new InputError("invalid_request", message, path === undefined ? {} : { path });

export const unsupportedMediaType = (message: string) => new InputError("unsupported_media_type", message);

export const payloadTooLarge = () => new LimitError("payload_too_large", "the request body is too large");

/** The job or release has no result yet; polling again after `Retry-After` is the expected next step. */
export class NotReadyError extends ConflictError {
  constructor(state: string) {
    super("not_ready", "the proof is not ready yet", { retryAfterSeconds: 1, details: { state } });
  }
}
