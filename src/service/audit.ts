/**
 * @module service/audit
 *
 * How the service records decisions in the audit log (src/audit): `decide` runs a decision and appends its
 * "accepted" entry in ONE SQLite transaction, so either both happen or neither does; a refusal (`ZktallyError`)
 * is appended as "refused" with its error code; if the log cannot be written at all, the request is answered
 * `503 audit_unavailable` and nothing it asked for happens.
 *
 * What is logged per request: partner (client id or null), action (e.g. `query.submit`), decision, the
 * request id the client saw in `X-Request-Id`, and public details (job id, dataset id and epoch, query hash,
 * nonce, bundle hash, error codes). Never secrets, tokens, records or answers' private inputs; the audit
 * module itself refuses secret-looking fields.
 */
import type { AuditLog } from "../audit/log.ts";
import type { AuditReceipt, DetailValue } from "../audit/types.ts";
import { isZktallyError } from "../util/errors.ts";
import type { Db } from "./db.ts";
import { AuditUnavailableError } from "./errors.ts";
import { errorFields, type Logger } from "./logger.ts";

export type AuditDetails = Readonly<Record<string, DetailValue>>;

/** Who did what, for one request. */
export interface AuditSubject {
  readonly partner: string | null;
  readonly action: string;
  readonly requestId: string;
}

export class ServiceAudit {
  constructor(
    readonly log: AuditLog,
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** Appends one entry; any failure becomes `AuditUnavailableError` (the cause goes to the operator log). */
  append(
    subject: AuditSubject,
    decision: "accepted" | "refused" | "failed",
    details?: AuditDetails,
  ): AuditReceipt {
    try {
      return this.log.append({ ...subject, decision, ...(details === undefined ? {} : { details }) });
    } catch (error) {
      this.logger.error({ err: errorFields(error), action: subject.action }, "audit log write failed");
      throw new AuditUnavailableError(error);
    }
  }

  /**
   * Runs `decision` inside a transaction together with its "accepted" entry. If `decision` throws an
   * `ZktallyError`, the refusal is logged (in its own transaction) and the error rethrown.
   */
  decide<T>(subject: AuditSubject, decision: () => { result: T; details?: AuditDetails }): T {
    try {
      return this.db.transaction(() => {
        const { result, details } = decision();
        this.append(subject, "accepted", details);
        return result;
      })();
    } catch (error) {
      this.recordRefusal(subject, error);
      throw error;
    }
  }

  /** Logs a `ZktallyError` refusal (other errors are failures the caller logs with its own context). */
  recordRefusal(subject: AuditSubject, error: unknown, details: AuditDetails = {}): void {
    if (!isZktallyError(error) || error instanceof AuditUnavailableError) return;
    this.append(subject, "refused", { ...details, kind: error.kind, code: error.code });
  }
}
