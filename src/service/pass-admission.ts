/**
 * @module service/pass-admission
 *
 * Admission of pass queries (`POST /v1/passes`, design.md section 9): 1..Q queries over one chunked dataset,
 * answered together by one PassStep chain and one PassFinal proof. The batch is admitted or refused as a
 * whole; each query is checked on its own, with the single-query rules (policy.ts, policy-controls.ts):
 *
 * - its aggregate kind must be in the policy's `aggregates` (`avg` and `histogram` are pass-only kinds);
 * - every field it names (any term's clauses, the summed or averaged field, the histogram's fields and summed
 *   field) must be in the policy's `fields`;
 * - the structural controls apply to every clause of every DNF term;
 * - the policy's `requiredClauses` are added to every term, so they are part of what is proven and stated;
 * - the lowered batch must fit the pass circuits (C, M, G, H, Q): `query_too_large` otherwise.
 *
 * The minimum group size k is the policy's, for every query (one per proof): histogram cells below k (or all
 * but fewer than k of the table) come back proven as "fewer than k". A refusal names the query
 * (`queries[i]...`) and depends only on the request, the policy and public state (schema, manifest, circuit
 * shapes, budgets), never on the records. The budget is charged one query per query of the batch (budgets.ts),
 * the audit log gets one entry per query. Names on a string key are mapped to their hashed keys first, as for
 * single queries (query/named-keys.ts).
 *
 * `dp` partners get noisy histogram cells (docs/privacy.md "Noisy histograms through the service"), when config
 * `pass.dp` is set and the manifest announces its PassFinalNoisy: every query must be a count histogram (no
 * `sum`: noisy cells have no clamping), at most H of them, padded to H by repeating the last (the same table
 * with the same nonce gets the same noise, so a repeat reveals nothing and costs nothing). Each asked
 * histogram costs the policy's (epsilon, delta) once (its cells are disjoint: parallel composition), the
 * histograms of a pass add up (sequential composition); no suppression (group size 0), the noise protects
 * small cells. The policy's (epsilon, delta) must be reachable with the circuit's NMAX coins.
 */
import { passQueryShape } from "../circuits/pass-shape.ts";
import type { Schema } from "../dataset/schema.ts";
import type { StringKeyHasher } from "../dataset/string-key.ts";
import { planTiers } from "../prover/prove-noisy-pass.ts";
import { QueryError } from "../query/errors.ts";
import type { Clause } from "../query/model.ts";
import { hashNamedKeys, type NamedKey } from "../query/named-keys.ts";
import {
  canonicalPassQuery,
  encodePassPublic,
  type PassAggregate,
  type PassQuery,
  passQueryHash,
} from "../query/pass.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { canonicalJsonSha256 } from "../util/digest.ts";
import { AccessError, ConflictError } from "../util/errors.ts";
import { answerableDataset } from "./admission.ts";
import type { PassSubmission } from "./api-schemas.ts";
import { chargeFor } from "./budgets.ts";
import { DP_PASS_TIER, type PassCircuitIds, servedPassCircuitIds } from "./chunk-circuits.ts";
import type { ServiceContext } from "./context.ts";
import type { AdmittedQuery } from "./jobs.ts";
import type { Partner } from "./partners.ts";
import { type Policy, withRequiredClauses } from "./policy.ts";
import { checkStructuralControls } from "./policy-controls.ts";
import { publicPassStatement } from "./transparency.ts";

/** Admits a well-formed pass submission (see the module comment); refusals are `ZktallyError`s. */
export function admitPass(
  ctx: ServiceContext,
  partner: Partner,
  submission: PassSubmission,
): AdmittedQuery & { names?: readonly NamedKey[] } {
  const dataset = answerableDataset(ctx, partner, submission.datasetId, submission.epoch);
  const { manifest } = dataset;
  if (manifest.version !== 2) {
    throw new ConflictError(
      "pass_unavailable",
      `pass queries are answered on chunked datasets; dataset ${dataset.datasetId} is committed in one circuit instance (ask it with POST /v1/queries)`,
    );
  }
  const schema = manifest.schema;
  const circuits = servedPassCircuitIds(ctx.config, schema, manifest.layout, ctx.circuit.shape);
  const dp = partner.policy.mode === "dp" ? noisyPassOf(circuits, partner.policy) : undefined;
  if (![circuits.stepId, dp?.finalId ?? circuits.finalId].every((id) => manifest.circuits.includes(id))) {
    throw new ConflictError(
      "pass_unavailable",
      `dataset ${dataset.datasetId} epoch ${dataset.epoch} was committed without this service's pass circuits`,
      { hint: "the operator registers a new epoch of the dataset to make it answerable by pass queries" },
    );
  }
  let hasher: StringKeyHasher | undefined;
  const hasherFor = () => {
    hasher ??= ctx.datasets.stringKeyHasher(dataset.datasetId, dataset.epoch);
    return hasher;
  };
  const named = submission.queries.map((query, q) =>
    atQuery(q, () => hashNamedKeys(query, schema, hasherFor)),
  );
  const asked = named.map(({ query }, q) =>
    atQuery(q, () => provenPassQuery(query, schema, partner.policy, q)),
  );
  const names = named.flatMap((result) => result.names);
  if (dp !== undefined) checkNoisyHistograms(asked, circuits.shape.histogramSlots);
  const queries = dp === undefined ? asked : padToSlots(asked, circuits.shape.histogramSlots);
  const shape = passQueryShape(circuits.shape);
  encodePassPublic(queries, schema, shape);
  const hashes = queries.map((query) => passQueryHash(query, schema));
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    circuitId: circuits.stepId,
    kind: "pass",
    query: canonicalJson(queries),
    queryHash: canonicalJsonSha256(hashes),
    nonce: submission.nonce,
    minGroupSize: dp === undefined ? partner.policy.minGroupSize : 0,
    charge: chargeFor(partner.policy, dataset.datasetId, asked.length),
    ...(dp === undefined ? {} : { noise: dp.noise }),
    items: queries.map((query, q) => ({
      queryHash: hashes[q] as string,
      statement: publicPassStatement(query, schema),
    })),
    ...(names.length === 0 ? {} : { names }),
  };
}

/**
 * A dp partner's noisy pass: the PassFinalNoisy of config `pass.dp` and the per-histogram noise of the policy;
 * `409 pass_unavailable` when the service serves no noisy histograms or the policy's (epsilon, delta) needs
 * more coins than the circuit has. Depends on the config and the policy only.
 */
function noisyPassOf(circuits: PassCircuitIds, policy: Policy) {
  const noisy = circuits.noisy;
  const noise = policy.dp;
  if (noisy === undefined || noise === undefined) {
    throw new ConflictError(
      "pass_unavailable",
      "this service answers no noisy histograms (config pass.dp is off); your policy (dp mode) gets noisy answers only",
      { hint: "the operator enables them with config pass.dp (--pass-dp-max-coins)" },
    );
  }
  try {
    planTiers([{ name: DP_PASS_TIER, epsilon: noise.epsilon, delta: noise.delta }], noisy.shape);
  } catch (error) {
    if (!(error instanceof QueryError || error instanceof RangeError)) throw error;
    throw new ConflictError(
      "pass_unavailable",
      `your policy's noise (epsilon ${noise.epsilon}, delta ${noise.delta}) needs more than the ${noisy.shape.maxCoins} coins of this service's noisy histogram circuit`,
      { hint: "the operator raises config pass.dp.maxCoins or the policy's dp.epsilon" },
    );
  }
  return { finalId: noisy.finalId, noise: { epsilon: noise.epsilon, delta: noise.delta } };
}

/** dp passes: 1..H count histograms (noisy cells are counts: a `sum` would need clamping bounds). */
function checkNoisyHistograms(queries: readonly PassQuery[], histogramSlots: number): void {
  if (queries.length > histogramSlots) {
    throw new QueryError(
      "queries",
      `a noisy pass answers at most H = ${histogramSlots} histograms; this one asks ${queries.length}`,
      "query_too_large",
    );
  }
  queries.forEach((query, q) => {
    const { aggregate } = query;
    if (aggregate.kind !== "histogram") {
      throw new AccessError(
        "policy_denied",
        `queries[${q}]: in dp mode a pass answers count histograms only (noisy cells); ask ${aggregate.kind} with POST /v1/queries`,
        { path: `queries[${q}].aggregate.kind` },
      );
    }
    if (aggregate.sum !== undefined) {
      throw new AccessError(
        "policy_denied",
        `queries[${q}]: in dp mode histogram cells are noisy counts; a histogram with sum has no clamping bounds to scale its noise to, so it is refused (drop aggregate.sum)`,
        { path: `queries[${q}].aggregate.sum` },
      );
    }
  });
}

/** The H tables of a noisy pass: the asked ones, then the last repeated (same query and nonce: same noise). */
function padToSlots(queries: readonly PassQuery[], histogramSlots: number): PassQuery[] {
  const last = queries[queries.length - 1] as PassQuery;
  return [...queries, ...Array.from({ length: histogramSlots - queries.length }, () => last)];
}

/** The canonical query the circuit proves: checked against the policy, then with the required clauses. */
function provenPassQuery(json: unknown, schema: Schema, policy: Policy, q: number): PassQuery {
  const asked = canonicalPassQuery(json, schema);
  checkPassPolicy(asked, schema, policy, `queries[${q}]`);
  if (policy.requiredClauses.length === 0) return asked;
  const anyOf = termsOf(asked).map(
    (term) =>
      withRequiredClauses({ predicate: term, aggregate: { kind: "count" } }, schema, policy).predicate,
  );
  return canonicalPassQuery({ predicate: { anyOf }, aggregate: asked.aggregate }, schema);
}

function termsOf(query: PassQuery): Clause[][] {
  return Array.isArray(query.predicate) ? [query.predicate] : query.predicate.anyOf;
}

/** Fields a pass query names: every term's clause fields and its aggregate's fields. */
export function passReferencedFields(query: PassQuery): string[] {
  const fields = new Set(termsOf(query).flatMap((term) => term.map((clause) => clause.field)));
  for (const field of aggregateFields(query.aggregate)) fields.add(field);
  return [...fields].sort();
}

function aggregateFields(aggregate: PassAggregate): string[] {
  switch (aggregate.kind) {
    case "count":
    case "threshold":
      return [];
    case "sum":
    case "avg":
      return [aggregate.field];
    case "histogram":
      return [...aggregate.by, ...(aggregate.sum === undefined ? [] : [aggregate.sum])];
  }
}

/** Throws `AccessError("policy_denied")` naming the query when the policy refuses its kind, a field or a clause. */
function checkPassPolicy(query: PassQuery, schema: Schema, policy: Policy, at: string): void {
  const kind = query.aggregate.kind;
  if (!policy.aggregates.includes(kind)) {
    throw new AccessError("policy_denied", `${at}: aggregate ${kind} is not allowed by your policy`, {
      path: `${at}.aggregate.kind`,
    });
  }
  const allowed = new Set(policy.fields);
  const denied = passReferencedFields(query).filter((field) => !allowed.has(field));
  if (denied.length > 0) {
    throw new AccessError(
      "policy_denied",
      `${at}: field(s) ${denied.join(", ")} not allowed by your policy`,
      {
        path: at,
      },
    );
  }
  for (const term of termsOf(query)) {
    try {
      checkStructuralControls({ predicate: term, aggregate: { kind: "count" } }, schema, policy);
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      throw new AccessError(error.code, `${at}: ${error.message}`, { path: `${at}.predicate` });
    }
  }
}

/** Runs one query's admission step; a `QueryError` gets the query's index in its path. */
function atQuery<T>(q: number, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    const path = error.path === "" ? `queries[${q}]` : `queries[${q}].${error.path}`;
    throw new QueryError(path, error.reason, error.code as "invalid_query");
  }
}
