/**
 * @module bench/verify
 *
 * Verification speed of the partner SDK (`src/verifier`, pure JS on @noble/curves) against snarkjs
 * 0.7.6 (WASM) on the same proofs of `test/fixtures/verifier/square.circom` (nPublic = 4).
 * Run: `npx tsx bench/verify.ts [proofCount=20] [batchSize=100]`.
 *
 * Prints one table (mean ms per proof, wall clock and process CPU time) and ends with
 * `sdk/snarkjs verify time ratio: X`, the single-proof wall-clock ratio with a prepared key (< 1
 * means the SDK is faster); the CPU-time ratio printed just before it is steadier on a busy machine.
 *
 * Caveats: wall-clock numbers on a shared machine are noisy; each row is the median of 5 passes
 * (per-pass means), measured round-robin with its competitors after a warm-up pass.
 * snarkjs re-parses the key on every call while the SDK caches it in `prepareVerifyingKey`, so a
 * row with the key prepared per proof is printed too. The batch of 100 reuses the 20 proofs
 * through Groth16 re-randomisation, which gives distinct valid proofs without re-proving.
 */
import { interleavedMSMUnsafe, mulAddUnsafe, pippenger } from "@noble/curves/abstract/curve.js";
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import {
  parseVerifyingKey,
  prepareVerifyingKey,
  verifyGroth16,
  verifyGroth16Batch,
} from "../src/verifier/index.ts";
import { buildVerifierFixture, type ProofItem, rerandomize } from "../test/fixtures/verifier/fixture.ts";

const proofCount = Number(process.argv[2] ?? 20);
const batchSize = Number(process.argv[3] ?? 100);
/** Mean milliseconds per call: wall clock, and CPU time of the whole process (all threads). */
interface Timing {
  wall: number;
  cpu: number;
}
const rows: [string, Timing][] = [];

const ROUNDS = 5;

/** Mean time per call of `run(0..count-1)` for one pass. */
async function pass(count: number, run: (index: number) => unknown): Promise<Timing> {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) await run(i);
  const wall = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  return { wall: wall / count, cpu: (cpu.user + cpu.system) / 1000 / count };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * Median over ROUNDS of the per-pass means, after one warm-up pass (JIT, snarkjs curve build).
 * Contenders are measured round-robin so machine load drifts hit them alike.
 */
async function compare(
  count: number,
  contenders: Record<string, (index: number) => unknown>,
): Promise<Record<string, Timing>> {
  const samples: Record<string, Timing[]> = {};
  for (const [name, run] of Object.entries(contenders)) {
    await pass(Math.min(count, 5), run);
    samples[name] = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(contenders)) samples[name]?.push(await pass(count, run));
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, timings]) => [
      name,
      { wall: median(timings.map((t) => t.wall)), cpu: median(timings.map((t) => t.cpu)) },
    ]),
  );
}

function expectTrue(result: boolean, what: string): void {
  if (!result) throw new Error(`bench: ${what} did not verify`);
}

async function main(): Promise<void> {
  console.log(`building fixture: ${proofCount} proofs, batch of ${batchSize} ...`);
  const fixture = await buildVerifierFixture(proofCount);
  try {
    const { vkey } = fixture;
    const key = prepareVerifyingKey(vkey);
    const proofs = fixture.proofs;
    const pick = (i: number) => proofs[i % proofs.length] as ProofItem;

    const single = await compare(proofs.length, {
      snarkjs: async (i) =>
        expectTrue(await snarkjs.groth16.verify(vkey, pick(i).publicSignals, pick(i).proof), "snarkjs"),
      sdk: (i) => expectTrue(verifyGroth16(key, pick(i).publicSignals, pick(i).proof), "sdk"),
      sdkColdKey: (i) =>
        expectTrue(verifyGroth16(prepareVerifyingKey(vkey), pick(i).publicSignals, pick(i).proof), "sdk"),
    });
    const snarkjsMs = single.snarkjs as Timing;
    const sdkMs = single.sdk as Timing;
    rows.push([`snarkjs groth16.verify (${proofs.length} proofs)`, snarkjsMs]);
    rows.push([`SDK verifyGroth16, prepared key (same ${proofs.length} proofs)`, sdkMs]);
    rows.push(["SDK prepareVerifyingKey + verifyGroth16 per proof", single.sdkColdKey as Timing]);

    const batch = Array.from({ length: batchSize }, (_, i) =>
      i < proofs.length ? pick(i) : rerandomize(pick(i), key.key.delta, BigInt(7 + i), BigInt(11 * i)),
    );
    const batched = await compare(batchSize, {
      snarkjs: async (i) =>
        expectTrue(await snarkjs.groth16.verify(vkey, batch[i]?.publicSignals, batch[i]?.proof), "snarkjs"),
      sdk: (i) => expectTrue(verifyGroth16(key, batch[i]?.publicSignals, batch[i]?.proof), "sdk"),
      // One call per pass verifies the whole batch; divide by the batch size below.
      sdkBatch: (i) => (i === 0 ? expectTrue(verifyGroth16Batch(key, batch), "batch") : undefined),
    });
    const oneByOneMs = batched.sdk as Timing;
    const batchMs = batched.sdkBatch as Timing; // pass() already divided the single call by batchSize
    rows.push([`snarkjs one by one, batch of ${batchSize}`, batched.snarkjs as Timing]);
    rows.push([`SDK one by one, batch of ${batchSize}`, oneByOneMs]);
    rows.push([`SDK verifyGroth16Batch, batch of ${batchSize} (per proof)`, batchMs]);

    // vk_x = IC[0] + sum s_i·IC[i+1]: the MSM choice for the SDK (interleaved fixed-base tables).
    const ic = [...parseVerifyingKey(vkey).ic];
    const scalars = [1n, ...pick(2).publicSignals.map(BigInt)];
    const Point = bn254.G1.Point;
    const tables = interleavedMSMUnsafe(Point, ic, 6);
    const msm = await compare(100, {
      "MSM vk_x: interleaved fixed-base, window 6 (used)": () => tables(scalars),
      "MSM vk_x: noble mulAddUnsafe (Strauss-Shamir)": () => mulAddUnsafe(Point, ic, scalars),
      "MSM vk_x: noble pippenger": () => pippenger(Point, ic, scalars),
      "MSM vk_x: double-and-add per point": () =>
        ic.reduce((sum, p, i) => sum.add(p.multiplyUnsafe(scalars[i] as bigint)), Point.ZERO),
    });
    rows.push(...Object.entries(msm));

    const width = Math.max(...rows.map(([label]) => label.length));
    const cell = (ms: number) => ms.toFixed(2).padStart(8);
    console.log(`\n${"measurement (mean per proof; MSM rows per MSM)".padEnd(width)}   wall ms    cpu ms`);
    console.log(`${"-".repeat(width)}  ${"-".repeat(8)}  ${"-".repeat(8)}`);
    for (const [label, t] of rows) console.log(`${label.padEnd(width)}  ${cell(t.wall)}  ${cell(t.cpu)}`);
    console.log(
      `\nbatch speed-up over SDK one by one (wall): ${(oneByOneMs.wall / batchMs.wall).toFixed(2)}x`,
    );
    console.log(`sdk/snarkjs verify CPU time ratio: ${(sdkMs.cpu / snarkjsMs.cpu).toFixed(2)}`);
    console.log(`sdk/snarkjs verify time ratio: ${(sdkMs.wall / snarkjsMs.wall).toFixed(2)}`);
  } finally {
    await fixture.release();
  }
}

await main();
