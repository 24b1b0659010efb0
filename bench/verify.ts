/**
 * @module bench/verify
 *
 * Verification speed of the partner SDK (`src/verifier`, pure JS on @noble/curves) against snarkjs
 * 0.7.6 (WASM) on the same proofs of `test/fixtures/verifier/square.circom` (nPublic = 4).
 * Run: `npx tsx bench/verify.ts [proofCount=20] [batchSize=100]`.
 *
 * Prints one table (mean ms per proof) and ends with `sdk/snarkjs verify time ratio: X`, the
 * single-proof ratio with a prepared key (< 1 means the SDK is faster).
 *
 * Caveats: wall-clock numbers on a shared machine are noisy; each row is a mean after a warm-up.
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
const rows: [string, number][] = [];

async function meanMs(count: number, run: (index: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(3, count); i++) await run(i); // warm-up (JIT, snarkjs curve build)
  const start = performance.now();
  for (let i = 0; i < count; i++) await run(i);
  return (performance.now() - start) / count;
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

    const snarkjsMs = await meanMs(proofs.length, async (i) =>
      expectTrue(await snarkjs.groth16.verify(vkey, pick(i).publicSignals, pick(i).proof), "snarkjs"),
    );
    rows.push([`snarkjs groth16.verify (${proofs.length} proofs)`, snarkjsMs]);
    const sdkMs = await meanMs(proofs.length, (i) =>
      expectTrue(verifyGroth16(key, pick(i).publicSignals, pick(i).proof), "sdk"),
    );
    rows.push([`SDK verifyGroth16, prepared key (${proofs.length} proofs)`, sdkMs]);
    rows.push([
      "SDK prepareVerifyingKey + verifyGroth16 per proof",
      await meanMs(proofs.length, (i) =>
        expectTrue(verifyGroth16(prepareVerifyingKey(vkey), pick(i).publicSignals, pick(i).proof), "sdk"),
      ),
    ]);

    const batch = Array.from({ length: batchSize }, (_, i) =>
      i < proofs.length ? pick(i) : rerandomize(pick(i), key.key.delta, BigInt(7 + i), BigInt(11 * i)),
    );
    rows.push([
      `snarkjs one by one, batch of ${batchSize}`,
      await meanMs(batchSize, async (i) =>
        expectTrue(await snarkjs.groth16.verify(vkey, batch[i]?.publicSignals, batch[i]?.proof), "snarkjs"),
      ),
    ]);
    rows.push([
      `SDK one by one, batch of ${batchSize}`,
      await meanMs(batchSize, (i) =>
        expectTrue(verifyGroth16(key, batch[i]?.publicSignals, batch[i]?.proof), "sdk"),
      ),
    ]);
    const batchMs = await meanMs(2, () => expectTrue(verifyGroth16Batch(key, batch), "batch"));
    rows.push([`SDK verifyGroth16Batch, batch of ${batchSize} (per proof)`, batchMs / batchSize]);

    // vk_x = IC[0] + sum s_i·IC[i+1]: the MSM choice for the SDK (interleaved fixed-base tables).
    const ic = [...parseVerifyingKey(vkey).ic];
    const scalars = [1n, ...pick(2).publicSignals.map(BigInt)];
    const Point = bn254.G1.Point;
    const tables = interleavedMSMUnsafe(Point, ic, 6);
    rows.push([
      "MSM vk_x: interleaved fixed-base, window 6 (used)",
      await meanMs(200, () => tables(scalars)),
    ]);
    rows.push([
      "MSM vk_x: noble mulAddUnsafe (Strauss-Shamir)",
      await meanMs(200, () => mulAddUnsafe(Point, ic, scalars)),
    ]);
    rows.push(["MSM vk_x: noble pippenger", await meanMs(200, () => pippenger(Point, ic, scalars))]);
    rows.push([
      "MSM vk_x: double-and-add per point",
      await meanMs(200, () =>
        ic.reduce((sum, p, i) => sum.add(p.multiplyUnsafe(scalars[i] as bigint)), Point.ZERO),
      ),
    ]);

    const width = Math.max(...rows.map(([label]) => label.length));
    console.log(`\n${"measurement (mean per proof; MSM rows per MSM)".padEnd(width)}  ms`);
    console.log(`${"-".repeat(width)}  ${"-".repeat(8)}`);
    for (const [label, ms] of rows) console.log(`${label.padEnd(width)}  ${ms.toFixed(2).padStart(8)}`);
    const oneByOneMs = rows[4]?.[1] ?? Number.NaN;
    console.log(`\nbatch speed-up over SDK one by one: ${(oneByOneMs / (batchMs / batchSize)).toFixed(2)}x`);
    console.log(`sdk/snarkjs verify time ratio: ${(sdkMs / snarkjsMs).toFixed(2)}`);
  } finally {
    await fixture.release();
  }
}

await main();
