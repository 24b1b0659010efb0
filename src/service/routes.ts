/**
 * @module service/routes
 *
 * The partner API under `/v1`: datasets and circuits (public material), query submission (single queries;
 * pass queries, admitted by pass-admission.ts), jobs, bundles, the partner's budget, and the partner's own
 * audit receipts.
 *
 * Admission (`admitQuery`) decides from the request, the partner's policy and public state only (dataset
 * schema and manifest, circuit shape, budget and queue counters), never from the records, so refusals
 * cannot leak answers. Requests are validated by the route table (`api-routes.ts`); the submission body is
 * parsed non-strictly: fields other than `datasetId`, `query`, `nonce` and `epoch` (an older epoch still
 * within retention; default the latest) are dropped, never applied (a client-chosen budget, group size,
 * partner id, role, state, ...).
 *
 * A query on a dataset keyed by a `string-key` may name persons (`user in ["Alice", "Bob"]`): the names are
 * mapped to their hashed keys with the epoch's secret before anything else (query/named-keys.ts), so policy,
 * statement, proof and bundle see keys only; the 202 answer lists the names with their keys for the partner.
 *
 * Security caveats: every read is filtered by the authenticated partner in SQL and answers 404 for anything
 * else, so ids of other partners' jobs, bundles and receipts are indistinguishable from unknown ids.
 * Responses carry manifests, verification keys, job metadata, bundles and receipts: public data and the
 * partner's own answers, never records, salts, secrets or witness values.
 */
import express, { type Router } from "express";
import { chunkQueryShape } from "../circuits/chunk-shape.ts";
import { canonicalQuery, queryHash } from "../query/canonical.ts";
import { encodeQueryPublic } from "../query/lower.ts";
import { hashNamedKeys, type NamedKey } from "../query/named-keys.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { AccessError, ConflictError, isZktallyError, NotFoundError } from "../util/errors.ts";
import { answerableDataset } from "./admission.ts";
import { API } from "./api-routes.ts";
import type { Submission } from "./api-schemas.ts";
import type { AuditSubject } from "./audit.ts";
import { chargeFor, privacyView } from "./budgets.ts";
import { chainCircuitIds, pinnedCircuitViews } from "./chunk-circuits.ts";
import type { ServiceContext } from "./context.ts";
import { datasetView } from "./datasets.ts";
import { jsonBody, partnerOf, stateOf } from "./http.ts";
import { invalidRequest, NotReadyError } from "./http-errors.ts";
import type { AdmittedQuery, Submitted } from "./jobs.ts";
import { routeMounter } from "./mount.ts";
import type { Partner } from "./partners.ts";
import { admitPass } from "./pass-admission.ts";
import {
  checkQueryAgainstPolicy,
  dominanceShareFor,
  minGroupSizeFor,
  withRequiredClauses,
} from "./policy.ts";
import type { Scope } from "./tokens.ts";
import { publicStatement, treeHeadView } from "./transparency.ts";
import { circuitListing, entryView, jobBundleUrl, jobStatusUrl, jobView } from "./views.ts";

/**
 * Admits a well-formed submission against policy and public state; refusals are `ZktallyError`s (an invalid
 * or too large query is a `QueryError` with the offending path).
 */
export function admitQuery(
  ctx: ServiceContext,
  partner: Partner,
  submission: Submission,
  tokenScopes: ReadonlySet<Scope>,
): AdmittedQuery & { names?: readonly NamedKey[] } {
  const dataset = answerableDataset(ctx, partner, submission.datasetId, submission.epoch);
  const { manifest } = dataset;
  const schema = manifest.schema;
  // A chunked dataset is proven by its chain circuits, which take the served circuit's query capacity.
  const chain =
    manifest.version === 2 ? chainCircuitIds(schema, manifest.layout, ctx.circuit.shape) : undefined;
  const circuits = chain ? [chain.chunkId, chain.finalId] : [ctx.circuit.id];
  if (!circuits.every((id) => manifest.circuits.includes(id))) {
    throw new ConflictError(
      "circuit_retired",
      `dataset ${dataset.datasetId} is committed for a circuit this service no longer serves`,
    );
  }
  const named = hashNamedKeys(submission.query, schema, () =>
    ctx.datasets.stringKeyHasher(dataset.datasetId, dataset.epoch),
  );
  const asked = canonicalQuery(named.query, schema);
  if (asked.aggregate.kind === "membership") requireMembershipScope(partner, tokenScopes);
  checkQueryAgainstPolicy(asked, schema, partner.policy);
  const query = withRequiredClauses(asked, schema, partner.policy);
  encodeQueryPublic(query, schema, chain ? chunkQueryShape(chain.shape) : ctx.circuit.shape);
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    circuitId: circuits[0] as string,
    query: canonicalJson(query),
    queryHash: queryHash(query, schema),
    nonce: submission.nonce,
    minGroupSize: minGroupSizeFor(query, partner.policy),
    dominanceShare: dominanceShareFor(query, partner.policy),
    charge: chargeFor(partner.policy, dataset.datasetId),
    statement: publicStatement(query, schema),
    ...(named.names.length === 0 ? {} : { names: named.names }),
  };
}

/** Membership asks about one person: it needs `queries:membership` in the token and in the grant. */
function requireMembershipScope(partner: Partner, tokenScopes: ReadonlySet<Scope>): void {
  const scope: Scope = "queries:membership";
  if (tokenScopes.has(scope) && partner.scopes.includes(scope)) return;
  throw new AccessError("insufficient_scope", `membership queries need scope ${scope}`, {
    details: { scope },
  });
}

/**
 * Submits; the same query with a used nonce returns its job (replayed, uncharged), another query with a used
 * nonce is refused with the URL of the job that used it.
 */
function submitOrPointAtExisting(
  ctx: ServiceContext,
  subject: AuditSubject,
  partner: Partner,
  admitted: AdmittedQuery,
): Submitted {
  try {
    return ctx.jobs.submit(subject, partner, admitted);
  } catch (error) {
    const jobId = isZktallyError(error) && error.code === "nonce_reused" ? error.details.jobId : undefined;
    if (typeof jobId !== "string") throw error;
    throw new ConflictError("nonce_reused", (error as Error).message, {
      details: { jobId, statusUrl: jobStatusUrl(jobId) },
    });
  }
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
    if (!dataset) throw new NotFoundError(`dataset ${id}`);
    res.json({ operatorKey: ctx.operatorKey, ...datasetView(dataset) });
  });

  mount(API.readDatasetHistory, (_req, res, { params }) => {
    const id = params.datasetId;
    const history = partnerOf(res).policy.datasets.includes(id) ? ctx.datasets.history(id) : [];
    if (history.length === 0) throw new NotFoundError(`dataset ${id}`);
    res.json({
      operatorKey: ctx.operatorKey,
      datasetId: id,
      manifests: history.map((item) => item.manifest),
    });
  });

  mount(API.listCircuits, async (_req, res) => {
    const { circuit } = ctx;
    // The chunk and final circuits of the chunked datasets this partner may query, besides the served one.
    const allowed = new Set(partnerOf(res).policy.datasets);
    const chainIds = new Set<string>();
    for (const { datasetId, manifest } of ctx.datasets.listLatest()) {
      if (manifest.version === 2 && allowed.has(datasetId))
        for (const id of manifest.circuits) chainIds.add(id);
    }
    chainIds.delete(circuit.id);
    res.json({
      circuits: [
        ...circuitListing(circuit).circuits,
        ...(await pinnedCircuitViews(ctx.config.keysDir, [...chainIds].sort())),
      ],
    });
  });

  /** Admits (refusals audited), submits and answers 202 with the job's URLs. */
  const submitWith = (
    res: express.Response,
    admit: (partner: Partner) => AdmittedQuery & { names?: readonly NamedKey[] },
  ) => {
    const partner = partnerOf(res);
    const subject = {
      partner: partner.clientId,
      action: "query.submit",
      requestId: stateOf(res).requestId,
    };
    let admitted: AdmittedQuery & { names?: readonly NamedKey[] };
    try {
      admitted = admit(partner);
    } catch (error) {
      ctx.audit.recordRefusal(subject, error);
      throw error;
    }
    const { row: job, replayed } = submitOrPointAtExisting(ctx, subject, partner, admitted);
    ctx.wake();
    res
      .status(202)
      .location(jobStatusUrl(job.job_id))
      .json({
        jobId: job.job_id,
        state: job.state,
        statusUrl: jobStatusUrl(job.job_id),
        bundleUrl: jobBundleUrl(job.job_id),
        requestId: subject.requestId,
        ...(replayed ? { replayed } : {}),
        ...(admitted.names === undefined ? {} : { names: admitted.names }),
      });
  };

  mount(API.submitQuery, (_req, res, { body }) => {
    submitWith(res, (partner) => admitQuery(ctx, partner, body, stateOf(res).token?.scopes ?? new Set()));
  });

  mount(API.submitPass, (_req, res, { body }) => {
    submitWith(res, (partner) => admitPass(ctx, partner, body));
  });

  mount(API.listJobs, (_req, res) => {
    const rows = ctx.jobs.listForPartner(partnerOf(res).clientId, 100);
    res.json({ jobs: rows.map((row) => jobView(row, ctx.jobs.queuePosition(row))) });
  });

  mount(API.readJob, (_req, res, { params }) => {
    const row = ctx.jobs.forPartner(params.jobId, partnerOf(res).clientId);
    if (!row) throw new NotFoundError("job");
    res.json(jobView(row, ctx.jobs.queuePosition(row)));
  });

  mount(API.readBundle, (_req, res, { params }) => {
    // A read of the partner's own answer, not a decision: not audited (query.answer logged its hash), so
    // polling an unfinished job cannot grow the audit log.
    const partner = partnerOf(res);
    const id = params.jobId;
    const row = ctx.jobs.forPartner(id, partner.clientId);
    if (!row) throw new NotFoundError("job");
    if (row.state === "failed") {
      throw new ConflictError("job_failed", "the job failed; it has no bundle", {
        details: { state: row.state },
      });
    }
    const text = ctx.jobs.bundleForPartner(id, partner.clientId);
    if (row.state !== "done" || text === undefined) throw new NotReadyError(row.state);
    res.type("application/json").send(text);
  });

  mount(API.readBudget, (_req, res) => {
    const partner = partnerOf(res);
    const now = ctx.now();
    const standing = ctx.jobs.budgets.queries(partner, now);
    const privacy = partner.policy.datasets.flatMap((datasetId) => {
      const dataset = ctx.jobs.budgets.privacy(partner, datasetId, now);
      return dataset === undefined ? [] : [{ datasetId, ...privacyView(dataset) }];
    });
    res.json({
      mode: partner.policy.mode,
      queries: standing.queries,
      used: standing.used,
      remaining: Math.max(0, standing.queries - standing.used),
      windowSeconds: partner.policy.budget.periodSeconds,
      periodStart: new Date(standing.windowStart).toISOString(),
      periodEnd: new Date(now).toISOString(),
      ...(standing.nextReleaseAt === undefined
        ? {}
        : { nextReleaseAt: new Date(standing.nextReleaseAt).toISOString() }),
      ...(privacy.length === 0 ? {} : { privacy }),
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
    if (entries.length === 0) throw new NotFoundError("receipt");
    const size = ctx.audit.log.size();
    res.json({
      logKey: ctx.audit.log.logKey,
      receipts: entries.map((entry) => ctx.audit.log.receipt(entry.index, size)),
    });
  });

  mount(API.treeHead, (_req, res) => {
    res.json(treeHeadView(ctx.audit.log));
  });

  mount(API.consistency, (_req, res, { query }) => {
    const size = ctx.audit.log.size();
    const to = query.to ?? size;
    if (to > size || query.from > to) throw invalidRequest(`need 0 <= from <= to <= ${size}`);
    const { log } = ctx.audit;
    res.json({
      logKey: log.logKey,
      oldHead: log.headAt(query.from),
      newHead: log.headAt(to),
      proof: log.consistency(query.from, to),
    });
  });

  return router;
}
