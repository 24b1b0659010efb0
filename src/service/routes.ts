/**
 * @module service/routes
 *
 * The partner API under `/v1`: datasets and circuits (public material), query submission, jobs, bundles,
 * the partner's budget, and the partner's own audit receipts.
 *
 * Admission (`admitQuery`) decides from the request, the partner's policy and public state only (dataset
 * schema and manifest, circuit shape, budget and queue counters), never from the records, so refusals
 * cannot leak answers. Requests are validated by the route table (`api-routes.ts`); the submission body is
 * parsed non-strictly: fields other than `datasetId`, `query` and `nonce` (a client-chosen budget, group
 * size, partner id, role, epoch, state, ...) are dropped, never applied.
 *
 * Security caveats: every read is filtered by the authenticated partner in SQL and answers 404 for anything
 * else, so ids of other partners' jobs, bundles and receipts are indistinguishable from unknown ids.
 * Responses carry manifests, verification keys, job metadata, bundles and receipts: public data and the
 * partner's own answers, never records, salts, secrets or witness values.
 */
import express, { type Router } from "express";
import type { AuditEntry } from "../audit/types.ts";
import { canonicalQuery, queryHash } from "../query/canonical.ts";
import { QueryError } from "../query/errors.ts";
import { encodeQueryPublic } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { API } from "./api-routes.ts";
import type { Submission } from "./api-schemas.ts";
import type { ServiceContext } from "./context.ts";
import { datasetView } from "./datasets.ts";
import { scalar } from "./db.ts";
import { ApiError, notFound } from "./errors.ts";
import { jsonBody, partnerOf, stateOf } from "./http.ts";
import type { AdmittedQuery } from "./jobs.ts";
import { routeMounter } from "./mount.ts";
import type { Partner } from "./partners.ts";
import { checkQueryAgainstPolicy, periodStart } from "./policy.ts";

/** Admits a well-formed submission against policy and public state; throws `ApiError` refusals. */
export function admitQuery(ctx: ServiceContext, partner: Partner, submission: Submission): AdmittedQuery {
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

export function partnerRouter(ctx: ServiceContext): Router {
  const router = express.Router();
  const json = jsonBody(ctx.config.bodyLimitBytes);
  const mount = routeMounter(ctx, router, "/v1", { json });

  mount(API.listDatasets, (_req, res) => {
    const allowed = new Set(partnerOf(res).policy.datasets);
    const datasets = ctx.datasets.listLatest().filter((dataset) => allowed.has(dataset.datasetId));
    res.json({ operatorKey: ctx.operatorKey, datasets: datasets.map(datasetView) });
  });

  mount(API.readDataset, (_req, res, { params }) => {
    const id = params.datasetId;
    const dataset = partnerOf(res).policy.datasets.includes(id) ? ctx.datasets.latest(id) : undefined;
    if (!dataset) throw notFound(`dataset ${id}`);
    res.json({ operatorKey: ctx.operatorKey, ...datasetView(dataset) });
  });

  mount(API.listCircuits, (_req, res) => {
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

  mount(API.submitQuery, (_req, res, { body }) => {
    const partner = partnerOf(res);
    const subject = {
      partner: partner.clientId,
      action: "query.submit",
      requestId: stateOf(res).requestId,
    };
    let admitted: AdmittedQuery;
    try {
      admitted = admitQuery(ctx, partner, body);
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
  });

  mount(API.listJobs, (_req, res) => {
    const rows = ctx.jobs.listForPartner(partnerOf(res).clientId, 100);
    res.json({ jobs: rows.map((row) => ctx.jobs.view(row)) });
  });

  mount(API.readJob, (_req, res, { params }) => {
    const row = ctx.jobs.forPartner(params.jobId, partnerOf(res).clientId);
    if (!row) throw notFound("job");
    res.json(ctx.jobs.view(row));
  });

  mount(API.readBundle, (_req, res, { params }) => {
    const partner = partnerOf(res);
    const id = params.jobId;
    const subject = { partner: partner.clientId, action: "bundle.read", requestId: stateOf(res).requestId };
    const bundle = ctx.audit.decide(subject, () => {
      const row = ctx.jobs.forPartner(id, partner.clientId);
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

  mount(API.readBudget, (_req, res) => {
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

  mount(API.listReceipts, (_req, res, { query }) => {
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

  mount(API.readReceipts, (_req, res, { params }) => {
    const { requestId } = params;
    const entries = ctx.audit.log.findEntries({ partner: partnerOf(res).clientId, requestId, limit: 100 });
    if (entries.length === 0) throw notFound("receipt");
    const size = ctx.audit.log.size();
    res.json({
      logKey: ctx.audit.log.logKey,
      receipts: entries.map((entry) => ctx.audit.log.receipt(entry.index, size)),
    });
  });

  mount(API.treeHead, (_req, res) => {
    res.json({ logKey: ctx.audit.log.logKey, treeHead: ctx.audit.log.treeHead() });
  });

  mount(API.consistency, (_req, res, { query }) => {
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
