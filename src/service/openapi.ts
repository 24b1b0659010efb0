/**
 * @module service/openapi
 *
 * The OpenAPI 3.1 description of the service (served at `/openapi.json`), generated from the route table
 * (`api-routes.ts`) and its zod schemas with `z.toJSONSchema` (JSON Schema 2020-12, OpenAPI 3.1's dialect):
 * request schemas are the ones the router validates with, so the document cannot drift from the service.
 * Also a static, script-free HTML rendering (served at `/docs`; no CDN, works under the service's strict
 * Content-Security-Policy). Every operation names its required scope in `x-scope`, which the docs page shows.
 *
 * Security caveat: the document describes the API only; it embeds no keys, ids or example secrets.
 */
import { z } from "zod";
import { API_ROUTES, type ResponseSpec, type RouteSpec } from "./api-routes.ts";
import { errorBodySchema, NAMED_SCHEMAS } from "./api-schemas.ts";
import type { Scope } from "./tokens.ts";

type Json = Record<string, unknown>;

const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  "datasets:read": "list datasets (signed manifests) and circuits (verification keys)",
  "queries:submit": "submit queries, read own jobs, bundles and budget",
  "queries:membership": "also submit membership queries (about one record; needs queries:submit too)",
  "audit:read": "read own audit receipts, tree heads and consistency proofs",
  admin: "manage partners, policies, datasets, keys; verify the audit log",
};

/** Responses every token-protected route can give, unless the route describes them itself. */
const TOKEN_ERRORS: Readonly<Record<string, ResponseSpec>> = {
  "401": {
    description: "Missing, malformed, expired, forged or revoked token (`WWW-Authenticate: Bearer ...`)",
    schema: errorBodySchema,
  },
  "403": {
    description: 'Token lacks the required scope (`error="insufficient_scope"`)',
    schema: errorBodySchema,
  },
  "429": { description: "Per-client rate limit exceeded (`Retry-After`)", schema: errorBodySchema },
};

/** JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of a zod schema, as requests or responses see it. */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Json;
  return rest;
}

/** Express `/jobs/:jobId` becomes OpenAPI `/jobs/{jobId}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function parameters(schema: z.ZodObject | undefined, where: "path" | "query"): Json[] {
  if (!schema) return [];
  const object = jsonSchemaOf(schema, "input") as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === "path" || (object.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      schema: propertySchema,
    };
  });
}

/** Response schemas become named components, so shared shapes (Partner, Manifest, Job, ...) appear once. */
type Components = z.core.$ZodRegistry<{ id: string }>;

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

function componentRef(components: Components, schema: z.ZodType, fallbackId: string): Json {
  if (!components.has(schema)) components.add(schema, { id: fallbackId });
  return { $ref: `#/components/schemas/${(components.get(schema) as { id: string }).id}` };
}

function responses(route: RouteSpec, components: Components): Json {
  const all = route.scope === null ? route.responses : { ...TOKEN_ERRORS, ...route.responses };
  const entries = Object.entries(all).sort(([a], [b]) => a.localeCompare(b));
  return Object.fromEntries(
    entries.map(([status, response]) => [
      status,
      {
        description: response.description,
        ...(response.schema
          ? {
              content: {
                [response.contentType ?? "application/json"]: {
                  schema: componentRef(components, response.schema, `${pascal(route.operationId)}Response`),
                },
              },
            }
          : {}),
      },
    ]),
  );
}

/** JSON Schemas of the registered components, cross-referenced by `$ref`. */
function componentSchemas(components: Components): Json {
  const { schemas } = z.toJSONSchema(components, {
    io: "output",
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $id: _id, $schema: _dialect, ...schema }]) => [id, schema]),
  );
}

function operation(route: RouteSpec, components: Components): Json {
  const params = [...parameters(route.params, "path"), ...parameters(route.query, "query")];
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    "x-scope": route.scope ?? "none",
    security: route.scope ? [{ bearer: [route.scope] }] : [],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: { [route.body.contentType]: { schema: jsonSchemaOf(route.body.schema, "input") } },
          },
        }
      : {}),
    responses: responses(route, components),
  };
}

/** The OpenAPI 3.1 document, generated from the route table and its zod schemas. */
export function openApiDocument(
  options: { readonly issuerHint?: string; readonly routes?: readonly RouteSpec[] } = {},
): Json {
  const components: Components = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(NAMED_SCHEMAS)) components.add(schema, { id });
  const paths: Record<string, Json> = {};
  for (const route of options.routes ?? API_ROUTES) {
    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method]: operation(route, components) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "zktally prover service",
      version: "1",
      description:
        "Aggregate queries over privately held, publicly committed datasets, answered with Groth16 proofs. " +
        "Obtain a token with OAuth2 client credentials, submit a query (202 + job URL), poll the job, fetch " +
        "the proof bundle and verify it offline with `zktally/verifier` against the pinned operator key and " +
        "verification keys. Every decision is recorded in a signed Merkle audit log; partners can fetch " +
        `receipts (inclusion proofs) for their own requests.${options.issuerHint ? ` Issuer: ${options.issuerHint}.` : ""}`,
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT (EdDSA, typ at+jwt)" },
        clientCredentials: {
          type: "oauth2",
          flows: { clientCredentials: { tokenUrl: "/oauth/token", scopes: SCOPE_DESCRIPTIONS } },
        },
      },
      schemas: componentSchemas(components),
    },
    paths,
  };
}

export const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/** Renders the document as a static HTML page (no scripts). */
export function docsPage(document: Json): string {
  const info = document.info as { title: string; description: string };
  const rows: string[] = [];
  for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(methods)) {
      const responses = Object.entries(operation.responses as Record<string, { description: string }>)
        .map(
          ([status, response]) =>
            `<li><code>${escapeHtml(status)}</code> ${escapeHtml(response.description)}</li>`,
        )
        .join("");
      const description = operation.description ? `<p>${escapeHtml(String(operation.description))}</p>` : "";
      rows.push(
        `<tr><td><code class="m">${escapeHtml(method.toUpperCase())}</code></td><td><code>${escapeHtml(path)}</code></td>` +
          `<td>${escapeHtml(String(operation.summary))}${description}<ul>${responses}</ul></td>` +
          `<td><code>${escapeHtml(String(operation["x-scope"]))}</code></td></tr>`,
      );
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #ddd;padding:.5rem;vertical-align:top;text-align:left}
code{font:13px ui-monospace,monospace}code.m{font-weight:bold}ul{margin:.3rem 0 0;padding-left:1.2rem}p{margin:.3rem 0}
</style></head><body>
<h1>${escapeHtml(info.title)}</h1>
<p>${escapeHtml(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with
<code>POST /oauth/token</code> (client credentials) and send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does and answers</th><th>Scope</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table></body></html>
`;
}
