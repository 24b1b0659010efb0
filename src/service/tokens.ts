/**
 * @module service/tokens
 *
 * Access tokens: short-lived EdDSA (Ed25519) JWTs signed with the service's token key (jose), header
 * `{alg: "EdDSA", typ: "at+jwt", kid}` (RFC 9068), claims `iss aud sub scope iat exp jti` plus `cv`, the
 * partner's credential version (rotating a secret or disabling a partner bumps it and voids older tokens).
 * Verification pins the algorithm, type, issuer and audience, requires every claim, and bounds the token
 * length before parsing.
 *
 * Rotation without downtime: `rotate` switches the signing key in the running service; tokens signed by the
 * previous key keep verifying (by `kid`) until their lifetime has passed, and the JWKS lists both meanwhile.
 * The retiring key is persisted (sealed, service-keys.ts) and handed back at boot (`retired`), so this holds
 * across a restart too; a key past its retirement time is never loaded.
 *
 * Security caveats: tokens are bearer credentials; they are never logged or stored (only `jti` could be),
 * and are accepted only from the `Authorization` header. The signing key lives encrypted at rest in the
 * database (service-keys.ts); anyone holding it can mint tokens.
 */

import { randomUUID } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { type CryptoKey, calculateJwkThumbprint, importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import { AccessError } from "../util/errors.ts";

/**
 * Scopes a partner can be granted. `queries:membership` is needed, besides `queries:submit`, for membership
 * queries: they ask about one person, not a group, so a client may be granted aggregates without them.
 */
export const SCOPES = [
  "datasets:read",
  "queries:submit",
  "queries:membership",
  "audit:read",
  "admin",
] as const;
export type Scope = (typeof SCOPES)[number];

export const TOKEN_TYPE = "at+jwt";
const MAX_TOKEN_LENGTH = 4096;
/** Verified tokens remembered (by their exact text) so a polling client costs one signature check. */
const VERIFIED_CACHE_SIZE = 10_000;

export interface TokenServiceOptions {
  /** 32-byte Ed25519 secret key. */
  readonly secretKey: Uint8Array;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly clockToleranceSeconds: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** Keys rotated away from that still verify their tokens until `retireAt` (seconds): kept across restarts. */
  readonly retired?: readonly { readonly secretKey: Uint8Array; readonly retireAt: number }[];
}

/** What `rotate` hands to its `persist` step (and returns). */
export interface TokenKeyRotation {
  readonly oldKid: string;
  readonly newKid: string;
  /** Seconds since the epoch after which the old key verifies nothing. */
  readonly retireAt: number;
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly scope: string;
  readonly jti: string;
}

export interface VerifiedToken {
  readonly clientId: string;
  readonly scopes: ReadonlySet<Scope>;
  readonly credentialVersion: number;
  readonly jti: string;
  readonly expiresAt: number;
}

/** Why a presented token was not accepted; the message is safe to return (RFC 6750 error_description). */
export class InvalidTokenError extends AccessError {
  constructor(message: string) {
    super("invalid_token", message);
  }
}

export interface IssueOptions {
  /** Override for tests: issue time in seconds since the epoch. */
  readonly issuedAt?: number;
  readonly ttlSeconds?: number;
  readonly audience?: string;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** One token signing key: its jose keys, public JWK and key id (RFC 7638 thumbprint). */
interface TokenKey {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly kid: string;
}

async function importTokenKey(secretKey: Uint8Array): Promise<TokenKey> {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError("TokenService: secretKey must be 32 bytes");
  }
  const x = b64(ed25519.getPublicKey(secretKey));
  const bare: JWK = { kty: "OKP", crv: "Ed25519", x };
  const kid = await calculateJwkThumbprint(bare);
  const privateKey = (await importJWK({ ...bare, d: b64(secretKey) }, "EdDSA")) as CryptoKey;
  const publicKey = (await importJWK(bare, "EdDSA")) as CryptoKey;
  return { privateKey, publicKey, publicJwk: { ...bare, kid, alg: "EdDSA", use: "sig" }, kid };
}

export class TokenService {
  private readonly verified = new Map<string, VerifiedToken>();
  /** Keys rotated away from, still verifying tokens until `retireAt` (seconds): no downtime on rotation. */
  private readonly previous = new Map<string, { key: TokenKey; retireAt: number }>();

  private constructor(
    private readonly options: TokenServiceOptions,
    private current: TokenKey,
  ) {}

  static async create(options: TokenServiceOptions): Promise<TokenService> {
    const service = new TokenService(options, await importTokenKey(options.secretKey));
    for (const { secretKey, retireAt } of options.retired ?? []) {
      if (retireAt <= service.nowSeconds()) continue;
      const key = await importTokenKey(secretKey);
      service.previous.set(key.kid, { key, retireAt });
    }
    return service;
  }

  /** The public key that signs new tokens. */
  get publicJwk(): JWK {
    return this.current.publicJwk;
  }

  get kid(): string {
    return this.current.kid;
  }

  /** Every key a presented token may be signed with (JWKS): the current one, then those still retiring. */
  publicJwks(): JWK[] {
    this.dropRetired();
    return [this.current.publicJwk, ...[...this.previous.values()].map((item) => item.key.publicJwk)];
  }

  /**
   * Signs new tokens with `secretKey` from now on; tokens signed by the old key keep verifying until they
   * expire (the old key retires after the token lifetime plus the clock tolerance). `persist` runs first,
   * synchronously (the caller stores the new key and the retiring one); if it throws nothing changes.
   */
  async rotate(
    secretKey: Uint8Array,
    persist: (rotation: TokenKeyRotation) => void = () => {},
  ): Promise<TokenKeyRotation> {
    const next = await importTokenKey(secretKey);
    const retireAt = this.nowSeconds() + this.options.ttlSeconds + this.options.clockToleranceSeconds;
    const old = this.current;
    const rotation = { oldKid: old.kid, newKid: next.kid, retireAt };
    persist(rotation);
    this.previous.set(old.kid, { key: old, retireAt });
    this.current = next;
    return rotation;
  }

  private dropRetired(): void {
    const now = this.nowSeconds();
    for (const [kid, item] of this.previous) if (item.retireAt <= now) this.previous.delete(kid);
  }

  /**
   * The verification key for a token's `kid`: a still-retiring previous key, else the current key (so a
   * token of an unknown or retired key fails as an invalid signature).
   */
  private keyFor(kid: unknown): CryptoKey {
    if (kid === this.current.kid || typeof kid !== "string") return this.current.publicKey;
    this.dropRetired();
    return this.previous.get(kid)?.key.publicKey ?? this.current.publicKey;
  }

  private nowSeconds(): number {
    return Math.floor((this.options.now ?? Date.now)() / 1000);
  }

  /** Issues a token for `clientId` with `scopes` (already checked against the partner's grant). */
  async issue(
    clientId: string,
    scopes: readonly Scope[],
    credentialVersion: number,
    overrides: IssueOptions = {},
  ): Promise<IssuedToken> {
    const issuedAt = overrides.issuedAt ?? this.nowSeconds();
    const ttl = overrides.ttlSeconds ?? this.options.ttlSeconds;
    const jti = randomUUID();
    const scope = [...scopes].sort().join(" ");
    const accessToken = await new SignJWT({ scope, cv: credentialVersion })
      .setProtectedHeader({ alg: "EdDSA", typ: TOKEN_TYPE, kid: this.current.kid })
      .setIssuer(this.options.issuer)
      .setAudience(overrides.audience ?? this.options.audience)
      .setSubject(clientId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttl)
      .setJti(jti)
      .sign(this.current.privateKey);
    return { accessToken, expiresIn: ttl, scope, jti };
  }

  /**
   * Verifies signature, algorithm, type, issuer, audience, times and claim shapes. A token already verified
   * is taken from a bounded cache until its expiry (the exact same bytes were signed by us); revocation is
   * not cached (callers check the partner's credential version on every request).
   */
  async verify(token: string): Promise<VerifiedToken> {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError("token too long");
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (this.nowSeconds() < known.expiresAt + this.options.clockToleranceSeconds) return known;
      this.verified.delete(token);
    }
    const verified = await this.verifyUncached(token);
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
    this.verified.set(token, verified);
    return verified;
  }

  private async verifyUncached(token: string): Promise<VerifiedToken> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.keyFor(header.kid), {
        algorithms: ["EdDSA"],
        typ: TOKEN_TYPE,
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ["iss", "aud", "sub", "exp", "iat", "jti", "scope"],
        clockTolerance: this.options.clockToleranceSeconds,
        currentDate: new Date((this.options.now ?? Date.now)()),
      }));
    } catch (error) {
      throw new InvalidTokenError(describeJoseError(error));
    }
    return claimsOf(payload);
  }
}

function claimsOf(payload: Record<string, unknown>): VerifiedToken {
  const { sub, scope, cv, jti, exp, iat } = payload;
  if (typeof sub !== "string" || sub.length === 0) throw new InvalidTokenError("bad sub claim");
  if (typeof scope !== "string") throw new InvalidTokenError("bad scope claim");
  if (typeof cv !== "number" || !Number.isSafeInteger(cv)) throw new InvalidTokenError("bad cv claim");
  if (typeof jti !== "string" || typeof exp !== "number" || typeof iat !== "number") {
    throw new InvalidTokenError("bad time or id claims");
  }
  const scopes = new Set<Scope>();
  for (const item of scope.split(" ")) {
    if (!(SCOPES as readonly string[]).includes(item)) throw new InvalidTokenError("unknown scope in token");
    scopes.add(item as Scope);
  }
  return { clientId: sub, scopes, credentialVersion: cv, jti, expiresAt: exp };
}

/** A short, public reason for a jose failure (never the token itself). */
function describeJoseError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "token expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return `token claim check failed (${(error as { claim?: string }).claim ?? "claim"})`;
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "token signature invalid";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "token algorithm not allowed";
    default:
      return "token malformed or not verifiable";
  }
}
