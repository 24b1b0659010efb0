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
 * - Anything that is not a `ZktallyError` (or a body-parser / path-decoding error) is a programming error:
 *   one `internal error` log line for the operator, a 500 with no detail for the client (http-errors.ts).
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
import {
  AccessError,
  InputError,
  isZktallyError,
  LimitError,
  NotFoundError,
  UnavailableError,
  type ZktallyError,
} from "../util/errors.ts";
import { JsonTextError, parseStrictJson } from "../util/strict-json.ts";
import type { ServiceContext } from "./context.ts";
import {
  type HttpAnswer,
  httpAnswerOf,
  INTERNAL_ANSWER,
  invalidRequest,
  payloadTooLarge,
  unauthorized,
  unsupportedMediaType,
} from "./http-errors.ts";
import { errorFields } from "./logger.ts";
import type { Partner } from "./partners.ts";
import { rateLimitHeaders } from "./rate-limit.ts";
import type { Scope, VerifiedToken } from "./tokens.ts";

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
        sendError(res, new UnavailableError("timeout", "the request took too long"), requestId);
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

/** Verifies the bearer token, loads the partner, applies the per-client rate limit. */
export function authenticate(ctx: ServiceContext): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) throw unauthorized();
    const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/.exec(header);
    if (!match) throw unauthorized("malformed Authorization header");
    // An invalid token throws InvalidTokenError (code invalid_token): answered 401 with its challenge.
    const token = await ctx.tokens.verify(match[1] as string);
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
      throw new LimitError("rate_limited", "too many requests; slow down", {
        retryAfterSeconds: decision.resetSeconds,
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
    const error = new AccessError("insufficient_scope", `this endpoint needs scope ${scope}`, {
      details: { scope },
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
      throw unsupportedMediaType("send JSON as UTF-8 (charset=utf-8 or none)");
    }
    try {
      req.body = parseStrictJson(req.body);
    } catch (error) {
      if (!(error instanceof JsonTextError)) throw error;
      throw new InputError("invalid_json", `the request body is not valid JSON: ${error.message}`, {
        path: error.path,
        details: { line: error.line, column: error.column },
      });
    }
  }
  next();
}

/** POST/PUT bodies must be JSON objects. */
export function requireJsonObject(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is("application/json")) {
    throw unsupportedMediaType("send the body as application/json");
  }
  if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) {
    throw invalidRequest("the body must be a JSON object");
  }
  next();
}

function sendAnswer(res: Response, answer: HttpAnswer, requestId: string): void {
  res
    .status(answer.status)
    .set(answer.headers)
    .json({ ...answer.body, requestId });
}

export function sendError(res: Response, error: ZktallyError, requestId: string): void {
  sendAnswer(res, httpAnswerOf(error), requestId);
}

/**
 * Express's own 4xx errors, translated at this boundary: body-parser errors carry `type` and a 4xx
 * `status`; a path parameter that is not valid percent-encoding (`/v1/jobs/%`) is a `URIError` with status 400.
 */
function frameworkError(error: unknown): ZktallyError | undefined {
  const type = (error as { type?: unknown }).type;
  const status = (error as { status?: unknown }).status;
  if (typeof status !== "number" || status < 400 || status >= 500) return undefined;
  if (error instanceof URIError) {
    return invalidRequest("the request path is not valid percent-encoding", "path");
  }
  switch (type) {
    case "entity.too.large":
      return payloadTooLarge();
    case "entity.parse.failed":
      return new InputError("invalid_json", "the request body is not valid JSON");
    case "encoding.unsupported":
    case "charset.unsupported":
      return unsupportedMediaType("unsupported body encoding or charset");
    default:
      return typeof type === "string" ? invalidRequest("the request body could not be read") : undefined;
  }
}

export function errorHandler(ctx: ServiceContext): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const requestId = stateOf(res).requestId ?? "unknown";
    const known = isZktallyError(error) ? error : frameworkError(error);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (known) {
      sendError(res, known, requestId);
      return;
    }
    ctx.logger.error({ reqId: requestId, err: errorFields(error) }, "internal error");
    sendAnswer(res, INTERNAL_ANSWER, requestId);
  };
}

export const notFoundHandler: RequestHandler = () => {
  throw new NotFoundError("endpoint");
};
