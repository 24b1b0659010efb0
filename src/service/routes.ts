/**
 * @module service/routes
 *
 * The partner API under `/v1`: datasets and circuits (public material), query submission, jobs, bundles,
 * the partner's budget, and the partner's own audit receipts.
 *
 * Admission (`admitQuery`) decides from the request, the partner's policy and public state only (dataset
 * schema and manifest, circuit shape, budget and queue counters), never from the records, so refusals
 * cannot leak answers. The body is parsed non-strictly: fields other than `datasetId`, `query` and `nonce`
 * (a client-chosen budget, group size, partner id, role, epoch, state, ...) are dropped, never applied.
 *
 * Security caveats: every read is filtered by the authenticated partner in SQL and answers 404 for anything
 * else, so ids of other partners' jobs, bundles and receipts are indistinguishable from unknown ids.
 * Responses carry manifests, verification keys, job metadata, bundles and receipts: public data and the
 * partner's own answers, never records, salts, secrets or witness values.
 */
import express, { type Router } from "express";
import { z } from "zod";
import type { AuditEntry } from "../audit/types.ts";
import { DATASET_ID_PATTERN } from "../dataset/salt.ts";
import { canonicalQuery, queryHash } from "../query/canonical.ts";
import { QueryError } from "../query/errors.ts";
import { encodeQueryPublic } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import type { ServiceContext } from "./context.ts";
import { scalar } from "./db.ts";
import { ApiError, notFound } from "./errors.ts";
import { guard, jsonBody, partnerOf, requireJsonObject, stateOf } from "./http.ts";
import type { AdmittedQuery } from "./jobs.ts";
import { type Partner, parseOrThrow } from "./partners.ts";
import { checkQueryAgainstPolicy, periodStart } from "./policy.ts";

const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const CANONICAL = /^(0|[1-9][0-9]*)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Non-strict on purpose: unknown fields are stripped (mass assignment is ignored, not applied). */
const submissionSchema = z.object({
  datasetId: z.string().regex(DATASET_ID_PATTERN, `must match ${DATASET_ID_PATTERN}`),
  query: z.unknown().refine((value) => value !== undefined, "is required"),
  nonce: z
    .string()
    .max(78)
    .regex(CANONICAL, "must be a canonical decimal string")
    // zod runs refinements even after a failed regex: only convert what is a decimal string.
    .refine(
      (value) => !CANONICAL.test(value) || BigInt(value) < FIELD_ORDER,
      "must be below the BN254 scalar field order",
    ),
});

/** Validates a submission against policy and public state; throws `ApiError` refusals. */
export function admitQuery(ctx: ServiceContext, partner: Partner, body: unknown): AdmittedQuery {
  const submission = parseOrThrow(submissionSchema, body, "invalid_request");
  const dataset = ctx.datasets.latest(submission.datasetId);
  if (!dataset || !partner.policy.datasets.includes(submission.datasetId))
    throw notFound(`dataset ${submission.datasetId}`);
  if (!dataset.manifest.circuits.includes(ctx.circuit.id)) {
    throw new ApiError(
      409,
      "circuit_retired",
      `dataset ${dataset.datasetId} is committed for a circuit this service no longer serves`,
    );
  }
  const schema = dataset.manifest.schema;
  let query: Query;
  try {
    query = canonicalQuery(submission.query, schema);
    encodeQueryPublic(query, schema, ctx.circuit.shape);
  } catch (error) {
    if (error instanceof QueryError) {
      throw new ApiError(400, "invalid_query", error.message, { extra: { path: error.path } });
    }
    if (error instanceof RangeError) throw new ApiError(400, "query_too_large", error.message);
    throw error;
  }
  checkQueryAgainstPolicy(query, schema, partner.policy);
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    circuitId: ctx.circuit.id,
    query: canonicalJson(query),
    queryHash: queryHash(query, schema),
    nonce: submission.nonce,
    minGroupSize: partner.policy.minGroupSize,
  };
}

function datasetView(dataset: { datasetId: string; epoch: number; manifestHash: string; manifest: unknown }) {
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    manifestHash: dataset.manifestHash,
    manifest: dataset.manifest,
  };
}

function entryView(entry: AuditEntry) {
  return {
    index: entry.index,
    requestId: entry.requestId,
    action: entry.action,
    decision: entry.decision,
    timestamp: new Date(entry.timestamp).toISOString(),
    ...(entry.details === undefined ? {} : { details: entry.details }),
  };
}

const listSchema = z.object({
  after: z.coerce.number().int().min(-1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

const consistencySchema = z.object({
  from: z.coerce.number().int().min(0),
  to: z.coerce.number().int().min(0).optional(),
});

export function partnerRouter(ctx: ServiceContext): Router {
  const router = express.Router();
  const json = jsonBody(ctx.config.bodyLimitBytes);

  router.get("/datasets", ...guard(ctx, "datasets:read", "datasets.list"), (_req, res) => {
    const allowed = new Set(partnerOf(res).policy.datasets);
    const datasets = ctx.datasets.listLatest().filter((dataset) => allowed.has(dataset.datasetId));
    res.json({ operatorKey: ctx.operatorKey, datasets: datasets.map(datasetView) });
  });

  router.get("/datasets/:datasetId", ...guard(ctx, "datasets:read", "datasets.read"), (req, res) => {
    const id = String(req.params.datasetId);
    const dataset = partnerOf(res).policy.datasets.includes(id) ? ctx.datasets.latest(id) : undefined;
    if (!dataset) throw notFound(`dataset ${id}`);
    res.json({ operatorKey: ctx.operatorKey, ...datasetView(dataset) });
  });

  router.get("/circuits", ...guard(ctx, "datasets:read", "circuits.list"), (_req, res) => {
    const { circuit } = ctx;
    res.json({
      circuits: [
        {
          circuitId: circuit.id,
          vkeyHash: circuit.vkeyHash,
          nPublic: circuit.nPublic,
          constraints: circuit.constraints,
          insecure: circuit.insecure,
          vkey: circuit.vkey,
        },
      ],
    });
  });

  router.post(
    "/queries",
    ...guard(ctx, "queries:submit", "query.submit"),
    ...json,
    requireJsonObject,
    (req, res) => {
      const partner = partnerOf(res);
      const subject = {
        partner: partner.clientId,
        action: "query.submit",
        requestId: stateOf(res).requestId,
      };
      let admitted: AdmittedQuery;
      try {
        admitted = admitQuery(ctx, partner, req.body);
      } catch (error) {
        ctx.audit.recordRefusal(subject, error);
        throw error;
      }
      const job = ctx.jobs.submit(subject, partner, admitted);
      ctx.wake();
      const view = ctx.jobs.view(job);
      res
        .status(202)
        .location(view.statusUrl)
        .json({
          jobId: view.jobId,
          state: view.state,
          statusUrl: view.statusUrl,
          bundleUrl: `${view.statusUrl}/bundle`,
          requestId: subject.requestId,
        });
    },
  );

  router.get("/jobs", ...guard(ctx, "queries:submit", "jobs.list"), (_req, res) => {
    const rows = ctx.jobs.listForPartner(partnerOf(res).clientId, 100);
    res.json({ jobs: rows.map((row) => ctx.jobs.view(row)) });
  });

  router.get("/jobs/:jobId", ...guard(ctx, "queries:submit", "job.read"), (req, res) => {
    const id = String(req.params.jobId);
    const row = UUID.test(id) ? ctx.jobs.forPartner(id, partnerOf(res).clientId) : undefined;
    if (!row) throw notFound("job");
    res.json(ctx.jobs.view(row));
  });

  router.get("/jobs/:jobId/bundle", ...guard(ctx, "queries:submit", "bundle.read"), (req, res) => {
    const partner = partnerOf(res);
    const id = String(req.params.jobId);
    const subject = { partner: partner.clientId, action: "bundle.read", requestId: stateOf(res).requestId };
    const bundle = ctx.audit.decide(subject, () => {
      const row = UUID.test(id) ? ctx.jobs.forPartner(id, partner.clientId) : undefined;
      if (!row) throw notFound("job");
      if (row.state === "failed") {
        throw new ApiError(409, "job_failed", "the job failed; it has no bundle", {
          extra: { state: row.state },
        });
      }
      const text = ctx.jobs.bundleForPartner(id, partner.clientId);
      if (row.state !== "done" || text === undefined) {
        throw new ApiError(409, "not_ready", "the proof is not ready yet", {
          headers: { "Retry-After": "1" },
          extra: { state: row.state },
        });
      }
      return { result: text, details: { jobId: id } };
    });
    res.type("application/json").send(bundle);
  });

  router.get("/budget", ...guard(ctx, "queries:submit", "budget.read"), (_req, res) => {
    const partner = partnerOf(res);
    const start = periodStart(partner.policy, ctx.now());
    const used =
      (scalar(ctx.db, "SELECT used FROM budgets WHERE partner_id = ? AND period_start = ?").get(
        partner.clientId,
        start,
      ) as number | undefined) ?? 0;
    const { queries, periodSeconds } = partner.policy.budget;
    res.json({
      queries,
      used,
      remaining: Math.max(0, queries - used),
      periodStart: new Date(start).toISOString(),
      periodEnd: new Date(start + periodSeconds * 1000).toISOString(),
    });
  });

  router.get("/receipts", ...guard(ctx, "audit:read", "receipts.list"), (req, res) => {
    const query = parseOrThrow(listSchema, req.query, "invalid_request");
    const entries = ctx.audit.log.findEntries({
      partner: partnerOf(res).clientId,
      afterIndex: query.after ?? -1,
      limit: query.limit ?? 100,
    });
    res.json({
      logKey: ctx.audit.log.logKey,
      entries: entries.map((entry) => entryView(JSON.parse(entry.entry))),
    });
  });

  router.get("/receipts/:requestId", ...guard(ctx, "audit:read", "receipts.read"), (req, res) => {
    const requestId = String(req.params.requestId);
    const entries = UUID.test(requestId)
      ? ctx.audit.log.findEntries({ partner: partnerOf(res).clientId, requestId, limit: 100 })
      : [];
    if (entries.length === 0) throw notFound("receipt");
    const size = ctx.audit.log.size();
    res.json({
      logKey: ctx.audit.log.logKey,
      receipts: entries.map((entry) => ctx.audit.log.receipt(entry.index, size)),
    });
  });

  router.get("/audit/tree-head", ...guard(ctx, "audit:read", "audit.head"), (_req, res) => {
    res.json({ logKey: ctx.audit.log.logKey, treeHead: ctx.audit.log.treeHead() });
  });

  router.get("/audit/consistency", ...guard(ctx, "audit:read", "audit.consistency"), (req, res) => {
    const query = parseOrThrow(consistencySchema, req.query, "invalid_request");
    const size = ctx.audit.log.size();
    const to = query.to ?? size;
    if (to > size || query.from > to)
      throw new ApiError(400, "invalid_request", `need 0 <= from <= to <= ${size}`);
    const { log } = ctx.audit;
    const headAt = (treeSize: number) => {
      try {
        return log.headAt(treeSize);
      } catch (error) {
        if (error instanceof RangeError) throw notFound(`signed tree head of size ${treeSize}`);
        throw error;
      }
    };
    res.json({
      logKey: log.logKey,
      oldHead: headAt(query.from),
      newHead: headAt(to),
      proof: log.consistency(query.from, to),
    });
  });

  return router;
}
