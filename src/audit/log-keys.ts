/**
 * @module audit/log-keys
 *
 * Audit log signing key rotation (docs/audit.md, "Log key rotation"). A rotation is an entry of the log
 * itself (action `admin.keys.rotate-log`, decision `accepted`) whose details name the old and the new key and
 * carry the old key's Ed25519 signature over the canonical JSON of
 * `{index, newLogKey, oldLogKey, type: "zktally.log-key-rotation/v1"}`. The entry at index `i` is covered by
 * a head of size `i + 1` signed by the old key, then the log signs a head of the same size with the new key;
 * from then on only the new key signs.
 *
 * So each key is in force for a range of tree sizes: the first (pinned) key from 0, every later key from the
 * size that includes the rotation naming it; a key stops at the size that includes the rotation away from it.
 * `logKeySchedule` walks the entries from the pinned first key and returns these spans; `headKeyProblem`
 * says why a head's key is not in force for its size (never announced, or retired). The statement text and
 * the span rules live in audit/types, which the browser-safe SDK shares (verifier/log-key-chain checks a
 * receipt's head against the rotations `GET /v1/transparency/log-keys` serves).
 *
 * Security caveats: a rotation must be signed by the key in force, so nobody without that key can announce
 * another one; a leaked retired key cannot sign heads beyond its span (they are rejected). Keys are never
 * reused (a rotation back to an earlier key is invalid). The signed statement binds the entry index, so a
 * rotation cannot be replayed at another position. Verifiers must pin the log's FIRST key: a chain is only
 * followed forward from it.
 */
import { type LogKeyPair, normaliseLogKey, signBytes, verifySignature } from "./sth.ts";
import type { RawEntryRow } from "./store.ts";
import {
  type AuditEntry,
  type AuditEvent,
  headKeyProblem,
  LOG_KEY_ROTATION_TYPE,
  type LogKeyRotation,
  type LogKeySpan,
  logKeyRotationProblem,
  logKeyRotationSigningText,
  parseEntryText,
  type SignedLogKeyRotation,
  type StoredEntry,
  spansAfterRotation,
} from "./types.ts";

export {
  headKeyProblem,
  LOG_KEY_ROTATION_TYPE,
  type LogKeyRotation,
  type LogKeySpan,
  type SignedLogKeyRotation,
};

/** The audit action of a log key rotation (also the admin action that requests one). */
export const LOG_KEY_ROTATION_ACTION = "admin.keys.rotate-log";
/** Canonical JSON puts `"action":"..."` verbatim in every entry: a cheap filter before parsing. */
const ROTATION_MARK = `"action":${JSON.stringify(LOG_KEY_ROTATION_ACTION)}`;

export interface LogKeySchedule {
  readonly spans: readonly LogKeySpan[];
  /** The valid rotations, oldest first, with their signatures (what GET /v1/transparency/log-keys serves). */
  readonly rotations: readonly SignedLogKeyRotation[];
  /** The first invalid rotation entry; the spans stop before it. */
  readonly failure?: { readonly index: number; readonly reason: string };
}

function statementBytes(rotation: LogKeyRotation): Buffer {
  return Buffer.from(logKeyRotationSigningText(rotation), "utf8");
}

function verifyText(logKey: string, text: string, signature: string): boolean {
  return verifySignature(logKey, Buffer.from(text, "utf8"), signature);
}

/** The event that rotates from `current` to `newLogKey` as entry `index`, signed by `current`. */
export function rotationEvent(
  current: LogKeyPair,
  newLogKey: string,
  index: number,
  subject: { readonly partner: string | null; readonly requestId: string },
): AuditEvent {
  const rotation = { index, oldLogKey: current.logKey, newLogKey };
  return {
    partner: subject.partner,
    action: LOG_KEY_ROTATION_ACTION,
    decision: "accepted",
    requestId: subject.requestId,
    details: {
      oldLogKey: current.logKey,
      newLogKey,
      signature: signBytes(statementBytes(rotation), current),
    },
  };
}

/** The rotation an entry records, undefined for any other entry; a reason string when it is malformed. */
function rotationOf(entry: AuditEntry): SignedLogKeyRotation | string | undefined {
  if (entry.action !== LOG_KEY_ROTATION_ACTION || entry.decision !== "accepted") return undefined;
  const { oldLogKey, newLogKey, signature } = entry.details ?? {};
  if (typeof oldLogKey !== "string" || typeof newLogKey !== "string" || typeof signature !== "string") {
    return "lacks oldLogKey, newLogKey or signature";
  }
  try {
    normaliseLogKey(newLogKey);
  } catch {
    return "names a malformed new log key";
  }
  if (newLogKey !== newLogKey.toLowerCase()) return "names a new log key that is not lowercase hex";
  return { index: entry.index, oldLogKey, newLogKey, signature };
}

/**
 * The key spans of a log from its pinned first key, read from its rotation entries. Entries that do not
 * parse are skipped here (the replay in audit/verify reports them); an invalid rotation stops the schedule.
 */
export function logKeySchedule(
  entries: readonly (StoredEntry | RawEntryRow | { readonly entry: unknown })[],
  firstKey: string,
): LogKeySchedule {
  let spans: LogKeySpan[] = [{ logKey: normaliseLogKey(firstKey), fromSize: 0 }];
  const rotations: SignedLogKeyRotation[] = [];
  for (const row of entries) {
    const text = (row as { entry?: unknown } | null)?.entry;
    if (typeof text !== "string" || !text.includes(ROTATION_MARK)) continue;
    let entry: AuditEntry;
    try {
      entry = parseEntryText(text);
    } catch {
      continue;
    }
    const found = rotationOf(entry);
    if (found === undefined) continue;
    const reason = typeof found === "string" ? found : logKeyRotationProblem(found, spans, verifyText);
    if (reason !== undefined) {
      return {
        spans,
        rotations,
        failure: { index: entry.index, reason: `entry ${entry.index} is a log key rotation that ${reason}` },
      };
    }
    const rotation = found as SignedLogKeyRotation;
    spans = spansAfterRotation(spans, rotation);
    rotations.push(rotation);
  }
  return { spans, rotations };
}
