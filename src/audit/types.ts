/**
 * @module audit/types
 *
 * The audit log's data types and their strict validators: the event a caller appends, the entry the log
 * stores (event + index + timestamp, serialised as canonical JSON), signed tree heads and receipts, and the
 * log key rotation statements and key spans (audit/log-keys), which the browser-safe SDK checks too.
 *
 * Security caveats: the log is append-only and readable by auditors, and receipts travel to partners, so
 * nothing secret may ever enter it. `validateEvent` refuses detail fields whose *names* look like secrets
 * (secret, salt, witness, token, password, private key, credential, cookie, ...) and string values shaped
 * like bearer tokens, JWTs or PEM keys; it cannot recognise a secret under an innocent name, so callers
 * still decide what they log. Request ids should be unguessable: inclusion proofs hand out hashes of other
 * entries, and a guessable entry could be confirmed against its hash.
 */

import { HEX32, lowerHexPattern } from "../core/formats.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { IntegrityError, type ZktallyErrorOptions } from "../util/errors.ts";

export const DECISIONS = ["accepted", "refused", "failed"] as const;
export type AuditDecision = (typeof DECISIONS)[number];

export type DetailValue = string | number | boolean | null;

/** What a caller appends. */
export interface AuditEvent {
  readonly partner: string | null;
  readonly action: string;
  readonly decision: AuditDecision;
  readonly requestId: string;
  readonly details?: Readonly<Record<string, DetailValue>>;
}

/** What the log stores: the event plus its position and the log's clock (ms since the Unix epoch). */
export interface AuditEntry extends AuditEvent {
  readonly index: number;
  readonly timestamp: number;
}

/** One stored row: `entry` is the exact canonical JSON text whose UTF-8 bytes are hashed into the leaf. */
export interface StoredEntry {
  readonly index: number;
  readonly entry: string;
  /** Hex SHA-256(0x00 || utf8(entry)). */
  readonly leafHash: string;
}

/** A tree head signed by the log key over the canonical JSON of the other four fields. */
export interface SignedTreeHead {
  readonly treeSize: number;
  /** Hex MTH of the first `treeSize` entries. */
  readonly rootHash: string;
  /** Signing time, ms since the Unix epoch. */
  readonly timestamp: number;
  /** Hex Ed25519 public key of the log. */
  readonly logKey: string;
  /** Hex Ed25519 signature. */
  readonly signature: string;
}

/** Proof that `entry` is leaf `index` of the tree that `treeHead` signs. */
export interface AuditReceipt {
  readonly index: number;
  readonly leafHash: string;
  readonly entry: AuditEntry;
  /** Hex sibling hashes, bottom-up (RFC 6962 PATH). */
  readonly inclusion: string[];
  readonly treeHead: SignedTreeHead;
}

/** A stored entry or tree head is not well formed (corrupted or forged); `field` names the culprit. */
export class AuditFormatError extends IntegrityError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super("audit_format", `${field}: ${reason}`, { path: field });
  }
}

/** The stored log contradicts itself or its signed heads; the log refuses to extend or prove it. */
export class AuditIntegrityError extends IntegrityError {
  constructor(message: string, options: ZktallyErrorOptions = {}) {
    super("audit_integrity", message, options);
  }
}

const MAX_TEXT = 128;
const MAX_DETAIL_TEXT = 1024;
const MAX_DETAILS = 64;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
/** Field names that must never be logged (compared without case, separators ignored). */
const SECRET_NAME =
  /secret|salt|witness|token|passw|passphrase|private|credential|apikey|authorization|cookie|seed|mnemonic/;
const SECRET_VALUE = [
  /^bearer\s/i, // an Authorization header
  /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/, // a JWT / JWS compact serialisation
  /-----BEGIN [A-Z ]*(PRIVATE KEY|SECRET)/, // PEM
];
const HEX64 = lowerHexPattern(64);

/** Validates an event before it is appended; throws TypeError naming the offending field. */
export function validateEvent(event: unknown): AuditEvent {
  if (!isPlainObject(event)) throw new TypeError("audit event must be a plain object");
  const allowed = new Set(["partner", "action", "decision", "requestId", "details"]);
  for (const key of Object.keys(event)) {
    if (!allowed.has(key)) throw new TypeError(`audit event: unexpected field ${JSON.stringify(key)}`);
  }
  const { partner, action, decision, requestId, details } = event;
  if (partner !== null) checkText(partner, "partner", MAX_TEXT);
  checkText(action, "action", MAX_TEXT);
  checkText(requestId, "requestId", MAX_TEXT);
  if (typeof decision !== "string" || !(DECISIONS as readonly string[]).includes(decision)) {
    throw new TypeError(`audit event: decision must be one of ${DECISIONS.join(", ")}`);
  }
  const base = { partner, action, decision, requestId } as AuditEvent;
  if (details === undefined) return base;
  return { ...base, details: validateDetails(details) };
}

/** True when a field name looks like it holds a secret. */
export function looksSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[^a-z0-9]/g, ""));
}

/** Parses and strictly checks stored entry text (canonical JSON of an `AuditEntry`). */
export function parseEntryText(text: unknown): AuditEntry {
  if (typeof text !== "string") throw new AuditFormatError("entry", "is not text");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AuditFormatError("entry", "is not valid JSON");
  }
  const entry = parseEntry(value);
  if (canonicalJson(entry) !== text) throw new AuditFormatError("entry", "is not in canonical JSON form");
  return entry;
}

/** Strictly checks a parsed entry object (as carried in a receipt). */
export function parseEntry(value: unknown): AuditEntry {
  if (!isPlainObject(value)) throw new AuditFormatError("entry", "is not an object");
  const { index, timestamp, ...event } = value;
  if (!isCount(index)) throw new AuditFormatError("entry.index", "is not a non-negative integer");
  if (!isCount(timestamp)) throw new AuditFormatError("entry.timestamp", "is not a non-negative integer");
  try {
    return { index, timestamp, ...validateEvent(event) };
  } catch (error) {
    throw new AuditFormatError("entry", (error as Error).message);
  }
}

/** The canonical JSON text of an entry: exactly the bytes its leaf hash covers. */
export function entryText(entry: AuditEntry): string {
  return canonicalJson(entry);
}

/** The canonical JSON text a tree head's signature covers (everything but `signature`). */
export function treeHeadSigningText(unsigned: Omit<SignedTreeHead, "signature">): string {
  return canonicalJson({
    logKey: unsigned.logKey,
    rootHash: unsigned.rootHash,
    timestamp: unsigned.timestamp,
    treeSize: unsigned.treeSize,
  });
}

/** The type tag inside a log key rotation statement (audit/log-keys). */
export const LOG_KEY_ROTATION_TYPE = "zktally.log-key-rotation/v1";

/** A log key rotation as recorded by entry `index`. */
export interface LogKeyRotation {
  readonly index: number;
  readonly oldLogKey: string;
  readonly newLogKey: string;
}

/** A rotation with the old key's Ed25519 signature over {@link logKeyRotationSigningText}. */
export interface SignedLogKeyRotation extends LogKeyRotation {
  readonly signature: string;
}

/** A key and the tree sizes whose heads it may sign (`toSize` inclusive; undefined: still in force). */
export interface LogKeySpan {
  readonly logKey: string;
  readonly fromSize: number;
  readonly toSize?: number;
}

/** The canonical JSON text a rotation's signature covers (it binds the entry index: no replay elsewhere). */
export function logKeyRotationSigningText(rotation: LogKeyRotation): string {
  const { index, newLogKey, oldLogKey } = rotation;
  return canonicalJson({ index, newLogKey, oldLogKey, type: LOG_KEY_ROTATION_TYPE });
}

/**
 * Why `rotation` cannot extend `spans` (undefined: it can): it must rotate away from the key in force, name
 * a key never used before and carry the key in force's signature (`verify` checks one: node:crypto for the
 * operator, @noble in the browser-safe SDK).
 */
export function logKeyRotationProblem(
  rotation: SignedLogKeyRotation,
  spans: readonly LogKeySpan[],
  verify: (logKey: string, text: string, signature: string) => boolean,
): string | undefined {
  const current = (spans.at(-1) as LogKeySpan).logKey;
  if (rotation.oldLogKey !== current) {
    return `rotates away from ${shortKey(rotation.oldLogKey)}, but the key in force is ${shortKey(current)} (pin the log's first key)`;
  }
  if (spans.some((span) => span.logKey === rotation.newLogKey)) {
    return `names ${shortKey(rotation.newLogKey)}, a key the log already used (keys are never reused)`;
  }
  if (!verify(current, logKeyRotationSigningText(rotation), rotation.signature)) {
    return `is not signed by the key in force ${shortKey(current)}`;
  }
  return undefined;
}

/** `spans` after a valid `rotation`: the key in force stops at its size, the new key starts there. */
export function spansAfterRotation(spans: readonly LogKeySpan[], rotation: LogKeyRotation): LogKeySpan[] {
  const current = spans.at(-1) as LogKeySpan;
  return [
    ...spans.slice(0, -1),
    { ...current, toSize: rotation.index + 1 },
    { logKey: rotation.newLogKey, fromSize: rotation.index + 1 },
  ];
}

/** Why `head`'s key may not sign a tree of its size under `spans` (undefined: it may). */
export function headKeyProblem(
  head: Pick<SignedTreeHead, "logKey" | "treeSize">,
  spans: readonly LogKeySpan[],
): string | undefined {
  const own = spans.filter((span) => span.logKey === head.logKey);
  if (own.length === 0) {
    return `is signed by another log key ${shortKey(head.logKey)}, which no rotation from the pinned key announces`;
  }
  if (own.some((span) => inSpan(span, head.treeSize))) return undefined;
  const span = own[0] as LogKeySpan;
  return `is signed by log key ${shortKey(head.logKey)}, which is in force only for tree sizes ${span.fromSize} to ${span.toSize ?? "now"}`;
}

function inSpan(span: LogKeySpan, size: number): boolean {
  return size >= span.fromSize && (span.toSize === undefined || size <= span.toSize);
}

/** A key's first 16 hex digits, for messages. */
export function shortKey(key: string): string {
  return `${key.slice(0, 16)}…`;
}

/** Strictly checks a tree head's shape (not its signature). */
export function parseTreeHead(value: unknown, field = "treeHead"): SignedTreeHead {
  if (!isPlainObject(value)) throw new AuditFormatError(field, "is not an object");
  const keys = Object.keys(value).sort().join(",");
  if (keys !== "logKey,rootHash,signature,timestamp,treeSize") {
    throw new AuditFormatError(
      field,
      `has fields ${keys}; expected logKey, rootHash, signature, timestamp, treeSize`,
    );
  }
  const { treeSize, rootHash, timestamp, logKey, signature } = value;
  if (!isCount(treeSize)) throw new AuditFormatError(`${field}.treeSize`, "is not a non-negative integer");
  if (!isCount(timestamp)) throw new AuditFormatError(`${field}.timestamp`, "is not a non-negative integer");
  if (typeof rootHash !== "string" || !HEX32.test(rootHash)) {
    throw new AuditFormatError(`${field}.rootHash`, "is not 32 bytes of lowercase hex");
  }
  if (typeof logKey !== "string" || !HEX32.test(logKey)) {
    throw new AuditFormatError(`${field}.logKey`, "is not 32 bytes of lowercase hex");
  }
  if (typeof signature !== "string" || !HEX64.test(signature)) {
    throw new AuditFormatError(`${field}.signature`, "is not 64 bytes of lowercase hex");
  }
  return { treeSize, rootHash, timestamp, logKey, signature };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function validateDetails(details: unknown): Record<string, DetailValue> {
  if (!isPlainObject(details)) throw new TypeError("audit event: details must be a plain object");
  const entries = Object.entries(details);
  if (entries.length > MAX_DETAILS)
    throw new RangeError(`audit event: details has more than ${MAX_DETAILS} fields`);
  const out: Record<string, DetailValue> = {};
  for (const [key, value] of entries) {
    if (!DETAIL_KEY.test(key))
      throw new TypeError(`audit event: details key ${JSON.stringify(key)} must match ${DETAIL_KEY}`);
    if (looksSecretName(key)) {
      throw new TypeError(
        `audit event: details.${key} looks like a secret; secrets must never enter the audit log`,
      );
    }
    out[key] = checkDetailValue(value, `details.${key}`);
  }
  return out;
}

function checkDetailValue(value: unknown, field: string): DetailValue {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new TypeError(`audit event: ${field} must be a safe integer`);
    return value;
  }
  if (typeof value !== "string")
    throw new TypeError(`audit event: ${field} must be a string, integer, boolean or null`);
  if (value.length > MAX_DETAIL_TEXT)
    throw new RangeError(`audit event: ${field} is longer than ${MAX_DETAIL_TEXT}`);
  if (SECRET_VALUE.some((pattern) => pattern.test(value))) {
    throw new TypeError(
      `audit event: ${field} looks like a credential; secrets must never enter the audit log`,
    );
  }
  return value;
}

function checkText(value: unknown, field: string, max: number): asserts value is string {
  if (typeof value !== "string" || value.length === 0)
    throw new TypeError(`audit event: ${field} must be a non-empty string`);
  if (value.length > max) throw new RangeError(`audit event: ${field} is longer than ${max} characters`);
  if (CONTROL.test(value)) throw new TypeError(`audit event: ${field} contains control characters`);
  if (SECRET_VALUE.some((pattern) => pattern.test(value))) {
    throw new TypeError(
      `audit event: ${field} looks like a credential; secrets must never enter the audit log`,
    );
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
