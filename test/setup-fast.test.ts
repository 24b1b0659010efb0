/**
 * Fast INSECURE development setup (src/setup/fast): the ptau written from known secrets must be the file
 * snarkjs would produce (powers and Lagrange points checked by pairings, by an independent curve library,
 * and byte for byte against snarkjs `preparePhase2` run on our own phase-1 sections), snarkjs must verify
 * it, the zkey must be byte-identical to snarkjs `newZKey`, and the full chain through contribute, beacon,
 * verifyFromR1cs, prove and verify must hold.
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BinSections, readBinFile } from "@iden3/binfileutils";
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIELD_ORDER } from "../src/core/field.ts";
import { type CompiledCircuit, compileCircuit } from "../src/setup/compile.ts";
import {
  ChaCha,
  chooseWindow,
  DEV_CONTRIBUTION_NAME,
  evaluateSpec,
  FixedBasePool,
  getCurve,
  lagrangeSpec,
  MAX_TABLE_BYTES,
  newDevZKey,
  powersSpec,
  rootOfUnity,
  SetupError,
  type ToxicWaste,
  toxicWasteFromSeed,
  truncatedLagrangeSpec,
  writeDevPtau,
} from "../src/setup/fast/index.ts";
import { devPtau, devPtauPath, terminateCurveWorkers } from "../src/setup/ptau.ts";

const SECRETS: ToxicWaste = {
  tau: 0x2a1f6f5c3b8e9d7a6c5b4a3928171615141312111009080706050403020100ffn,
  alpha: 0x1234567890abcdef1234567890abcdefn,
  beta: 0xfedcba0987654321fedcba0987654321n,
};
const POWER = 8;

interface SnarkjsExtras {
  powersOfTau: {
    verify(ptau: string, logger?: snarkjs.SnarkjsLogger): Promise<boolean>;
    preparePhase2(oldPtau: string, newPtau: string): Promise<void>;
  };
}
const extras = snarkjs as unknown as SnarkjsExtras;

let dir: string;
let buildDir: string;
let ptauPath: string;
const circuits: Record<string, CompiledCircuit> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "zktally-setup-fast-"));
  buildDir = path.join(dir, "build");
  ptauPath = devPtauPath(path.join(buildDir, "ptau"), POWER);
  await writeDevPtau({ power: POWER, outPath: ptauPath, secrets: SECRETS });
  for (const name of ["fast_multiplier", "fast_mixed", "fast_chain"]) {
    circuits[name] = await compileCircuit(`test/fixtures/fast/${name}.circom`);
  }
}, 120_000);

afterAll(async () => {
  await terminateCurveWorkers();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function sections(file: string): Promise<{ bytes: Buffer; map: BinSections }> {
  const { fd, sections: map } = await readBinFile(file, "ptau", 1);
  await fd.close();
  return { bytes: await readFile(file), map };
}

function sectionBytes(file: { bytes: Buffer; map: BinSections }, id: number): Buffer {
  const s = file.map[id]?.[0];
  if (!s) throw new Error(`section ${id} missing`);
  return file.bytes.subarray(s.p, s.p + s.size);
}

function point(body: Buffer, index: number, size: number): Uint8Array {
  return new Uint8Array(body.subarray(index * size, (index + 1) * size));
}

describe("scalar formulas", () => {
  it("uses the roots of unity of ffjavascript (known 2^28-th root)", () => {
    expect(rootOfUnity(28)).toBe(
      19103219067921713944291392827692070036145651957329286315305642004821462161904n,
    );
    expect(rootOfUnity(1)).toBe(FIELD_ORDER - 1n);
    expect(rootOfUnity(0)).toBe(1n);
  });

  it("Lagrange evaluations sum to 1 and interpolate x", () => {
    const bits = 5;
    const l = evaluateSpec(lagrangeSpec(SECRETS.tau, bits, 0, 32));
    const w = rootOfUnity(bits);
    let sum = 0n;
    let weighted = 0n;
    let x = 1n;
    for (const v of l) {
      sum = (sum + v) % FIELD_ORDER;
      weighted = (weighted + v * x) % FIELD_ORDER;
      x = (x * w) % FIELD_ORDER;
    }
    expect(sum).toBe(1n);
    expect(weighted).toBe(SECRETS.tau);
  });

  it("workers expand specs exactly like the bigint reference", async () => {
    const pool = await FixedBasePool.open({ threads: 2 });
    try {
      for (const spec of [
        powersSpec(SECRETS.tau, 5, 37, SECRETS.alpha),
        lagrangeSpec(SECRETS.tau, 6, 3, 41, SECRETS.beta),
        truncatedLagrangeSpec(SECRETS.tau, 6, 0, 64),
      ]) {
        const expanded = await pool.expand(spec);
        const reference = evaluateSpec(spec);
        const got = evaluateSpec({ kind: "list", count: spec.count, scalars: expanded });
        expect(got).toEqual(reference);
      }
    } finally {
      await pool.close();
    }
  });

  it("chooses larger comb windows for more points, within the table cap", () => {
    expect(chooseWindow("G1", 10, 2)).toBeLessThan(chooseWindow("G1", 1_000_000, 2));
    for (const [group, size] of [
      ["G1", 64],
      ["G2", 128],
    ] as const) {
      const w = chooseWindow(group, 1 << 27, 2);
      expect(Math.ceil(254 / w) * 2 ** w * size).toBeLessThanOrEqual(MAX_TABLE_BYTES);
    }
  });

  it("derives reproducible secrets from a seed", () => {
    expect(toxicWasteFromSeed("dev")).toEqual(toxicWasteFromSeed("dev"));
    expect(toxicWasteFromSeed("dev").tau).not.toBe(toxicWasteFromSeed("dev2").tau);
    expect(() => toxicWasteFromSeed("")).toThrow(RangeError);
  });

  it("ChaCha matches ffjavascript's stream (known first words for the zero seed)", () => {
    // ChaCha20 block function, zero key, zero counter/nonce: first word 0xade0b876 (RFC 7539 test vector 1).
    const rng = new ChaCha([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(rng.nextU32()).toBe(0xade0b876);
    expect(rng.nextU32()).toBe(0x903df1a0);
  });
});

describe("writeDevPtau", () => {
  it("rejects bad options with precise errors", async () => {
    const outPath = path.join(dir, "bad.ptau");
    await expect(writeDevPtau({ power: 0, outPath })).rejects.toThrow(RangeError);
    await expect(writeDevPtau({ power: 2.5, outPath })).rejects.toThrow(/power/);
    await expect(writeDevPtau({ power: 29, outPath })).rejects.toThrow(RangeError);
    await expect(writeDevPtau({ power: 28, outPath })).rejects.toThrow(/not supported/);
    await expect(writeDevPtau({ power: 4, outPath: "" })).rejects.toThrow(TypeError);
    await expect(writeDevPtau({ power: 4, outPath: dir })).rejects.toThrow(/directory/);
    const bad = (patch: Partial<Record<keyof ToxicWaste, unknown>>) =>
      writeDevPtau({ power: 4, outPath, secrets: { ...SECRETS, ...patch } as ToxicWaste });
    await expect(bad({ tau: 0n })).rejects.toThrow(/secrets.tau/);
    await expect(bad({ alpha: FIELD_ORDER })).rejects.toThrow(/secrets.alpha/);
    await expect(bad({ beta: 5 })).rejects.toThrow(TypeError);
    await expect(bad({ tau: 1n })).rejects.toThrow(/root of unity/);
    await expect(bad({ tau: rootOfUnity(3) })).rejects.toThrow(/root of unity/);
  });

  it("writes the snarkjs layout, INSECURE name and a sidecar the dev ptau cache accepts", async () => {
    const file = await sections(ptauPath);
    const n = 2 ** POWER;
    const sizes = [
      [2, (2 * n - 1) * 64],
      [3, n * 128],
      [4, n * 64],
      [5, n * 64],
      [6, 128],
      [12, (4 * n - 1) * 64],
      [13, (2 * n - 1) * 128],
      [14, (2 * n - 1) * 64],
      [15, (2 * n - 1) * 64],
    ];
    for (const [id, size] of sizes) expect(file.map[id as number]?.[0]?.size).toBe(size);
    const header = sectionBytes(file, 1);
    expect(header.readUInt32LE(0)).toBe(32);
    expect(header.readUInt32LE(36)).toBe(POWER);
    expect(header.readUInt32LE(40)).toBe(POWER);
    expect(sectionBytes(file, 7).includes(Buffer.from(DEV_CONTRIBUTION_NAME))).toBe(true);
    const cached = await devPtau(POWER, { buildDir });
    expect(cached.generated).toBe(false);
    expect(cached.path).toBe(ptauPath);
    const sidecar = JSON.parse(await readFile(`${ptauPath}.json`, "utf8"));
    expect(sidecar).toMatchObject({ power: POWER, insecure: true, sha256: cached.sha256 });
  });

  it("holds powers of tau: pairings and an independent curve implementation", async () => {
    const curve = await getCurve();
    const { G1, G2 } = curve;
    const file = await sections(ptauPath);
    const tauG1 = sectionBytes(file, 2);
    const tauG2 = sectionBytes(file, 3);
    const alphaTauG1 = sectionBytes(file, 4);
    const betaTauG1 = sectionBytes(file, 5);
    const tau2 = point(tauG2, 1, 128);
    const g2 = G2.toAffine(G2.g);
    // e(P[i], G2) == e(P[i-1], tau G2), i.e. e(P[i], G2) * e(-P[i-1], tau G2) == 1.
    const stepsByTau = async (body: Buffer, size: number, i: number) =>
      curve.pairingEq(point(body, i, size), g2, G1.neg(point(body, i - 1, size)), tau2);
    for (const i of [1, 2, 100, 2 * 2 ** POWER - 2]) expect(await stepsByTau(tauG1, 64, i)).toBe(true);
    for (const i of [1, 77, 2 ** POWER - 1]) {
      expect(await stepsByTau(alphaTauG1, 64, i)).toBe(true);
      expect(await stepsByTau(betaTauG1, 64, i)).toBe(true);
    }
    // tauG2[i]: e(G1, tauG2[i]) == e(tauG1[i], G2).
    for (const i of [1, 200]) {
      const ok = await curve.pairingEq(
        G1.toAffine(G1.g),
        point(tauG2, i, 128),
        G1.neg(point(tauG1, i, 64)),
        g2,
      );
      expect(ok).toBe(true);
    }
    // @noble/curves agrees on tau^i * G1 and alpha * G1.
    for (const [body, index, scalar] of [
      [tauG1, 1, SECRETS.tau],
      [tauG1, 300, modPow(SECRETS.tau, 300n)],
      [alphaTauG1, 0, SECRETS.alpha],
    ] as const) {
      const u = new Uint8Array(64);
      G1.toRprUncompressed(u, 0, point(body, index, 64));
      const expected = bn254.G1.Point.BASE.multiply(scalar).toAffine();
      expect(BigInt(`0x${Buffer.from(u.subarray(0, 32)).toString("hex")}`)).toBe(expected.x);
      expect(BigInt(`0x${Buffer.from(u.subarray(32)).toString("hex")}`)).toBe(expected.y);
    }
  }, 30_000);

  it("is accepted by snarkjs powersoftau verify (contribution record and Lagrange sections)", async () => {
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (m: string) => errors.push(m) };
    expect(await extras.powersOfTau.verify(ptauPath, logger)).toBe(true);
    expect(errors).toEqual([]);
  }, 60_000);

  it("has exactly the Lagrange sections snarkjs preparePhase2 computes from its own phase-1 sections", async () => {
    const power = 6;
    const unprepared = path.join(dir, "unprepared.ptau");
    const ours = path.join(dir, "ours.ptau");
    const theirs = path.join(dir, "theirs.ptau");
    const secrets = toxicWasteFromSeed("lagrange-vs-snarkjs");
    const plain = await writeDevPtau({ power, outPath: unprepared, secrets, phase2: false });
    expect(plain.sidecarPath).toBeUndefined();
    await writeDevPtau({ power, outPath: ours, secrets });
    await extras.powersOfTau.preparePhase2(unprepared, theirs);
    const [a, b, u] = await Promise.all([sections(ours), sections(theirs), sections(unprepared)]);
    for (const id of [1, 2, 3, 4, 5, 6, 12, 13, 14, 15]) {
      expect(sectionBytes(a, id).equals(sectionBytes(b, id)), `section ${id}`).toBe(true);
    }
    // The only difference is the (randomised) proof-of-knowledge key of the contribution.
    expect(sectionBytes(b, 7).equals(sectionBytes(u, 7))).toBe(true);
    expect(a.bytes.length).toBe(b.bytes.length);
  }, 60_000);
});

describe("newDevZKey", () => {
  it("is byte-identical to snarkjs newZKey (including a circuit that fills the ptau)", async () => {
    for (const [name, cirPower] of [
      ["fast_multiplier", 2],
      ["fast_mixed", 4],
      ["fast_chain", POWER],
    ] as const) {
      const compiled = circuits[name] as CompiledCircuit;
      const fast = path.join(dir, `${name}.fast.zkey`);
      const reference = path.join(dir, `${name}.snarkjs.zkey`);
      const result = await newDevZKey({
        r1csPath: compiled.r1csPath,
        ptauPath,
        zkeyPath: fast,
        secrets: SECRETS,
      });
      const csHash = await snarkjs.zKey.newZKey(compiled.r1csPath, ptauPath, reference);
      expect(result.domainSize).toBe(2 ** cirPower);
      expect(result.csHash).toBe(Buffer.from(csHash as Uint8Array).toString("hex"));
      const [x, y] = await Promise.all([readFile(fast), readFile(reference)]);
      expect(x.length).toBe(y.length);
      expect(x.equals(y), name).toBe(true);
    }
  }, 60_000);

  it("rejects wrong secrets, missing files, unprepared and too small ptau files", async () => {
    const r1csPath = (circuits.fast_chain as CompiledCircuit).r1csPath;
    const zkeyPath = path.join(dir, "rejected.zkey");
    const base = { r1csPath, ptauPath, zkeyPath, secrets: SECRETS };
    await expect(newDevZKey({ ...base, secrets: { ...SECRETS, beta: SECRETS.beta + 1n } })).rejects.toThrow(
      /secrets do not match/,
    );
    await expect(newDevZKey({ ...base, r1csPath: path.join(dir, "nope.r1cs") })).rejects.toThrow(TypeError);
    await expect(newDevZKey({ ...base, ptauPath: "" })).rejects.toThrow(/ptauPath/);
    await expect(newDevZKey({ ...base, zkeyPath: "" })).rejects.toThrow(/zkeyPath/);
    await expect(newDevZKey({ ...base, secrets: { ...SECRETS, tau: 0n } })).rejects.toThrow(RangeError);
    const small = path.join(dir, "small.ptau");
    await writeDevPtau({ power: 4, outPath: small, secrets: SECRETS });
    await expect(newDevZKey({ ...base, ptauPath: small })).rejects.toThrow(/needs ptau power 8/);
    const unprepared = path.join(dir, "small-unprepared.ptau");
    await writeDevPtau({ power: 4, outPath: unprepared, secrets: SECRETS, phase2: false });
    await expect(newDevZKey({ ...base, ptauPath: unprepared })).rejects.toThrow(SetupError);
    await writeFile(path.join(dir, "garbage.ptau"), "not a ptau");
    await expect(newDevZKey({ ...base, ptauPath: path.join(dir, "garbage.ptau") })).rejects.toThrow(
      /not a ptau/,
    );
  }, 30_000);

  it("feeds the normal snarkjs chain: contribute, beacon, verifyFromR1cs, prove, verify", async () => {
    const compiled = circuits.fast_mixed as CompiledCircuit;
    const [initial, contributed, final] = ["0", "1", "final"].map((s) =>
      path.join(dir, `chain-${s}.zkey`),
    ) as [string, string, string];
    await newDevZKey({ r1csPath: compiled.r1csPath, ptauPath, zkeyPath: initial, secrets: SECRETS });
    await snarkjs.zKey.contribute(initial, contributed, "test contribution", "some entropy 1234");
    const beacon = await snarkjs.zKey.beacon(contributed, final, "test beacon", "0102030405060708", 10);
    expect(beacon).not.toBe(false);
    expect(await snarkjs.zKey.verifyFromR1cs(compiled.r1csPath, ptauPath, final)).toBe(true);
    const vkey = await snarkjs.zKey.exportVerificationKey(final);
    expect(vkey.vk_delta_2).not.toEqual(vkey.vk_gamma_2);
    const witness = { type: "mem" as const };
    await snarkjs.wtns.calculate({ x: 3, y: 4, s: [5, 6, 7] }, compiled.wasmPath, witness);
    const { proof, publicSignals } = await snarkjs.groth16.prove(final, witness);
    expect(publicSignals).toHaveLength(4);
    expect(await snarkjs.groth16.verify(vkey, publicSignals, proof)).toBe(true);
    const forged = [...publicSignals];
    forged[0] = String((BigInt(forged[0] as string) + 1n) % FIELD_ORDER);
    expect(await snarkjs.groth16.verify(vkey, forged, proof)).toBe(false);
  }, 60_000);
});

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = base % FIELD_ORDER;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % FIELD_ORDER;
    b = (b * b) % FIELD_ORDER;
    e >>= 1n;
  }
  return result;
}
