/**
 * @module service/operator-keys
 *
 * Operator signing key rotation and revocation on the service side (design.md section 5, key statements):
 * `rotate` draws a new operator key, has the current one sign a rotation statement naming it, stores the
 * statement and replaces the sealed operator key, all in one transaction with its audit entry; `revoke`
 * has the current key sign a revocation of a compromised earlier key at the audit log's current size. The
 * statements are public (`GET /v1/operator-keys`): the key-chain file partners verify with.
 *
 * Security caveats: the running service keeps signing with the key it booted with until restarted (manifests
 * signed by a rotated-away, unrevoked key stay valid). Revoke a compromised key only after rotating away
 * from it, so the revocation is signed by a key the attacker does not hold.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { operatorKeyOf } from "../dataset/manifest-sign.ts";
import { ConflictError, InputError } from "../util/errors.ts";
import {
  type KeyRevocation,
  type KeyRotation,
  type KeyStatement,
  keyStatementSigningBytes,
  parseKeyStatements,
  REVOCATION_TYPE,
  ROTATION_TYPE,
  resolveKeyChain,
} from "../verifier/key-chain.ts";
import { type Db, scalar, statement } from "./db.ts";
import type { EnvelopeCipher } from "./sealed.ts";
import { loadServiceKey, replaceServiceKey } from "./service-keys.ts";

export class OperatorKeys {
  constructor(
    private readonly db: Db,
    private readonly cipher: EnvelopeCipher,
    private readonly now: () => number = Date.now,
  ) {}

  /** Every stored statement, oldest first. */
  statements(): KeyStatement[] {
    const rows = scalar(this.db, "SELECT statement FROM key_statements ORDER BY id").all() as string[];
    return parseKeyStatements(rows.map((text) => JSON.parse(text)));
  }

  /** The current operator public key (as stored: what the service signs with after its next boot). */
  currentKey(): string {
    return operatorKeyOf(loadServiceKey(this.db, this.cipher, "operator"));
  }

  /** Rotates to `next` (default: a fresh key); `within` runs in the transaction (the audit entry). */
  rotate(within: (statement: KeyRotation) => void, next?: Uint8Array): KeyRotation {
    return this.db.transaction(() => {
      const current = loadServiceKey(this.db, this.cipher, "operator");
      const secret = next ?? ed25519.utils.randomSecretKey();
      const body = {
        type: ROTATION_TYPE,
        oldKey: operatorKeyOf(current),
        newKey: operatorKeyOf(secret),
        createdAt: new Date(this.now()).toISOString(),
      } as const;
      if (body.oldKey === body.newKey)
        throw new InputError("invalid_key", "the new operator key equals the current one");
      const rotation: KeyRotation = {
        ...body,
        signature: bytesToHex(ed25519.sign(keyStatementSigningBytes(body), current)),
      };
      this.store(rotation);
      replaceServiceKey(this.db, this.cipher, "operator", secret);
      within(rotation);
      return rotation;
    })();
  }

  /** The key the service was initialised with (what partners pinned first). */
  originalKey(): string {
    const first = this.statements().find((item): item is KeyRotation => item.type === ROTATION_TYPE);
    return first?.oldKey ?? this.currentKey();
  }

  /** Revokes an earlier key at `logSize`, signed by the current key; `within` as for `rotate`. */
  revoke(key: string, logSize: number, within: (statement: KeyRevocation) => void): KeyRevocation {
    return this.db.transaction(() => {
      const current = loadServiceKey(this.db, this.cipher, "operator");
      const signerKey = operatorKeyOf(current);
      const target = key.toLowerCase();
      if (target === signerKey) {
        throw new ConflictError(
          "revoke_current_key",
          "rotate away from a compromised key before revoking it",
          {
            hint: "zktally serve admin keys rotate-operator, then revoke the old key",
          },
        );
      }
      if (!resolveKeyChain(this.originalKey(), this.statements()).keys.includes(target)) {
        throw new InputError(
          "invalid_key",
          `operator key ${target.slice(0, 16)}… is not one of this service's keys`,
        );
      }
      const body = {
        type: REVOCATION_TYPE,
        key: target,
        revokedAtLogSize: logSize,
        createdAt: new Date(this.now()).toISOString(),
        signerKey,
      } as const;
      const revocation: KeyRevocation = {
        ...body,
        signature: bytesToHex(ed25519.sign(keyStatementSigningBytes(body), current)),
      };
      this.store(revocation);
      within(revocation);
      return revocation;
    })();
  }

  private store(item: KeyStatement): void {
    statement(this.db, "INSERT INTO key_statements (statement, created_at) VALUES (?, ?)").run(
      JSON.stringify(item),
      this.now(),
    );
  }
}
