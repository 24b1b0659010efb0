/**
 * @module verifier/log-key-chain
 *
 * Audit-log key rotations for the browser-safe SDK (docs/audit.md section 3a). The log signs its heads with
 * one key at a time; a rotation is an entry of the log whose statement the old key signs, naming the new key
 * and binding the entry index. `resolveLogKeyChain(firstLogKey, rotations)` follows the rotations served by
 * `GET /v1/transparency/log-keys` from the log's pinned FIRST key and returns each key's span of tree sizes;
 * `headKeyProblem(head, chain.spans)` (audit/types) then says whether a receipt's head was signed by a key in
 * force for its size. So a receipt fetched after a rotation (signed by the newer key) verifies from the key
 * partners pinned, and one signed by a key nobody announced, or by a retired key beyond its span, does not.
 *
 * Security caveats: the chain fails closed: any rotation that does not follow (wrong old key, a reused key,
 * a bad signature, a served `firstLogKey` other than the pinned one) rejects the whole chain, with the reason.
 * A rotation statement proves only that the key in force announced its successor; a retired key that leaked
 * can still sign heads within its own span (as for the audit log itself), never beyond it. Signatures are
 * verified in strict RFC 8032 mode with @noble/curves (no node:crypto here).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import {
  type LogKeySpan,
  logKeyRotationProblem,
  type SignedLogKeyRotation,
  spansAfterRotation,
} from "../audit/types.ts";
import { HEX32 } from "../core/formats.ts";
import { readJsonInput } from "./bundle.ts";
import { VerifierInputError } from "./errors.ts";

/** The log's keys from its pinned first key: each key's span of tree sizes, oldest first. */
export interface LogKeyChain {
  readonly firstLogKey: string;
  readonly spans: readonly LogKeySpan[];
}

export type LogKeyChainResult =
  | { readonly ok: true; readonly chain: LogKeyChain }
  | { readonly ok: false; readonly reason: string };

const HEX64 = /^[0-9a-f]{128}$/;
const ROTATION_FIELDS = "index,newLogKey,oldLogKey,signature";

/** Strict RFC 8032 Ed25519 verification of `message` under a hex key; false (never throws) when invalid. */
export function ed25519Verifies(publicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    return ed25519.verify(hexToBytes(signature), message, hexToBytes(publicKey), { zip215: false });
  } catch {
    return false;
  }
}

/**
 * Parses the log key rotations: the `GET /v1/transparency/log-keys` answer (`{firstLogKey, logKey,
 * rotations: [...]}`) or an array of rotations `{index, oldLogKey, newLogKey, signature}`.
 */
export function parseLogKeyRotations(input: unknown): {
  readonly firstLogKey?: string;
  readonly rotations: SignedLogKeyRotation[];
} {
  const value = readJsonInput(input, "logKeyChain");
  const served = Array.isArray(value) ? undefined : (value as Record<string, unknown> | null);
  const list = served === undefined ? value : served?.rotations;
  if (!Array.isArray(list))
    throw new VerifierInputError("logKeyChain", "expected {firstLogKey, rotations: [...]} or an array");
  const first = served?.firstLogKey;
  if (first !== undefined && (typeof first !== "string" || !HEX32.test(first)))
    throw new VerifierInputError("logKeyChain.firstLogKey", "expected 32 bytes of lowercase hex");
  const rotations = list.map((item, i) => parseRotation(item, `logKeyChain.rotations[${i}]`));
  return first === undefined ? { rotations } : { firstLogKey: first as string, rotations };
}

function parseRotation(item: unknown, at: string): SignedLogKeyRotation {
  const value = item as Record<string, unknown> | null;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new VerifierInputError(at, "expected an object");
  if (Object.keys(value).sort().join(",") !== ROTATION_FIELDS)
    throw new VerifierInputError(at, "fields must be index, oldLogKey, newLogKey, signature");
  const { index, oldLogKey, newLogKey, signature } = value;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0)
    throw new VerifierInputError(`${at}.index`, "expected an entry index");
  for (const [field, key] of [
    ["oldLogKey", oldLogKey],
    ["newLogKey", newLogKey],
  ] as const) {
    if (typeof key !== "string" || !HEX32.test(key))
      throw new VerifierInputError(`${at}.${field}`, "expected 32 bytes of lowercase hex");
  }
  if (typeof signature !== "string" || !HEX64.test(signature))
    throw new VerifierInputError(`${at}.signature`, "expected 64 bytes of lowercase hex");
  return value as unknown as SignedLogKeyRotation;
}

function verifyText(logKey: string, text: string, signature: string): boolean {
  return ed25519Verifies(logKey, utf8ToBytes(text), signature);
}

/**
 * Follows the log key rotations (`input`, optional: none means the first key is still in force) from the
 * pinned first log key. Malformed input throws {@link VerifierInputError}; a rotation that does not follow
 * is `{ok: false, reason}`.
 */
export function resolveLogKeyChain(firstLogKey: string, input?: unknown): LogKeyChainResult {
  const pinned = typeof firstLogKey === "string" ? firstLogKey.toLowerCase() : "";
  if (!HEX32.test(pinned)) throw new VerifierInputError("logKey", "expected 32 bytes of hex (Ed25519)");
  const parsed = input === undefined ? { rotations: [] } : parseLogKeyRotations(input);
  if (parsed.firstLogKey !== undefined && parsed.firstLogKey !== pinned) {
    return {
      ok: false,
      reason: `the log key chain starts from ${parsed.firstLogKey.slice(0, 16)}…, not from the pinned first log key ${pinned.slice(0, 16)}…`,
    };
  }
  let spans: LogKeySpan[] = [{ logKey: pinned, fromSize: 0 }];
  for (const rotation of [...parsed.rotations].sort((a, b) => a.index - b.index)) {
    const problem = logKeyRotationProblem(rotation, spans, verifyText);
    if (problem !== undefined) {
      return { ok: false, reason: `the log key rotation at entry ${rotation.index} ${problem}` };
    }
    spans = spansAfterRotation(spans, rotation);
  }
  return { ok: true, chain: { firstLogKey: pinned, spans } };
}
