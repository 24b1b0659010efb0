/**
 * @module service/service-keys
 *
 * The service's long-lived signing keys, each 32 random bytes, created by `zktally serve admin init` (never
 * at boot) and stored sealed by the KeyRing in the `service_keys` table: the operator key (Ed25519, signs dataset manifests; partners pin its
 * public key), the token key (Ed25519, signs access tokens) and the audit log key (Ed25519, signs tree heads).
 * Keeping them separate means a leaked token key cannot sign manifests or rewrite the audit log. Token keys
 * rotated away from are kept sealed in `retired_token_keys` with the time their last token expires, so such
 * tokens keep verifying across a restart until then, and no longer (pruned at boot and at each rotation).
 *
 * Security caveats: whoever holds the key file can unseal these keys; keep the key file outside backups of
 * the data directory. Changing the operator key changes what partners must pin, which is why a missing key
 * is never replaced silently: boot refuses (`service_key_missing`) and init creates keys only in a database
 * that holds none.
 */
import { createHash, randomBytes } from "node:crypto";
import { InputError, IntegrityError } from "../util/errors.ts";
import type { Db } from "./db.ts";
import { type EnvelopeCipher, openText, SERVICE_KEY_SCOPE, sealText } from "./sealed.ts";

export const SERVICE_KEY_NAMES = ["operator", "token", "audit"] as const;
export type ServiceKeyName = (typeof SERVICE_KEY_NAMES)[number];

export type ServiceKeys = Readonly<Record<ServiceKeyName, Uint8Array>>;

/** A sealed secret's associated data: `name` is a service key name or a retired token key's `retiredName`. */
const aad = (name: string) => ({
  datasetId: SERVICE_KEY_SCOPE,
  epoch: 0,
  purpose: `service-key.${name}`,
});
/** Binds a retired key's envelope to its row (a kid is base64url, which purposes cannot hold). */
const retiredName = (kid: string) =>
  `token-retired.${createHash("sha256").update(kid).digest("hex").slice(0, 32)}`;

/** A token key rotated away from: it verifies the tokens it signed until `retireAt` (seconds). */
export interface RetiredTokenKey {
  readonly kid: string;
  readonly secretKey: Uint8Array;
  readonly retireAt: number;
}

/** Unseals every service key; a missing one is an `IntegrityError` (restore, never regenerate). */
export function loadServiceKeys(db: Db, cipher: EnvelopeCipher): ServiceKeys {
  const select = db.prepare("SELECT envelope FROM service_keys WHERE name = ?").pluck();
  const keys = {} as Record<ServiceKeyName, Uint8Array>;
  for (const name of SERVICE_KEY_NAMES) {
    const stored = select.get(name) as string | undefined;
    if (stored === undefined) {
      throw new IntegrityError("service_key_missing", `service key ${name} is missing from the database`, {
        path: `service_keys.${name}`,
        hint: "restore the database from a backup; a new key would orphan what the old one signed",
      });
    }
    keys[name] = unseal(cipher, stored, name);
  }
  return keys;
}

/**
 * Creates and seals every service key in a database that holds none (init). `initial` may supply a key to
 * import (e.g. an existing operator key). A database holding all of them is left as it is; one holding some
 * is refused by the `loadServiceKeys` that follows (a lost key is never replaced).
 */
export function createServiceKeys(
  db: Db,
  cipher: EnvelopeCipher,
  initial: Partial<Record<ServiceKeyName, Uint8Array>> = {},
  now: () => number = Date.now,
): void {
  const insert = db.prepare("INSERT INTO service_keys (name, envelope, created_at) VALUES (?, ?, ?)");
  db.transaction(() => {
    if ((db.prepare("SELECT COUNT(*) FROM service_keys").pluck().get() as number) > 0) return;
    for (const name of SERVICE_KEY_NAMES) {
      const key = initial[name] ?? new Uint8Array(randomBytes(32));
      if (key.length !== 32) throw new InputError("invalid_key", `service key ${name} must be 32 bytes`);
      insert.run(name, sealText(cipher, key, aad(name)), now());
    }
  })();
}

/** Replaces one service key (operator key rotation), sealed like the others; inside the caller's transaction. */
export function replaceServiceKey(
  db: Db,
  cipher: EnvelopeCipher,
  name: ServiceKeyName,
  key: Uint8Array,
): void {
  if (key.length !== 32) throw new InputError("invalid_key", `service key ${name} must be 32 bytes`);
  const changed = db
    .prepare("UPDATE service_keys SET envelope = ? WHERE name = ?")
    .run(sealText(cipher, key, aad(name)), name).changes;
  if (changed !== 1)
    throw new IntegrityError("service_key_missing", `service key ${name} is missing from the database`);
}

/** Unseals one service key. */
export function loadServiceKey(db: Db, cipher: EnvelopeCipher, name: ServiceKeyName): Uint8Array {
  const stored = db.prepare("SELECT envelope FROM service_keys WHERE name = ?").pluck().get(name) as
    | string
    | undefined;
  if (stored === undefined)
    throw new IntegrityError("service_key_missing", `service key ${name} is missing from the database`);
  return unseal(cipher, stored, name);
}

/**
 * Keeps a rotated-away token key (sealed) until `retireAt`, and drops those already past theirs; inside the
 * caller's transaction (the rotation's).
 */
export function storeRetiredTokenKey(
  db: Db,
  cipher: EnvelopeCipher,
  key: RetiredTokenKey,
  nowSeconds: number,
): void {
  pruneRetiredTokenKeys(db, nowSeconds);
  db.prepare(
    "INSERT OR REPLACE INTO retired_token_keys (kid, envelope, retired_at, retire_at) VALUES (?, ?, ?, ?)",
  ).run(key.kid, sealText(cipher, key.secretKey, aad(retiredName(key.kid))), nowSeconds, key.retireAt);
}

/** Deletes the retired token keys whose tokens have all expired (retire_at <= now); returns how many. */
export function pruneRetiredTokenKeys(db: Db, nowSeconds: number): number {
  return db.prepare("DELETE FROM retired_token_keys WHERE retire_at <= ?").run(nowSeconds).changes;
}

/** Prunes, then unseals the retired token keys still verifying tokens (boot). */
export function loadRetiredTokenKeys(db: Db, cipher: EnvelopeCipher, nowSeconds: number): RetiredTokenKey[] {
  pruneRetiredTokenKeys(db, nowSeconds);
  const rows = db
    .prepare("SELECT kid, envelope, retire_at FROM retired_token_keys ORDER BY retired_at")
    .all() as {
    kid: string;
    envelope: string;
    retire_at: number;
  }[];
  return rows.map((row) => ({
    kid: row.kid,
    secretKey: unseal(cipher, row.envelope, retiredName(row.kid)),
    retireAt: row.retire_at,
  }));
}

/** Re-seals every service key and retired token key under the cipher's current key version; returns how many. */
export function resealServiceKeys(
  db: Db,
  reseal: (text: string, aadValue: ReturnType<typeof aad>) => string,
): number {
  const keys = db.prepare("SELECT name, envelope FROM service_keys").all() as {
    name: string;
    envelope: string;
  }[];
  const retired = db.prepare("SELECT kid, envelope FROM retired_token_keys").all() as {
    kid: string;
    envelope: string;
  }[];
  const update = db.prepare("UPDATE service_keys SET envelope = ? WHERE name = ?");
  const updateRetired = db.prepare("UPDATE retired_token_keys SET envelope = ? WHERE kid = ?");
  db.transaction(() => {
    for (const row of keys) update.run(reseal(row.envelope, aad(row.name)), row.name);
    for (const row of retired) {
      updateRetired.run(reseal(row.envelope, aad(retiredName(row.kid))), row.kid);
    }
  })();
  return keys.length + retired.length;
}

function unseal(cipher: EnvelopeCipher, text: string, name: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = openText(cipher, text, aad(name));
  } catch (error) {
    if (!(error instanceof IntegrityError || error instanceof SyntaxError)) throw error;
    throw new IntegrityError(
      "service_key_unreadable",
      `service key ${name} does not decrypt with this key file (wrong key file or tampered database)`,
      { path: `service_keys.${name}`, hint: "check --key-file / ZKTALLY_KEY_FILE" },
    );
  }
  if (key.length !== 32) {
    throw new IntegrityError("service_key_unreadable", `service key ${name} has the wrong length`);
  }
  return key;
}
