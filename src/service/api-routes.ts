/**
 * @module service/api-routes
 *
 * The route table of the HTTP API: for every endpoint its method, full path (Express syntax), required
 * scope, audit action, request schemas (path parameters, query string, body) and response schemas. The
 * routers register exactly these routes through `mount.ts`, which validates requests with these schemas, and
 * `openapi.ts` generates the OpenAPI document from the same table: one definition, no drift.
 *
 * Conventions: path parameters that do not match their schema answer 404 (an id that cannot exist is an
 * unknown id), query strings and bodies answer 400 with the route's error code. Routes with
 * `auditRefusals` record a refused validation in the audit log like any other refusal of that action.
 *
 * Security caveat: the table is public documentation; summaries and descriptions must name no keys, ids or
 * secrets.
 */
import { z } from "zod";
import * as S from "./api-schemas.ts";
import { parseOrThrow } from "./partners.ts";
import { parsePolicy } from "./policy.ts";
import type { Scope } from "./tokens.ts";

export type HttpMethod = "get" | "post" | "put";

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default `application/json`. */
  readonly contentType?: string;
  /** The handler sends pre-serialised text (e.g. the stored bundle bytes) instead of `res.json`. */
  readonly text?: true;
}

export interface BodySpec<T extends z.ZodType = z.ZodType> {
  readonly schema: T;
  readonly contentType: "application/json" | "application/x-www-form-urlencoded";
  /** Validation with the route's own error code and message; default: `schema`, code `invalid_request`. */
  readonly parse?: (input: unknown) => z.output<T>;
  /** The handler validates (RFC 6749 token requests answer with OAuth error codes); documented only. */
  readonly validatedByHandler?: true;
}

export interface RouteSpec {
  readonly operationId: string;
  readonly method: HttpMethod;
  readonly path: string;
  /** null: public (no token). */
  readonly scope: Scope | null;
  /** Audit action of the route (scope refusals and, with `auditRefusals`, validation refusals). */
  readonly action: string;
  readonly summary: string;
  readonly description?: string;
  readonly params?: z.ZodObject;
  /** What an unmatched path parameter is reported as: "<notFound> not found". */
  readonly notFound?: string;
  readonly query?: z.ZodObject;
  readonly body?: BodySpec;
  readonly auditRefusals?: true;
  readonly responses: Readonly<Record<string, ResponseSpec>>;
}

const error = (description: string) => ({ description, schema: S.errorBodySchema });
const ok = <T extends z.ZodType>(description: string, schema: T) => ({ description, schema });
const route = <const R extends RouteSpec>(spec: R): R => spec;
const jsonBody = <T extends z.ZodType>(schema: T, parse?: (input: unknown) => z.output<T>): BodySpec<T> => ({
  schema,
  contentType: "application/json",
  ...(parse ? { parse } : {}),
});

const jobParams = { params: z.object({ jobId: S.uuidSchema.describe("job id") }), notFound: "job" } as const;
const clientParams = {
  params: z.object({ clientId: S.clientIdSchema }),
  notFound: "partner",
} as const;
const releaseParams = {
  params: z.object({ releaseId: S.uuidSchema.describe("release id") }),
  notFound: "release",
} as const;
const admin = { scope: "admin", auditRefusals: true } as const;

export const API = {
  issueToken: route({
    operationId: "issueToken",
    method: "post",
    path: "/oauth/token",
    scope: null,
    action: "token.issue",
    summary: "Client-credentials token (RFC 6749 section 4.4)",
    description:
      "Client authentication by HTTP Basic (client_id:client_secret) or by `client_id` and `client_secret` " +
      "form fields. Body: `application/x-www-form-urlencoded` with `grant_type=client_credentials` and " +
      "an optional space-separated `scope` (a subset of the partner's scopes).",
    body: {
      schema: S.tokenRequestSchema,
      contentType: "application/x-www-form-urlencoded",
      validatedByHandler: true,
    },
    responses: {
      "200": ok("Access token", S.tokenResponseSchema),
      "400": {
        description: "invalid_request, unsupported_grant_type or invalid_scope",
        schema: S.oauthErrorSchema,
      },
      "401": { description: "invalid_client (`WWW-Authenticate: Basic`)", schema: S.oauthErrorSchema },
      "429": { description: "Too many token requests from this address", schema: S.oauthErrorSchema },
    },
  }),
  jwks: route({
    operationId: "jwks",
    method: "get",
    path: "/.well-known/jwks.json",
    scope: null,
    action: "jwks.read",
    summary: "Public key that signs access tokens",
    responses: { "200": ok("JWK set", S.jwksSchema) },
  }),
  health: route({
    operationId: "health",
    method: "get",
    path: "/healthz",
    scope: null,
    action: "health",
    summary: "Liveness",
    responses: { "200": ok("ok", S.healthSchema) },
  }),
  ready: route({
    operationId: "ready",
    method: "get",
    path: "/readyz",
    scope: null,
    action: "ready",
    summary: "Readiness (database, keys)",
    responses: { "200": ok("ready", S.readySchema), "503": error("not_ready") },
  }),
  openApi: route({
    operationId: "openApi",
    method: "get",
    path: "/openapi.json",
    scope: null,
    action: "openapi.read",
    summary: "This document",
    responses: { "200": ok("OpenAPI 3.1 document", S.openApiSchema) },
  }),
  docs: route({
    operationId: "docs",
    method: "get",
    path: "/docs",
    scope: null,
    action: "docs.read",
    summary: "Readable API documentation (HTML)",
    responses: { "200": { description: "HTML", contentType: "text/html", schema: z.string(), text: true } },
  }),
  verifyPage: route({
    operationId: "verifyPage",
    method: "get",
    path: "/verify",
    scope: null,
    action: "verify-page.read",
    summary: "Browser verification page: drop a proof bundle, it is verified in the browser (HTML)",
    responses: { "200": { description: "HTML", contentType: "text/html", schema: z.string(), text: true } },
  }),
  listDatasets: route({
    operationId: "listDatasets",
    method: "get",
    path: "/v1/datasets",
    scope: "datasets:read",
    action: "datasets.list",
    summary: "Datasets your policy allows, latest epoch, with signed manifests",
    responses: { "200": ok("operator key and datasets", S.datasetListSchema) },
  }),
  readDataset: route({
    operationId: "readDataset",
    method: "get",
    path: "/v1/datasets/:datasetId",
    scope: "datasets:read",
    action: "datasets.read",
    summary: "One dataset's latest signed manifest",
    params: z.object({ datasetId: S.datasetIdSchema }),
    notFound: "dataset",
    responses: { "200": ok("dataset", S.datasetReadSchema), "404": error("Unknown or not allowed") },
  }),
  readDatasetHistory: route({
    operationId: "readDatasetHistory",
    method: "get",
    path: "/v1/datasets/:datasetId/history",
    scope: "datasets:read",
    action: "datasets.read",
    summary: "One dataset's epoch chain: every signed manifest, oldest first",
    params: z.object({ datasetId: S.datasetIdSchema }),
    notFound: "dataset",
    responses: { "200": ok("history", S.datasetHistorySchema), "404": error("Unknown or not allowed") },
  }),
  listCircuits: route({
    operationId: "listCircuits",
    method: "get",
    path: "/v1/circuits",
    scope: "datasets:read",
    action: "circuits.list",
    summary:
      "Served circuits (and the chunk and final circuits of your chunked datasets) with verification keys and their hashes",
    responses: { "200": ok("circuits", S.circuitsSchema) },
  }),
  submitQuery: route({
    operationId: "submitQuery",
    method: "post",
    path: "/v1/queries",
    scope: "queries:submit",
    action: "query.submit",
    summary: "Submit a query; proving runs in the background",
    body: jsonBody(S.submissionSchema),
    auditRefusals: true,
    responses: {
      "202": ok("Accepted (Location: statusUrl)", S.submissionAcceptedSchema),
      "400": error("invalid_request, invalid_query, query_too_large"),
      "403": error(
        "policy_denied (aggregate kind or field not allowed) or insufficient_scope (queries:submit; queries:membership for membership)",
      ),
      "404": error("Dataset unknown or not allowed"),
      "409": error("nonce_reused (the existing jobId is returned) or circuit_retired"),
      "413": error("Body too large"),
      "415": error("The body is not application/json"),
      "429": error("budget_exhausted, queue_full or rate limited"),
      "503": error("audit_unavailable: the decision could not be logged, nothing was done"),
    },
  }),
  submitPass: route({
    operationId: "submitPass",
    method: "post",
    path: "/v1/passes",
    scope: "queries:submit",
    action: "query.submit",
    summary: "Submit 1 to Q pass queries (histograms, DNF predicates, avg) answered by one proof",
    description:
      "The queries are admitted or refused together; each is checked against your policy (aggregate kind, " +
      "fields, structural controls) and counts as one query of your budget and one audit entry. Needs a " +
      "chunked dataset and a service configured for pass queries; the job's bundle is a pass bundle " +
      "(docs/bundle.md). See docs/query-language.md, Pass queries.",
    body: jsonBody(S.passSubmissionSchema),
    auditRefusals: true,
    responses: {
      "202": ok("Accepted (Location: statusUrl)", S.submissionAcceptedSchema),
      "400": error("invalid_request, invalid_query, query_too_large (path names the query: queries[i]...)"),
      "403": error(
        "policy_denied (a query's aggregate kind, field or clause; dp partners) or insufficient_scope",
      ),
      "404": error("Dataset unknown or not allowed"),
      "409": error("nonce_reused, circuit_retired or pass_unavailable (not chunked, or no pass circuits)"),
      "413": error("Body too large"),
      "415": error("The body is not application/json"),
      "429": error("budget_exhausted (the batch needs one query per query), queue_full or rate limited"),
      "503": error("audit_unavailable: the decision could not be logged, nothing was done"),
    },
  }),
  listJobs: route({
    operationId: "listJobs",
    method: "get",
    path: "/v1/jobs",
    scope: "queries:submit",
    action: "jobs.list",
    summary: "Your most recent jobs",
    responses: { "200": ok("jobs", S.jobListSchema) },
  }),
  readJob: route({
    operationId: "readJob",
    method: "get",
    path: "/v1/jobs/:jobId",
    scope: "queries:submit",
    action: "job.read",
    summary: "Job status and progress",
    ...jobParams,
    responses: { "200": ok("job", S.jobSchema), "404": error("No such job of yours") },
  }),
  readBundle: route({
    operationId: "readBundle",
    method: "get",
    path: "/v1/jobs/:jobId/bundle",
    scope: "queries:submit",
    action: "bundle.read",
    summary: "The proof bundle of a finished job",
    ...jobParams,
    responses: {
      "200": { description: "bundle", schema: S.bundleSchema, text: true },
      "404": error("No such job of yours"),
      "409": error("not_ready (state queued/running; `Retry-After`) or job_failed"),
    },
  }),
  readBudget: route({
    operationId: "readBudget",
    method: "get",
    path: "/v1/budget",
    scope: "queries:submit",
    action: "budget.read",
    summary: "Your query budget in the current period",
    responses: { "200": ok("budget", S.budgetSchema) },
  }),
  listReceipts: route({
    operationId: "listReceipts",
    method: "get",
    path: "/v1/receipts",
    scope: "audit:read",
    action: "receipts.list",
    summary: "Your audit entries (paged by `after` index, `limit` up to 1000)",
    query: S.receiptsQuerySchema,
    responses: { "200": ok("entries", S.receiptListSchema), "400": error("invalid_request") },
  }),
  readReceipts: route({
    operationId: "readReceipts",
    method: "get",
    path: "/v1/receipts/:requestId",
    scope: "audit:read",
    action: "receipts.read",
    summary: "Receipts (inclusion proofs against the current signed tree head) for one of your requests",
    params: z.object({ requestId: S.uuidSchema.describe("the X-Request-Id of your request") }),
    notFound: "receipt",
    responses: {
      "200": ok("receipts", S.receiptsSchema),
      "404": error("No entries of yours with this request id"),
    },
  }),
  treeHead: route({
    operationId: "treeHead",
    method: "get",
    path: "/v1/audit/tree-head",
    scope: "audit:read",
    action: "audit.head",
    summary: "Current signed tree head of the audit log",
    responses: { "200": ok("tree head", S.treeHeadResponseSchema) },
  }),
  consistency: route({
    operationId: "consistency",
    method: "get",
    path: "/v1/audit/consistency",
    scope: "audit:read",
    action: "audit.consistency",
    summary: "Consistency proof between two tree sizes (`from`, optional `to`)",
    query: S.consistencyQuerySchema,
    responses: {
      "200": ok("heads and proof", S.consistencySchema),
      "400": error("bad sizes"),
      "404": error("no signed tree head of that size"),
    },
  }),
  transparencyEntries: route({
    operationId: "transparencyEntries",
    method: "get",
    path: "/v1/transparency/entries",
    scope: null,
    action: "transparency.entries",
    summary: "Public transparency log: audit entries with a readable view of queries (no token)",
    description:
      "Entries are served as stored (their canonical JSON is the Merkle leaf), with the signed tree head; " +
      "answers are withheld unless the partner's policy publishes them.",
    query: S.transparencyQuerySchema,
    responses: {
      "200": ok("entries and signed head", S.transparencyEntriesSchema),
      "400": error("bad range"),
    },
  }),
  transparencyHead: route({
    operationId: "transparencyHead",
    method: "get",
    path: "/v1/transparency/tree-head",
    scope: null,
    action: "transparency.head",
    summary: "Public signed tree head of the transparency (audit) log",
    responses: { "200": ok("tree head", S.treeHeadResponseSchema) },
  }),
  transparencyConsistency: route({
    operationId: "transparencyConsistency",
    method: "get",
    path: "/v1/transparency/consistency",
    scope: null,
    action: "transparency.consistency",
    summary: "Public consistency proof between two tree sizes (`from`, optional `to`)",
    query: S.consistencyQuerySchema,
    responses: {
      "200": ok("heads and proof", S.consistencySchema),
      "400": error("bad sizes"),
      "404": error("no signed tree head of that size"),
    },
  }),
  transparencyLogKeys: route({
    operationId: "transparencyLogKeys",
    method: "get",
    path: "/v1/transparency/log-keys",
    scope: null,
    action: "transparency.log-keys",
    summary: "Public audit-log key rotations from the first key: the file for `verify --log-key-chain`",
    responses: { "200": ok("first key, key in force and rotations", S.logKeysSchema) },
  }),
  operatorKeys: route({
    operationId: "operatorKeys",
    method: "get",
    path: "/v1/operator-keys",
    scope: null,
    action: "operator-keys.read",
    summary: "Operator key statements (rotations, revocations): the key-chain file for `verify --key-chain`",
    responses: { "200": ok("current key and statements", S.operatorKeysSchema) },
  }),
  transparencyPage: route({
    operationId: "transparencyPage",
    method: "get",
    path: "/transparency",
    scope: null,
    action: "transparency.page",
    summary: "The transparency log as a page (HTML)",
    responses: { "200": { description: "HTML", contentType: "text/html", schema: z.string(), text: true } },
  }),
  listPartners: route({
    operationId: "listPartners",
    method: "get",
    path: "/v1/admin/partners",
    scope: "admin",
    action: "admin.partner.list",
    summary: "List partners",
    responses: { "200": ok("partners", S.partnerListSchema) },
  }),
  createPartner: route({
    operationId: "createPartner",
    method: "post",
    path: "/v1/admin/partners",
    ...admin,
    action: "admin.partner.create",
    summary: "Register a partner; the client secret is returned once",
    body: jsonBody(S.createPartnerBodySchema, (input) => {
      const parsed = parseOrThrow(S.newPartnerSchema, input, "invalid_partner");
      return { ...parsed, policy: parsePolicy(parsed.policy) };
    }),
    responses: {
      "201": ok("partner and its client secret", S.partnerCreatedSchema),
      "400": error("invalid_partner, invalid_policy"),
      "409": error("partner_exists"),
    },
  }),
  readPartner: route({
    operationId: "readPartner",
    method: "get",
    path: "/v1/admin/partners/:clientId",
    scope: "admin",
    action: "admin.partner.read",
    summary: "One partner",
    ...clientParams,
    responses: { "200": ok("partner", S.partnerSchema), "404": error("No such partner") },
  }),
  setPolicy: route({
    operationId: "setPolicy",
    method: "put",
    path: "/v1/admin/partners/:clientId/policy",
    ...admin,
    action: "admin.partner.policy",
    summary: "Replace a partner's policy",
    ...clientParams,
    body: jsonBody(S.policySchema, parsePolicy),
    responses: {
      "200": ok("partner", S.partnerSchema),
      "400": error("invalid_policy"),
      "404": error("No such partner"),
    },
  }),
  setScopes: route({
    operationId: "setScopes",
    method: "put",
    path: "/v1/admin/partners/:clientId/scopes",
    ...admin,
    action: "admin.partner.scopes",
    summary: "Replace a partner's scopes (voids its tokens)",
    ...clientParams,
    body: jsonBody(S.scopesBodySchema, (input) => parseOrThrow(S.scopesBodySchema, input, "invalid_partner")),
    responses: {
      "200": ok("partner", S.partnerSchema),
      "400": error("invalid_partner"),
      "404": error("No such partner"),
    },
  }),
  rotateSecret: route({
    operationId: "rotateSecret",
    method: "post",
    path: "/v1/admin/partners/:clientId/rotate-secret",
    ...admin,
    action: "admin.partner.rotate",
    summary: "New client secret (returned once); voids tokens",
    ...clientParams,
    responses: { "200": ok("the new secret", S.secretRotatedSchema), "404": error("No such partner") },
  }),
  disablePartner: route({
    operationId: "disablePartner",
    method: "post",
    path: "/v1/admin/partners/:clientId/disable",
    ...admin,
    action: "admin.partner.disable",
    summary: "Disable a partner (voids tokens)",
    ...clientParams,
    responses: { "200": ok("partner", S.partnerSchema), "404": error("No such partner") },
  }),
  enablePartner: route({
    operationId: "enablePartner",
    method: "post",
    path: "/v1/admin/partners/:clientId/enable",
    ...admin,
    action: "admin.partner.enable",
    summary: "Re-enable a partner",
    ...clientParams,
    responses: { "200": ok("partner", S.partnerSchema), "404": error("No such partner") },
  }),
  resetBudget: route({
    operationId: "resetBudget",
    method: "post",
    path: "/v1/admin/partners/:clientId/budget/reset",
    ...admin,
    action: "admin.budget.reset",
    summary: "Reset the current period's budget (audited)",
    ...clientParams,
    responses: { "200": ok("budget before and after", S.budgetResetSchema), "404": error("No such partner") },
  }),
  listAllDatasets: route({
    operationId: "listAllDatasets",
    method: "get",
    path: "/v1/admin/datasets",
    scope: "admin",
    action: "admin.dataset.list",
    summary: "All datasets (latest epochs)",
    responses: { "200": ok("operator key and datasets", S.datasetListSchema) },
  }),
  registerDataset: route({
    operationId: "registerDataset",
    method: "post",
    path: "/v1/admin/datasets",
    ...admin,
    action: "admin.dataset.register",
    summary: "Register a dataset: committed, signed, encrypted at rest",
    body: jsonBody(S.registerDatasetSchema, (input) =>
      parseOrThrow(S.registerDatasetSchema, input, "invalid_dataset"),
    ),
    responses: {
      "201": ok("the committed dataset", S.datasetViewSchema),
      "400": error("invalid_dataset, invalid_schema, invalid_records"),
      "409": error("epoch_not_newer, epoch_fork"),
    },
  }),
  eraseRecords: route({
    operationId: "eraseRecords",
    method: "post",
    path: "/v1/admin/datasets/:datasetId/erasures",
    ...admin,
    action: "admin.dataset.erase",
    summary: "Erase persons' records: queued, applied as a new epoch once the batch is full",
    description:
      "Erasures wait until `erasureBatch` are pending for the dataset (or `force`), then one new epoch " +
      "without the records is committed and every older epoch is crypto-shredded (docs/operations.md).",
    params: z.object({ datasetId: S.datasetIdSchema }),
    notFound: "dataset",
    body: jsonBody(S.erasureRequestSchema, (input) =>
      parseOrThrow(S.erasureRequestSchema, input, "invalid_erasure"),
    ),
    responses: {
      "200": ok("queued or applied", S.erasureOutcomeSchema),
      "400": error("invalid_erasure"),
      "404": error("unknown dataset or no record with a given key"),
    },
  }),
  submitRelease: route({
    operationId: "submitRelease",
    method: "post",
    path: "/v1/admin/datasets/:datasetId/releases",
    ...admin,
    action: "admin.release",
    summary: "Publish a geoeditors-style release: noisy cells per country tier, every cell proven",
    description:
      "Admits the release (one release budget charge per tier, audited per tier) and proves it off the " +
      "request path; poll `statusUrl`, then download `documentUrl` (release.json, checked by the SDK's " +
      "verifyRelease) and `tsvUrl`. The same request with the same nonce returns the same release, " +
      "charged once (docs/privacy.md, Releases).",
    params: z.object({ datasetId: S.datasetIdSchema }),
    notFound: "dataset",
    body: jsonBody(S.releaseRequestSchema, (input) =>
      parseOrThrow(S.releaseRequestSchema, input, "invalid_release"),
    ),
    responses: {
      "202": ok("Accepted (Location: statusUrl)", S.releaseSchema),
      "400": error("invalid_release (the field is named in `path`)"),
      "404": error("Unknown dataset or epoch"),
      "409": error("nonce_reused, release_unavailable or epoch_retired"),
      "429": error(
        "release_budget_exhausted (`releaseBudget.tiers`: every tier's spent and remaining budget)",
      ),
    },
  }),
  readRelease: route({
    operationId: "readRelease",
    method: "get",
    path: "/v1/admin/releases/:releaseId",
    scope: "admin",
    action: "admin.release.read",
    summary: "Release status and progress",
    ...releaseParams,
    responses: { "200": ok("release", S.releaseSchema), "404": error("No such release") },
  }),
  readReleaseDocument: route({
    operationId: "readReleaseDocument",
    method: "get",
    path: "/v1/admin/releases/:releaseId/release.json",
    scope: "admin",
    action: "admin.release.read",
    summary: "The release document (zktally-release/v1), byte-identical to the audited one",
    ...releaseParams,
    responses: {
      "200": { description: "release.json", schema: S.releaseDocumentSchema, text: true },
      "404": error("No such release"),
      "409": error("not_ready (state queued/running; `Retry-After`) or release_failed"),
    },
  }),
  readReleaseTsv: route({
    operationId: "readReleaseTsv",
    method: "get",
    path: "/v1/admin/releases/:releaseId/release.tsv",
    scope: "admin",
    action: "admin.release.read",
    summary: "The released table (wiki, country, activity level, noisy editors) as TSV",
    ...releaseParams,
    responses: {
      "200": {
        description: "release.tsv",
        contentType: "text/tab-separated-values",
        schema: z.string(),
        text: true,
      },
      "404": error("No such release"),
      "409": error("not_ready or release_failed"),
    },
  }),
  rotateTokenKey: route({
    operationId: "rotateTokenKey",
    method: "post",
    path: "/v1/admin/keys/rotate-token",
    ...admin,
    action: "admin.keys.rotate-token",
    summary: "Rotate the token signing key live; tokens of the old key verify until they expire",
    responses: { "200": ok("old and new key ids, when the old key retires", S.tokenKeyRotatedSchema) },
  }),
  rotateLogKey: route({
    operationId: "rotateLogKey",
    method: "post",
    path: "/v1/admin/keys/rotate-log",
    ...admin,
    action: "admin.keys.rotate-log",
    summary: "Rotate the audit log signing key live; old heads keep verifying with the old key",
    description:
      "Appends a rotation entry naming the new key, signed by the old one, then signs with the new key " +
      "(docs/audit.md). Verifiers and monitors pin the log's first key and follow the rotations.",
    responses: {
      "200": ok("old and new log keys, the rotation entry, the new key's head", S.logKeyRotatedSchema),
    },
  }),
  rotateStorageKey: route({
    operationId: "rotateStorageKey",
    method: "post",
    path: "/v1/admin/keys/rotate",
    ...admin,
    action: "admin.keys.rotate",
    summary: "Rotate the storage key and re-encrypt everything under it",
    responses: { "200": ok("how many records were re-encrypted", S.keysRotatedSchema) },
  }),
  verifyAudit: route({
    operationId: "verifyAudit",
    method: "get",
    path: "/v1/admin/audit/verify",
    scope: "admin",
    action: "admin.audit.verify",
    summary: "Verify the whole audit log against its signed heads",
    responses: { "200": ok("verification (first bad index on failure)", S.auditVerificationSchema) },
  }),
} as const satisfies Record<string, RouteSpec>;

/** Every route, in table order. */
export const API_ROUTES: readonly RouteSpec[] = Object.values(API);
