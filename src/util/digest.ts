/**
 * @module util/digest
 *
 * The one definition of zktally's content digests, browser-safe (@noble/hashes, no `node:` import):
 * `sha256Hex` of bytes or a UTF-8 string, and `canonicalJsonSha256`, the SHA-256 of a value's canonical JSON
 * (design.md section 6), which identifies schemas, manifests, queries, bundles and verification keys.
 *
 * Security caveat: the pure-JS hash is about 20x slower than OpenSSL; multi-megabyte artifacts (zkeys, wasm,
 * ptau files) on the operator side are hashed with `storage/file-digest` instead.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { canonicalJson } from "./canonical-json.ts";

/** Lowercase hex SHA-256 of bytes, or of a string's UTF-8 encoding. */
export function sha256Hex(data: Uint8Array | string): string {
  return bytesToHex(sha256(typeof data === "string" ? utf8ToBytes(data) : data));
}

/** Lowercase hex SHA-256 of `canonicalJson(value)`; throws `TypeError` where canonical JSON does. */
export function canonicalJsonSha256(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
