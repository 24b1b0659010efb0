/**
 * @module verifier/key-chain
 *
 * Operator key rotation and revocation (design.md section 5, key statements), browser-safe. Partners pin
 * one operator key; `resolveKeyChain(pinned, statements)` follows rotation statements (each signed by the
 * key it retires) to the keys the operator moved to, and collects revocations (signed by another accepted,
 * key, fail closed) with the audit-log size at revocation (the earliest when revoked more than once). `checkManifestKey` then says whether a manifest's
 * signing key is accepted: a rotated-away key still is (for what it signed), a revoked key only for
 * manifests proven, by an audit-log receipt, to have been logged at an index below the revocation's log size
 * (a timestamp the key signs could be forged; a log position cannot). The receipt's head must be signed by a
 * log key in force for its size: the pinned FIRST log key, or a key its rotations reach (`logKeyRotations`,
 * as `GET /v1/transparency/log-keys` serves them; verifier/log-key-chain), so receipts fetched after an
 * audit-log key rotation verify from the pinned key too.
 *
 * Security caveats: this checks which key may have signed; the manifest's own signature is checked by the
 * bundle verifier with the key named here. Statements are parsed strictly and verified in strict RFC 8032
 * mode; unknown statement types are refused, not skipped.
 */
import { utf8ToBytes } from "@noble/hashes/utils.js";
import { fromHex, leafHash, verifyInclusion } from "../audit/merkle.ts";
import { headKeyProblem, parseEntry, parseTreeHead, treeHeadSigningText } from "../audit/types.ts";
import { HEX32 } from "../core/formats.ts";
import { type AnyManifest, manifestHash } from "../dataset/manifest.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { readJsonInput } from "./bundle.ts";
import { VerifierInputError } from "./errors.ts";
import { ed25519Verifies, type LogKeyChain, resolveLogKeyChain } from "./log-key-chain.ts";

export const ROTATION_TYPE = "zktally-key-rotation/v1";
export const REVOCATION_TYPE = "zktally-key-revocation/v1";

export interface KeyRotation {
  readonly type: typeof ROTATION_TYPE;
  readonly oldKey: string;
  readonly newKey: string;
  readonly createdAt: string;
  readonly signature: string;
}

export interface KeyRevocation {
  readonly type: typeof REVOCATION_TYPE;
  readonly key: string;
  readonly revokedAtLogSize: number;
  readonly createdAt: string;
  readonly signerKey: string;
  readonly signature: string;
}

export type KeyStatement = KeyRotation | KeyRevocation;

export interface KeyChain {
  readonly pinned: string;
  /** Keys manifests may be signed with (the pinned one first). */
  readonly keys: readonly string[];
  /** Revoked keys and the audit-log size at revocation. */
  readonly revoked: ReadonlyMap<string, number>;
}

export type KeyCheck =
  | { readonly ok: true; readonly key: string }
  | { readonly ok: false; readonly reason: string };

const HEX64 = /^[0-9a-f]{128}$/;

/** The bytes a key statement's signature covers: its canonical JSON without `signature`. */
export function keyStatementSigningBytes(statement: Omit<KeyStatement, "signature">): Uint8Array {
  return utf8ToBytes(canonicalJson(statement));
}

/** Parses a key-chain file: `{"statements": [...]}` or an array of statements. */
export function parseKeyStatements(input: unknown): KeyStatement[] {
  const value = readJsonInput(input, "keyChain");
  const list = Array.isArray(value) ? value : (value as { statements?: unknown } | null)?.statements;
  if (!Array.isArray(list))
    throw new VerifierInputError("keyChain", "expected {statements: [...]} or an array");
  return list.map((item, index) => parseStatement(item, `keyChain.statements[${index}]`));
}

function parseStatement(item: unknown, at: string): KeyStatement {
  const value = item as Record<string, unknown> | null;
  const fail = (field: string, reason: string) => new VerifierInputError(`${at}.${field}`, reason);
  if (typeof value !== "object" || value === null) throw new VerifierInputError(at, "expected an object");
  const hex32 = (field: string) => {
    if (typeof value[field] !== "string" || !HEX32.test(value[field] as string))
      throw fail(field, "expected 32 bytes of lowercase hex");
  };
  const fields = (expected: string[]) => {
    const got = Object.keys(value).sort().join(",");
    if (got !== [...expected].sort().join(","))
      throw new VerifierInputError(at, `fields must be ${expected.join(", ")}`);
  };
  if (typeof value.signature !== "string" || !HEX64.test(value.signature))
    throw fail("signature", "expected 64 bytes of lowercase hex");
  if (typeof value.createdAt !== "string") throw fail("createdAt", "expected an ISO-8601 time");
  if (value.type === ROTATION_TYPE) {
    fields(["type", "oldKey", "newKey", "createdAt", "signature"]);
    hex32("oldKey");
    hex32("newKey");
    return value as unknown as KeyRotation;
  }
  if (value.type === REVOCATION_TYPE) {
    fields(["type", "key", "revokedAtLogSize", "createdAt", "signerKey", "signature"]);
    hex32("key");
    hex32("signerKey");
    const size = value.revokedAtLogSize;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
      throw fail("revokedAtLogSize", "expected a count");
    return value as unknown as KeyRevocation;
  }
  throw fail("type", `expected ${ROTATION_TYPE} or ${REVOCATION_TYPE}`);
}

function signedBy(statement: KeyStatement, key: string): boolean {
  const { signature, ...body } = statement;
  return ed25519Verifies(key, keyStatementSigningBytes(body), signature);
}

/** Follows rotations from the pinned key and collects valid revocations (statements in any order). */
export function resolveKeyChain(pinnedKey: string, input: unknown): KeyChain {
  const pinned = pinnedKey.toLowerCase();
  const statements = parseKeyStatements(input);
  const keys = [pinned];
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of statements) {
      if (s.type !== ROTATION_TYPE || keys.includes(s.newKey) || !keys.includes(s.oldKey)) continue;
      if (!signedBy(s, s.oldKey)) continue;
      keys.push(s.newKey);
      grew = true;
    }
  }
  const revoked = new Map<string, number>();
  const revocations = statements.filter((s): s is KeyRevocation => s.type === REVOCATION_TYPE);
  for (const r of revocations) {
    // Fail closed: any accepted key (the revoked one included) may revoke; a compromised key revoking a good
    // one can deny service, never make a forgery verify.
    if (!keys.includes(r.signerKey) || !keys.includes(r.key)) continue;
    if (!signedBy(r, r.signerKey)) continue;
    const earlier = revoked.get(r.key);
    revoked.set(r.key, earlier === undefined ? r.revokedAtLogSize : Math.min(earlier, r.revokedAtLogSize));
  }
  return { pinned, keys, revoked };
}

/** How a manifest receipt is checked: the log's pinned first key and, after rotations, its key chain. */
export interface ReceiptOptions {
  /** An audit-log receipt whose entry names the manifest's hash. */
  readonly receipt?: unknown;
  /** The audit log's pinned FIRST key (hex). */
  readonly logKey?: string;
  /** The log key rotations (`GET /v1/transparency/log-keys` or its `rotations` array); none: no rotation. */
  readonly logKeyRotations?: unknown;
}

/**
 * Whether `manifest`'s operator key is accepted under `chain`; for a revoked key, `receipt` (an audit-log
 * receipt whose entry names the manifest's hash) must prove it was logged before the revocation.
 */
export function checkManifestKey(
  manifest: AnyManifest,
  chain: KeyChain,
  options: ReceiptOptions = {},
): KeyCheck {
  const key = manifest.operatorKey;
  if (!chain.keys.includes(key))
    return { ok: false, reason: `operator key ${key.slice(0, 16)}… is not reached from the pinned key` };
  const revokedAt = chain.revoked.get(key);
  if (revokedAt === undefined) return { ok: true, key };
  if (options.receipt === undefined || options.logKey === undefined) {
    return {
      ok: false,
      reason: `operator key ${key.slice(0, 16)}… is revoked; a receipt that the manifest was logged before log size ${revokedAt} is needed`,
    };
  }
  const logChain = resolveLogKeyChain(options.logKey, options.logKeyRotations);
  if (!logChain.ok) return { ok: false, reason: `revoked operator key: ${logChain.reason}` };
  const rotationsGiven = options.logKeyRotations !== undefined;
  const logged = loggedIndex(options.receipt, logChain.chain, manifestHash(manifest), rotationsGiven);
  if (!logged.ok) return { ok: false, reason: `revoked operator key: ${logged.reason}` };
  if (logged.index >= revokedAt) {
    return {
      ok: false,
      reason: `revoked operator key: the manifest was logged at index ${logged.index}, after the revocation at log size ${revokedAt}`,
    };
  }
  return { ok: true, key };
}

/**
 * Verifies an audit receipt (head key in force for its size under `logChain`, head signature, inclusion)
 * naming `hash`; returns the entry's index.
 */
function loggedIndex(
  receiptInput: unknown,
  logChain: LogKeyChain,
  hash: string,
  rotationsGiven: boolean,
): { ok: true; index: number } | { ok: false; reason: string } {
  const receipt = readJsonInput(receiptInput, "receipt") as Record<string, unknown> | null;
  try {
    const head = parseTreeHead(receipt?.treeHead);
    const keyProblem = headKeyProblem(head, logChain.spans);
    if (keyProblem !== undefined) {
      const hint = rotationsGiven
        ? ""
        : " (after an audit-log key rotation, pass the log key rotations: GET /v1/transparency/log-keys)";
      return { ok: false, reason: `the receipt's tree head ${keyProblem}${hint}` };
    }
    const { signature, ...unsigned } = head;
    if (!ed25519Verifies(head.logKey, utf8ToBytes(treeHeadSigningText(unsigned)), signature)) {
      return { ok: false, reason: "the receipt's tree head signature does not verify" };
    }
    const entry = parseEntry(receipt?.entry);
    if (entry.details?.manifestHash !== hash)
      return { ok: false, reason: "the receipt's entry does not name this manifest" };
    const proof = (receipt?.inclusion as unknown[] | undefined)?.map((item) => fromHex(item));
    const root = fromHex(head.rootHash);
    if (!proof || proof.some((item) => item === undefined) || root === undefined)
      return { ok: false, reason: "malformed inclusion proof" };
    const leaf = leafHash(utf8ToBytes(canonicalJson(entry)));
    if (!verifyInclusion(leaf, entry.index, head.treeSize, proof as Uint8Array[], root)) {
      return { ok: false, reason: "the inclusion proof does not lead to the signed root" };
    }
    return { ok: true, index: entry.index };
  } catch (error) {
    return { ok: false, reason: `malformed receipt (${(error as Error).message})` };
  }
}
