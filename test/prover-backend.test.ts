/**
 * Prover backend: keys built with the setup pipeline for the multiplier fixture, then prove + verify round
 * trips through the snarkjs backend (in-memory keys loaded once, pin-checked), verification negatives,
 * witness errors that do not leak private values, and tampered artifacts.
 */

import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Groth16VerificationKey } from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSnarkjsBackend,
  type Groth16Proof,
  ProverError,
  type SnarkjsBackend,
  sanitizeWitnessReason,
  setupCacheArtifacts,
  verifyWithSnarkjs,
  WitnessError,
} from "../src/prover/index.ts";
import {
  type BuildDevKeysResult,
  type BuiltCircuit,
  buildDevKeys,
  loadPinnedVkey,
  PinMismatchError,
  terminateCurveWorkers,
} from "../src/setup/index.ts";

const FIXTURE = "test/fixtures/multiplier.circom";
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

let buildDir: string;
let keysDir: string;
let built: BuildDevKeysResult;
let vkey: Groth16VerificationKey;
let backend: SnarkjsBackend;

beforeAll(async () => {
  buildDir = await mkdtemp(path.join(os.tmpdir(), "zktally-prover-test-"));
  keysDir = path.join(buildDir, "keys");
  built = await buildDevKeys([FIXTURE], { keysDir, buildDir });
  vkey = await loadPinnedVkey(keysDir, "multiplier");
  backend = createSnarkjsBackend({ keysDir, buildDir });
}, 120_000);

afterAll(async () => {
  await backend?.close();
  await terminateCurveWorkers();
  await rm(buildDir, { recursive: true, force: true });
});

describe("buildDevKeys", () => {
  it("compiles, sets up and pins the fixture against one insecure dev ptau", () => {
    expect(built.ptau).toMatchObject({ power: 6, insecure: true });
    expect(built.manifest.insecure).toBe(true);
    expect(built.manifest.circuits.multiplier).toEqual(built.circuits[0]?.entry);
    expect(built.circuits[0]?.keys.vkeyHash).toBe(built.manifest.circuits.multiplier?.vkeySha256);
  });
});

describe("SnarkjsBackend", () => {
  let proof: Groth16Proof;
  let publicSignals: string[];

  beforeAll(async () => {
    const result = await backend.prove("multiplier", { a: 3, b: 11, c: 33 });
    proof = result.proof;
    publicSignals = result.publicSignals;
    expect(result.timings.witnessMs).toBeGreaterThanOrEqual(0);
    expect(result.timings.proveMs).toBeGreaterThan(0);
  }, 60_000);

  it("proves and the proof verifies; outputs come before public inputs", async () => {
    expect(publicSignals).toEqual(["1", "33"]);
    expect(proof.protocol).toBe("groth16");
    expect(await verifyWithSnarkjs(vkey, publicSignals, proof)).toBe(true);
  });

  it("rejects wrong, missing, extra or non-canonical public signals", async () => {
    for (const signals of [
      ["1", "34"],
      ["0", "33"],
      ["1"],
      ["1", "33", "0"],
      ["1", "033"],
      ["1", (33n + R).toString()],
      ["1", "-33"],
      ["1", "0x21"],
      ["1", "33.0"],
    ]) {
      expect(await verifyWithSnarkjs(vkey, signals, proof)).toBe(false);
    }
    const bent = { ...proof, pi_a: [proof.pi_c[0] as string, proof.pi_c[1] as string, "1"] };
    expect(await verifyWithSnarkjs(vkey, publicSignals, bent)).toBe(false);
    expect(await verifyWithSnarkjs(vkey, publicSignals, { ...proof, pi_b: [] })).toBe(false);
  });

  it("loads the zkey and wasm once and reuses the buffers", async () => {
    const second = await backend.prove("multiplier", { a: 7, b: 5, c: "35" });
    expect(second.publicSignals).toEqual(["0", "35"]);
    expect(await verifyWithSnarkjs(vkey, second.publicSignals, second.proof)).toBe(true);
    await Promise.all([
      backend.prove("multiplier", { a: 2, b: 2, c: 4 }),
      backend.prove("multiplier", { a: 1, b: 9, c: 9 }),
    ]);
    expect(backend.stats).toEqual({ loads: 1, proofs: 4 });
  });

  it("wraps failed circom asserts in a WitnessError that does not leak private values", async () => {
    const error = await backend
      .prove("multiplier", { a: 40961, b: 50077, c: 2051204 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WitnessError);
    const message = (error as WitnessError).message;
    expect(message).toMatch(/^witness calculation failed for circuit multiplier: Assert Failed\./);
    expect(message).toMatch(/Error in template Multiplier_\d+ line: \d+/);
    for (const secret of ["40961", "50077", "2051204"]) expect(message).not.toContain(secret);
    // Out-of-range factor: fails inside Num2Bits.
    await expect(backend.prove("multiplier", { a: 70001, b: 1, c: 70001 })).rejects.toThrow(WitnessError);
  });

  it("reports input-shape problems by signal name and withholds anything else", async () => {
    await expect(backend.prove("multiplier", { a: 1, b: 2, c: 2, d: 5 })).rejects.toThrow(
      /: Too many values for input signal d$/,
    );
    await expect(backend.prove("multiplier", { a: 1, b: 2 })).rejects.toThrow(WitnessError);
    const error = await backend
      .prove("multiplier", { a: "xyzzy-31337", b: 2, c: 2 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WitnessError);
    expect((error as Error).message).not.toMatch(/xyzzy|31337/);
    await expect(backend.prove("multiplier", [] as unknown as Record<string, unknown>)).rejects.toThrow(
      TypeError,
    );
  });

  it("refuses unknown circuits and tampered artifacts", async () => {
    await expect(backend.prove("nope", { a: 1 })).rejects.toMatchObject({
      name: "PinMismatchError",
      artifact: "entry",
    });
    await expect(backend.prove("../x", { a: 1 })).rejects.toThrow(TypeError);
    const defaults = setupCacheArtifacts(buildDir);
    const tampered = path.join(buildDir, "tampered.zkey");
    const tamperedBackend = createSnarkjsBackend({
      keysDir,
      resolveArtifacts: async (id, entry, manifest) => ({
        ...(await defaults(id, entry, manifest)),
        zkeyPath: tampered,
      }),
    });
    const { zkeyPath } = await defaults(
      "multiplier",
      (built.circuits[0] as BuiltCircuit).entry,
      built.manifest,
    );
    await copyFile(zkeyPath, tampered);
    const bytes = await readFile(tampered);
    bytes[100] = (bytes[100] as number) ^ 0x80;
    await writeFile(tampered, bytes);
    const error = await tamperedBackend.prove("multiplier", { a: 3, b: 11, c: 33 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PinMismatchError);
    expect(error).toMatchObject({ artifact: "zkey" });
    expect(tamperedBackend.stats.loads).toBe(0);
  });
});

describe("sanitizeWitnessReason", () => {
  it("keeps only whitelisted fragments", () => {
    expect(sanitizeWitnessReason(new Error("Error: Assert Failed. Error in template Foo_2 line: 17\n"))).toBe(
      "Assert Failed. Error in template Foo_2 line: 17",
    );
    expect(sanitizeWitnessReason(new Error("Error: main.x 1234567 != 7654321 foo"))).toBe(
      "witness generator rejected the input (details withheld)",
    );
    expect(sanitizeWitnessReason(new SyntaxError("Cannot convert 98765 to a BigInt"))).not.toContain("98765");
    expect(sanitizeWitnessReason("Not enough values for input signal values\n")).toBe(
      "Not enough values for input signal values",
    );
  });
});

describe("close", () => {
  it("stops the backend and the shared curve workers", async () => {
    const local = createSnarkjsBackend({ keysDir, buildDir });
    await local.load("multiplier");
    await local.close();
    expect((globalThis as { curve_bn128?: unknown }).curve_bn128 ?? null).toBeNull();
    await expect(local.prove("multiplier", { a: 3, b: 11, c: 33 })).rejects.toThrow(ProverError);
  });
});
