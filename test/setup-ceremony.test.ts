/**
 * Multi-party phase 2 (src/setup/ceremony/): a three-party ceremony with a beacon verifies and pins a key
 * that proves; contribution hashes equal those snarkjs reports; altering an intermediate or the final zkey,
 * a transcript hash, the order of entries, the ptau or the manifest pin is detected; a zkey of another r1cs
 * and zero-contribution / beacon-only ceremonies are refused. Tiny fixture circuits, a power-5 dev ptau.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ceremonyCommand } from "../src/cli/commands/ceremony.ts";
import {
  beaconCeremony,
  type CeremonyError,
  type CeremonyTranscript,
  contributeCeremony,
  finalizeCeremony,
  formatContributionHash,
  initCeremony,
  normalizeContributionHash,
  readTranscript,
  readZkeyContributions,
  TRANSCRIPT_FILE,
  verifyCeremony,
} from "../src/setup/ceremony/index.ts";
import { hashPtauFile, type PublishedPtau } from "../src/setup/ceremony-ptau.ts";
import { type CompiledCircuit, compileCircuit } from "../src/setup/compile.ts";
import { loadPinnedVkey, readKeysManifest } from "../src/setup/keys-manifest.ts";
import { BUILD_DIR_ENV, REPO_ROOT } from "../src/setup/paths.ts";
import { assertPhase2Contributed } from "../src/setup/phase2.ts";
import { devPtau, SetupError, terminateCurveWorkers } from "../src/setup/ptau.ts";

const POWER_MAIN = "test/fixtures/ceremony/ceremony_power.circom";
const OTHER_MAIN = "test/fixtures/ceremony/ceremony_other.circom";

let tmp: string;
let buildDir: string;
let ptauPath: string;
let table: PublishedPtau[];
let power: CompiledCircuit;
let other: CompiledCircuit;
/** The finished, finalized three-party ceremony every tampering test copies. */
let goodDir: string;
let keysDir: string;
const returnedHashes: string[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "zktally-ceremony-test-"));
  buildDir = path.join(tmp, "build");
  keysDir = path.join(tmp, "keys");
  const dev = await devPtau(5, { buildDir });
  ptauPath = path.join(tmp, "powersOfTau28_test_05.ptau");
  await cp(dev.path, ptauPath);
  const { blake2b512 } = await hashPtauFile(ptauPath);
  table = [{ power: 5, file: "powersOfTau28_test_05.ptau", blake2b512 }];
  power = await compileCircuit(POWER_MAIN, { buildDir });
  other = await compileCircuit(OTHER_MAIN, { buildDir });
  goodDir = path.join(tmp, "good");
  await runThreePartyCeremony(goodDir);
}, 120_000);

afterAll(async () => {
  await terminateCurveWorkers();
  await rm(tmp, { recursive: true, force: true });
});

async function runThreePartyCeremony(dir: string) {
  await initCeremony({ compiled: power, ptauPath, dir, table });
  const transcriptPath = path.join(dir, TRANSCRIPT_FILE);
  for (const name of ["operator", "partner A", "partner B"]) {
    const step = await contributeCeremony({ transcriptPath, name, entropy: `entropy of ${name}` });
    returnedHashes.push(step.entry.contributionHash);
  }
  await beaconCeremony({ transcriptPath, beaconHash: "0123456789abcdef".repeat(4), iterationsExp: 10 });
  await finalizeCeremony({ transcriptPath, ptauPath, compiled: power, keysDir, buildDir, table });
}

/** A fresh copy of the good ceremony to tamper with. */
async function copyOfGood(label: string): Promise<string> {
  const dir = path.join(tmp, label);
  await cp(goodDir, dir, { recursive: true });
  return dir;
}

async function flipByte(file: string, at: (size: number) => number): Promise<void> {
  const bytes = await readFile(file);
  const i = at(bytes.length);
  bytes[i] = (bytes[i] as number) ^ 0x01;
  await writeFile(file, bytes);
}

async function editTranscript(dir: string, edit: (t: CeremonyTranscript) => void): Promise<void> {
  const file = path.join(dir, TRANSCRIPT_FILE);
  const t = JSON.parse(await readFile(file, "utf8"));
  edit(t);
  await writeFile(file, JSON.stringify(t, null, 2));
}

async function expectCheck(promise: Promise<unknown>, checks: string | string[]): Promise<void> {
  const allowed = Array.isArray(checks) ? checks : [checks];
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as CeremonyError | undefined;
  expect(err, "expected a CeremonyError").toBeInstanceOf(SetupError);
  expect(allowed, err?.message).toContain(err?.check);
}

const verify = (dir: string, extra: { keysDir?: string; expect?: string[]; ptau?: string } = {}) =>
  verifyCeremony({
    transcriptPath: path.join(dir, TRANSCRIPT_FILE),
    ptauPath: extra.ptau ?? ptauPath,
    keysDir: extra.keysDir,
    expect: extra.expect,
    table,
  });

describe("three-party ceremony with a beacon", () => {
  it("verifies, lists every contribution and is pinned in the keys manifest", async () => {
    const report = await verify(goodDir, { keysDir });
    const t = report.transcript;
    expect(t.contributions.map((c) => [c.index, c.kind, c.name])).toEqual([
      [1, "contribution", "operator"],
      [2, "contribution", "partner A"],
      [3, "contribution", "partner B"],
      [4, "beacon", "zktally final beacon"],
    ]);
    expect(t.contributions.slice(0, 3).map((c) => c.contributionHash)).toEqual(returnedHashes.slice(0, 3));
    expect(report.trustedPtau).toBe(true);
    expect(report.intermediatesChecked).toEqual([
      "ceremony_power_0000.zkey",
      "ceremony_power_0001.zkey",
      "ceremony_power_0002.zkey",
      "ceremony_power_0003.zkey",
    ]);
    expect(t.final?.vkeySha256).toBe(report.vkeyHash);
    const manifest = await readKeysManifest(keysDir);
    expect(manifest?.insecure).toBe(false);
    expect(manifest?.circuits.ceremony_power?.vkeySha256).toBe(report.vkeyHash);
    const record = JSON.parse(await readFile(path.join(keysDir, "ptau.json"), "utf8"));
    expect(record).toMatchObject({ trusted: true, published: table[0]?.file, blake2b512: t.ptau.blake2b512 });
    expect(() => assertPhase2Contributed(report.vkey)).not.toThrow();
  });

  it("records the contribution hashes snarkjs prints in `zkey verify`", async () => {
    const t = await readTranscript(path.join(goodDir, TRANSCRIPT_FILE));
    const lines: string[] = [];
    const logger = { debug() {}, info: (m: string) => lines.push(m), warn() {}, error() {} };
    const final = path.join(goodDir, (t.contributions.at(-1) as { file: string }).file);
    expect(await snarkjs.zKey.verifyFromR1cs(power.r1csPath, ptauPath, final, logger)).toBe(true);
    const printed = lines
      .filter((l) => /^contribution #\d+/.test(l))
      .map((l) => normalizeContributionHash(l.split(":").slice(1).join("")))
      .reverse(); // snarkjs lists the latest contribution first
    expect(printed).toEqual(t.contributions.map((c) => c.contributionHash));
    const read = await readZkeyContributions(final);
    expect(read.circuitHash).toBe(t.circuitHash);
    expect(read.contributions.at(-1)?.beacon).toEqual({
      hash: "0123456789abcdef".repeat(4),
      iterationsExp: 10,
    });
  });

  it("formats hashes as snarkjs does and accepts them back as published", () => {
    const hex = returnedHashes[0] as string;
    const formatted = formatContributionHash(hex);
    expect(formatted.split("\n")).toHaveLength(4);
    expect(formatted.split("\n")[0]).toMatch(/^[0-9a-f]{8}( [0-9a-f]{8}){3}$/);
    expect(normalizeContributionHash(`\t\t${formatted.replace(/\n/g, "\n\t\t")}`)).toBe(hex);
  });

  it("checks published hashes with --expect", async () => {
    const mine = formatContributionHash(returnedHashes[1] as string);
    await expect(verify(goodDir, { expect: [mine] })).resolves.toBeDefined();
    await expectCheck(verify(goodDir, { expect: ["ab".repeat(64)] }), "expected-hash");
  });

  it("proves with the pinned ceremony key", async () => {
    const vkey = await loadPinnedVkey(keysDir, "ceremony_power");
    const report = await verify(goodDir);
    const { proof, publicSignals } = await snarkjs.groth16.prove(
      report.finalZkeyPath,
      await witness({ x: 3, y: 5 }),
    );
    expect(publicSignals).toEqual([String(3 ** 7 * 3 * 5), "5"]);
    expect(await snarkjs.groth16.verify(vkey, publicSignals, proof)).toBe(true);
  });
});

async function witness(input: Record<string, unknown>): Promise<{ type: "mem"; data?: Uint8Array }> {
  const wtns: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  await snarkjs.wtns.calculate(input, power.wasmPath, wtns);
  return wtns;
}

describe("tampering is detected", () => {
  it("a byte changed in an intermediate zkey", async () => {
    const dir = await copyOfGood("flip-intermediate");
    await flipByte(path.join(dir, "ceremony_power_0002.zkey"), (n) => Math.floor(n / 2));
    await expectCheck(verify(dir), "intermediate-zkey");
  });

  it("a byte changed in the final zkey, with or without the transcript updated to match", async () => {
    const dir = await copyOfGood("flip-final");
    const final = path.join(dir, "ceremony_power_0004.zkey");
    await flipByte(final, (n) => Math.floor(n / 2));
    await expectCheck(verify(dir), "final-zkey");
    const sha256 = createHash("sha256")
      .update(await readFile(final))
      .digest("hex");
    await editTranscript(dir, (t) => {
      t.contributions[3]!.zkeySha256 = sha256;
      t.final!.zkeySha256 = sha256;
    });
    await expectCheck(verify(dir), ["verify-r1cs", "contribution-hash", "zkey-format"]);
  });

  it("a contribution hash changed in the transcript", async () => {
    const dir = await copyOfGood("edit-hash");
    await editTranscript(dir, (t) => {
      t.contributions[1]!.contributionHash = "00".repeat(64);
    });
    await expectCheck(verify(dir), "contribution-hash");
  });

  it("two transcript entries swapped", async () => {
    const dir = await copyOfGood("reorder");
    await editTranscript(dir, (t) => {
      const [first, second] = [t.contributions[0]!, t.contributions[1]!];
      t.contributions[0] = { ...second, index: 1 };
      t.contributions[1] = { ...first, index: 2 };
    });
    await expectCheck(verify(dir), ["contribution-hash", "intermediate-zkey"]);
  });

  it("a contributor left out of the transcript", async () => {
    const dir = await copyOfGood("drop");
    await editTranscript(dir, (t) => {
      t.contributions.splice(1, 1);
      t.contributions.forEach((c, i) => {
        c.index = i + 1;
      });
    });
    await expectCheck(verify(dir), ["contribution-count", "intermediate-zkey"]);
  });

  it("another ptau, an altered ptau, or a trusted claim the table does not back", async () => {
    const altered = path.join(tmp, "altered.ptau");
    await cp(ptauPath, altered);
    await flipByte(altered, (n) => n - 100);
    await expectCheck(verify(goodDir, { ptau: altered }), "ptau");
    await expectCheck(
      verifyCeremony({ transcriptPath: path.join(goodDir, TRANSCRIPT_FILE), ptauPath, table: [] }),
      "ptau",
    );
  });

  it("a keys manifest pinning another key", async () => {
    const otherKeys = path.join(tmp, "other-keys");
    await cp(keysDir, otherKeys, { recursive: true });
    const manifestPath = path.join(otherKeys, "manifest.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    manifest.circuits.ceremony_power.vkeySha256 = "ab".repeat(32);
    await writeFile(manifestPath, JSON.stringify(manifest));
    await expectCheck(verify(goodDir, { keysDir: otherKeys }), "manifest");
    await expectCheck(verify(goodDir, { keysDir: path.join(tmp, "no-keys-here") }), "manifest");
  });
});

describe("a ceremony in progress", () => {
  it("can be replayed by the next contributor before and after each contribution", async () => {
    const dir = path.join(tmp, "open");
    await initCeremony({ compiled: power, ptauPath, dir, table });
    const transcriptPath = path.join(dir, TRANSCRIPT_FILE);
    const open = () => verifyCeremony({ transcriptPath, ptauPath, table, inProgress: true });
    expect((await open()).finalZkeyPath).toMatch(/ceremony_power_0000\.zkey$/);
    const first = await contributeCeremony({ transcriptPath, name: "first" });
    const report = await open();
    expect(report.finalZkeyPath).toBe(first.zkeyPath);
    expect(report.intermediatesChecked).toEqual(["ceremony_power_0000.zkey"]);
    await expectCheck(verify(dir), "beacon"); // not final yet
    await flipByte(path.join(dir, "ceremony_power_0000.zkey"), (n) => n - 10);
    await expectCheck(open(), "intermediate-zkey");
  });
});

describe("refusals", () => {
  it("a zkey of another r1cs, as input to a contribution or as the final key", async () => {
    const otherDir = path.join(tmp, "other-ceremony");
    await initCeremony({ compiled: other, ptauPath, dir: otherDir, table });
    const otherT = path.join(otherDir, TRANSCRIPT_FILE);
    await contributeCeremony({ transcriptPath: otherT, name: "x" });
    const otherStep = await beaconCeremony({
      transcriptPath: otherT,
      beaconHash: "aa".repeat(32),
      iterationsExp: 10,
    });

    const dir = path.join(tmp, "swap-r1cs");
    await initCeremony({ compiled: power, ptauPath, dir, table });
    const transcriptPath = path.join(dir, TRANSCRIPT_FILE);
    await expectCheck(
      contributeCeremony({ transcriptPath, name: "y", inZkey: otherStep.zkeyPath }),
      "not-latest",
    );
    // Splice the other ceremony's chain into this transcript, hashes and all: the circuit hash gives it away.
    await cp(otherStep.zkeyPath, path.join(dir, "ceremony_power_0002.zkey"));
    const otherTranscript = await readTranscript(otherT);
    await editTranscript(dir, (t) => {
      t.contributions = otherTranscript.contributions.map((c) => ({
        ...c,
        file: c.file.replace("ceremony_other", "ceremony_power"),
      }));
    });
    await rm(path.join(dir, "ceremony_power_0000.zkey"));
    await expectCheck(verify(dir), "circuit-hash");
  });

  it("a ceremony without contribution, or with only a beacon", async () => {
    const dir = path.join(tmp, "empty");
    await initCeremony({ compiled: power, ptauPath, dir, table });
    const transcriptPath = path.join(dir, TRANSCRIPT_FILE);
    await expectCheck(verify(dir), "no-contribution");
    await expectCheck(
      finalizeCeremony({
        transcriptPath,
        ptauPath,
        compiled: power,
        keysDir: path.join(tmp, "k0"),
        buildDir,
        table,
      }),
      "no-contribution",
    );
    await expectCheck(
      beaconCeremony({ transcriptPath, beaconHash: "bb".repeat(32), iterationsExp: 10 }),
      "no-contribution",
    );
    const initialVkey = await snarkjs.zKey.exportVerificationKey(path.join(dir, "ceremony_power_0000.zkey"));
    expect(() => assertPhase2Contributed(initialVkey)).toThrow(/no phase-2 contribution/);
    // A transcript claiming a beacon-only ceremony is refused before any replay.
    await editTranscript(dir, (t) => {
      t.contributions = [
        {
          index: 1,
          kind: "beacon",
          name: "b",
          file: "ceremony_power_0000.zkey",
          zkeySha256: t.initial.sha256,
          contributionHash: "cd".repeat(64),
          beacon: { hash: "bb".repeat(32), iterationsExp: 10 },
        },
      ];
    });
    await expectCheck(verify(dir), "no-contribution");
  });

  it("contributions after the beacon, a missing beacon, overwriting files, restarting in place", async () => {
    const transcriptPath = path.join(goodDir, TRANSCRIPT_FILE);
    await expectCheck(contributeCeremony({ transcriptPath, name: "late" }), "closed");
    const dir = path.join(tmp, "no-beacon");
    await initCeremony({ compiled: power, ptauPath, dir, table });
    const t = path.join(dir, TRANSCRIPT_FILE);
    await contributeCeremony({ transcriptPath: t, name: "only" });
    await expectCheck(verify(dir), "beacon");
    await expectCheck(
      contributeCeremony({
        transcriptPath: t,
        name: "again",
        outZkey: path.join(dir, "ceremony_power_0001.zkey"),
      }),
      "exists",
    );
    await expectCheck(initCeremony({ compiled: power, ptauPath, dir, table }), "exists");
    // A person's typing (exit 2 at the command line, naming the flag), not a programming error.
    await expect(contributeCeremony({ transcriptPath: t, name: "" })).rejects.toMatchObject({
      code: "setup_failed",
      message: "--name must be 1..64 printable ASCII characters",
    });
    await expect(
      beaconCeremony({ transcriptPath: t, beaconHash: "xyz", iterationsExp: 10 }),
    ).rejects.toMatchObject({
      code: "setup_failed",
      message: "--hash must be 1..255 bytes of hex",
    });
    await expect(
      beaconCeremony({ transcriptPath: t, beaconHash: "aa", iterationsExp: 9 }),
    ).rejects.toMatchObject({
      code: "setup_failed",
      message: "--iterations must be an integer in 10..63 (2^N hashes)",
    });
  });

  it("an unknown ptau at init unless overridden; the override is recorded as untrusted", async () => {
    const dir = path.join(tmp, "unknown-ptau");
    await expect(initCeremony({ compiled: power, ptauPath, dir, table: [] })).rejects.toThrow(
      /not a published/,
    );
    const step = await initCeremony({
      compiled: power,
      ptauPath,
      dir,
      table: [],
      allowUnknownPtau: true,
      warn: () => {},
    });
    expect(step.transcript.ptau).toMatchObject({ trusted: false, published: null });
  });
});

describe("CLI", () => {
  /** Runs the command module in-process (spawning tsx costs ~3 s per call), capturing its output. */
  async function run(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const outSpy = vi
      .spyOn(process.stdout, "write")
      .mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
    const errSpy = vi
      .spyOn(process.stderr, "write")
      .mockImplementation((chunk) => stderr.push(String(chunk)) > 0);
    const saved = process.env[BUILD_DIR_ENV];
    process.env[BUILD_DIR_ENV] = buildDir;
    try {
      const status = await ceremonyCommand.run(args);
      return { status, stdout: stdout.join(""), stderr: stderr.join("") };
    } finally {
      outSpy.mockRestore();
      errSpy.mockRestore();
      if (saved === undefined) delete process.env[BUILD_DIR_ENV];
      else process.env[BUILD_DIR_ENV] = saved;
    }
  }

  it("runs a ceremony end to end: init, two contributions, beacon, finalize, verify", async () => {
    const dir = path.join(tmp, "cli");
    const keys = path.join(tmp, "cli-keys");
    const steps: string[][] = [
      ["init", "--circuit", POWER_MAIN, "--ptau", ptauPath, "--out", dir, "--allow-unknown-ptau"],
      ["contribute", "--dir", dir, "--name", "alice", "--entropy", "dice rolls"],
      ["contribute", "--in", path.join(dir, "ceremony_power_0001.zkey"), "--name", "bob", "--json"],
      ["beacon", "--dir", dir, "--hash", "cafe".repeat(16), "--iterations", "10"],
      ["finalize", "--dir", dir, "--ptau", ptauPath, "--keys", keys, "--circuit", POWER_MAIN],
      ["verify", "--dir", dir, "--ptau", ptauPath, "--keys", keys],
      ["verify", "--dir", dir, "--ptau", ptauPath, "--keys", keys, "--json"],
    ];
    const outputs: string[] = [];
    for (const args of steps) {
      const result = await run(args);
      expect(result.status, `${args[0]}: ${result.stderr}`).toBe(0);
      outputs.push(result.stdout);
    }
    expect(outputs[1]).toMatch(/Contribution hash \(publish it/);
    expect(outputs[5]).toMatch(/ceremony ceremony_power: OK/);
    expect(outputs[5]).toMatch(/NOT a published ceremony file/);
    // --json: one JSON line each, the same facts as the text.
    const bob = JSON.parse(outputs[2] as string);
    expect(bob).toMatchObject({ kind: "contribution", index: 2 });
    expect(bob.contributionHash).toMatch(/^[0-9a-f]{128}$/);
    const replayed = JSON.parse(outputs[6] as string);
    expect(replayed).toMatchObject({
      circuit: "ceremony_power",
      ok: true,
      final: true,
      manifestChecked: true,
    });
    expect(replayed.ptau.trusted).toBe(false);
    expect(replayed.contributions.map((c: { name: string }) => c.name)).toEqual([
      "alice",
      "bob",
      expect.any(String),
    ]);
    expect(replayed.contributions[1].contributionHash).toBe(bob.contributionHash);
    expect(outputs[5]).toContain(replayed.vkeyHash);
    expect((await readKeysManifest(keys))?.insecure).toBe(true);
    const bad = await run(["verify", "--dir", dir, "--ptau", ptauPath, "--keys", keysDir]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/FAILED \[manifest\]/);
  });

  it("is registered in the zktally binary and exits 1 on a failed check", () => {
    const dir = path.join(tmp, "cli");
    const result = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "ceremony",
        "verify",
        "--dir",
        dir,
        "--ptau",
        ptauPath,
        "--no-keys",
        "--expect",
        "ab".repeat(64),
      ],
      { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, ZKTALLY_BUILD_DIR: buildDir } },
    );
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/FAILED \[expected-hash\]/);
  });
});
