/**
 * @module bench/verify
 *
 * Verification speed of the partner SDK (`src/verifier`, pure JS on @noble/curves) against snarkjs
 * 0.7.6 (WASM), in the same run on the same inputs:
 *
 * 1. proof bundles (`zktally-bundle/v1`) of the test circuit shape (`aggregate-8x4x3-w16-m3-b2-a2`,
 *    10 public signals), one per aggregate kind, proven with the pinned development keys (built on
 *    first use, cached in build/) and re-randomised into `bundleCount` distinct valid bundles:
 *    - per bundle: SDK `verify(bundle)` (strict parse, manifest signature, recomputed signals and
 *      statement, pairing) against the snarkjs-based check of the same bundle (`checkQueryProof`:
 *      manifest signature, recomputed signals, snarkjs `groth16.verify`), and the Groth16 step alone;
 *    - 100 bundles: `verifyBundles` (one randomised batch pairing check) against `verify` one by one;
 * 2. raw Groth16 proofs of `test/fixtures/verifier/square.circom` (nPublic = 4): single proofs with a
 *    prepared and a per-proof key, and a batch of 100;
 * 3. micro rows: the vk_x MSM strategies and the G2 subgroup checks (ψ test used vs noble's).
 *
 * Run: `npm run bench:verify` or `npx tsx bench/verify.ts [bundleCount=20] [batchSize=100]`.
 * Prints one table (mean ms per item, wall clock and process CPU time) and ends with
 * `sdk/snarkjs verify time ratio: X`: the per-bundle wall-clock ratio of the SDK's `verify` to the
 * snarkjs-based check (< 1 means the SDK is faster); the CPU-time and Groth16-only ratios precede it.
 *
 * Caveats: wall-clock numbers on a shared machine are noisy; each row is the median of ROUNDS passes
 * (per-pass means), measured round-robin with its competitors after a warm-up pass. snarkjs re-parses
 * the key on every call while the SDK caches it by hash; the per-proof-key row shows the uncached cost.
 * The SDK also caches manifest signature verdicts (all bench bundles share one manifest), while the
 * snarkjs-based check runs Ed25519 on every bundle; the "manifest signature" row gives that cost, to
 * add to the SDK's per-bundle figure for a bundle of a manifest not seen before.
 */
import { interleavedMSMUnsafe, mulAddUnsafe, pippenger } from "@noble/curves/abstract/curve.js";
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import { verifyManifest } from "../src/dataset/manifest.ts";
import { checkQueryProof } from "../src/prover/check.ts";
import type { QueryProof } from "../src/prover/prove-query.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import {
  isInG2Subgroup,
  type ProofBundle,
  parseVerifyingKey,
  prepareVerifyingKey,
  type VerifyOptions,
  verify,
  verifyBundles,
  verifyGroth16,
  verifyGroth16Batch,
} from "../src/verifier/index.ts";
import { buildVerifierFixture, type ProofItem, rerandomize } from "../test/fixtures/verifier/fixture.ts";
import {
  BUNDLE_KINDS,
  type BundleFixture,
  buildBundleFixture,
  OPERATOR_KEY,
  TEST_CIRCUIT_ID,
} from "../test/helpers/bundles.ts";
import { buildTestKeys } from "../test/helpers/keys.ts";

const bundleCount = Number(process.argv[2] ?? 20);
const batchSize = Number(process.argv[3] ?? 100);
const ROUNDS = 5;

/** Mean milliseconds per call: wall clock, and CPU time of the whole process (all threads). */
interface Timing {
  wall: number;
  cpu: number;
}
const rows: [string, Timing][] = [];

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

/** `count` distinct valid bundles: the proven ones, then Groth16 re-randomisations of them. */
function manyBundles(fixture: BundleFixture, count: number): ProofBundle[] {
  const delta = parseVerifyingKey(fixture.vkey).delta;
  return Array.from({ length: count }, (_, i) => {
    const bundle = fixture.bundle(BUNDLE_KINDS[i % BUNDLE_KINDS.length] as (typeof BUNDLE_KINDS)[number]);
    if (i < BUNDLE_KINDS.length) return bundle;
    const item = { publicSignals: [...bundle.publicSignals], proof: bundle.proof };
    const { proof } = rerandomize(item, delta, BigInt(3 + i), BigInt(17 * i + 1));
    return { ...bundle, proof: proof as unknown as ProofBundle["proof"] };
  });
}

/** Per-bundle and batch timings on real proof bundles; returns the ratios the closing lines print. */
async function benchBundles(): Promise<{ full: [Timing, Timing]; groth16: [Timing, Timing] }> {
  console.log(`bundles: proving ${BUNDLE_KINDS.length} queries of ${TEST_CIRCUIT_ID} ...`);
  await buildTestKeys();
  const fixture = await buildBundleFixture(BUNDLE_KINDS);
  try {
    const { vkey } = fixture;
    const options: VerifyOptions = {
      keys: { [TEST_CIRCUIT_ID]: vkey },
      keysManifest: fixture.keysManifest,
      operatorKey: OPERATOR_KEY,
      allowInsecureKeys: true, // the test circuit's development keys
    };
    const key = prepareVerifyingKey(vkey);
    const bundles = manyBundles(fixture, Math.max(bundleCount, batchSize));
    const pick = (i: number) => bundles[i % bundleCount] as ProofBundle;
    const snarkjsCheck = async (bundle: ProofBundle) =>
      (
        await checkQueryProof({
          manifest: bundle.manifest,
          operatorKey: OPERATOR_KEY,
          vkey,
          proof: bundle as unknown as QueryProof,
        })
      ).valid;

    const single = await compare(bundleCount, {
      snarkjsCheck: async (i) => expectTrue(await snarkjsCheck(pick(i)), "snarkjs check"),
      sdkVerify: (i) => expectTrue(verify(pick(i), options).valid, "sdk verify"),
      snarkjsGroth16: async (i) =>
        expectTrue(await snarkjs.groth16.verify(vkey, [...pick(i).publicSignals], pick(i).proof), "snarkjs"),
      sdkGroth16: (i) => expectTrue(verifyGroth16(key, pick(i).publicSignals, pick(i).proof), "sdk groth16"),
    });
    const full: [Timing, Timing] = [single.sdkVerify as Timing, single.snarkjsCheck as Timing];
    const groth16: [Timing, Timing] = [single.sdkGroth16 as Timing, single.snarkjsGroth16 as Timing];
    rows.push([`bundle: snarkjs-based check (checkQueryProof), ${bundleCount} bundles`, full[1]]);
    rows.push([`bundle: SDK verify(bundle), same ${bundleCount} bundles`, full[0]]);
    const signature = await compare(bundleCount, {
      ed25519: () => expectTrue(verifyManifest(fixture.dataset.manifest, OPERATOR_KEY), "manifest signature"),
    });
    rows.push(["bundle: manifest signature check (Ed25519; the SDK caches it)", signature.ed25519 as Timing]);
    rows.push([`bundle Groth16 step only: snarkjs groth16.verify`, groth16[1]]);
    rows.push([`bundle Groth16 step only: SDK verifyGroth16 (prepared key)`, groth16[0]]);

    const batch = bundles.slice(0, batchSize);
    const batched = await compare(batchSize, {
      sdkOneByOne: (i) => expectTrue(verify(batch[i], options).valid, "sdk verify"),
      // One call per pass verifies the whole batch; pass() divides by the batch size.
      sdkBatch: (i) =>
        i === 0
          ? expectTrue(
              verifyBundles(batch, options).every((r) => r.valid),
              "batch",
            )
          : undefined,
    });
    rows.push([`bundles: SDK verify one by one, ${batchSize} bundles`, batched.sdkOneByOne as Timing]);
    rows.push([`bundles: SDK verifyBundles, ${batchSize} bundles (per bundle)`, batched.sdkBatch as Timing]);
    const speedUp = (batched.sdkOneByOne as Timing).wall / (batched.sdkBatch as Timing).wall;
    console.log(`bundles: batch speed-up over one by one (wall): ${speedUp.toFixed(2)}x`);
    return { full, groth16 };
  } finally {
    await fixture.release();
  }
}

/** Raw Groth16 proofs of square.circom: single (prepared and per-proof key) and a batch of 100. */
async function benchRawGroth16(): Promise<void> {
  const proofCount = 20;
  console.log(`raw Groth16: building square.circom fixture, ${proofCount} proofs ...`);
  const fixture = await buildVerifierFixture(proofCount);
  try {
    const { vkey, proofs } = fixture;
    const key = prepareVerifyingKey(vkey);
    const pick = (i: number) => proofs[i % proofs.length] as ProofItem;
    const single = await compare(proofs.length, {
      snarkjs: async (i) =>
        expectTrue(await snarkjs.groth16.verify(vkey, pick(i).publicSignals, pick(i).proof), "snarkjs"),
      sdk: (i) => expectTrue(verifyGroth16(key, pick(i).publicSignals, pick(i).proof), "sdk"),
      sdkColdKey: (i) =>
        expectTrue(verifyGroth16(prepareVerifyingKey(vkey), pick(i).publicSignals, pick(i).proof), "sdk"),
    });
    rows.push([`raw: snarkjs groth16.verify (${proofs.length} proofs)`, single.snarkjs as Timing]);
    rows.push([`raw: SDK verifyGroth16, prepared key (same proofs)`, single.sdk as Timing]);
    rows.push(["raw: SDK prepareVerifyingKey + verifyGroth16 per proof", single.sdkColdKey as Timing]);

    const batch = Array.from({ length: batchSize }, (_, i) =>
      i < proofs.length ? pick(i) : rerandomize(pick(i), key.key.delta, BigInt(7 + i), BigInt(11 * i)),
    );
    const batched = await compare(batchSize, {
      snarkjs: async (i) =>
        expectTrue(await snarkjs.groth16.verify(vkey, batch[i]?.publicSignals, batch[i]?.proof), "snarkjs"),
      sdk: (i) => expectTrue(verifyGroth16(key, batch[i]?.publicSignals, batch[i]?.proof), "sdk"),
      sdkBatch: (i) => (i === 0 ? expectTrue(verifyGroth16Batch(key, batch), "batch") : undefined),
    });
    rows.push([`raw: snarkjs one by one, batch of ${batchSize}`, batched.snarkjs as Timing]);
    rows.push([`raw: SDK one by one, batch of ${batchSize}`, batched.sdk as Timing]);
    rows.push([`raw: SDK verifyGroth16Batch, batch of ${batchSize} (per proof)`, batched.sdkBatch as Timing]);
    await benchMicro(vkey, pick(2));
  } finally {
    await fixture.release();
  }
}

/** vk_x MSM strategies and G2 subgroup checks (one operation per row). */
async function benchMicro(vkey: unknown, item: ProofItem): Promise<void> {
  const ic = [...parseVerifyingKey(vkey).ic];
  const scalars = [1n, ...item.publicSignals.map(BigInt)];
  const Point = bn254.G1.Point;
  const tables = interleavedMSMUnsafe(Point, ic, 6);
  const msm = await compare(100, {
    "MSM vk_x: interleaved fixed-base, window 6 (used)": () => tables(scalars),
    "MSM vk_x: noble mulAddUnsafe (Strauss-Shamir)": () => mulAddUnsafe(Point, ic, scalars),
    "MSM vk_x: noble pippenger": () => pippenger(Point, ic, scalars),
  });
  rows.push(...Object.entries(msm));
  const b = bn254.G2.Point.BASE.multiply(123456789n).toAffine();
  const fresh = () => new bn254.G2.Point(b.x, b.y, bn254.fields.Fp2.ONE); // noble memoises validity per object
  const subgroup = await compare(50, {
    "G2 subgroup check: ψ test, ePrint 2022/348 (used)": () => isInG2Subgroup(fresh()),
    "G2 subgroup check: noble isTorsionFree (ψ(P) = [6x²]P)": () => fresh().isTorsionFree(),
  });
  rows.push(...Object.entries(subgroup));
}

function printTable(): void {
  const width = Math.max(...rows.map(([label]) => label.length));
  const cell = (ms: number) => ms.toFixed(2).padStart(8);
  console.log(`\n${"measurement (mean per item)".padEnd(width)}   wall ms    cpu ms`);
  console.log(`${"-".repeat(width)}  ${"-".repeat(8)}  ${"-".repeat(8)}`);
  for (const [label, t] of rows) console.log(`${label.padEnd(width)}  ${cell(t.wall)}  ${cell(t.cpu)}`);
}

async function main(): Promise<void> {
  const { full, groth16 } = await benchBundles();
  await benchRawGroth16();
  await terminateCurveWorkers();
  printTable();
  const [sdk, reference] = full;
  console.log(
    `\nsdk/snarkjs Groth16-only verify time ratio (same bundles): ${(groth16[0].wall / groth16[1].wall).toFixed(2)}`,
  );
  console.log(`sdk/snarkjs verify CPU time ratio: ${(sdk.cpu / reference.cpu).toFixed(2)}`);
  console.log(`sdk/snarkjs verify time ratio: ${(sdk.wall / reference.wall).toFixed(2)}`);
}

await main();
