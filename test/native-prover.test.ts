/**
 * Native prover (native/prover + NativeBackend): proofs of every circuit the tests build (the multiplier
 * fixture and the aggregate test shape) verify with snarkjs and with the SDK; proofs are randomised;
 * with r = s = 0 the native proof equals snarkjs's (patched to r = s = 0) exactly, on real and on random
 * (non-satisfying) witnesses, which pins down A, B, C and the coset H computation; the readers reject
 * truncated, corrupted and wrong-curve keys and witnesses with a clear error and no crash; pins are
 * enforced; a killed prover child is replaced.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { circuitId } from "../src/circuits/shape.ts";
import { commitRecords } from "../src/dataset/committed.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { ProverError, WitnessError } from "../src/prover/backend.ts";
import { checkQueryProof } from "../src/prover/check.ts";
import { createNativeBackend, type NativeBackend } from "../src/prover/native-backend.ts";
import { setupCacheArtifacts } from "../src/prover/pinned-artifacts.ts";
import { ProverPool } from "../src/prover/pool.ts";
import { proveQuery } from "../src/prover/prove-query.ts";
import { verifyWithSnarkjs } from "../src/prover/snarkjs-backend.ts";
import { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { buildDevKeys, loadPinnedVkey, PinMismatchError, terminateCurveWorkers } from "../src/setup/index.ts";
import { pinnedEntry } from "../src/setup/keys-manifest.ts";
import { prepareVerifyingKey, verifyGroth16 } from "../src/verifier/index.ts";
import { TEST_SHAPE } from "./helpers/circuits.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import { nativeBinary, runNative } from "./helpers/native.ts";
import {
  createRng,
  type RandomQueryOptions,
  type Rng,
  randomQuery,
  randomRecords,
  randomSchema,
} from "./helpers/random.ts";

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const AGG = circuitId(TEST_SHAPE);
const run = promisify(execFile);

let tmp: string;
let mulKeysDir: string;
let mulBuildDir: string;
let mulZkey: string;
let mulWasm: string;
let aggZkey: string;
let aggWasm: string;
let mulBackend: NativeBackend;
let aggBackend: NativeBackend;
const vkeys = new Map<string, snarkjs.Groth16VerificationKey>();

beforeAll(async () => {
  nativeBinary();
  tmp = await mkdtemp(path.join(os.tmpdir(), "zktally-native-test-"));
  mulBuildDir = tmp;
  mulKeysDir = path.join(tmp, "keys");
  const built = await buildDevKeys(["test/fixtures/multiplier.circom"], {
    keysDir: mulKeysDir,
    buildDir: tmp,
  });
  const entry = built.manifest.circuits.multiplier;
  if (!entry) throw new Error("multiplier not pinned");
  ({ zkeyPath: mulZkey, wasmPath: mulWasm } = await setupCacheArtifacts(tmp)(
    "multiplier",
    entry,
    built.manifest,
  ));
  const agg = await pinnedEntry(TEST_KEYS_DIR, AGG);
  ({ zkeyPath: aggZkey, wasmPath: aggWasm } = await setupCacheArtifacts()(AGG, agg.entry, agg.manifest));
  vkeys.set("multiplier", await loadPinnedVkey(mulKeysDir, "multiplier"));
  vkeys.set(AGG, await loadPinnedVkey(TEST_KEYS_DIR, AGG));
  mulBackend = createNativeBackend({ keysDir: mulKeysDir, buildDir: mulBuildDir });
  aggBackend = createNativeBackend({ keysDir: TEST_KEYS_DIR });
}, 180_000);

afterAll(async () => {
  await mulBackend?.close();
  await aggBackend?.close();
  await terminateCurveWorkers();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function verifyBoth(id: string, publicSignals: string[], proof: snarkjs.Groth16Proof) {
  const vkey = vkeys.get(id);
  if (!vkey) throw new Error(`no vkey for ${id}`);
  const bySnarkjs = await verifyWithSnarkjs(vkey, publicSignals, proof);
  const bySdk = verifyGroth16(prepareVerifyingKey(vkey), publicSignals, proof);
  return { bySnarkjs, bySdk };
}

async function witnessBytes(wasm: string, input: Record<string, unknown>): Promise<Uint8Array> {
  const out: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(input, wasm, out);
  if (!out.data) throw new Error("no witness");
  return out.data;
}

async function aggregateInput(seed: number): Promise<Record<string, unknown>> {
  // The witness input proveQuery would send, captured through a recording backend.
  let captured: Record<string, unknown> | undefined;
  const recorder = {
    name: "recorder",
    async prove(_id: string, input: Record<string, unknown>) {
      captured = input;
      throw new Error("captured");
    },
    async close() {},
  };
  const { dataset, query } = await randomStatement(createRng(seed), seed, [
    "count",
    "sum",
    "threshold",
    "membership",
  ]);
  await proveQuery(recorder, { dataset, shape: TEST_SHAPE, query, minGroupSize: 0, nonce: 7n }).catch(
    () => {},
  );
  if (!captured) throw new Error("no input captured");
  return captured;
}

/** A random schema, records (committed under `seed`) and query of one of `kinds`, on the test shape. */
async function randomStatement(rng: Rng, seed: number, kinds: RandomQueryOptions["kinds"]) {
  const schema = randomSchema(rng, { maxFields: TEST_SHAPE.fields, maxWidth: TEST_SHAPE.width });
  const records = randomRecords(rng, schema, rng.int(1, TEST_SHAPE.capacity));
  const dataset = await datasetOf(seed, records, schema);
  const query = randomQuery(rng, schema, {
    maxClauses: TEST_SHAPE.clauses,
    maxSet: TEST_SHAPE.setSize,
    records,
    kinds,
  });
  return { dataset, query };
}

const operator = generateOperatorKey();
function datasetOf(seed: number, records: bigint[][], schema: Parameters<typeof commitRecords>[0]["schema"]) {
  return commitRecords({
    datasetId: `native-${seed}`,
    epoch: 1,
    schema,
    records,
    layout: TEST_SHAPE,
    secret: new Uint8Array(32).fill(seed & 0xff),
    operatorSecretKey: operator.secretKey,
    circuits: [AGG],
  });
}

describe("NativeBackend proofs verify with snarkjs and with the SDK", () => {
  it("multiplier fixture: random factors", async () => {
    const rng = createRng(11);
    for (let i = 0; i < 4; i++) {
      const a = rng.int(1, 65535);
      const b = rng.int(1, 65535);
      const result = await mulBackend.prove("multiplier", { a, b, c: a * b });
      expect(result.publicSignals).toEqual([a < b ? "1" : "0", String(a * b)]);
      expect(await verifyBoth("multiplier", result.publicSignals, result.proof)).toEqual({
        bySnarkjs: true,
        bySdk: true,
      });
      // A wrong public signal must not verify.
      const wrong = [result.publicSignals[0] as string, String(a * b + 1)];
      expect(await verifyBoth("multiplier", wrong, result.proof)).toEqual({ bySnarkjs: false, bySdk: false });
    }
    expect(mulBackend.stats.loads).toBe(1);
  }, 120_000);

  it(`aggregate test shape ${AGG}: random datasets and queries through proveQuery and checkQueryProof`, async () => {
    const rng = createRng(99);
    for (let run = 0; run < 4; run++) {
      const kind = (["count", "sum", "threshold", "membership"] as const)[run % 4] as "count";
      const { dataset, query } = await randomStatement(rng, run, [kind]);
      const nonce = rng.bigint(0n, 2n ** 250n);
      const proof = await proveQuery(aggBackend, {
        dataset,
        shape: TEST_SHAPE,
        query,
        minGroupSize: 0,
        nonce,
      });
      const vkey = vkeys.get(AGG) as snarkjs.Groth16VerificationKey;
      expect(
        await checkQueryProof({ manifest: dataset.manifest, operatorKey: operator.publicKey, vkey, proof }),
      ).toEqual({
        valid: true,
      });
      expect(await verifyBoth(AGG, proof.publicSignals, proof.proof)).toEqual({
        bySnarkjs: true,
        bySdk: true,
      });
    }
  }, 180_000);

  it("two proofs of one witness differ (fresh r and s per proof) and both verify", async () => {
    const input = { a: 1234, b: 4321, c: 1234 * 4321 };
    const one = await mulBackend.prove("multiplier", input);
    const two = await mulBackend.prove("multiplier", input);
    expect(one.publicSignals).toEqual(two.publicSignals);
    expect(one.proof.pi_a).not.toEqual(two.proof.pi_a);
    expect(one.proof.pi_b).not.toEqual(two.proof.pi_b);
    expect(one.proof.pi_c).not.toEqual(two.proof.pi_c);
    for (const p of [one, two]) {
      expect(await verifyBoth("multiplier", p.publicSignals, p.proof)).toEqual({
        bySnarkjs: true,
        bySdk: true,
      });
    }
  }, 60_000);

  it("a failing witness is a WitnessError without values", async () => {
    const err = await mulBackend.prove("multiplier", { a: 3, b: 11, c: 34 }).catch((e) => e);
    expect(err).toBeInstanceOf(WitnessError);
    expect(String(err.message)).not.toMatch(/\b34\b/);
  });

  it("a killed prover child is replaced and the key reloaded, pin-checked", async () => {
    await mulBackend.prove("multiplier", { a: 2, b: 3, c: 6 });
    const pid = mulBackend.pid;
    expect(pid).toBeTypeOf("number");
    process.kill(pid as number, "SIGKILL");
    await new Promise((r) => setTimeout(r, 100));
    const result = await mulBackend.prove("multiplier", { a: 5, b: 7, c: 35 });
    expect(mulBackend.pid).not.toBe(pid);
    expect(await verifyBoth("multiplier", result.publicSignals, result.proof)).toEqual({
      bySnarkjs: true,
      bySdk: true,
    });
  }, 60_000);
});

describe("the service's prover process with the native engine (native-worker)", () => {
  it("proves aggregate witnesses that verify, through a pool of two processes, and survives a killed child", async () => {
    const pool = new ProverPool({
      size: 2,
      create: () => new WorkerProverBackend({ keysDir: TEST_KEYS_DIR, engine: "native" }),
    });
    try {
      expect(pool.backends.map((b) => b.name)).toEqual(["native-worker", "native-worker"]);
      await pool.load(AGG);
      const inputs = await Promise.all([21, 22, 23].map((seed) => aggregateInput(seed)));
      const results = await Promise.all(inputs.map((input) => pool.prove(AGG, input)));
      for (const r of results) {
        expect(await verifyBoth(AGG, r.publicSignals, r.proof)).toEqual({ bySnarkjs: true, bySdk: true });
      }
      const first = pool.backends[0] as WorkerProverBackend;
      process.kill(first.pid as number, "SIGKILL");
      await new Promise((r) => setTimeout(r, 200));
      const again = await Promise.all(inputs.slice(0, 2).map((input) => pool.prove(AGG, input)));
      for (const r of again) {
        expect(await verifyBoth(AGG, r.publicSignals, r.proof)).toEqual({ bySnarkjs: true, bySdk: true });
      }
      const err = await pool.prove(AGG, { ...inputs[0], nonce: "not a number" }).catch((e) => e);
      expect(err).toBeInstanceOf(WitnessError);
    } finally {
      await pool.close();
    }
  }, 180_000);

  it("is refused (ProverError) when the executable is missing", () => {
    const saved = process.env.ZKTALLY_NATIVE_PROVER;
    process.env.ZKTALLY_NATIVE_PROVER = path.join(tmp, "missing-prover");
    try {
      expect(() => new WorkerProverBackend({ keysDir: TEST_KEYS_DIR, engine: "native" })).toThrow(
        /native prover not built/,
      );
    } finally {
      if (saved === undefined) delete process.env.ZKTALLY_NATIVE_PROVER;
      else process.env.ZKTALLY_NATIVE_PROVER = saved;
    }
  });
});

/** snarkjs's groth16.prove with r = s = 0 (its shared curve's Fr.random patched for the call). */
async function snarkjsZeroBlinding(zkey: string, wtns: Uint8Array) {
  const curve = (await snarkjs.curves.getCurveFromName("bn128")) as unknown as {
    Fr: { random(): Uint8Array; zero: Uint8Array };
  };
  const random = curve.Fr.random;
  curve.Fr.random = () => curve.Fr.zero;
  try {
    return await snarkjs.groth16.prove(zkey, { type: "mem", data: wtns } as never);
  } finally {
    curve.Fr.random = random;
  }
}

async function nativeZeroBlinding(zkey: string, wtns: Uint8Array) {
  const file = path.join(tmp, `w-${Math.random().toString(36).slice(2)}.wtns`);
  await writeFile(file, wtns);
  const { code, json } = await runNative(["prove", zkey, file, "--zero-blinding"]);
  await rm(file);
  expect(json.error, "native prove").toBeUndefined();
  expect(code).toBe(0);
  return json as unknown as { proof: snarkjs.Groth16Proof; publicSignals: string[] };
}

/** Overwrites witness values 1.. with pseudo-random field elements (a witness no circuit accepts). */
function randomiseWitness(wtns: Uint8Array, seed: number): Uint8Array {
  const out = new Uint8Array(wtns);
  const view = new DataView(out.buffer);
  // Section 2 follows the 12-byte file header and section 1 (12-byte section header + 40 bytes).
  const valuesAt = 12 + 12 + 40 + 12;
  const n = view.getUint32(12 + 12 + 36, true);
  const rng = createRng(seed);
  for (let i = 1; i < n; i++) {
    const v = rng.bigint(0n, R - 1n);
    for (let b = 0; b < 32; b++) out[valuesAt + i * 32 + b] = Number((v >> BigInt(8 * b)) & 0xffn);
  }
  return out;
}

describe("differential: native with r = s = 0 equals snarkjs with r = s = 0", () => {
  it("multiplier and aggregate, satisfying witnesses", async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      [mulZkey, mulWasm, { a: 300, b: 200, c: 60000 }],
      [aggZkey, aggWasm, await aggregateInput(5)],
      [aggZkey, aggWasm, await aggregateInput(6)],
    ];
    for (const [zkey, wasm, input] of cases) {
      const wtns = await witnessBytes(wasm, input);
      const ours = await nativeZeroBlinding(zkey, wtns);
      const theirs = await snarkjsZeroBlinding(zkey, wtns);
      expect(ours.proof).toEqual(theirs.proof);
      expect(ours.publicSignals).toEqual(theirs.publicSignals);
    }
  }, 180_000);

  it("random non-satisfying witnesses (H of arbitrary A, B, C evaluations)", async () => {
    const base = await witnessBytes(aggWasm, await aggregateInput(8));
    for (const seed of [1, 2]) {
      const wtns = randomiseWitness(base, seed);
      const ours = await nativeZeroBlinding(aggZkey, wtns);
      const theirs = await snarkjsZeroBlinding(aggZkey, wtns);
      expect(ours.proof).toEqual(theirs.proof);
    }
    const mulBase = await witnessBytes(mulWasm, { a: 2, b: 3, c: 6 });
    for (const seed of [3, 4, 5]) {
      const wtns = randomiseWitness(mulBase, seed);
      expect((await nativeZeroBlinding(mulZkey, wtns)).proof).toEqual(
        (await snarkjsZeroBlinding(mulZkey, wtns)).proof,
      );
    }
  }, 180_000);
});

describe("readers reject bad keys and witnesses with a clear error, never a crash", () => {
  let zkey: Uint8Array;
  let wtns: Uint8Array;
  beforeAll(async () => {
    zkey = new Uint8Array(await readFile(mulZkey));
    wtns = await witnessBytes(mulWasm, { a: 3, b: 11, c: 33 });
  });

  async function proveWith(key: Uint8Array, witness: Uint8Array) {
    const kf = path.join(tmp, "bad.zkey");
    const wf = path.join(tmp, "bad.wtns");
    await writeFile(kf, key);
    await writeFile(wf, witness);
    return runNative(["prove", kf, wf]);
  }
  const expectError = async (key: Uint8Array, witness: Uint8Array, pattern: RegExp) => {
    const { code, json } = await proveWith(key, witness);
    expect(code).toBe(1);
    expect(json.ok).toBe(false);
    expect(String(json.error)).toMatch(pattern);
  };
  /** Byte offset of a section's body in a snarkjs binary file. */
  function sectionBody(bytes: Uint8Array, type: number): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 12;
    for (let i = 0; i < view.getUint32(8, true); i++) {
      const t = view.getUint32(pos, true);
      const size = Number(view.getBigUint64(pos + 4, true));
      if (t === type) return pos + 12;
      pos += 12 + size;
    }
    throw new Error(`no section ${type}`);
  }

  it("the untouched files prove", async () => {
    expect((await proveWith(zkey, wtns)).code).toBe(0);
  });

  it("truncated keys", async () => {
    await expectError(zkey.slice(0, 8), wtns, /bad\.zkey: truncated/);
    for (const cut of [20, 100, 1000, Math.floor(zkey.length / 2), zkey.length - 1]) {
      await expectError(zkey.slice(0, cut), wtns, /bad\.zkey: (truncated|missing section)/);
    }
  });

  it("corrupted keys: magic, protocol, section sizes, points, coefficients", async () => {
    const bad = (edit: (b: Uint8Array, v: DataView) => void) => {
      const b = new Uint8Array(zkey);
      edit(b, new DataView(b.buffer));
      return b;
    };
    await expectError(
      bad((b) => b.set([0x78], 0)),
      wtns,
      /not a \.zkey file/,
    );
    await expectError(
      bad((b, v) => v.setUint32(sectionBody(b, 1), 2, true)),
      wtns,
      /not a Groth16 key/,
    );
    const s2 = sectionBody(zkey, 2);
    // alpha1's y coordinate changed: not on the curve.
    await expectError(
      bad((b) => b.set([b[s2 + 72 + 40 + 32]! ^ 1], s2 + 72 + 40 + 32)),
      wtns,
      /alpha1 is not a BN254 G1 point/,
    );
    // An A point corrupted.
    const s5 = sectionBody(zkey, 5);
    await expectError(
      bad((b) => b.set([b[s5 + 64 + 3]! ^ 0x10], s5 + 64 + 3)),
      wtns,
      /A point 1 is not on the curve/,
    );
    // A coefficient's signal index out of range.
    const s4 = sectionBody(zkey, 4);
    await expectError(
      bad((_b, v) => v.setUint32(s4 + 4 + 8, 0xffffff, true)),
      wtns,
      /signal index out of range/,
    );
    await expectError(
      bad((_b, v) => v.setUint32(s4 + 4 + 4, 0xffffff, true)),
      wtns,
      /constraint index out of range/,
    );
    await expectError(
      bad((_b, v) => v.setUint32(s4, 0xffffff, true)),
      wtns,
      /section 4 \(coefficients\) has/,
    );
    // nVars inflated: the point sections no longer have the declared sizes.
    await expectError(
      bad((_b, v) => v.setUint32(s2 + 72, 999999, true)),
      wtns,
      /section 3 \(IC points\)|section 5/,
    );
    // A section declaring more bytes than the file has.
    await expectError(
      bad((_b, v) => v.setBigUint64(12 + 4, 1n << 40n, true)),
      wtns,
      /truncated: section 1 declares/,
    );
  });

  it("keys of another curve", async () => {
    const s2 = sectionBody(zkey, 2);
    const otherQ = new Uint8Array(zkey);
    otherQ[s2 + 4] = (otherQ[s2 + 4] as number) ^ 2;
    await expectError(otherQ, wtns, /wrong curve: the base field prime is not BN254's/);
    const otherR = new Uint8Array(zkey);
    otherR[s2 + 40] = (otherR[s2 + 40] as number) ^ 2;
    await expectError(otherR, wtns, /wrong curve: the scalar field prime is not BN254's/);
    // A BLS12-381-sized key header (48-byte base field).
    const bls = new Uint8Array(zkey);
    new DataView(bls.buffer).setUint32(s2, 48, true);
    await expectError(bls, wtns, /wrong curve: base field of 48 bytes/);
  });

  it("truncated, corrupted, wrong-curve and mismatched witnesses", async () => {
    await expectError(zkey, wtns.slice(0, wtns.length - 5), /witness.*truncated|bad\.wtns: truncated/);
    await expectError(zkey, wtns.slice(0, 30), /bad\.wtns: truncated/);
    const curveless = new Uint8Array(wtns);
    curveless[12 + 12 + 4 + 1] = (curveless[12 + 12 + 4 + 1] as number) ^ 1;
    await expectError(zkey, curveless, /wrong curve: the witness field is not BN254's scalar field/);
    const big = new Uint8Array(wtns);
    big.fill(0xff, 12 + 12 + 40 + 12 + 32, 12 + 12 + 40 + 12 + 64);
    await expectError(zkey, big, /witness value 1 is not below r/);
    const other = await witnessBytes(aggWasm, await aggregateInput(3));
    await expectError(zkey, other, /witness has \d+ values, the key's circuit has \d+ signals/);
  });

  it("random byte flips never crash the reader", async () => {
    const rng = createRng(77);
    for (let i = 0; i < 40; i++) {
      const b = new Uint8Array(zkey);
      for (let k = 0; k < 3; k++) {
        const at = rng.int(0, b.length - 1);
        b[at] = (b[at] as number) ^ (1 << rng.int(0, 7));
      }
      const { code, json } = await proveWith(b, wtns);
      expect([0, 1]).toContain(code);
      if (code === 1) expect(String(json.error)).toMatch(/bad\.zkey: |witness has/);
    }
  }, 120_000);
});

describe("pins", () => {
  it("a zkey that differs from its pin is refused (PinMismatchError), the copy is never proved with", async () => {
    const dir = await mkdtemp(path.join(tmp, "pin-"));
    const fake = path.join(dir, "circuit.zkey");
    await copyFile(aggZkey, fake);
    const backend = createNativeBackend({
      keysDir: mulKeysDir,
      resolveArtifacts: () => ({ zkeyPath: fake, wasmPath: mulWasm }),
    });
    try {
      const err = await backend.prove("multiplier", { a: 3, b: 11, c: 33 }).catch((e) => e);
      expect(err).toBeInstanceOf(PinMismatchError);
    } finally {
      await backend.close();
    }
  }, 60_000);

  it("a missing executable is a ProverError naming the path", () => {
    expect(() => createNativeBackend({ keysDir: mulKeysDir, binaryPath: path.join(tmp, "nope") })).toThrow(
      ProverError,
    );
    expect(() => createNativeBackend({ keysDir: mulKeysDir, binaryPath: path.join(tmp, "nope") })).toThrow(
      /native prover not built .*nope/,
    );
  });
});

it("serve protocol: unknown key, bad request, garbage witness keep the process answering", async () => {
  const child = execFile(nativeBinary(), ["serve"]);
  const lines: string[] = [];
  child.stdout?.on("data", (d) => lines.push(...String(d).split("\n").filter(Boolean)));
  child.stdin?.write("hello\n");
  child.stdin?.write("prove nokey 4\nabcd");
  child.stdin?.write(`load m ${mulZkey}\n`);
  child.stdin?.write("prove m 4\nwxyz");
  const bytes = await readFile(mulZkey);
  child.stdin?.write(`loadbytes k ${bytes.length}\n`);
  child.stdin?.write(bytes);
  child.stdin?.write("loadbytes k2 5\nzkey!");
  child.stdin?.end();
  await new Promise((r) => child.on("exit", r));
  expect(lines).toHaveLength(6);
  const replies = lines.map((l) => JSON.parse(l));
  expect(replies[0].error).toMatch(/unknown request/);
  expect(replies[1].error).toMatch(/key nokey is not loaded/);
  expect(replies[2]).toMatchObject({ ok: true, nPublic: 2 });
  expect(replies[3].error).toMatch(/witness: truncated/);
  expect(replies[4]).toMatchObject({ ok: true, nPublic: 2, sha256: replies[2].sha256 });
  expect(replies[5].error).toMatch(/key k2: truncated/);
  void run;
});
