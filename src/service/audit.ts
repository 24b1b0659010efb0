/**
 * @module service/audit
 *
 * How the service records decisions in the audit log (src/audit): `decide` runs a decision and appends its
 * "accepted" entry in ONE SQLite transaction, so either both happen or neither does; a refusal (`ZktallyError`)
 * is appended as "refused" with its error code; if the log cannot be written at all, the request is answered
 * `503 audit_unavailable` and nothing it asked for happens.
 *
 * Volume: the log records decisions, not traffic. Reads (job status, bundle downloads, receipts) are not
 * audited (the answer itself is: `query.answer` carries the bundle hash). Identical refusals (same partner,
 * action and code) are appended at most once per `refusalWindowMs`; the first refusal after a window carries
 * `suppressed`, the number of identical refusals dropped since the last entry. Keys are bounded: partner ids
 * are registered partners or null, actions and codes are fixed sets.
 *
 * What is logged per request: partner (client id or null), action (e.g. `query.submit`), decision, the
 * request id the client saw in `X-Request-Id`, and public details (job id, dataset id and epoch, query hash,
 * nonce, bundle hash, error codes). Never secrets, tokens, records or answers' private inputs; the audit
 * module itself refuses secret-looking fields.
 */
import type { AuditLog, LogKeyRotated } from "../audit/log.ts";
import { readLatestHead, readRawEntries, readRawHeads } from "../audit/store.ts";
import type { AuditReceipt, DetailValue } from "../audit/types.ts";
import { type LogVerification, verifyAuditLog } from "../audit/verify.ts";
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

export interface ServiceAuditOptions {
  /** Identical refusals within this many ms after an audited one are counted, not appended (0: append all). */
  readonly refusalWindowMs?: number;
  readonly now?: () => number;
}

/** Windows are pruned once this many refusal keys are tracked (only expired ones are dropped). */
const MAX_TRACKED_REFUSALS = 10_000;

export class ServiceAudit {
  /** Per refusal key: until when identical refusals are only counted, and how many were. */
  private readonly refusalWindows = new Map<string, { until: number; suppressed: number }>();
  private readonly refusalWindowMs: number;
  private readonly now: () => number;

  constructor(
    readonly log: AuditLog,
    private readonly db: Db,
    private readonly logger: Logger,
    options: ServiceAuditOptions = {},
  ) {
    this.refusalWindowMs = options.refusalWindowMs ?? 0;
    this.now = options.now ?? Date.now;
  }

  /** Appends one entry; any failure becomes `AuditUnavailableError` (the cause goes to the operator log). */
  append(
    subject: AuditSubject,
    decision: "accepted" | "refused" | "failed",
    details?: AuditDetails,
  ): AuditReceipt {
    try {
      return this.log.append({ ...subject, decision, ...(details === undefined ? {} : { details }) });
    } catch (error) {
      throw this.unavailable(error, subject);
    }
  }

  /**
   * Rotates the log's signing key (`AuditLog.rotateKey`, audit/log-keys); `within` runs in its transaction.
   * A failed write is `AuditUnavailableError`, as for `append`; a `ZktallyError` from `within` passes through.
   */
  rotateKey(subject: AuditSubject, signer: { secretKey: Uint8Array }, within: () => void): LogKeyRotated {
    try {
      return this.log.rotateKey(signer, subject, within);
    } catch (error) {
      if (isZktallyError(error)) throw error;
      throw this.unavailable(error, subject);
    }
  }

  private unavailable(error: unknown, subject: AuditSubject): AuditUnavailableError {
    this.logger.error({ err: errorFields(error), action: subject.action }, "audit log write failed");
    return new AuditUnavailableError(error);
  }

  /**
   * Runs `decision` inside a transaction together with its "accepted" entry (one per element when `details`
   * is a list: a pass of Q queries is Q entries). If `decision` throws an `ZktallyError`, the refusal is
   * logged (in its own transaction) and the error rethrown.
   */
  decide<T>(
    subject: AuditSubject,
    decision: () => { result: T; details?: AuditDetails | readonly AuditDetails[] },
  ): T {
    try {
      return this.db.transaction(() => {
        const { result, details } = decision();
        const entries = Array.isArray(details) ? details : [details as AuditDetails | undefined];
        for (const entry of entries) this.append(subject, "accepted", entry);
        return result;
      })();
    } catch (error) {
      this.recordRefusal(subject, error);
      throw error;
    }
  }

  /**
   * Logs a `ZktallyError` refusal, at most once per window per (partner, action, code); other errors are
   * failures the caller logs with its own context.
   */
  recordRefusal(subject: AuditSubject, error: unknown, details: AuditDetails = {}): void {
    if (!isZktallyError(error) || error instanceof AuditUnavailableError) return;
    const key = JSON.stringify([subject.partner, subject.action, error.code]);
    const now = this.now();
    const window = this.refusalWindows.get(key);
    if (window !== undefined && now < window.until) {
      window.suppressed++;
      return;
    }
    const suppressed = window?.suppressed ?? 0;
    this.append(subject, "refused", {
      ...details,
      kind: error.kind,
      code: error.code,
      ...(suppressed > 0 ? { suppressed } : {}),
    });
    if (this.refusalWindowMs > 0) {
      if (this.refusalWindows.size >= MAX_TRACKED_REFUSALS) this.pruneRefusalWindows(now);
      this.refusalWindows.set(key, { until: now + this.refusalWindowMs, suppressed: 0 });
    }
  }

  private pruneRefusalWindows(now: number): void {
    for (const [key, window] of this.refusalWindows) {
      if (window.until <= now) this.refusalWindows.delete(key);
    }
  }
}

/**
 * Replays the stored log against its signed heads from the log's first key, following its key rotations
 * (audit/log-keys); the chain must end at the key the service signs with, and so must the latest head, so
 * a database re-signed under another first key cannot pass for this service's log.
 */
export function verifyStoredLog(db: Db, log: AuditLog): LogVerification {
  const result = verifyAuditLog(readRawEntries(db), readRawHeads(db), log.firstLogKey);
  if (!result.ok) return result;
  const latest = readLatestHead(db);
  if (result.logKey === log.logKey && (latest === undefined || latest.logKey === log.logKey)) return result;
  return {
    ok: false,
    index: Math.max(0, result.treeSize - 1),
    reason: `the log's key chain ends at ${result.logKey} (latest head signed by ${latest?.logKey ?? "none"}), but the service signs with ${log.logKey}`,
  };
}
