/**
 * @module service/views
 *
 * The JSON representations the partner API returns for stored rows (jobs, datasets, audit entries), and
 * the URLs of a job. Stores return rows; only routes (through this module) know paths like `/v1/jobs/{id}`.
 *
 * Security caveat: views expose job metadata, public error codes, manifests and audit entries: public data
 * and the partner's own. The bundle itself is served raw by its route, never embedded here.
 */
import type { AuditEntry } from "../audit/types.ts";
import { formatChunkProgress } from "../prover/chunks.ts";
import type { JobPhase, JobRow, JobState } from "./jobs.ts";
import type { ReleaseRow } from "./releases.ts";

const PHASE_PERCENT: Readonly<Record<JobPhase, number>> = {
  queued: 0,
  starting: 5,
  "loading-dataset": 10,
  proving: 25,
  bundling: 90,
  done: 100,
  failed: 100,
};

/** The percent range the proving phase spans (chunks done move it from `from` to `to`). */
const PROVING_PERCENT = { from: PHASE_PERCENT.proving, to: PHASE_PERCENT.bundling } as const;

/** The job as its owner sees it. */
export interface JobView {
  readonly jobId: string;
  readonly state: JobState;
  readonly progress: {
    readonly phase: string;
    readonly percent: number;
    readonly queuePosition?: number;
    /** While proving and after: chunk proofs done of total in the current attempt. */
    readonly chunks?: { readonly done: number; readonly total: number };
    /** While proving, once a chunk is done: estimated seconds left. */
    readonly etaSeconds?: number;
  };
  readonly attempts: number;
  readonly datasetId: string;
  readonly epoch: number;
  readonly circuitId: string;
  readonly kind: JobRow["kind"];
  readonly queryHash: string;
  readonly nonce: string;
  readonly minGroupSize: number;
  readonly requestId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt?: string;
  readonly error?: { readonly code: string; readonly message: string };
  readonly statusUrl: string;
  readonly bundleUrl?: string;
}

export function jobStatusUrl(jobId: string): string {
  return `/v1/jobs/${jobId}`;
}

export function jobBundleUrl(jobId: string): string {
  return `${jobStatusUrl(jobId)}/bundle`;
}

export function jobView(row: JobRow, queuePosition: number | undefined): JobView {
  return {
    jobId: row.job_id,
    state: row.state,
    progress: progressView(row, queuePosition),
    attempts: row.attempts,
    datasetId: row.dataset_id,
    epoch: row.epoch,
    circuitId: row.circuit_id,
    kind: row.kind,
    queryHash: row.query_hash,
    nonce: row.nonce,
    minGroupSize: row.min_group_size,
    requestId: row.request_id,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    ...(row.finished_at === null ? {} : { finishedAt: new Date(row.finished_at).toISOString() }),
    ...(row.error_code === null ? {} : { error: { code: row.error_code, message: row.error_message ?? "" } }),
    statusUrl: jobStatusUrl(row.job_id),
    ...(row.state === "done" ? { bundleUrl: jobBundleUrl(row.job_id) } : {}),
  };
}

/**
 * A job's progress in words for the command line: `proving: chunks 3/5 done, about 12 s left` (the chunks
 * and the estimate only once proving has started).
 */
export function progressLine(row: JobRow): string {
  if (row.chunks_total === 0) return row.phase;
  return `${row.phase}: ${formatChunkProgress({
    done: row.chunks_done,
    total: row.chunks_total,
    elapsedMs: 0,
    etaMs: row.phase === "proving" && row.eta_ms !== null ? row.eta_ms : undefined,
  })}`;
}

/** Phase percent, refined by the chunks done while proving. */
function progressView(row: JobRow, queuePosition: number | undefined): JobView["progress"] {
  const proving = row.phase === "proving" && row.chunks_total > 0;
  const percent = proving
    ? PROVING_PERCENT.from +
      Math.floor(((PROVING_PERCENT.to - PROVING_PERCENT.from) * row.chunks_done) / row.chunks_total)
    : (PHASE_PERCENT[row.phase as JobPhase] ?? 0);
  return {
    phase: row.phase,
    percent,
    ...(queuePosition === undefined ? {} : { queuePosition }),
    ...(row.chunks_total > 0 ? { chunks: { done: row.chunks_done, total: row.chunks_total } } : {}),
    ...(proving && row.eta_ms !== null ? { etaSeconds: Math.ceil(row.eta_ms / 1000) } : {}),
  };
}

/** A release's URLs (admin routes). */
export function releaseUrls(releaseId: string) {
  const statusUrl = `/v1/admin/releases/${releaseId}`;
  return { statusUrl, documentUrl: `${statusUrl}/release.json`, tsvUrl: `${statusUrl}/release.tsv` };
}

/** The release as the admin sees it (public metadata; the document and TSV are served raw by their routes). */
export function releaseView(row: ReleaseRow, replayed = false) {
  const { passes_done: done, passes_total: total } = row;
  return {
    releaseId: row.release_id,
    state: row.state,
    datasetId: row.dataset_id,
    epoch: row.epoch,
    nonce: row.nonce,
    requestHash: row.request_hash,
    progress: {
      passesDone: done,
      passesTotal: total,
      percent: row.state === "done" ? 100 : Math.floor((90 * done) / Math.max(1, total)),
    },
    attempts: row.attempts,
    ...(replayed ? { replayed: true as const } : {}),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    ...(row.finished_at === null ? {} : { finishedAt: new Date(row.finished_at).toISOString() }),
    ...(row.error_code === null ? {} : { error: { code: row.error_code, message: row.error_message ?? "" } }),
    ...(row.document_hash === null ? {} : { documentHash: row.document_hash }),
    ...releaseUrls(row.release_id),
  };
}

export function entryView(entry: AuditEntry) {
  return {
    index: entry.index,
    requestId: entry.requestId,
    action: entry.action,
    decision: entry.decision,
    timestamp: new Date(entry.timestamp).toISOString(),
    ...(entry.details === undefined ? {} : { details: entry.details }),
  };
}

/** `GET /v1/circuits`: the served circuits with their keys (what `keysFromCircuitListing` reads). */
export function circuitListing<Vkey>(circuit: {
  readonly id: string;
  readonly vkeyHash: string;
  readonly nPublic: number;
  readonly constraints: number;
  readonly insecure: boolean;
  readonly vkey: Vkey;
}) {
  return {
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
  };
}
