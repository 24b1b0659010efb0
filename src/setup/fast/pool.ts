/**
 * @module setup/fast/pool
 *
 * Fixed-base scalar multiplication of the BN254 generators on worker threads: `FixedBasePool` computes
 * k_i * G1 or k_i * G2 for long runs of scalars, given as compact `ScalarSpec`s (explicit list, geometric
 * series, Lagrange evaluations) that each worker expands for its own index range with the wasm Fr code, then
 * multiplies with a d-ary comb (one precomputed table row of 2^w
 * multiples per w-bit window, so a 254-bit scalar costs ceil(254/w) mixed additions instead of ~254
 * doublings). Each worker runs the very wasm code of snarkjs's ffjavascript curve, so the affine LEM bytes it
 * returns are the ones snarkjs would write for the same points. It also converts points to the compressed /
 * uncompressed encodings snarkjs hashes. The window is chosen per group from the expected number of points
 * (table-building cost vs per-point cost), with tables capped at `MAX_TABLE_BYTES`.
 *
 * Security caveat: the scalars are the known toxic waste of INSECURE development setups; the arithmetic is
 * variable-time and the scalars cross thread boundaries in plain memory.
 */

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type Group, getCurve, SetupError } from "./curve.ts";
import { encodeScalars } from "./field.ts";
import { type ScalarSpec, sliceSpec } from "./lagrange.ts";

/** Per-worker cap on a comb table (the wasm heap of each worker holds one table per group). */
export const MAX_TABLE_BYTES = 96 * 1024 * 1024;

const AFFINE_BYTES: Record<Group, number> = { G1: 64, G2: 128 };

/**
 * Which encodings `multiply` returns: affine LEM (as written in ptau/zkey files), compressed, uncompressed,
 * and (for tests) the expanded scalars themselves.
 */
export interface PointFormats {
  readonly lem?: boolean;
  readonly c?: boolean;
  readonly u?: boolean;
  readonly scalars?: boolean;
}

export interface MultiplyResult {
  readonly lem?: Uint8Array;
  readonly c?: Uint8Array;
  readonly u?: Uint8Array;
  readonly scalars?: Uint8Array;
}

const FORMAT_KEYS = ["lem", "c", "u", "scalars"] as const;

export interface PoolOptions {
  /** Worker threads; default `availableParallelism()` capped at 16. */
  readonly threads?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * Comb window for `points` multiplications split over `threads` workers: minimises
 * ceil(254/w) * (points + table entries) / threads with the table within MAX_TABLE_BYTES.
 */
export function chooseWindow(group: Group, points: number, threads: number): number {
  let best = 2;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let w = 2; w <= 20; w++) {
    const windows = Math.ceil(254 / w);
    if (windows * 2 ** w * AFFINE_BYTES[group] > MAX_TABLE_BYTES) break;
    // Table rows are built cooperatively, so both terms divide by the thread count.
    const cost = (windows * (points + 2 ** w)) / threads;
    if (cost < bestCost) {
      bestCost = cost;
      best = w;
    }
  }
  return best;
}

class PoolWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL("./pool-worker.mjs", import.meta.url));
    this.worker.on("message", (msg: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const entry = this.pending.get(msg.id);
      if (!entry) return;
      this.pending.delete(msg.id);
      if (msg.ok) entry.resolve(msg.value);
      else entry.reject(new SetupError(`fixed-base worker failed: ${msg.error}`));
    });
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => this.fail(new SetupError(`fixed-base worker exited (${code})`)));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const entry of this.pending.values()) entry.reject(error);
    this.pending.clear();
  }

  call<T>(op: string, args: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

/** Splits n items into `parts` contiguous ranges of near-equal size (empty ranges dropped). */
function splitRanges(n: number, parts: number): [number, number][] {
  const ranges: [number, number][] = [];
  const per = Math.ceil(n / parts);
  for (let lo = 0; lo < n; lo += per) ranges.push([lo, Math.min(n, lo + per)]);
  return ranges;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A set of worker threads with per-group comb tables for the BN254 generators. */
export class FixedBasePool {
  private readonly windows = new Map<Group, number>();
  private closed = false;

  private constructor(private readonly workers: PoolWorker[]) {}

  /** Starts the workers and loads the curve's wasm code into each. */
  static async open(options: PoolOptions = {}): Promise<FixedBasePool> {
    const threads = options.threads ?? Math.min(16, Math.max(1, availableParallelism()));
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new RangeError(`threads must be an integer in 1..64, got ${String(threads)}`);
    }
    const code = (await getCurve()).wasmCode;
    const workers = Array.from({ length: threads }, () => new PoolWorker());
    const pool = new FixedBasePool(workers);
    try {
      await Promise.all(workers.map((w) => w.call("init", { code: code.slice() })));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Window of the installed table of `group`, if any. */
  windowOf(group: Group): number | undefined {
    return this.windows.get(group);
  }

  /**
   * Builds and installs the comb table of `group`, sized for about `expectedPoints` multiplications.
   * Rows are built cooperatively by all workers, then every worker receives the full table.
   */
  async prepare(group: Group, expectedPoints: number): Promise<void> {
    this.assertOpen();
    if (this.windows.has(group)) throw new SetupError(`${group} table already prepared`);
    const w = chooseWindow(group, Math.max(1, expectedPoints), this.workers.length);
    const nWin = Math.ceil(254 / w);
    const curve = await getCurve();
    const generator = curve[group].toAffine(curve[group].g);
    const assignment = this.workers.map((_, t) =>
      Array.from({ length: nWin }, (_, k) => k).filter((k) => k % this.workers.length === t),
    );
    const built = await Promise.all(
      this.workers.map((worker, t) =>
        (assignment[t] as number[]).length === 0
          ? Promise.resolve(new Uint8Array(0))
          : worker.call<Uint8Array>("rows", { group, w, rows: assignment[t], generator }),
      ),
    );
    const rowBytes = 2 ** w * AFFINE_BYTES[group];
    const table = new Uint8Array(nWin * rowBytes);
    assignment.forEach((rows, t) => {
      rows.forEach((k, index) => {
        table.set((built[t] as Uint8Array).subarray(index * rowBytes, (index + 1) * rowBytes), k * rowBytes);
      });
    });
    await Promise.all(this.workers.map((worker) => worker.call("table", { group, w, table })));
    this.windows.set(group, w);
  }

  /** k_i * generator for the scalars a spec describes, in the requested encodings (worker ranges in order). */
  async multiply(group: Group, spec: ScalarSpec, formats: PointFormats): Promise<MultiplyResult> {
    this.assertOpen();
    if (!this.windows.has(group)) throw new SetupError(`${group} table not prepared`);
    if (!Number.isInteger(spec.count) || spec.count < 0) throw new RangeError("spec.count must be >= 0");
    if (spec.count === 0) return emptyResult(formats);
    const ranges = splitRanges(spec.count, this.workers.length);
    const parts = await Promise.all(
      ranges.map(([lo, hi], t) =>
        (this.workers[t] as PoolWorker).call<MultiplyResult>("mul", {
          group,
          spec: wireSpec(sliceSpec(spec, lo, hi)),
          count: hi - lo,
          formats,
        }),
      ),
    );
    const out: Record<string, Uint8Array> = {};
    for (const key of FORMAT_KEYS)
      if (formats[key]) out[key] = concat(parts.map((p) => p[key] as Uint8Array));
    return out as MultiplyResult;
  }

  /** The scalars of a spec, expanded by the workers with the wasm Fr code (32-byte LE words). */
  async expand(spec: ScalarSpec): Promise<Uint8Array> {
    this.assertOpen();
    if (spec.count === 0) return new Uint8Array(0);
    const ranges = splitRanges(spec.count, this.workers.length);
    const parts = await Promise.all(
      ranges.map(([lo, hi], t) =>
        (this.workers[t] as PoolWorker).call<Uint8Array>("expand", {
          spec: wireSpec(sliceSpec(spec, lo, hi)),
          count: hi - lo,
        }),
      ),
    );
    return concat(parts);
  }

  /** Affine LEM points -> uncompressed ("u") or compressed ("c") encodings. */
  async convert(group: Group, points: Uint8Array, to: "u" | "c"): Promise<Uint8Array> {
    this.assertOpen();
    const size = AFFINE_BYTES[group];
    if (points.byteLength % size !== 0) throw new RangeError(`points must be ${size}-byte affine points`);
    const ranges = splitRanges(points.byteLength / size, this.workers.length);
    const parts = await Promise.all(
      ranges.map(([lo, hi], t) => {
        const chunk = points.slice(lo * size, hi * size);
        return (this.workers[t] as PoolWorker).call<Uint8Array>("convert", { group, points: chunk, to }, [
          chunk.buffer,
        ]);
      }),
    );
    return concat(parts);
  }

  /** U(a_i - b_i) for affine LEM G1 points, with the wasm op sequence snarkjs newZKey uses for H hashes. */
  async subtractToUncompressed(a: Uint8Array, b: Uint8Array): Promise<Uint8Array> {
    this.assertOpen();
    if (a.byteLength !== b.byteLength || a.byteLength % AFFINE_BYTES.G1 !== 0) {
      throw new RangeError("a and b must hold the same number of affine G1 points");
    }
    const ranges = splitRanges(a.byteLength / AFFINE_BYTES.G1, this.workers.length);
    const parts = await Promise.all(
      ranges.map(([lo, hi], t) => {
        const span = [lo * AFFINE_BYTES.G1, hi * AFFINE_BYTES.G1] as const;
        return (this.workers[t] as PoolWorker).call<Uint8Array>("subToU", {
          group: "G1",
          a: a.slice(...span),
          b: b.slice(...span),
        });
      }),
    );
    return concat(parts);
  }

  /** Terminates the workers; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private assertOpen(): void {
    if (this.closed) throw new SetupError("fixed-base pool is closed");
  }
}

function emptyResult(formats: PointFormats): MultiplyResult {
  const out: Record<string, Uint8Array> = {};
  for (const key of FORMAT_KEYS) if (formats[key]) out[key] = new Uint8Array(0);
  return out as MultiplyResult;
}

/** A spec as the worker reads it: field elements as 32-byte little-endian words. */
function wireSpec(spec: ScalarSpec): Record<string, unknown> {
  const word = (v: bigint) => encodeScalars([v]);
  switch (spec.kind) {
    case "list":
      return { kind: "list", scalars: spec.scalars };
    case "geometric":
      return { kind: "geometric", first: word(spec.first), ratio: word(spec.ratio) };
    case "lagrange":
      return {
        kind: "lagrange",
        factor: word(spec.factor),
        tau: word(spec.tau),
        wFirst: word(spec.wFirst),
        w: word(spec.w),
        correction: word(spec.correction),
      };
  }
}

/** Runs `task` with a fresh pool that is always closed afterwards. */
export async function withPool<T>(
  options: PoolOptions,
  task: (pool: FixedBasePool) => Promise<T>,
): Promise<T> {
  const pool = await FixedBasePool.open(options);
  try {
    return await task(pool);
  } finally {
    await pool.close();
  }
}
