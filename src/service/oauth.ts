/**
 * @module service/oauth
 *
 * `POST /oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4). The client
 * authenticates with HTTP Basic (`client_id:client_secret`, form-urlencoded per section 2.3.1) or with
 * `client_id`/`client_secret` body fields, never both; `scope` may narrow the partner's grant. Answers are
 * `Cache-Control: no-store` and errors follow section 5.2 (`error`, `error_description`). Every attempt is
 * audited (`token.issue` accepted or refused, with the client id when it names a registered partner).
 *
 * Security caveats: limited per IP before any scrypt work; unknown clients cost the same scrypt as known
 * ones; the secret and the issued token never reach a log line or the audit log (only the token's jti).
 */
import express, { type Request, type RequestHandler, type Router } from "express";
import { AccessError, InputError, LimitError } from "../util/errors.ts";
import { API } from "./api-routes.ts";
import type { ServiceContext } from "./context.ts";
import { stateOf } from "./http.ts";
import { routeMounter } from "./mount.ts";
import { CLIENT_ID_PATTERN } from "./partners.ts";
import { rateLimitHeaders } from "./rate-limit.ts";
import { SCOPES, type Scope } from "./tokens.ts";

/** An RFC 6749 section 5.2 error: `error_description` repeats the message (status: http-errors.ts). */
function oauthError(code: string, description: string): InputError {
  return new InputError(code, description, { details: { error_description: description } });
}

const invalidClient = () =>
  new AccessError("invalid_client", "client authentication failed", {
    details: { error_description: "client authentication failed" },
  });

interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Credentials from exactly one of Basic auth and the body. */
function credentialsOf(req: Request, body: Record<string, unknown>): ClientCredentials {
  const header = req.headers.authorization;
  const inBody = body.client_id !== undefined || body.client_secret !== undefined;
  if (header !== undefined) {
    if (inBody) throw oauthError("invalid_request", "use one client authentication method, not two");
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    if (!match) throw invalidClient();
    const decoded = Buffer.from(match[1] as string, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw invalidClient();
    try {
      return {
        clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
        clientSecret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
      };
    } catch {
      throw invalidClient();
    }
  }
  if (typeof body.client_id !== "string" || typeof body.client_secret !== "string") throw invalidClient();
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

/** The client id a request names (Basic user or `client_id`), unauthenticated; for attribution only. */
function claimedClientId(req: Request, body: Record<string, unknown>): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? "");
  if (match) {
    const decoded = Buffer.from(match[1] as string, "base64").toString("utf8");
    return decoded.includes(":") ? decoded.slice(0, decoded.indexOf(":")) : undefined;
  }
  return typeof body.client_id === "string" ? body.client_id : undefined;
}

function requestedScopes(value: unknown, granted: readonly Scope[]): Scope[] {
  if (value === undefined || value === "") return [...granted];
  if (typeof value !== "string" || value.length > 200)
    throw oauthError("invalid_scope", "scope must be a string");
  const requested = [...new Set(value.split(" ").filter((item) => item !== ""))];
  for (const item of requested) {
    if (!(SCOPES as readonly string[]).includes(item) || !granted.includes(item as Scope)) {
      throw oauthError("invalid_scope", "a requested scope is not granted to this client");
    }
  }
  return requested as Scope[];
}

export function oauthRouter(ctx: ServiceContext): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: ctx.config.bodyLimitBytes, parameterLimit: 20 });
  const mount = routeMounter(ctx, router, "", { form: [form] });
  const perAddressLimit: RequestHandler = (req, res, next) => {
    const decision = ctx.limiters.token.hit(`ip:${req.ip ?? "unknown"}`);
    res.set(rateLimitHeaders(decision));
    if (!decision.allowed) {
      throw new LimitError("rate_limited", "too many token requests", {
        retryAfterSeconds: decision.resetSeconds,
        details: { error_description: "too many token requests" },
      });
    }
    next();
  };
  mount(
    API.issueToken,
    async (req, res, input) => {
      res.setHeader("Pragma", "no-cache");
      const requestId = stateOf(res).requestId;
      const body = (req.is("application/x-www-form-urlencoded") ? input.body : undefined) as
        | Record<string, unknown>
        | undefined;
      const subject = { partner: null as string | null, action: "token.issue", requestId };
      try {
        if (body === undefined) {
          throw oauthError("invalid_request", "send application/x-www-form-urlencoded");
        }
        // Attribute the attempt (accepted or not) to the client it names, when that client exists.
        const claimed = claimedClientId(req, body);
        if (claimed !== undefined && CLIENT_ID_PATTERN.test(claimed) && ctx.partners.get(claimed)) {
          subject.partner = claimed;
        }
        if (body.grant_type !== "client_credentials") {
          throw oauthError("unsupported_grant_type", "only grant_type=client_credentials is supported");
        }
        const credentials = credentialsOf(req, body);
        const partner = await ctx.partners.authenticate(credentials.clientId, credentials.clientSecret);
        if (!partner) throw invalidClient();
        const scopes = requestedScopes(body.scope, partner.scopes);
        const issued = await ctx.tokens.issue(partner.clientId, scopes, partner.credentialVersion);
        ctx.audit.decide(subject, () => ({
          result: undefined,
          details: { jti: issued.jti, scope: issued.scope },
        }));
        res.json({
          access_token: issued.accessToken,
          token_type: "Bearer",
          expires_in: issued.expiresIn,
          scope: issued.scope,
        });
      } catch (error) {
        ctx.audit.recordRefusal(subject, error);
        throw error;
      }
    },
    [perAddressLimit],
  );
  return router;
}
