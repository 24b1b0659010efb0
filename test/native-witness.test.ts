/**
 * circom's C++ witness generator in the native backend (buildWitnessGenerator in src/setup/compile.ts,
 * src/prover/native-witness.ts). Built once (cached under build/test-witness-cpp/, a copy of the test
 * circuit's pinned compile entry, so the shared entry stays wasm-only) for the aggregate test circuit, it
 * writes witnesses byte-identical to the wasm generator's; NativeBackend uses it (one line says so) and its
 * proofs verify with snarkjs and the SDK; an input that breaks the circuit is reported exactly as the wasm
 * path reports it; a generator whose files changed, one built from other sources, a missing one and
 * `nativeWitness: false` fall back to wasm with one line naming why; inputs are normalised as the wasm
 * generator reads them.
 */
import { appendFile, copyFile, cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIELD_ORDER } from "../src/core/field.ts";
import { WitnessError } from "../src/prover/backend.ts";
import { createNativeBackend, type NativeBackend } from "../src/prover/native-backend.ts";
import { circomInputJson, runWitnessGenerator, witnessEngineLine } from "../src/prover/native-witness.ts";
import { type ArtifactResolver, setupCacheArtifacts } from "../src/prover/pinned-artifacts.ts";
import { verifyWithSnarkjs } from "../src/prover/snarkjs-backend.ts";
import {
  buildWitnessGenerator,
  type CompiledCircuit,
  compileCircuit,
  readWitnessGenerator,
  type WitnessGenerator,
  witnessGeneratorPaths,
} from "../src/setup/compile.ts";
import { loadPinnedVkey, terminateCurveWorkers } from "../src/setup/index.ts";
import { pinnedEntry } from "../src/setup/keys-manifest.ts";
import { ensureMainFile } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { prepareVerifyingKey, verifyGroth16 } from "../src/verifier/index.ts";
import { CHUNK_CIRCUIT_ID as AGG, type ChunkFixture, chunkFixture, poisoned } from "./helpers/chunk-tasks.ts";
import { TEST_SHAPE } from "./helpers/circuits.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import { nativeBinary } from "./helpers/native.ts";

let compiled: CompiledCircuit;
let generator: WitnessGenerator;
let wasmCopy: string;
let resolver: ArtifactResolver;
let fixture: ChunkFixture;
let tmp: string;
const backends: NativeBackend[] = [];

beforeAll(async () => {
  nativeBinary();
  tmp = await mkdtemp(path.join(os.tmpdir(), "zktally-witness-test-"));
  compiled = await compileCircuit(await ensureMainFile(TEST_SHAPE));
  // A copy of the compile entry (wasm only) to build the generator into.
  const entryDir = path.join(buildRoot(), "test-witness-cpp", AGG, compiled.sourceHash);
  wasmCopy = path.join(entryDir, `${AGG}_js`, `${AGG}.wasm`);
  await mkdir(path.dirname(wasmCopy), { recursive: true });
  await copyFile(compiled.wasmPath, wasmCopy);
  generator = await buildWitnessGenerator({ ...compiled, dir: entryDir });
  const pinned = await pinnedEntry(TEST_KEYS_DIR, AGG);
  const { zkeyPath } = await setupCacheArtifacts()(AGG, pinned.entry, pinned.manifest);
  resolver = () => ({ zkeyPath, wasmPath: wasmCopy });
  fixture = await chunkFixture(3);
}, 900_000);

afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  await terminateCurveWorkers();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function backend(options: { nativeWitness?: boolean; resolve?: ArtifactResolver } = {}) {
  const lines: string[] = [];
  const b = createNativeBackend({
    keysDir: TEST_KEYS_DIR,
    resolveArtifacts: options.resolve ?? resolver,
    nativeWitness: options.nativeWitness,
    log: (line) => lines.push(line),
  });
  backends.push(b);
  return { backend: b, lines };
}

async function wasmWitness(input: Record<string, unknown>): Promise<Uint8Array> {
  const out: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(input, wasmCopy, out);
  if (!out.data) throw new Error("no witness");
  return out.data;
}

describe("C++ witness generator", () => {
  it("writes witnesses byte-identical to the wasm generator's", async () => {
    expect(generator.binaryPath).toBe(
      witnessGeneratorPaths(path.dirname(path.dirname(wasmCopy)), AGG).binary,
    );
    for (const task of fixture.tasks) {
      const json = circomInputJson(task.input);
      expect(json).toBeDefined();
      const native = await runWitnessGenerator(generator.binaryPath, json as string);
      expect(Buffer.from(native).equals(Buffer.from(await wasmWitness(task.input)))).toBe(true);
    }
  });

  it("is found again, pinned to the compile entry's wasm", async () => {
    const again = await buildWitnessGenerator({ ...compiled, dir: path.dirname(path.dirname(wasmCopy)) });
    expect(again.cached).toBe(true);
    expect(again.binarySha256).toBe(generator.binarySha256);
  });

  it("NativeBackend proves with it (one line says so); the proofs verify with snarkjs and the SDK", async () => {
    const { backend: b, lines } = backend();
    const vkey = await loadPinnedVkey(TEST_KEYS_DIR, AGG);
    for (const task of fixture.tasks.slice(0, 2)) {
      const { proof, publicSignals } = await b.prove(AGG, task.input);
      expect(publicSignals).toEqual(task.expectedPublicSignals);
      expect(await verifyWithSnarkjs(vkey, publicSignals, proof)).toBe(true);
      expect(verifyGroth16(prepareVerifyingKey(vkey), publicSignals, proof)).toBe(true);
    }
    expect(b.witnessEngines.get(AGG)).toBe("native");
    expect(b.witnessCounts).toEqual({ native: 2, wasm: 0 });
    expect(lines).toEqual([witnessEngineLine(AGG, "native")]);
  });

  it("an input that breaks the circuit is reported as the wasm path reports it", async () => {
    const bad = poisoned(fixture.tasks[0] as (typeof fixture.tasks)[0]).input;
    await expect(runWitnessGenerator(generator.binaryPath, circomInputJson(bad) as string)).rejects.toThrow(
      /C\+\+ witness generator failed/,
    );
    const viaNative = await backend()
      .backend.prove(AGG, bad)
      .catch((e: unknown) => e);
    const viaWasm = await backend({ nativeWitness: false })
      .backend.prove(AGG, bad)
      .catch((e: unknown) => e);
    expect(viaNative).toBeInstanceOf(WitnessError);
    expect(viaWasm).toBeInstanceOf(WitnessError);
    expect((viaNative as Error).message).toBe((viaWasm as Error).message);
  });
});

describe("fallback to the wasm generator", () => {
  it("nativeWitness: false uses wasm and says so in one line", async () => {
    const { backend: b, lines } = backend({ nativeWitness: false });
    const task = fixture.tasks[2] as (typeof fixture.tasks)[0];
    expect((await b.prove(AGG, task.input)).publicSignals).toEqual(task.expectedPublicSignals);
    expect(b.witnessEngines.get(AGG)).toBe("wasm");
    expect(b.witnessCounts).toEqual({ native: 0, wasm: 1 });
    expect(lines).toEqual([witnessEngineLine(AGG, "wasm", "C++ generator turned off")]);
  });

  it("a missing, changed or foreign generator is refused with the reason", async () => {
    const entry = path.join(tmp, "entry");
    expect(await readWitnessGenerator(entry, AGG, generator.wasmSha256)).toEqual({
      reason: expect.stringMatching(/no C\+\+ witness generator built/),
    });
    await cp(path.dirname(generator.binaryPath), witnessGeneratorPaths(entry, AGG).dir, { recursive: true });
    expect(await readWitnessGenerator(entry, AGG, "0".repeat(64))).toEqual({
      reason: "C++ witness generator built from other sources",
    });
    expect("generator" in (await readWitnessGenerator(entry, AGG, generator.wasmSha256))).toBe(true);
    await appendFile(witnessGeneratorPaths(entry, AGG).dat, "x");
    expect(await readWitnessGenerator(entry, AGG, generator.wasmSha256)).toEqual({
      reason: "C++ witness generator files changed since they were built",
    });
  });

  it("the default setup-cache entry without a generator proves with wasm", async () => {
    const pinned = await pinnedEntry(TEST_KEYS_DIR, AGG);
    const { zkeyPath } = await setupCacheArtifacts()(AGG, pinned.entry, pinned.manifest);
    const foreign = path.join(tmp, "foreign", `${AGG}_js`, `${AGG}.wasm`);
    await mkdir(path.dirname(foreign), { recursive: true });
    await copyFile(wasmCopy, foreign);
    const { backend: b, lines } = backend({ resolve: () => ({ zkeyPath, wasmPath: foreign }) });
    const task = fixture.tasks[1] as (typeof fixture.tasks)[0];
    expect((await b.prove(AGG, task.input)).publicSignals).toEqual(task.expectedPublicSignals);
    expect(lines).toEqual([
      expect.stringMatching(/witnesses by the wasm generator \(no C\+\+ witness generator built/),
    ]);
  });
});

describe("circomInputJson", () => {
  it("writes every value as a decimal string below r, as the wasm generator reads it", () => {
    const json = circomInputJson({ a: 5, b: -1n, c: ["0x10", true], d: { e: [[`${FIELD_ORDER + 2n}`]] } });
    expect(JSON.parse(json as string)).toEqual({
      a: "5",
      b: (FIELD_ORDER - 1n).toString(),
      c: ["16", "1"],
      d: { e: [["2"]] },
    });
  });

  it("leaves anything else to the wasm generator (undefined)", () => {
    for (const bad of [{ a: 1.5 }, { a: null }, { a: "x1" }, { a: 2 ** 60 }, { a: new Date(0) }]) {
      expect(circomInputJson(bad)).toBeUndefined();
    }
  });
});
