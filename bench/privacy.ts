/**
 * @module bench/privacy
 *
 * `npm run bench:privacy` (docs/privacy.md): what proven noise costs and what it buys.
 *
 * 1. Constraints (compiled): the exact final step ChunkFinal vs the noisy ChunkFinalNoisy on the standard
 *    query shape (C = 4, W = 32) at NMAX = 512 and the default 8192 coins, and the clamped-sum chunk step
 *    (CLAMP = 1) vs the plain one on the standard chunk shape at S = 32 (8 x u32, key 0, C = M = 4).
 * 2. Proving time (snarkjs, median of --runs, INSECURE development keys of the test shapes, built once into
 *    build/bench-privacy): exact final vs noisy final (NMAX = 512), plain vs clamped chunk (S = 16); the
 *    default NMAX = 8192 final is projected from the measured time per constraint (said so in the table).
 * 3. A 64-cell noisy histogram (docs/privacy.md "Noisy histogram cells"): constraints (compiled) of the plain
 *    PassFinal and of PassFinalNoisy (NMAX = 256, enough for epsilon = 1 at delta = 1e-9) for the bench:pass
 *    shape Q = H = 1, G = 64; the proving time noise adds is projected from the measured marginal rate.
 * 4. A geoeditors-style release over 2^14 records (one 64-cell table), projected from the per-proof figures:
 *    one pass chain of 2^14 / 32 PassStep proofs (S = 32, G = 64, compiled) plus one PassFinalNoisy.
 * 5. The reconstruction attack: 100 synthetic records with a secret bit each, random subset-count queries
 *    answered with this mechanism's noise (the TypeScript twin's draw from a seed, random digests), least
 *    squares, bits recovered; exact answers for comparison. The last line is the dp run under a budget of
 *    epsilon = 10, delta = 1e-6 spent as 100 answers of epsilon = 0.1.
 *
 *   npx tsx bench/privacy.ts [--runs 3] [--skip-compile]
 */
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type ChunkShape,
  chunkQueryShape,
  finalShapeOf,
  makeChunkShape,
} from "../src/circuits/chunk-shape.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { type NoiseParams, type NoisyFinalShape, noiseCentre, planNoise } from "../src/circuits/noise.ts";
import { noiseDraw, noisyFinalInput } from "../src/circuits/noise-witness.ts";
import type { NoisyPassShape } from "../src/circuits/pass-noise.ts";
import { passShapeFromId } from "../src/circuits/pass-shape.ts";
import { mulberry32 } from "../src/config/sample-data.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { domainFromToken, fieldDomain } from "../src/dataset/chunk-layout.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { deriveNoiseSecret, noiseSeedCommitment } from "../src/dataset/noise-seed.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { DEFAULT_NOISE_LIMITS } from "../src/prover/prove-noisy-chain.ts";
import { createSnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import {
  ensureChunkMainFile,
  ensureFinalMainFile,
  ensureNoisyFinalMainFile,
  ensureNoisyPassFinalMainFile,
  ensurePassMainFiles,
} from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { silentProgress } from "../src/util/progress.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "3" }, "skip-compile": { type: "boolean", default: false } },
});
const RUNS = Math.max(1, Number(values.runs));
const STANDARD_DOMAINS = Array.from({ length: 8 }, () => domainFromToken("u32"));
const RELEASE_RECORDS = 2 ** 14;
const RELEASE_CELLS = 64;
/** bench:pass's G = 64 histogram pass (S = 32, 9 fields, C = M = 4). */
const HISTOGRAM_PASS = "pass-q1-h1-g64-s32-b16-t1-c4-m4-k0-u32.u32.u32.u32.u32.e8.e32.e128.b";

const rows: string[][] = [];
const row = (...cells: (string | number)[]) => rows.push(cells.map(String));

async function constraintsOf(main: Promise<string>): Promise<number> {
  return (await compileCircuit(await main, { progress: silentProgress })).constraints;
}

function standardChunk(clamp: boolean): ChunkShape {
  return makeChunkShape({
    layout: { version: 2, chunkSize: 32, leafRecords: 8, treeDepth: 4 },
    domains: STANDARD_DOMAINS,
    keyField: 0,
    clauses: 4,
    setSize: 4,
    clamp,
  });
}

async function constraintRows(): Promise<number> {
  const query = { clauses: 4, width: 32 };
  const exact = await constraintsOf(ensureFinalMainFile(query));
  const n512 = await constraintsOf(ensureNoisyFinalMainFile({ ...query, maxCoins: 512, maxScaleBits: 32 }));
  const n8192 = await constraintsOf(ensureNoisyFinalMainFile({ ...query, ...DEFAULT_NOISE_LIMITS }));
  row("constraints", "exact final step (chunkfinal-c4-w32)", exact, "");
  row("constraints", "noisy final, NMAX = 512", n512, `+${n512 - exact} (count and sum)`);
  row(
    "constraints",
    "noisy final, NMAX = 8192 (default)",
    n8192,
    `+${n8192 - exact} (${((n8192 - n512) / (8192 - 512)).toFixed(2)} per coin)`,
  );
  const plain = await constraintsOf(ensureChunkMainFile(standardChunk(false)));
  const clamped = await constraintsOf(ensureChunkMainFile(standardChunk(true)));
  row("constraints", "chunk step S = 32 (standard)", plain, "");
  row(
    "constraints",
    "clamped chunk step S = 32",
    clamped,
    `+${clamped - plain} (+${((clamped - plain) / 32).toFixed(1)} per record, sums only)`,
  );
  return n8192;
}

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const BENCH_SCHEMA = parseSchema({
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: ["DE", "FR", "JP", "US", "IN", "BR"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
    { name: "level", type: "uint", bits: 8 },
  ],
  key: "userId",
});

async function provingRows(
  poseidon: PoseidonEx,
  n8192: number | undefined,
): Promise<{ fixed: number; perConstraint: number }> {
  const layout = { version: 2 as const, chunkSize: 16, leafRecords: 4, treeDepth: 1 };
  const base = {
    layout,
    domains: BENCH_SCHEMA.fields.map(fieldDomain),
    keyField: 0,
    clauses: 3,
    setSize: 3,
  };
  const plain = makeChunkShape(base);
  const clamped = makeChunkShape({ ...base, clamp: true });
  const noisy: NoisyFinalShape = { clauses: 3, width: 16, maxCoins: 512, maxScaleBits: 8 };
  const keysDir = join(buildRoot(), "bench-privacy");
  const mains = [
    await ensureChunkMainFile(plain),
    await ensureChunkMainFile(clamped),
    await ensureFinalMainFile(finalShapeOf(plain)),
    await ensureNoisyFinalMainFile(noisy),
  ];
  const built = await buildDevKeys(mains, { keysDir, replace: true });
  const [plainId, clampId, finalId, noisyId] = built.circuits.map((c) => c.compiled.id) as string[];
  const constraints = built.circuits.map((c) => c.compiled.constraints);
  const backend = createSnarkjsBackend({ keysDir });
  const records = Array.from({ length: 16 }, (_, i) => [
    BigInt(i + 1),
    BigInt(i % 6),
    BigInt(37 * i),
    BigInt(i % 2),
    BigInt(i),
  ]);
  const commit = (shape: ChunkShape) =>
    commitChunks(poseidon, {
      layout,
      domains: shape.domains,
      keyField: 0,
      records,
      secret: new Uint8Array(32).fill(1),
      datasetId: "bench",
      epoch: 1,
    });
  const sum: Query = { predicate: [], aggregate: { kind: "sum", field: "edits", clamp: [0, 100] } };
  const count: Query = {
    predicate: [{ field: "bot", op: "eq", value: false }],
    aggregate: { kind: "count" },
  };
  const planOf = (shape: ChunkShape, query: Query) =>
    planChain(poseidon, shape, commit(shape), {
      nonce: 9n,
      query: encodeQueryPublic(query, BENCH_SCHEMA, chunkQueryShape(shape)),
      minGroupSize: 0,
    });
  const plainPlan = planOf(plain, count);
  const clampPlan = planOf(clamped, sum);
  const secret = deriveNoiseSecret(new Uint8Array(32).fill(2), "bench", 1);
  const state = plainPlan.final.input;
  const opening = {
    state: {
      realSeen: BigInt(state.realSeen),
      keyFloor: BigInt(state.keyFloor),
      count: BigInt(state.count),
      sum: BigInt(state.sum),
      max: BigInt(state.max),
    },
    blind: BigInt(state.blind),
  };
  const params: NoiseParams = planNoise({ epsilon: 1, delta: 1e-9, sensitivity: 1n }, noisy).params;
  const noisyInput = noisyFinalInput(
    noisy,
    {
      root: BigInt(state.root),
      recordCount: 16,
      nonce: 9n,
      query: { aggregate: BigInt(state.aggregate), clauses: state.clauses.map(BigInt) },
      accIn: BigInt(state.accIn),
      seedCommitment: noiseSeedCommitment(poseidon, secret),
      params: { coins: 512, scaleBits: 8 },
    },
    opening,
    secret,
  );
  const time = async (id: string, input: Record<string, unknown>) => {
    await backend.prove(id, input); // warm: keys loaded
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const start = performance.now();
      await backend.prove(id, input);
      times.push(performance.now() - start);
    }
    return median(times);
  };
  const tFinal = await time(finalId as string, plainPlan.final.input as unknown as Record<string, unknown>);
  const tNoisy = await time(noisyId as string, noisyInput as unknown as Record<string, unknown>);
  const tPlain = await time(
    plainId as string,
    plainPlan.chunks[0]?.input as unknown as Record<string, unknown>,
  );
  const tClamp = await time(
    clampId as string,
    clampPlan.chunks[0]?.input as unknown as Record<string, unknown>,
  );
  await backend.close();
  const ms = (t: number) => `${t.toFixed(0)} ms`;
  row("prove (snarkjs)", `exact final step (${constraints[2]} constraints)`, ms(tFinal), "");
  row(
    "prove (snarkjs)",
    `noisy final, NMAX = 512 (${constraints[3]} constraints, all 512 coins used)`,
    ms(tNoisy),
    `+${ms(tNoisy - tFinal)} per noisy count or sum`,
  );
  row("prove (snarkjs)", `chunk step S = 16 (${constraints[0]} constraints)`, ms(tPlain), "");
  row(
    "prove (snarkjs)",
    `clamped chunk step S = 16 (${constraints[1]} constraints)`,
    ms(tClamp),
    `+${ms(tClamp - tPlain)} per chunk of a sum`,
  );
  // Marginal time per constraint between the two final steps (the fixed cost of a snarkjs proof cancels).
  const perConstraint = (tNoisy - tFinal) / ((constraints[3] as number) - (constraints[2] as number));
  const projected =
    n8192 === undefined ? undefined : tFinal + (n8192 - (constraints[2] as number)) * perConstraint;
  if (projected !== undefined) {
    row(
      "prove (projected)",
      `noisy final, NMAX = 8192 (${n8192} constraints)`,
      ms(projected),
      `projected: exact final + ${(perConstraint * 1000).toFixed(0)} us per extra constraint (measured marginal rate)`,
    );
  }
  row(
    "noise (eps 1, delta 1e-9)",
    "count: coins, scale",
    `${params.coins}, s = 1`,
    `centre ${noiseCentre(params)}`,
  );
  // A proof's fixed part: the S = 16 chunk proof's time less the marginal cost of its constraints.
  const fixed = Math.max(0, tPlain - (constraints[0] as number) * perConstraint);
  return { fixed, perConstraint };
}

// --- Reconstruction attack ----------------------------------------------------------------------------

function createRng(seed: number) {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** Least squares x = argmin |A x - y| (normal equations, Gaussian elimination with a small ridge). */
function leastSquares(a: number[][], y: number[]): number[] {
  const n = (a[0] as number[]).length;
  const m = Array.from({ length: n }, (_, i) => {
    const r = new Array<number>(n + 1).fill(0);
    for (const row of a)
      for (let j = 0; j < n; j++) r[j] = (r[j] as number) + (row[i] as number) * (row[j] as number);
    r[i] = (r[i] as number) + 1e-6;
    r[n] = a.reduce((t, row, k) => t + (row[i] as number) * (y[k] as number), 0);
    return r;
  });
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++)
      if (Math.abs((m[r] as number[])[c] as number) > Math.abs((m[pivot] as number[])[c] as number))
        pivot = r;
    [m[c], m[pivot]] = [m[pivot] as number[], m[c] as number[]];
    const p = (m[c] as number[])[c] as number;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = ((m[r] as number[])[c] as number) / p;
      if (f === 0) continue;
      for (let k = c; k <= n; k++)
        (m[r] as number[])[k] = ((m[r] as number[])[k] as number) - f * ((m[c] as number[])[k] as number);
    }
  }
  return m.map((r, i) => (r[n] as number) / (r[i] as number));
}

function reconstruction(
  poseidon: PoseidonEx,
  answers: number,
  params: NoiseParams | undefined,
  seed: number,
): number {
  const rng = createRng(seed);
  const N = 100;
  const bits = Array.from({ length: N }, () => (rng() < 0.5 ? 1 : 0));
  const secret = deriveNoiseSecret(new Uint8Array(32).fill(seed & 0xff), "attack", seed);
  const a: number[][] = [];
  const y: number[] = [];
  for (let q = 0; q < answers; q++) {
    const subset = Array.from({ length: N }, () => (rng() < 0.5 ? 1 : 0));
    const truth = subset.reduce<number>((t, s, i) => t + s * (bits[i] as number), 0);
    let noise = 0;
    if (params !== undefined) {
      const digest = BigInt(Math.floor(rng() * 2 ** 48)) * 2n ** 48n + BigInt(q);
      noise = Number(noiseDraw(poseidon, secret.seed, digest, params).shift - noiseCentre(params));
    }
    a.push(subset);
    y.push(truth + noise);
  }
  const x = leastSquares(a, y);
  return x.filter((value, i) => (value > 0.5 ? 1 : 0) === bits[i]).length / N;
}

function attackRows(poseidon: PoseidonEx): number {
  const eps1 = planNoise(
    { epsilon: 1, delta: 1e-8, sensitivity: 1n },
    { maxCoins: 65534, maxScaleBits: 8 },
  ).params;
  const eps01 = planNoise(
    { epsilon: 0.1, delta: 1e-8, sensitivity: 1n },
    { maxCoins: 65534, maxScaleBits: 8 },
  ).params;
  const trials = 5;
  const mean = (answers: number, params: NoiseParams | undefined) => {
    let total = 0;
    for (let t = 0; t < trials; t++) total += reconstruction(poseidon, answers, params, 1000 + t);
    return total / trials;
  };
  const pct = (f: number) => `${(100 * f).toFixed(1)}%`;
  for (const answers of [50, 100, 200])
    row(
      "reconstruction (exact)",
      `${answers} subset counts, 100 records`,
      pct(mean(answers, undefined)),
      "guessing: 50%",
    );
  for (const answers of [100, 200]) {
    row(
      "reconstruction (dp)",
      `${answers} answers at eps = 1 (total eps ${answers}), ${eps1.coins} coins`,
      pct(mean(answers, eps1)),
      "beyond any sensible budget",
    );
  }
  const budgeted = mean(100, eps01);
  row(
    "reconstruction (dp)",
    `100 answers at eps = 0.1 (budget eps = 10, delta = 1e-6), ${eps01.coins} coins`,
    pct(budgeted),
    `mean of ${trials} trials`,
  );
  return budgeted;
}

/** Constraints of the 64-cell pass: its step, its plain final and its noisy final. */
async function histogramConstraints(): Promise<{ step: number; plain: number; noisy: number }> {
  const pass = passShapeFromId(HISTOGRAM_PASS);
  const [stepMain, plainMain] = await ensurePassMainFiles(pass);
  const noisyShape: NoisyPassShape = { pass, maxCoins: 256, maxScaleBits: 8 };
  return {
    step: await constraintsOf(Promise.resolve(stepMain)),
    plain: await constraintsOf(Promise.resolve(plainMain)),
    noisy: await constraintsOf(ensureNoisyPassFinalMainFile(noisyShape)),
  };
}

/** The 64-cell histogram rows and the 2^14-record release (projected), from the per-constraint rate. */
function histogramRows(
  counts: { step: number; plain: number; noisy: number },
  perProof: { fixed: number; perConstraint: number },
): void {
  const { fixed, perConstraint } = perProof;
  const extra = counts.noisy - counts.plain;
  row("constraints", `64-cell histogram: plain pass final (G = ${RELEASE_CELLS})`, counts.plain, "");
  row(
    "constraints",
    "64-cell histogram: noisy pass final, NMAX = 256",
    counts.noisy,
    `+${extra} (${(extra / RELEASE_CELLS).toFixed(0)} per cell)`,
  );
  row(
    "prove (projected)",
    "64-cell histogram: noise added to the final proof",
    `+${((extra * perConstraint) / 1000).toFixed(1)} s`,
    `projected: ${(perConstraint * 1000).toFixed(0)} us per extra constraint (measured marginal rate)`,
  );
  const chunks = RELEASE_RECORDS / 32;
  const release = chunks * (fixed + counts.step * perConstraint) + fixed + counts.noisy * perConstraint;
  row(
    "release (projected)",
    `${RELEASE_CELLS} noisy cells over 2^14 records: one pass chain of ${chunks} PassStep proofs (S = 32, ${counts.step} constraints) + 1 noisy final`,
    `${(release / 1000 / 60).toFixed(1)} min`,
    "projected from the measured fixed cost and marginal rate, one snarkjs prover",
  );
}

async function main(): Promise<void> {
  const poseidon = await getPoseidon();
  const n8192 = values["skip-compile"] ? undefined : await constraintRows();
  const perProof = await provingRows(poseidon, n8192);
  histogramRows(await histogramConstraints(), perProof);
  const budgeted = attackRows(poseidon);
  const load = (await readFile("/proc/loadavg", "utf8").catch(() => "n/a")).split(" ").slice(0, 3).join(" ");
  row(
    "machine",
    `load average at the end (${cpus().length} cores)`,
    load,
    "wall-clock times on a shared machine",
  );
  await terminateCurveWorkers();
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  for (const r of rows)
    console.log(
      r
        .map((cell, c) => cell.padEnd(widths[c] as number))
        .join("  ")
        .trimEnd(),
    );
  console.log(`reconstruction (dp): ${(100 * budgeted).toFixed(1)}% of bits recovered`);
}

await main();
