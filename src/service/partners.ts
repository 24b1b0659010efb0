/**
 * @module service/partners
 *
 * The partner registry: client ids, hashed client secrets, granted scopes, policy, and a credential version
 * that tokens carry (rotating the secret or disabling the partner bumps it, voiding every token issued
 * before). Secrets are returned exactly once, by `create` and `rotateSecret`.
 *
 * Security caveats: only admin paths (CLI or `admin`-scoped HTTP) reach the mutating functions; `authenticate`
 * runs scrypt even for unknown client ids so timing does not reveal which ids exist.
 */
import { z } from "zod";
import { ConflictError, InputError, NotFoundError } from "../util/errors.ts";
import { firstIssueInWords } from "../util/zod-issues.ts";
import { generateClientSecret, hashClientSecret, verifyClientSecret } from "./client-secret.ts";
import { type Db, statement } from "./db.ts";
import { type Policy, parsePolicy } from "./policy.ts";
import { SCOPES, type Scope } from "./tokens.ts";

export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface Partner {
  readonly clientId: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly policy: Policy;
  readonly active: boolean;
  readonly credentialVersion: number;
  readonly createdAt: number;
}

interface PartnerRow {
  client_id: string;
  name: string;
  secret_hash: string;
  credential_version: number;
  scopes: string;
  policy: string;
  active: number;
  created_at: number;
}

const scopesField = z.array(z.enum(SCOPES)).min(1).max(SCOPES.length);

export const newPartnerSchema = z.strictObject({
  clientId: z.string().regex(CLIENT_ID_PATTERN, `must match ${CLIENT_ID_PATTERN}`),
  name: z.string().min(1).max(200).optional(),
  scopes: scopesField,
  policy: z.unknown().optional(),
});

const scopesSchema = z.object({ scopes: scopesField });

export type NewPartner = z.input<typeof newPartnerSchema>;

export class PartnerStore {
  constructor(
    private readonly db: Db,
    private readonly scryptLogN: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Registers a partner; returns it with its client secret (shown once). `withinTransaction` runs in the
   * inserting transaction (for the caller's audit entry).
   */
  async create(
    input: unknown,
    withinTransaction?: (partner: Partner) => void,
  ): Promise<{ partner: Partner; clientSecret: string }> {
    const parsed = parseOrThrow(newPartnerSchema, input, "invalid_partner");
    const policy = parsePolicy(parsed.policy);
    const clientSecret = generateClientSecret();
    const hash = await hashClientSecret(clientSecret, this.scryptLogN);
    const now = this.now();
    const insert = () => {
      statement(
        this.db,
        `INSERT INTO partners (client_id, name, secret_hash, scopes, policy, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        parsed.clientId,
        parsed.name ?? parsed.clientId,
        hash,
        JSON.stringify([...new Set(parsed.scopes)].sort()),
        JSON.stringify(policy),
        now,
        now,
      );
      const partner = this.require(parsed.clientId);
      withinTransaction?.(partner);
      return partner;
    };
    try {
      return { partner: this.db.transaction(insert)(), clientSecret };
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new ConflictError("partner_exists", `partner ${parsed.clientId} already exists`);
      }
      throw error;
    }
  }

  get(clientId: string): Partner | undefined {
    const row = statement(this.db, "SELECT * FROM partners WHERE client_id = ?").get(clientId) as
      | PartnerRow
      | undefined;
    return row === undefined ? undefined : toPartner(row);
  }

  require(clientId: string): Partner {
    const partner = this.get(clientId);
    if (!partner) throw new NotFoundError(`partner ${clientId}`);
    return partner;
  }

  list(): Partner[] {
    const rows = statement(this.db, "SELECT * FROM partners ORDER BY client_id").all() as PartnerRow[];
    return rows.map(toPartner);
  }

  /** The partner if `secret` is its current client secret and it is active; undefined otherwise. */
  async authenticate(clientId: string, secret: string): Promise<Partner | undefined> {
    const row = CLIENT_ID_PATTERN.test(clientId)
      ? (statement(this.db, "SELECT * FROM partners WHERE client_id = ?").get(clientId) as
          | PartnerRow
          | undefined)
      : undefined;
    const ok = await verifyClientSecret(secret, row?.secret_hash, this.scryptLogN);
    if (!ok || !row || row.active !== 1) return undefined;
    return toPartner(row);
  }

  /**
   * Replaces the client secret and voids every token issued so far; returns the new secret (shown once).
   * `withinTransaction` runs in the updating transaction.
   */
  async rotateSecret(clientId: string, withinTransaction?: () => void): Promise<string> {
    this.require(clientId);
    const clientSecret = generateClientSecret();
    const hash = await hashClientSecret(clientSecret, this.scryptLogN);
    this.db.transaction(() => {
      statement(
        this.db,
        `UPDATE partners SET secret_hash = ?, credential_version = credential_version + 1, updated_at = ?
           WHERE client_id = ?`,
      ).run(hash, this.now(), clientId);
      withinTransaction?.();
    })();
    return clientSecret;
  }

  /** Replaces the policy; a policy without `budget` keeps the partner's current budget (not the default). */
  setPolicy(clientId: string, input: unknown): Partner {
    const current = this.require(clientId);
    const keepsBudget =
      typeof input === "object" && input !== null && !Array.isArray(input) && !("budget" in input);
    const policy = parsePolicy(keepsBudget ? { ...input, budget: current.policy.budget } : input);
    statement(this.db, "UPDATE partners SET policy = ?, updated_at = ? WHERE client_id = ?").run(
      JSON.stringify(policy),
      this.now(),
      clientId,
    );
    return this.require(clientId);
  }

  setScopes(clientId: string, scopes: readonly string[]): Partner {
    this.require(clientId);
    // Wrapped so that an error names `scopes.N`, not a bare index.
    const { scopes: parsed } = parseOrThrow(scopesSchema, { scopes }, "invalid_partner");
    statement(
      this.db,
      `UPDATE partners SET scopes = ?, credential_version = credential_version + 1, updated_at = ?
         WHERE client_id = ?`,
    ).run(JSON.stringify([...new Set(parsed)].sort()), this.now(), clientId);
    return this.require(clientId);
  }

  /** Enables or disables a partner; either way existing tokens stop working. */
  setActive(clientId: string, active: boolean): Partner {
    this.require(clientId);
    statement(
      this.db,
      `UPDATE partners SET active = ?, credential_version = credential_version + 1, updated_at = ?
         WHERE client_id = ?`,
    ).run(active ? 1 : 0, this.now(), clientId);
    return this.require(clientId);
  }
}

/** A partner as admin endpoints show it (no secret hash). */
export function partnerView(partner: Partner) {
  return {
    clientId: partner.clientId,
    name: partner.name,
    scopes: partner.scopes,
    policy: partner.policy,
    active: partner.active,
    createdAt: new Date(partner.createdAt).toISOString(),
  };
}

const parsedPolicies = new Map<string, Policy>();

/** Stored policies are re-validated when read, memoised by their text (every request reads its partner). */
function storedPolicy(text: string): Policy {
  let policy = parsedPolicies.get(text);
  if (!policy) {
    policy = Object.freeze(parsePolicy(JSON.parse(text)));
    if (parsedPolicies.size >= 1000) parsedPolicies.clear();
    parsedPolicies.set(text, policy);
  }
  return policy;
}

function toPartner(row: PartnerRow): Partner {
  return {
    clientId: row.client_id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as Scope[],
    policy: storedPolicy(row.policy),
    active: row.active === 1,
    credentialVersion: row.credential_version,
    createdAt: row.created_at,
  };
}

/** Parses input with zod; throws `InputError(code)` naming the first bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, code: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const { path, reason } = firstIssueInWords(result.error.issues);
    const field = path || "body";
    throw new InputError(code, `${field}: ${reason}`, { path: field });
  }
  return result.data;
}
