/**
 * @module service/mount
 *
 * Registers a route of the table (`api-routes.ts`) on an Express router: authentication and scope check for
 * scoped routes, the body parser for routes with a body, then validation of path parameters, query string and
 * body with the route's own schemas, and the handler with the parsed, typed input. The handler's `res` is
 * typed with the route's success response schemas, so a handler that sends something else does not compile.
 *
 * Security caveats: a path parameter that fails its schema answers 404 like an unknown id; a query string or
 * body that fails answers 400 and, for routes with `auditRefusals`, is recorded in the audit log as a refusal
 * of the route's action (as refusals decided by the handler are). Validated values replace nothing in `req`:
 * handlers must use `input`, never `req.body` or `req.query`.
 */

import type { Request, RequestHandler, Response, Router } from "express";
import type { z } from "zod";
import { NotFoundError } from "../util/errors.ts";
import type { BodySpec, RouteSpec } from "./api-routes.ts";
import type { ServiceContext } from "./context.ts";
import { guard, requireJsonObject, stateOf } from "./http.ts";
import { parseOrThrow } from "./partners.ts";

type Parsed<T> = T extends z.ZodType ? z.output<T> : Record<string, never>;
type BodyOf<B> = B extends { readonly validatedByHandler: true }
  ? unknown
  : B extends BodySpec<infer T>
    ? z.output<T>
    : undefined;

/** What a handler receives: the route's parameters, query and body, parsed by its schemas. */
export interface RouteInput<R extends RouteSpec> {
  readonly params: Parsed<R["params"]>;
  readonly query: Parsed<R["query"]>;
  readonly body: BodyOf<R["body"]>;
}

/** Readonly all the way down: handlers may send readonly values where the schema type is mutable. */
type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type SuccessStatus<R extends RouteSpec> = keyof R["responses"] & `2${string}`;
type SentBody<T> = T extends { readonly text: true }
  ? string
  : T extends { readonly schema: infer S extends z.ZodType }
    ? DeepReadonly<z.input<S>>
    : unknown;
/** The union of the route's success response bodies (what `res.json` / `res.send` may carry). */
export type ResponseBodyOf<R extends RouteSpec> = SentBody<R["responses"][SuccessStatus<R>]>;

export type RouteHandler<R extends RouteSpec> = (
  req: Request,
  res: Response<ResponseBodyOf<R>>,
  input: RouteInput<R>,
) => void | Promise<void>;

export interface MountOptions {
  /** The JSON body parser of this router (`jsonBody` with its size limit). */
  readonly json?: readonly RequestHandler[];
  /** The form body parser (token endpoint). */
  readonly form?: readonly RequestHandler[];
}

export type Mount = <R extends RouteSpec>(
  route: R,
  handler: RouteHandler<R>,
  before?: readonly RequestHandler[],
) => void;

/** A function registering table routes whose paths start with `prefix` on `router` (mounted at `prefix`). */
export function routeMounter(
  ctx: ServiceContext,
  router: Router,
  prefix: string,
  options: MountOptions = {},
): Mount {
  return (route, handler, before = []) => {
    if (!route.path.startsWith(prefix)) {
      throw new Error(`route ${route.operationId}: ${route.path} is not under ${prefix}`);
    }
    const chain: RequestHandler[] = [...before];
    if (route.scope !== null) chain.push(...guard(ctx, route.scope, route.action));
    if (route.body) chain.push(...bodyParsers(route, route.body, options));
    chain.push(async (req, res) => {
      const input = validatedInput(ctx, route, req, res);
      await handler(req, res as Response<ResponseBodyOf<typeof route>>, input as RouteInput<typeof route>);
    });
    router[route.method](route.path.slice(prefix.length) || "/", ...chain);
  };
}

function bodyParsers(route: RouteSpec, body: BodySpec, options: MountOptions): RequestHandler[] {
  const parser = body.contentType === "application/json" ? options.json : options.form;
  if (!parser) throw new Error(`route ${route.operationId}: no ${body.contentType} parser on this router`);
  return body.contentType === "application/json" ? [...parser, requireJsonObject] : [...parser];
}

function validatedInput(ctx: ServiceContext, route: RouteSpec, req: Request, res: Response) {
  try {
    return {
      params: route.params ? parsedParams(route, route.params, req.params) : {},
      query: route.query ? parseOrThrow(route.query, req.query, "invalid_request") : {},
      body: parsedBody(route.body, req.body),
    };
  } catch (error) {
    if (route.auditRefusals) {
      const state = stateOf(res);
      const subject = {
        partner: state.partner?.clientId ?? null,
        action: route.action,
        requestId: state.requestId,
      };
      ctx.audit.recordRefusal(subject, error);
    }
    throw error;
  }
}

function parsedParams(route: RouteSpec, schema: z.ZodObject, params: unknown): unknown {
  const result = schema.safeParse(params);
  if (!result.success) throw new NotFoundError(route.notFound ?? "resource");
  return result.data;
}

function parsedBody(body: BodySpec | undefined, input: unknown): unknown {
  if (body === undefined) return undefined;
  if (body.validatedByHandler) return input;
  return body.parse ? body.parse(input) : parseOrThrow(body.schema, input, "invalid_request");
}
