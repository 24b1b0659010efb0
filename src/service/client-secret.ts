/**
 * @module service/client-secret
 *
 * Partner client secrets: 256-bit random strings shown once at creation or rotation and stored only as
 * scrypt hashes (`scrypt$<logN>$<r>$<p>$<salt b64url>$<hash b64url>`, node:crypto), compared in constant
 * time. Verification against an unknown client runs the same scrypt on a fixed dummy hash, so response time
 * does not tell which client ids exist.
 *
 * Security caveats: scrypt runs on the libuv thread pool (async), so a burst of token requests cannot
 * freeze the event loop, but it still costs CPU and memory: the token endpoint is rate-limited per IP.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const R = 8;
const P = 1;
const HASH_FORMAT = /^scrypt\$(\d{2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/;
/** Client secrets are `zks_` plus 43 base64url characters (32 random bytes). */
export const CLIENT_SECRET_PATTERN = /^zks_[A-Za-z0-9_-]{43}$/;

export function generateClientSecret(): string {
  return `zks_${randomBytes(32).toString("base64url")}`;
}

function derive(secret: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_BYTES, { N, r, p, maxmem: 256 * N * r }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Hashes a client secret for storage. */
export async function hashClientSecret(secret: string, logN: number): Promise<string> {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("client secret must be a non-empty string");
  }
  if (!Number.isInteger(logN) || logN < 12 || logN > 20) throw new RangeError("scrypt logN must be 12..20");
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(secret, salt, logN, R, P);
  return `scrypt$${logN}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

let dummyHash: Promise<string> | undefined;

/**
 * True when `secret` matches `stored`. With `stored` undefined (unknown client) the same work is done on a
 * dummy hash and the result is false. Malformed stored hashes count as a mismatch.
 */
export async function verifyClientSecret(
  secret: string,
  stored: string | undefined,
  logN: number,
): Promise<boolean> {
  if (stored === undefined) {
    dummyHash ??= hashClientSecret(generateClientSecret(), logN);
    await verifyClientSecret(secret, await dummyHash, logN);
    return false;
  }
  const match = HASH_FORMAT.exec(stored);
  if (!match || typeof secret !== "string" || secret.length > 256) return false;
  const [, n, r, p, salt, hash] = match;
  const expected = Buffer.from(hash as string, "base64url");
  const actual = await derive(
    secret,
    Buffer.from(salt as string, "base64url"),
    Number(n),
    Number(r),
    Number(p),
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
