/**
 * @module service/transparency
 *
 * The public transparency log (docs/operations.md): who asked what of which dataset epoch and when, in a log
 * nobody can quietly rewrite. It is the audit log itself (src/audit, RFC 6962 with signed tree heads),
 * served without authentication: `GET /v1/transparency/entries` pages through every entry (the exact
 * entry objects, so a monitor recomputes leaf hashes and the signed root) with a readable view of query
 * entries (time, partner, dataset and epoch, the statement in words, outcome), `tree-head` and
 * `consistency` give signed heads and RFC 6962 consistency proofs (with `logKey`, the key signing now, and
 * `firstLogKey`, the key to pin: log key rotations are entries of the log, audit/log-keys), `log-keys` the
 * rotations with their signatures (the chain the SDK follows to check a receipt signed by a later key), and
 * `/transparency` renders the query entries as a static HTML page. `zktally audit monitor URL` (cli/commands/audit-monitor.ts) follows it.
 *
 * What is public: the audit log records decisions with public details only (audit/types refuses
 * secret-looking fields; no records, salts, secrets or tokens ever enter it). Statements in words are
 * recorded at admission (`publicStatement`): a membership query's key is withheld (it names a person).
 * Answers are withheld unless the partner's policy sets `publicAnswers`; then the view shows the answer of
 * its bundle, whose hash the `query.answer` entry carries, so the shown answer is checkable.
 */
import express, { type Router } from "express";
import type { AuditLog } from "../audit/log.ts";
import type { AuditEntry } from "../audit/types.ts";
import type { Schema } from "../dataset/schema.ts";
import { describeQuery } from "../query/canonical.ts";
import type { Query } from "../query/model.ts";
import { describePassQuery, type PassQuery } from "../query/pass.ts";
import { type PassAnswer, passAnswerInWords } from "../verifier/pass-bundle.ts";
import { API } from "./api-routes.ts";
import type { ServiceContext } from "./context.ts";
import { invalidRequest } from "./http-errors.ts";
import { routeMounter } from "./mount.ts";
import { escapeHtml } from "./openapi.ts";
import { OperatorKeys } from "./operator-keys.ts";

const MAX_STATEMENT = 1000;
const PAGE_ENTRIES = 200;

/** The statement of a query in words, safe to publish (a membership key is withheld). */
export function publicStatement(query: Query, schema: Schema): string {
  const withheld =
    query.aggregate.kind === "membership"
      ? `${describeQuery({ ...query, aggregate: { kind: "count" } }, schema).replace(/^count of/, "membership of one record (key withheld) among")}`
      : describeQuery(query, schema);
  return bounded(withheld);
}

/** One pass query in words (pass queries name no person: nothing to withhold). */
export function publicPassStatement(query: PassQuery, schema: Schema): string {
  return bounded(describePassQuery(query, schema));
}

function bounded(statement: string): string {
  return statement.length > MAX_STATEMENT ? `${statement.slice(0, MAX_STATEMENT - 1)}…` : statement;
}

/** The readable view of a query entry (undefined for other actions). */
export function entryPublicView(ctx: ServiceContext, entry: AuditEntry) {
  if (entry.action !== "query.submit" && entry.action !== "query.answer") return undefined;
  const details = entry.details ?? {};
  const outcome =
    entry.action === "query.submit"
      ? entry.decision === "accepted"
        ? "admitted"
        : "refused"
      : answerOutcome(entry);
  const answer = entry.action === "query.answer" ? publicAnswer(ctx, entry) : undefined;
  return {
    time: new Date(entry.timestamp).toISOString(),
    partner: entry.partner,
    ...(typeof details.datasetId === "string" ? { datasetId: details.datasetId } : {}),
    ...(typeof details.epoch === "number" ? { epoch: details.epoch } : {}),
    ...(typeof details.statement === "string" ? { statement: details.statement } : {}),
    outcome,
    ...(answer === undefined ? {} : { answer }),
  };
}

function answerOutcome(entry: AuditEntry): string {
  return entry.decision === "accepted" ? "answered" : "failed";
}

/** The bundle's answer when the partner publishes answers; undefined otherwise. */
function publicAnswer(ctx: ServiceContext, entry: AuditEntry): string | undefined {
  const jobId = entry.details?.jobId;
  if (entry.decision !== "accepted" || typeof jobId !== "string" || entry.partner === null) return undefined;
  const partner = ctx.partners.get(entry.partner);
  if (!(partner?.policy as { publicAnswers?: boolean } | undefined)?.publicAnswers) return undefined;
  const text = ctx.jobs.bundleForPartner(jobId, entry.partner);
  if (text === undefined) return undefined;
  const parsed = JSON.parse(text) as {
    answer?: { suppressed?: boolean; value?: unknown };
    answers?: PassAnswer[];
    minGroupSize?: number;
  };
  const q = entry.details?.query;
  if (parsed.answers !== undefined && typeof q === "number") {
    const one = parsed.answers[q];
    return one === undefined ? undefined : passAnswerInWords(one, parsed.minGroupSize ?? 0);
  }
  const answer = parsed.answer;
  if (answer?.suppressed) return "suppressed";
  return answer?.value === undefined ? undefined : String(answer.value);
}

/** The signed head with the key signing now and the first key (the one to pin). */
export function treeHeadView(log: AuditLog) {
  return { logKey: log.logKey, firstLogKey: log.firstLogKey, treeHead: log.treeHead() };
}

function entriesPage(ctx: ServiceContext, from: number, limit: number) {
  const { log } = ctx.audit;
  const treeHead = log.treeHead();
  if (from > treeHead.treeSize)
    throw invalidRequest(`from must be at most the tree size ${treeHead.treeSize}`);
  const to = Math.min(treeHead.treeSize, from + limit);
  const entries = log.entries(from, to).map((stored) => {
    const entry = JSON.parse(stored.entry) as AuditEntry;
    const view = entryPublicView(ctx, entry);
    const leaf = {
      index: stored.index,
      leafHash: stored.leafHash,
      entry: entry as unknown as Record<string, unknown>,
    };
    return view === undefined ? leaf : { ...leaf, view };
  });
  return { logKey: log.logKey, firstLogKey: log.firstLogKey, treeHead, entries };
}

export function transparencyRouter(ctx: ServiceContext): Router {
  const router = express.Router();
  const mount = routeMounter(ctx, router, "");
  mount(API.transparencyEntries, (_req, res, { query }) => {
    res.json(entriesPage(ctx, query.from ?? 0, query.limit ?? PAGE_ENTRIES));
  });
  mount(API.transparencyHead, (_req, res) => {
    res.json(treeHeadView(ctx.audit.log));
  });
  mount(API.transparencyConsistency, (_req, res, { query }) => {
    const { log } = ctx.audit;
    const size = log.size();
    const to = query.to ?? size;
    if (to > size || query.from > to) throw invalidRequest(`need 0 <= from <= to <= ${size}`);
    res.json({
      logKey: log.logKey,
      oldHead: log.headAt(query.from),
      newHead: log.headAt(to),
      proof: log.consistency(query.from, to),
    });
  });
  mount(API.transparencyLogKeys, (_req, res) => {
    const { log } = ctx.audit;
    res.json({ firstLogKey: log.firstLogKey, logKey: log.logKey, rotations: [...log.keyRotations()] });
  });
  mount(API.operatorKeys, (_req, res) => {
    const statements = new OperatorKeys(ctx.db, ctx.datasets.storageCipher, ctx.now).statements();
    res.json({
      operatorKey: ctx.operatorKey,
      statements: statements as unknown as Record<string, unknown>[],
    });
  });
  mount(API.transparencyPage, (_req, res) => {
    res.type("html").send(page(ctx));
  });
  return router;
}

/** The latest query entries as a static HTML table (no scripts). */
function page(ctx: ServiceContext): string {
  const { log } = ctx.audit;
  const head = log.treeHead();
  const from = Math.max(0, head.treeSize - PAGE_ENTRIES);
  const rows = log
    .entries(from, head.treeSize)
    .map((stored) => ({
      index: stored.index,
      view: entryPublicView(ctx, JSON.parse(stored.entry) as AuditEntry),
    }))
    .filter((row) => row.view !== undefined)
    .reverse()
    .map(({ index, view }) => {
      const v = view as NonNullable<typeof view>;
      const cells = [
        String(index),
        v.time,
        v.partner ?? "",
        v.datasetId === undefined ? "" : `${v.datasetId} epoch ${v.epoch ?? "?"}`,
        v.statement ?? "",
        v.outcome,
        v.answer ?? "withheld",
      ];
      return `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`;
    });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zktally transparency log</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:80rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
code{font:13px ui-monospace,monospace}</style></head><body>
<h1>Transparency log</h1>
<p>Every query admitted and answered, as recorded in the service's append-only audit log. Signed tree head:
size <code>${head.treeSize}</code>, root <code>${escapeHtml(head.rootHash)}</code>, log key
<code>${escapeHtml(head.logKey)}</code>. Entries, heads and consistency proofs:
<a href="/v1/transparency/entries">/v1/transparency/entries</a>; follow it with <code>zktally audit monitor URL</code>.</p>
<table><thead><tr><th>#</th><th>time</th><th>partner</th><th>dataset</th><th>statement</th><th>outcome</th><th>answer</th></tr></thead>
<tbody>${rows.join("\n")}</tbody></table></body></html>`;
}
