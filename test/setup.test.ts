/**
 * Setup pipeline: compile cache (hit, miss on an edited include, errors), dev ptau (insecure sidecar, reuse),
 * phase 2 (verifyFromR1cs, gamma != delta, caching) and the pinned keys manifest (tamper detection).
 * Uses a temp build dir (ZKTALLY_BUILD_DIR) and tiny circuits so the file runs in seconds.
 */

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toxicWasteFromSeed } from "../src/setup/fast/index.ts";
import {
  assertPhase2Contributed,
  BUILD_DIR_ENV,
  buildRoot,
  type CircuitKeys,
  type CompiledCircuit,
  CompileError,
  checkPinned,
  compileCircuit,
  type DevPtau,
  devPtau,
  G2_GENERATOR,
  loadPinnedVkey,
  PinMismatchError,
  parseIncludes,
  pinCircuit,
  REPO_ROOT,
  readKeysManifest,
  readR1csHeader,
  requiredPtauPower,
  SetupError,
  setupCircuit,
  terminateCurveWorkers,
  vkeyHash,
  writeKeysManifest,
} from "../src/setup/index.ts";
import { canonicalJson } from "../src/util/canonical-json.ts";
import { consoleProgress } from "../src/util/progress.ts";

const FIXTURE = "test/fixtures/multiplier.circom";
const BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

let buildDir: string;
let keysDir: string;
/** Scratch circuits must live inside the repo: circom2 (WASI) only sees the repo tree. */
let srcDir: string;
let srcRel: string;
const savedBuildEnv = process.env[BUILD_DIR_ENV];

beforeAll(async () => {
  buildDir = await mkdtemp(path.join(os.tmpdir(), "zktally-setup-test-"));
  keysDir = path.join(buildDir, "keys");
  process.env[BUILD_DIR_ENV] = buildDir;
  await mkdir(path.join(REPO_ROOT, "build"), { recursive: true });
  srcDir = await mkdtemp(path.join(REPO_ROOT, "build", ".test-src-"));
  srcRel = path.relative(REPO_ROOT, srcDir);
});

afterAll(async () => {
  await terminateCurveWorkers();
  if (savedBuildEnv === undefined) delete process.env[BUILD_DIR_ENV];
  else process.env[BUILD_DIR_ENV] = savedBuildEnv;
  await rm(buildDir, { recursive: true, force: true });
  await rm(srcDir, { recursive: true, force: true });
});

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

async function writeScratch(name: string, text: string): Promise<string> {
  await writeFile(path.join(srcDir, name), text);
  return `${srcRel}/${name}`;
}

const SCRATCH_LIB = (k: number) => `pragma circom 2.1.0;
template AddK() { signal input x; signal output y; y <== x + ${k}; }
`;
const SCRATCH_MAIN = `pragma circom 2.1.0;
include "./scratchlib.circom";
// include "./does-not-exist.circom";
template Scratch() { signal input a; signal input b; signal output c; component k = AddK(); k.x <== a; c <== k.y * b; }
component main {public [a]} = Scratch();
`;

describe("progress", () => {
  it("prints tagged lines with the time since the previous line", () => {
    const lines: string[] = [];
    let clock = 1000;
    const progress = consoleProgress({ write: (l) => lines.push(l), now: () => clock });
    clock = 3500;
    progress("compiling", "aggregate-8x8x4 …");
    clock = 3600;
    progress("done");
    expect(lines).toEqual(["[setup] compiling aggregate-8x8x4 … (+2.5 s)", "[setup] done (+0.1 s)"]);
  });
});

describe("paths", () => {
  it("uses ZKTALLY_BUILD_DIR as the cache root, an explicit buildDir first", () => {
    expect(buildRoot()).toBe(buildDir);
    expect(buildRoot("/x/y")).toBe("/x/y");
  });
});

describe("compileCircuit", () => {
  let compiled: CompiledCircuit;
  beforeAll(async () => {
    compiled = await compileCircuit(FIXTURE);
  }, 60_000);

  it("compiles the fixture and reads sizes from the r1cs header (known answer: 50 constraints)", async () => {
    expect(compiled).toMatchObject({
      id: "multiplier",
      mainPath: FIXTURE,
      constraints: 50,
      publicInputs: 1,
      publicOutputs: 1,
      privateInputs: 2,
      cached: false,
    });
    expect(compiled.dir).toBe(path.join(buildDir, "circuits", "multiplier", compiled.sourceHash));
    for (const f of [compiled.r1csPath, compiled.wasmPath, compiled.symPath])
      expect(existsSync(f)).toBe(true);
    expect(compiled.r1csSha256).toBe(sha256(await readFile(compiled.r1csPath)));
    expect(compiled.wasmSha256).toBe(sha256(await readFile(compiled.wasmPath)));
    const header = await readR1csHeader(compiled.r1csPath);
    expect(header.prime).toBe(BN254_R);
    const info = await snarkjs.r1cs.info(compiled.r1csPath);
    expect([info.nConstraints, info.nPubInputs, info.nOutputs, info.nPrvInputs, info.nVars]).toEqual([
      header.nConstraints,
      header.nPubInputs,
      header.nOutputs,
      header.nPrvInputs,
      header.nWires,
    ]);
  });

  it("hashes the main file and every transitive include (the circomlib include resolves)", () => {
    const paths = compiled.sources.map((s) => s.path);
    expect(paths).toContain(FIXTURE);
    expect(paths).toContain("node_modules/circomlib/circuits/comparators.circom");
    expect(paths).toContain("node_modules/circomlib/circuits/bitify.circom");
    expect([...paths].sort()).toEqual(paths);
  });

  it("serves an unchanged circuit from the cache without recompiling", async () => {
    const lines: string[] = [];
    const again = await compileCircuit(FIXTURE, {
      progress: consoleProgress({ write: (l) => lines.push(l) }),
    });
    expect(again.cached).toBe(true);
    expect(again.sourceHash).toBe(compiled.sourceHash);
    expect(again.r1csPath).toBe(compiled.r1csPath);
    expect(lines.some((l) => /^\[setup\] compile multiplier cache hit/.test(l))).toBe(true);
  });

  it("recompiles when an included file changes, and hits again after reverting", async () => {
    await writeScratch("scratchlib.circom", SCRATCH_LIB(1));
    const main = await writeScratch("scratch.circom", SCRATCH_MAIN);
    const first = await compileCircuit(main);
    expect(first.cached).toBe(false);
    expect((await compileCircuit(main)).cached).toBe(true);
    await writeScratch("scratchlib.circom", SCRATCH_LIB(2));
    // A staging dir left by a killed compile (its pid no longer exists) is swept by the next compile.
    const deadStaging = path.join(buildDir, "circuits", "scratch", ".tmp-2147480000-abcdefabcdef");
    await mkdir(deadStaging, { recursive: true });
    const edited = await compileCircuit(main);
    expect(existsSync(deadStaging)).toBe(false);
    expect(edited.cached).toBe(false);
    expect(edited.sourceHash).not.toBe(first.sourceHash);
    await writeScratch("scratchlib.circom", SCRATCH_LIB(1));
    const reverted = await compileCircuit(main);
    expect(reverted.cached).toBe(true);
    expect(reverted.sourceHash).toBe(first.sourceHash);
    // Flags are part of the key too.
    expect((await compileCircuit(main, { optimization: 1 })).sourceHash).not.toBe(first.sourceHash);
  });

  it("surfaces compiler errors with file:line and leaves no cache entry or staging dir", async () => {
    const main = await writeScratch(
      "broken.circom",
      "pragma circom 2.1.0;\ntemplate T() {\n  signal input a;\n  signal output c;\n  c <== a * d;\n}\ncomponent main = T();\n",
    );
    const error = await compileCircuit(main).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CompileError);
    const ce = error as CompileError;
    expect(ce.file).toBe(main);
    expect(ce.line).toBe(5);
    expect(ce.message).toMatch(/error\[T\d+\].*broken\.circom:5:/);
    expect(ce.compilerOutput).toMatch(/Undeclared symbol/);
    const entries = await readdir(path.join(buildDir, "circuits", "broken"));
    expect(entries).toEqual([]);
  });

  it("reports a missing include with the including file and line before running circom", async () => {
    const main = await writeScratch("missing.circom", 'pragma circom 2.1.0;\n\ninclude "./nope.circom";\n');
    await expect(compileCircuit(main)).rejects.toMatchObject({
      name: "CompileError",
      file: main,
      line: 3,
      message: expect.stringMatching(/nope\.circom.*not found/),
    });
  });

  it("refuses absolute paths, missing mains and non-.circom files", async () => {
    await expect(compileCircuit(path.join(REPO_ROOT, FIXTURE))).rejects.toThrow(TypeError);
    await expect(compileCircuit("../outside.circom")).rejects.toThrow(
      /main file \.\.\/outside\.circom not found/,
    );
    await expect(compileCircuit("test/fixtures/multiplier.txt")).rejects.toThrow(TypeError);
  });

  it("parses includes and ignores commented-out ones", () => {
    const src =
      '// include "a.circom";\n/* include "b.circom"; */\ninclude "c.circom";\n  include  "../d.circom" ;';
    expect(parseIncludes(src)).toEqual([
      { target: "c.circom", line: 3 },
      { target: "../d.circom", line: 4 },
    ]);
  });
});

describe("requiredPtauPower", () => {
  it("matches snarkjs newZKey: smallest p with 2^p > constraints + nPublic", () => {
    const snarkjsRule = (rows: number) => Math.floor(Math.log2(rows)) + 1;
    for (const rows of [1, 2, 3, 4, 31, 32, 33, 63, 64, 65, 1000, 65535, 65536]) {
      expect(requiredPtauPower({ constraints: rows - 1, publicInputs: 1, publicOutputs: 0 })).toBe(
        snarkjsRule(rows),
      );
    }
    expect(requiredPtauPower({ constraints: 50, publicInputs: 1, publicOutputs: 1 })).toBe(6);
    expect(requiredPtauPower({ constraints: 62, publicInputs: 1, publicOutputs: 1 })).toBe(7);
    expect(requiredPtauPower({ constraints: 0, publicInputs: 0, publicOutputs: 0 })).toBe(1);
  });

  it("rejects bad sizes and circuits beyond 2^28", () => {
    expect(() => requiredPtauPower({ constraints: -1, publicInputs: 0, publicOutputs: 0 })).toThrow(
      /constraints/,
    );
    expect(() => requiredPtauPower({ constraints: 2 ** 28, publicInputs: 0, publicOutputs: 0 })).toThrow(
      RangeError,
    );
  });
});

describe("dev ptau, phase 2 and keys manifest", () => {
  let compiled: CompiledCircuit;
  let ptau: DevPtau;
  let keys: CircuitKeys;
  beforeAll(async () => {
    compiled = await compileCircuit(FIXTURE);
    ptau = await devPtau(requiredPtauPower(compiled));
    keys = await setupCircuit(compiled, ptau.path, { ptauSha256: ptau.sha256 });
  }, 120_000);

  it("writes a dev ptau with a sidecar marked insecure and correct hashes", async () => {
    expect(ptau).toMatchObject({ power: 6, insecure: true, generated: true });
    expect(path.basename(ptau.path)).toBe("dev-insecure-6.ptau");
    const sidecar = JSON.parse(await readFile(ptau.sidecarPath, "utf8"));
    expect(sidecar).toMatchObject({
      power: 6,
      insecure: true,
      sha256: ptau.sha256,
      blake2b512: ptau.blake2b512,
    });
    expect(sidecar.note).toMatch(/^DEVELOPMENT ONLY/);
    const bytes = await readFile(ptau.path);
    expect(sha256(bytes)).toBe(ptau.sha256);
    expect(createHash("blake2b512").update(bytes).digest("hex")).toBe(ptau.blake2b512);
    expect((await readdir(path.dirname(ptau.path))).filter((f) => f.startsWith(".tmp"))).toEqual([]);
  });

  it("reuses a cached ptau of the same or a larger power", async () => {
    const smaller = await devPtau(4);
    expect(smaller).toMatchObject({ path: ptau.path, power: 6, sha256: ptau.sha256, generated: false });
    await expect(devPtau(0)).rejects.toThrow(RangeError);
    await expect(devPtau(29)).rejects.toThrow(RangeError);
  });

  it("produces a zkey that passes verifyFromR1cs, with delta != gamma and no intermediate files", async () => {
    expect(await snarkjs.zKey.verifyFromR1cs(compiled.r1csPath, ptau.path, keys.zkeyPath)).toBe(true);
    expect(keys.vkey.nPublic).toBe(2);
    expect(keys.vkey.vk_gamma_2).toEqual(G2_GENERATOR);
    expect(keys.vkey.vk_delta_2).not.toEqual(keys.vkey.vk_gamma_2);
    expect(keys.vkeyHash).toBe(sha256(canonicalJson(keys.vkey)));
    expect(keys.vkeyHash).toBe(vkeyHash(JSON.parse(await readFile(keys.vkeyPath, "utf8"))));
    expect(keys.zkeySha256).toBe(sha256(await readFile(keys.zkeyPath)));
    expect((await readdir(keys.dir)).sort()).toEqual(["circuit.zkey", "setup.json", "vkey.json"]);
    expect((await readdir(path.dirname(keys.dir))).filter((f) => f.startsWith(".tmp"))).toEqual([]);
  });

  it("the default dev pipeline (fast ptau, fast initial zkey, verifyFromInit) makes keys zkey verify accepts", async () => {
    expect(ptau.secretsSeed).toMatch(/^[0-9a-f]{64}$/); // fast generator: toxic waste kept for phase 2
    const fast = await setupCircuit(compiled, ptau.path, {
      ptauSha256: ptau.sha256,
      devSecrets: toxicWasteFromSeed(ptau.secretsSeed as string),
      force: true,
    });
    expect(await snarkjs.zKey.verifyFromR1cs(compiled.r1csPath, ptau.path, fast.zkeyPath)).toBe(true);
    expect(fast.vkey.vk_delta_2).not.toEqual(fast.vkey.vk_gamma_2);
    keys = fast;
  });

  it("serves the setup from the cache", async () => {
    const again = await setupCircuit(compiled, ptau.path);
    expect(again).toMatchObject({ cached: true, zkeyPath: keys.zkeyPath, vkeyHash: keys.vkeyHash });
  });

  it("rejects a zkey checked against another circuit's r1cs (snarkjs negative)", async () => {
    await writeScratch("scratchlib.circom", SCRATCH_LIB(7));
    const other = await compileCircuit(await writeScratch("other.circom", SCRATCH_MAIN));
    expect(await snarkjs.zKey.verifyFromR1cs(other.r1csPath, ptau.path, keys.zkeyPath)).toBe(false);
  });

  it("refuses a verification key without a phase-2 contribution", () => {
    expect(() => assertPhase2Contributed(keys.vkey)).not.toThrow();
    const noContribution = { ...keys.vkey, vk_delta_2: keys.vkey.vk_gamma_2 };
    expect(() => assertPhase2Contributed(noContribution)).toThrow(SetupError);
    const generatorDelta = {
      ...keys.vkey,
      vk_gamma_2: [
        ["1", "2"],
        ["3", "4"],
        ["1", "0"],
      ],
      vk_delta_2: G2_GENERATOR.map((c) => [...c]),
    };
    expect(() => assertPhase2Contributed(generatorDelta)).toThrow(/no phase-2 contribution/);
  });

  it("refuses a ptau that is too small for the circuit", async () => {
    const small = await devPtau(2, { buildDir: path.join(buildDir, "small") });
    await expect(
      setupCircuit(compiled, small.path, { buildDir: path.join(buildDir, "small") }),
    ).rejects.toThrow(/needs a ptau of power >= 6/);
  });

  it("pins the keys, copies the vkey and detects a flipped zkey byte", async () => {
    const pin = { compiled, keys, ptau: { power: ptau.power, sha256: ptau.sha256, insecure: true } };
    const result = await pinCircuit(keysDir, pin);
    expect(result.changed).toBe(true);
    const manifest = await readKeysManifest(keysDir);
    expect(manifest).toEqual({
      version: 1,
      insecure: true,
      ptau: { power: 6, sha256: ptau.sha256, insecure: true },
      circuits: {
        multiplier: {
          sourceHash: compiled.sourceHash,
          constraints: 50,
          nPublic: 2,
          r1csSha256: compiled.r1csSha256,
          wasmSha256: compiled.wasmSha256,
          zkeySha256: keys.zkeySha256,
          vkeySha256: keys.vkeyHash,
        },
      },
    });
    expect((await pinCircuit(keysDir, pin)).changed).toBe(false);
    const files = { r1csPath: compiled.r1csPath, wasmPath: compiled.wasmPath, zkeyPath: keys.zkeyPath };
    await expect(
      checkPinned(keysDir, "multiplier", { ...files, vkeyPath: path.join(keysDir, "multiplier.vkey.json") }),
    ).resolves.toBeDefined();
    expect(await loadPinnedVkey(keysDir, "multiplier")).toEqual(keys.vkey);

    const tampered = path.join(buildDir, "tampered.zkey");
    await copyFile(keys.zkeyPath, tampered);
    const bytes = await readFile(tampered);
    bytes[bytes.length - 7] = (bytes[bytes.length - 7] as number) ^ 0x01;
    await writeFile(tampered, bytes);
    const error = await checkPinned(keysDir, "multiplier", { zkeyPath: tampered }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PinMismatchError);
    expect(error).toMatchObject({ artifact: "zkey", circuitId: "multiplier", expected: keys.zkeySha256 });
    await expect(checkPinned(keysDir, "multiplier", { wasmPath: compiled.r1csPath })).rejects.toMatchObject({
      artifact: "wasm",
    });
    await expect(checkPinned(keysDir, "unknown", {})).rejects.toMatchObject({ artifact: "entry" });
  });

  it("identifies the vkey by canonical JSON: reformatting passes, an edited key fails", async () => {
    const vkeyFile = path.join(keysDir, "multiplier.vkey.json");
    await writeFile(vkeyFile, JSON.stringify(keys.vkey));
    expect(await loadPinnedVkey(keysDir, "multiplier")).toEqual(keys.vkey);
    const edited = { ...keys.vkey, IC: [keys.vkey.IC[1], keys.vkey.IC[0], keys.vkey.IC[2]] };
    await expect(checkPinned(keysDir, "multiplier", { vkey: edited })).rejects.toMatchObject({
      artifact: "vkey",
    });
    await writeFile(vkeyFile, JSON.stringify(edited));
    await expect(loadPinnedVkey(keysDir, "multiplier")).rejects.toThrow(PinMismatchError);
    await writeFile(vkeyFile, JSON.stringify(keys.vkey));
  });

  it("refuses to mix ptaus or silently change a pin unless asked to replace", async () => {
    const pin = { compiled, keys, ptau: { power: ptau.power, sha256: "ab".repeat(32), insecure: true } };
    await expect(pinCircuit(keysDir, pin)).rejects.toMatchObject({ artifact: "ptau" });
    const otherZkey = {
      compiled,
      keys: { ...keys, zkeyPath: compiled.r1csPath },
      ptau: { ...pin.ptau, sha256: ptau.sha256 },
    };
    await expect(pinCircuit(keysDir, otherZkey)).rejects.toMatchObject({ artifact: "zkeySha256" });
    const replaced = await pinCircuit(keysDir, otherZkey, { replace: true });
    expect(replaced.entry.zkeySha256).toBe(compiled.r1csSha256);
    await pinCircuit(keysDir, { compiled, keys, ptau: pin.ptau }, { replace: true });
    expect((await readKeysManifest(keysDir))?.ptau.sha256).toBe("ab".repeat(32));
  });

  it("validates the manifest and names the offending field", async () => {
    const dir = path.join(buildDir, "badkeys");
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, "manifest.json"),
      JSON.stringify({
        version: 1,
        insecure: true,
        ptau: { power: 6, sha256: "x", insecure: true },
        circuits: {},
      }),
    );
    await expect(readKeysManifest(dir)).rejects.toThrow(/ptau\.sha256/);
    // A second "insecure" member: JSON.parse would keep the last (false), the strict reader refuses.
    await writeFile(
      path.join(dir, "manifest.json"),
      `{\n"insecure": true,\n"version": 1, "insecure": false, "ptau": {"power": 6, "sha256": "${"ab".repeat(32)}", "insecure": false}, "circuits": {}}`,
    );
    await expect(readKeysManifest(dir)).rejects.toThrow(
      /manifest\.json: not readable JSON \(line 3 column 15: duplicate key "insecure" \(first at line 2 column 1\)/,
    );
    const good = {
      version: 1 as const,
      insecure: false,
      ptau: { power: 6, sha256: "ab".repeat(32), insecure: true },
      circuits: {},
    };
    await expect(writeKeysManifest(dir, good)).rejects.toThrow(/insecure/);
  });
});
