/**
 * @module distributed/protocol
 *
 * What the coordinator (the service, coordinator.ts) and the chunk workers (`zktally worker`, worker.ts)
 * agree on over Redis: the BullMQ queue, the chunk job payload, the result and failure slots, the
 * cancellation marker, and the sealing of witness inputs.
 *
 * Keys (under the queue prefix P, default "zktally"): BullMQ's own `P:chunks:*`; per chunk job J (one
 * proving attempt of a service job) the hashes `P:chunk-results:J` and `P:chunk-failures:J`, field = chunk
 * index, written with HSETNX (first write wins, so a chunk proven twice after a stalled worker is still
 * counted once) and a TTL; `P:chunk-cancelled:J` tells workers to skip the rest of a failed job.
 *
 * Witness inputs cross Redis only sealed: AES-256-GCM (storage/keyring.ts) under the workers' key file, with
 * associated data binding the chunk job id and the chunk index (KeyRing context {datasetId: J, epoch: index,
 * purpose: "chunk-input"}), so a ciphertext moved to another chunk or job does not open. The plaintext names
 * the circuit again, and the worker checks it against the payload.
 *
 * Security caveats: results (proofs, public signals) and failure reasons are in clear; they are public
 * or whitelisted texts, and the coordinator verifies every proof against its pinned key before using it.
 * Anyone who can write to Redis can delay or fail jobs (a denial of service), not forge an answer.
 */
import type { Redis } from "ioredis";
import type { Groth16Proof, ProveResult } from "../prover/backend.ts";
import { CHUNK_JOB_ID_PATTERN, type ChunkTask } from "../prover/chunks.ts";
import type { Envelope, KeyRing } from "../storage/keyring.ts";

/** BullMQ queue name (under the prefix). */
export const CHUNK_QUEUE = "chunks";
export const DEFAULT_PREFIX = "zktally";
export const PREFIX_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Result and failure slots outlive a job that nobody cleans up (coordinator crash) by this long. */
export const SLOT_TTL_MS = 6 * 60 * 60 * 1000;

/** The BullMQ job payload of one chunk. */
export interface ChunkJobData {
  readonly v: 1;
  readonly chunkJobId: string;
  readonly index: number;
  readonly total: number;
  readonly circuitId: string;
  /** `SealedChunkInput` sealed for (chunkJobId, index). */
  readonly input: Envelope;
}

/** What one chunk proof puts in its result slot. */
export interface ChunkResultSlot {
  readonly publicSignals: string[];
  readonly proof: Groth16Proof;
  readonly timings: ProveResult["timings"];
  /** Which worker proved it (host:pid), for logs and tests. */
  readonly worker: string;
}

/** Whitelisted failure of one chunk. */
export interface ChunkFailureSlot {
  /** `witness`: the circuit rejected the input (permanent); `failed`: attempts used up or stalled too often. */
  readonly kind: "witness" | "failed";
  readonly circuitId: string;
  /** Sanitised reason (no witness value). */
  readonly reason: string;
}

export const chunkQueueJobId = (chunkJobId: string, index: number): string => `${chunkJobId}_c${index}`;
export const resultsKey = (prefix: string, chunkJobId: string): string =>
  `${prefix}:chunk-results:${chunkJobId}`;
export const failuresKey = (prefix: string, chunkJobId: string): string =>
  `${prefix}:chunk-failures:${chunkJobId}`;
export const cancelledKey = (prefix: string, chunkJobId: string): string =>
  `${prefix}:chunk-cancelled:${chunkJobId}`;

export function assertPrefix(prefix: string): void {
  if (typeof prefix !== "string" || !PREFIX_PATTERN.test(prefix)) {
    throw new TypeError(`redis queue prefix must match ${PREFIX_PATTERN}`);
  }
}

const INPUT_PURPOSE = "chunk-input";

function inputContext(chunkJobId: string, index: number) {
  if (!CHUNK_JOB_ID_PATTERN.test(chunkJobId)) throw new TypeError("bad chunk job id");
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError("bad chunk index");
  return { datasetId: chunkJobId, epoch: index, purpose: INPUT_PURPOSE };
}

/** Seals a chunk task's circuit id and witness input for (chunkJobId, index). */
export function sealChunkInput(
  keyRing: KeyRing,
  chunkJobId: string,
  index: number,
  task: ChunkTask,
): Envelope {
  const plaintext = new TextEncoder().encode(
    JSON.stringify({ circuitId: task.circuitId, input: task.input }),
  );
  try {
    return keyRing.encrypt(plaintext, inputContext(chunkJobId, index));
  } finally {
    plaintext.fill(0);
  }
}

/** Opens a sealed chunk input; throws `DecryptError` if it was sealed for another chunk or key. */
export function openChunkInput(keyRing: KeyRing, data: ChunkJobData): Record<string, unknown> {
  const plaintext = keyRing.decrypt(data.input, inputContext(data.chunkJobId, data.index));
  try {
    const opened = JSON.parse(new TextDecoder().decode(plaintext)) as {
      circuitId?: unknown;
      input?: unknown;
    };
    if (opened.circuitId !== data.circuitId) throw new TypeError("sealed circuit id differs from the job's");
    if (opened.input === null || typeof opened.input !== "object" || Array.isArray(opened.input)) {
      throw new TypeError("sealed input is not an object");
    }
    return opened.input as Record<string, unknown>;
  } finally {
    plaintext.fill(0);
  }
}

/** Writes a slot once (HSETNX) with the slot TTL; true when this call wrote it. */
export async function writeSlotOnce(
  redis: Redis,
  key: string,
  index: number,
  value: unknown,
): Promise<boolean> {
  const replies = await redis
    .multi()
    .hsetnx(key, String(index), JSON.stringify(value))
    .pexpire(key, SLOT_TTL_MS)
    .exec();
  return replies?.[0]?.[1] === 1;
}
