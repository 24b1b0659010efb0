/**
 * @module service/http
 *
 * Express middleware shared by every route: a fresh request id (`X-Request-Id`, also the audit request id),
 * one access-log line per request, a handler deadline, bearer-token authentication with per-client rate
 * limits, scope checks, and the error handler that turns everything into `{error, message, requestId}`.
 *
 * Security caveats:
 * - Access logs carry method, path (no query string), status, duration, request id and client id; never
 *   headers, bodies or tokens.
 * - 401 answers carry `WWW-Authenticate: Bearer realm="zktally"` plus `error="invalid_token"` when a token was
 *   presented (RFC 6750 section 3); 403 names the missing scope (`error="insufficient_scope"`).
 * - Anything that is not an `ApiError` (or a body-parser error) is a 500 with no detail: no stack, no message.
 * - JSON bodies are parsed strictly (`jsonBody`): an object naming a member twice is a 400, never "last wins".
 */
import { randomUUID } from "node:crypto";
import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from "express";
import { JsonTextError, parseStrictJson } from "../util/strict-json.ts";
import type { ServiceContext } from "./context.ts";
import { ApiError } from "./errors.ts";
import { errorFields } from "./logger.ts";
import type { Partner } from "./partners.ts";
import { rateLimitHeaders } from "./rate-limit.ts";
import { InvalidTokenError, type Scope, type VerifiedToken } from "./tokens.ts";

const REALM = 'realm="zktally"';

/** Per-request state kept in `res.locals`. */
export interface RequestState {
  requestId: string;
  partner?: Partner;
  token?: VerifiedToken;
}

export function stateOf(res: Response): RequestState {
  return res.locals as RequestState;
}

/** The authenticated partner (only after `authenticate`). */
export function partnerOf(res: Response): Partner {
  const partner = stateOf(res).partner;
  if (!partner) throw new Error("partnerOf: route is not authenticated");
  return partner;
}

/** Request id, access log line and handler deadline. */
export function requestContext(ctx: ServiceContext): RequestHandler {
  return (req, res, next) => {
    const requestId = randomUUID();
    stateOf(res).requestId = requestId;
    res.setHeader("X-Request-Id", requestId);
    res.setHeader("Cache-Control", "no-store");
    const started = performance.now();
    const deadline = setTimeout(() => {
      // A request still arriving is Node's to cut off (408, server.requestTimeout); this is the handler deadline.
      if (!res.headersSent && req.complete) {
        sendError(res, new ApiError(503, "timeout", "the request took too long"), requestId);
      }
    }, ctx.config.requestTimeoutMs);
    deadline.unref();
    res.on("close", () => {
      clearTimeout(deadline);
      ctx.logger.info(
        {
          reqId: requestId,
          method: req.method,
          path: req.originalUrl.split("?")[0],
          status: res.statusCode,
          ms: Math.round((performance.now() - started) * 10) / 10,
          partner: stateOf(res).partner?.clientId,
        },
        "request",
      );
    });
    next();
  };
}

function bearerChallenge(error?: string, description?: string, scope?: string): string {
  const parts = [REALM];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, "")}"`);
  if (scope) parts.push(`scope="${scope}"`);
  return `Bearer ${parts.join(", ")}`;
}

function unauthorized(description?: string): ApiError {
  return new ApiError(
    401,
    description ? "invalid_token" : "unauthorized",
    description ?? "a bearer token is required",
    {
      headers: {
        "WWW-Authenticate": bearerChallenge(description ? "invalid_token" : undefined, description),
      },
    },
  );
}

/** Verifies the bearer token, loads the partner, applies the per-client rate limit. */
export function authenticate(ctx: ServiceContext): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) throw unauthorized();
    const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/.exec(header);
    if (!match) throw unauthorized("malformed Authorization header");
    let token: VerifiedToken;
    try {
      token = await ctx.tokens.verify(match[1] as string);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw unauthorized(error.message);
      throw error;
    }
    const partner = ctx.partners.get(token.clientId);
    if (!partner?.active || partner.credentialVersion !== token.credentialVersion) {
      throw unauthorized("token revoked");
    }
    const decision = ctx.limiters.api.hit(`client:${partner.clientId}`);
    res.set(rateLimitHeaders(decision));
    const state = stateOf(res);
    state.partner = partner;
    state.token = token;
    if (!decision.allowed) {
      throw new ApiError(429, "rate_limited", "too many requests; slow down", {
        headers: { "Retry-After": String(decision.resetSeconds) },
      });
    }
    next();
  };
}

/** Requires `scope` in the token and in the partner's current grant; refusals are audited. */
export function requireScope(ctx: ServiceContext, scope: Scope, action: string): RequestHandler {
  return (_req, res, next) => {
    const state = stateOf(res);
    const partner = partnerOf(res);
    if (state.token?.scopes.has(scope) && partner.scopes.includes(scope)) return next();
    const error = new ApiError(403, "insufficient_scope", `this endpoint needs scope ${scope}`, {
      headers: { "WWW-Authenticate": bearerChallenge("insufficient_scope", undefined, scope) },
    });
    ctx.audit.recordRefusal({ partner: partner.clientId, action, requestId: state.requestId }, error);
    throw error;
  };
}

/** `authenticate` + `requireScope`. */
export function guard(ctx: ServiceContext, scope: Scope, action: string): RequestHandler[] {
  return [authenticate(ctx), requireScope(ctx, scope, action)];
}

/**
 * JSON bodies, read as text (`application/json` only, at most `limitBytes`) and parsed with the strict
 * reader: `express.json` would keep the last of two `"query"` members, and a reviver cannot see the
 * first, so a duplicate key is refused (400 `invalid_json` with its line and column) before any route reads it.
 */
export function jsonBody(limitBytes: number): RequestHandler[] {
  return [express.text({ limit: limitBytes, type: "application/json" }), parseJsonBody];
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

function parseJsonBody(req: Request, _res: Response, next: NextFunction): void {
  // Anything but a string is not JSON (no body or another type): requireJsonObject answers 415.
  if (typeof req.body === "string") {
    const charset = CHARSET.exec(req.headers["content-type"] ?? "")?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8") {
      throw new ApiError(415, "unsupported_media_type", "send JSON as UTF-8 (charset=utf-8 or none)");
    }
    try {
      req.body = parseStrictJson(req.body);
    } catch (error) {
      if (!(error instanceof JsonTextError)) throw error;
      throw new ApiError(400, "invalid_json", `the request body is not valid JSON: ${error.message}`, {
        extra: { line: error.line, column: error.column },
      });
    }
  }
  next();
}

/** POST/PUT bodies must be JSON objects. */
export function requireJsonObject(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is("application/json")) {
    throw new ApiError(415, "unsupported_media_type", "send the body as application/json");
  }
  if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) {
    throw new ApiError(400, "invalid_request", "the body must be a JSON object");
  }
  next();
}

export function sendError(res: Response, error: ApiError, requestId: string): void {
  res
    .status(error.status)
    .set(error.headers)
    .json({ error: error.code, message: error.message, requestId, ...error.extra });
}

/** body-parser errors carry `type` and a 4xx `status`. */
function bodyParserError(error: unknown): ApiError | undefined {
  const type = (error as { type?: unknown }).type;
  const status = (error as { status?: unknown }).status;
  if (typeof type !== "string" || typeof status !== "number") return undefined;
  switch (type) {
    case "entity.too.large":
      return new ApiError(413, "payload_too_large", "the request body is too large");
    case "entity.parse.failed":
      return new ApiError(400, "invalid_json", "the request body is not valid JSON");
    case "encoding.unsupported":
    case "charset.unsupported":
      return new ApiError(415, "unsupported_media_type", "unsupported body encoding or charset");
    default:
      return status >= 400 && status < 500
        ? new ApiError(400, "invalid_request", "the request body could not be read")
        : undefined;
  }
}

export function errorHandler(ctx: ServiceContext): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const requestId = stateOf(res).requestId ?? "unknown";
    const known = error instanceof ApiError ? error : bodyParserError(error);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (known) {
      sendError(res, known, requestId);
      return;
    }
    ctx.logger.error({ reqId: requestId, err: errorFields(error) }, "internal error");
    sendError(res, new ApiError(500, "internal_error", "internal error"), requestId);
  };
}

export const notFoundHandler: RequestHandler = () => {
  throw new ApiError(404, "not_found", "no such endpoint");
};
