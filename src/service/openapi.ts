/**
 * @module service/openapi
 *
 * The OpenAPI 3.1 description of the service (served at `/openapi.json`) and a static, script-free HTML
 * rendering of it (served at `/docs`; no CDN, works under the service's strict Content-Security-Policy).
 * Every operation names its required scope in `x-scope`, which the docs page shows.
 *
 * Security caveat: the document describes the API only; it embeds no keys, ids or example secrets.
 */

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ref("Error") } },
});
const json = (description: string, schema: unknown) => ({
  description,
  content: { "application/json": { schema } },
});

const COMMON_ERRORS = {
  "401": errorResponse(
    "Missing, malformed, expired, forged or revoked token (`WWW-Authenticate: Bearer ...`)",
  ),
  "403": errorResponse('Token lacks the required scope (`error="insufficient_scope"`)'),
  "429": errorResponse("Per-client rate limit exceeded (`Retry-After`)"),
};

function op(summary: string, scope: string | null, responses: Json, extra: Json = {}): Json {
  return {
    summary,
    "x-scope": scope ?? "none",
    ...(scope ? { security: [{ bearer: [scope] }] } : {}),
    responses: scope ? { ...responses, ...COMMON_ERRORS } : responses,
    ...extra,
  };
}

const idParam = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string" },
});

const jsonBody = (schema: unknown) => ({ required: true, content: { "application/json": { schema } } });

export function openApiDocument(options: { readonly issuerHint?: string } = {}): Json {
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
          flows: {
            clientCredentials: {
              tokenUrl: "/oauth/token",
              scopes: {
                "datasets:read": "list datasets (signed manifests) and circuits (verification keys)",
                "queries:submit": "submit queries, read own jobs, bundles and budget",
                "audit:read": "read own audit receipts, tree heads and consistency proofs",
                admin: "manage partners, policies, datasets, keys; verify the audit log",
              },
            },
          },
        },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error", "message", "requestId"],
          properties: {
            error: { type: "string", description: "stable machine-readable code" },
            message: { type: "string" },
            requestId: { type: "string", description: "also in the X-Request-Id header" },
          },
        },
        QuerySubmission: {
          type: "object",
          required: ["datasetId", "query", "nonce"],
          description:
            "Unknown fields are ignored (policy, budget, group size and identity come from the server).",
          properties: {
            datasetId: { type: "string" },
            query: { type: "object", description: "readable query (docs/design.md section 3)" },
            nonce: {
              type: "string",
              pattern: "^(0|[1-9][0-9]*)$",
              description:
                "canonical decimal below the BN254 scalar field order; bound into the proof; unique per partner",
            },
          },
        },
        Job: {
          type: "object",
          properties: {
            jobId: { type: "string" },
            state: { enum: ["queued", "running", "done", "failed"] },
            progress: {
              type: "object",
              properties: {
                phase: { type: "string" },
                percent: { type: "integer" },
                queuePosition: { type: "integer" },
                chunks: {
                  type: "object",
                  description: "chunk proofs done of total in the current attempt",
                  properties: { done: { type: "integer" }, total: { type: "integer" } },
                },
                etaSeconds: {
                  type: "integer",
                  description: "while proving: estimated seconds left, from the measured time per chunk",
                },
              },
            },
            attempts: { type: "integer" },
            datasetId: { type: "string" },
            epoch: { type: "integer" },
            circuitId: { type: "string" },
            queryHash: { type: "string" },
            nonce: { type: "string" },
            minGroupSize: { type: "integer" },
            requestId: { type: "string" },
            statusUrl: { type: "string" },
            bundleUrl: { type: "string" },
            error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } } },
          },
        },
        Bundle: { type: "object", description: "zktally-bundle/v1 (docs/bundle.md)" },
        Receipt: { type: "object", description: "audit entry, inclusion proof and signed tree head" },
      },
    },
    paths: {
      "/oauth/token": {
        post: op(
          "Client-credentials token (RFC 6749 section 4.4)",
          null,
          {
            "200": json("Access token", {
              type: "object",
              properties: {
                access_token: { type: "string" },
                token_type: { const: "Bearer" },
                expires_in: { type: "integer" },
                scope: { type: "string" },
              },
            }),
            "400": errorResponse("invalid_request, unsupported_grant_type or invalid_scope"),
            "401": errorResponse("invalid_client (`WWW-Authenticate: Basic`)"),
            "429": errorResponse("Too many token requests from this address"),
          },
          {
            description:
              "Client authentication by HTTP Basic (client_id:client_secret) or by `client_id` and `client_secret` " +
              "form fields. Body: `application/x-www-form-urlencoded` with `grant_type=client_credentials` and " +
              "an optional space-separated `scope` (a subset of the partner's scopes).",
            requestBody: {
              required: true,
              content: {
                "application/x-www-form-urlencoded": {
                  schema: {
                    type: "object",
                    required: ["grant_type"],
                    properties: {
                      grant_type: { const: "client_credentials" },
                      scope: { type: "string" },
                      client_id: { type: "string" },
                      client_secret: { type: "string" },
                    },
                  },
                },
              },
            },
          },
        ),
      },
      "/.well-known/jwks.json": {
        get: op("Public key that signs access tokens", null, { "200": json("JWK set", {}) }),
      },
      "/healthz": { get: op("Liveness", null, { "200": json("ok", {}) }) },
      "/readyz": {
        get: op("Readiness (database, keys)", null, {
          "200": json("ready", {}),
          "503": errorResponse("not ready"),
        }),
      },
      "/openapi.json": { get: op("This document", null, { "200": json("OpenAPI document", {}) }) },
      "/docs": { get: op("Readable API documentation (HTML)", null, { "200": { description: "HTML" } }) },
      "/v1/datasets": {
        get: op("Datasets your policy allows, latest epoch, with signed manifests", "datasets:read", {
          "200": json("operatorKey and datasets [{datasetId, epoch, manifestHash, manifest}]", {}),
        }),
      },
      "/v1/datasets/{datasetId}": {
        get: op(
          "One dataset's latest signed manifest",
          "datasets:read",
          {
            "200": json("dataset", {}),
            "404": errorResponse("Unknown or not allowed"),
          },
          { parameters: [idParam("datasetId", "dataset id")] },
        ),
      },
      "/v1/circuits": {
        get: op("Served circuits with verification keys and their hashes", "datasets:read", {
          "200": json("circuits [{circuitId, vkeyHash, nPublic, constraints, insecure, vkey}]", {}),
        }),
      },
      "/v1/queries": {
        post: op(
          "Submit a query; proving runs in the background",
          "queries:submit",
          {
            "202": json("Accepted: {jobId, statusUrl, bundleUrl, requestId} (Location: statusUrl)", {}),
            "400": errorResponse("invalid_request, invalid_query, query_too_large"),
            "403": errorResponse("policy_denied (aggregate kind or field not allowed) or insufficient_scope"),
            "404": errorResponse("Dataset unknown or not allowed"),
            "409": errorResponse("nonce_reused (the existing jobId is returned) or circuit_retired"),
            "413": errorResponse("Body too large"),
            "429": errorResponse("budget_exhausted, queue_full or rate limited"),
            "503": errorResponse("audit_unavailable: the decision could not be logged, nothing was done"),
          },
          { requestBody: jsonBody(ref("QuerySubmission")) },
        ),
      },
      "/v1/jobs": {
        get: op("Your most recent jobs", "queries:submit", {
          "200": json("jobs", { type: "array", items: ref("Job") }),
        }),
      },
      "/v1/jobs/{jobId}": {
        get: op(
          "Job status and progress",
          "queries:submit",
          {
            "200": json("job", ref("Job")),
            "404": errorResponse("No such job of yours"),
          },
          { parameters: [idParam("jobId", "job id")] },
        ),
      },
      "/v1/jobs/{jobId}/bundle": {
        get: op(
          "The proof bundle of a finished job",
          "queries:submit",
          {
            "200": json("bundle", ref("Bundle")),
            "404": errorResponse("No such job of yours"),
            "409": errorResponse("not_ready (state queued/running) or job_failed"),
          },
          { parameters: [idParam("jobId", "job id")] },
        ),
      },
      "/v1/budget": {
        get: op("Your query budget in the current period", "queries:submit", { "200": json("budget", {}) }),
      },
      "/v1/receipts": {
        get: op("Your audit entries (paged by `after` index, `limit` up to 1000)", "audit:read", {
          "200": json("entries [{index, requestId, action, decision, timestamp}]", {}),
        }),
      },
      "/v1/receipts/{requestId}": {
        get: op(
          "Receipts (inclusion proofs against the current signed tree head) for one of your requests",
          "audit:read",
          {
            "200": json("{logKey, receipts}", {
              type: "object",
              properties: { receipts: { type: "array", items: ref("Receipt") } },
            }),
            "404": errorResponse("No entries of yours with this request id"),
          },
          { parameters: [idParam("requestId", "the X-Request-Id of your request")] },
        ),
      },
      "/v1/audit/tree-head": {
        get: op("Current signed tree head of the audit log", "audit:read", {
          "200": json("{logKey, treeHead}", {}),
        }),
      },
      "/v1/audit/consistency": {
        get: op("Consistency proof between two tree sizes (`from`, optional `to`)", "audit:read", {
          "200": json("{logKey, oldHead, newHead, proof}", {}),
          "400": errorResponse("bad sizes"),
        }),
      },
      "/v1/admin/partners": {
        get: op("List partners", "admin", { "200": json("partners", {}) }),
        post: op(
          "Register a partner {clientId, name?, scopes, policy?}; the client secret is returned once",
          "admin",
          {
            "201": json("{partner, clientSecret}", {}),
            "409": errorResponse("partner_exists"),
          },
        ),
      },
      "/v1/admin/partners/{clientId}": {
        get: op(
          "One partner",
          "admin",
          { "200": json("partner", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/partners/{clientId}/policy": {
        put: op(
          "Replace a partner's policy",
          "admin",
          { "200": json("partner", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/partners/{clientId}/scopes": {
        put: op(
          "Replace a partner's scopes (voids its tokens)",
          "admin",
          { "200": json("partner", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/partners/{clientId}/rotate-secret": {
        post: op(
          "New client secret (returned once); voids tokens",
          "admin",
          { "200": json("{clientSecret}", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/partners/{clientId}/disable": {
        post: op(
          "Disable a partner (voids tokens)",
          "admin",
          { "200": json("partner", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/partners/{clientId}/enable": {
        post: op(
          "Re-enable a partner",
          "admin",
          { "200": json("partner", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/partners/{clientId}/budget/reset": {
        post: op(
          "Reset the current period's budget (audited)",
          "admin",
          { "200": json("budget", {}) },
          { parameters: [idParam("clientId", "client id")] },
        ),
      },
      "/v1/admin/datasets": {
        get: op("All datasets (latest epochs)", "admin", { "200": json("datasets", {}) }),
        post: op(
          "Register a dataset {datasetId, epoch?, schema, rows | csv}: committed, signed, encrypted at rest",
          "admin",
          {
            "201": json("{datasetId, epoch, manifestHash, manifest}", {}),
            "400": errorResponse("invalid_schema, invalid_records, invalid_dataset"),
            "409": errorResponse("epoch_not_newer"),
          },
        ),
      },
      "/v1/admin/keys/rotate": {
        post: op("Rotate the storage key and re-encrypt everything under it", "admin", {
          "200": json("{reencrypted}", {}),
        }),
      },
      "/v1/admin/audit/verify": {
        get: op("Verify the whole audit log against its signed heads", "admin", {
          "200": json("verification", {}),
        }),
      },
    },
  };
}

const escapeHtml = (text: string) =>
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
