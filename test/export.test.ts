/**
 * Exports (src/setup/export.ts): the Solidity verifier rendered from the pinned key is byte-identical to
 * snarkjs's `zkey export solidityverifier`, and `verifyProof` calldata for real proofs (bare and in
 * `zktally-bundle/v1` bundles) is exactly snarkjs's `exportSolidityCallData`; malformed proofs, signals and
 * keys without a phase-2 contribution are refused. Proofs come from the test keys of the global setup.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { keccak_256 } from "@noble/hashes/sha3.js";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { exportCommand } from "../src/cli/commands/export.ts";
import { setupCacheArtifacts } from "../src/prover/pinned-artifacts.ts";
import {
  abiEncodeVerifyProof,
  calldataFromJson,
  groth16Template,
  pinnedSolidityVerifier,
  proofWords,
  snarkjsCalldataString,
  solidityCalldata,
  solidityVerifier,
} from "../src/setup/export.ts";
import { loadPinnedVkey, pinnedEntry } from "../src/setup/keys-manifest.ts";
import { SetupError } from "../src/setup/ptau.ts";
import { VerifierInputError } from "../src/verifier/errors.ts";
import { type BundleFixture, buildBundleFixture, TEST_CIRCUIT_ID } from "./helpers/bundles.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";

const snarkjsExports = {
  callData: (proof: unknown, signals: unknown) =>
    (
      snarkjs.groth16 as unknown as { exportSolidityCallData(p: unknown, s: unknown): Promise<string> }
    ).exportSolidityCallData(proof, signals),
  verifier: (zkey: string, templates: Record<string, string>) =>
    (
      snarkjs.zKey as unknown as {
        exportSolidityVerifier(z: string, t: Record<string, string>): Promise<string>;
      }
    ).exportSolidityVerifier(zkey, templates),
};

let fixture: BundleFixture;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "zktally-export-"));
  fixture = await buildBundleFixture(["count", "sum", "threshold"]);
}, 120_000);

afterAll(async () => {
  await fixture?.release();
  await rm(tmp, { recursive: true, force: true });
});

async function runExport(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, "write").mockImplementation((c) => out.push(String(c)) > 0);
  const e = vi.spyOn(process.stderr, "write").mockImplementation((c) => err.push(String(c)) > 0);
  try {
    return { status: await exportCommand.run(args), stdout: out.join(""), stderr: err.join("") };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe("Solidity verifier", () => {
  it("is byte-identical to snarkjs's export from the zkey", async () => {
    const { manifest, entry } = await pinnedEntry(TEST_KEYS_DIR, TEST_CIRCUIT_ID);
    const { zkeyPath } = await setupCacheArtifacts()(TEST_CIRCUIT_ID, entry, manifest);
    const expected = await snarkjsExports.verifier(zkeyPath, { groth16: await groth16Template() });
    const ours = await pinnedSolidityVerifier(TEST_KEYS_DIR, TEST_CIRCUIT_ID);
    expect(ours).toBe(expected);
    expect(ours).toContain(`uint[${entry.nPublic}] calldata _pubSignals`);
    expect(ours).toContain("contract Groth16Verifier");
  });

  it("is written by `zktally export solidity`", async () => {
    const out = path.join(tmp, "Verifier.sol");
    const result = await runExport([
      "solidity",
      "--circuit",
      TEST_CIRCUIT_ID,
      "--keys",
      TEST_KEYS_DIR,
      "--out",
      out,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(await readFile(out, "utf8")).toBe(await pinnedSolidityVerifier(TEST_KEYS_DIR, TEST_CIRCUIT_ID));
  });

  it("refuses a key without phase-2 contribution and anything but canonical field elements", async () => {
    const vkey = await loadPinnedVkey(TEST_KEYS_DIR, TEST_CIRCUIT_ID);
    await expect(solidityVerifier({ ...vkey, vk_delta_2: vkey.vk_gamma_2 })).rejects.toThrow(SetupError);
    const injected = structuredClone(vkey);
    (injected.IC[0] as string[])[0] = "1; } function pwn() public { selfdestruct(payable(msg.sender)); } //";
    await expect(solidityVerifier(injected)).rejects.toThrow(VerifierInputError);
  });
});

describe("calldata", () => {
  it("matches snarkjs exportSolidityCallData exactly for real proofs", async () => {
    for (const kind of ["count", "sum", "threshold"] as const) {
      const { proof, publicSignals } = fixture.proofs[kind] as NonNullable<
        BundleFixture["proofs"][typeof kind]
      >;
      const expected = await snarkjsExports.callData(proof, publicSignals);
      const calldata = solidityCalldata(proof, publicSignals, fixture.vkey.nPublic);
      expect(snarkjsCalldataString(calldata), kind).toBe(expected);
      expect(snarkjsCalldataString(calldataFromJson(fixture.bundle(kind)).calldata)).toBe(expected);
      expect(snarkjsCalldataString(calldataFromJson({ publicSignals, proof }).calldata)).toBe(expected);
    }
  });

  it("packs 8 proof words and ABI-encodes verifyProof with its selector", () => {
    const { calldata } = calldataFromJson(fixture.bundle("count"));
    const words = proofWords(calldata);
    expect(words).toHaveLength(8);
    expect(words.every((w) => /^0x[0-9a-f]{64}$/.test(w))).toBe(true);
    const n = calldata.input.length;
    const selector = Buffer.from(
      keccak_256(new TextEncoder().encode(`verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${n}])`)),
    )
      .subarray(0, 4)
      .toString("hex");
    const abi = abiEncodeVerifyProof(calldata);
    expect(abi.slice(2, 10)).toBe(selector);
    expect(abi.length).toBe(2 + 8 + 64 * (8 + n));
    expect(abi.slice(10, 10 + 64)).toBe(calldata.a[0].slice(2));
    // G2 coordinates go in the EVM order (c1, c0), as snarkjs writes them.
    const proof = fixture.bundle("count").proof;
    expect(BigInt(calldata.b[0][0])).toBe(BigInt(proof.pi_b[0]?.[1] as string));
  });

  it("is printed by `zktally export calldata` for a bundle file, in every format", async () => {
    const file = path.join(tmp, "bundle.json");
    await writeFile(file, JSON.stringify(fixture.bundle("sum")));
    const { proof, publicSignals } = fixture.bundle("sum");
    const snark = await runExport(["calldata", file]);
    expect(snark.status, snark.stderr).toBe(0);
    expect(snark.stdout).toBe(`${await snarkjsExports.callData(proof, publicSignals)}\n`);
    const words = await runExport(["calldata", file, "--format", "words"]);
    expect(JSON.parse(words.stdout).proof).toHaveLength(8);
    const abi = await runExport(["calldata", file, "--format", "abi"]);
    expect(abi.stdout.trim()).toMatch(/^0x[0-9a-f]+$/);
  });

  it("refuses malformed proofs, signals and bundles, naming the field", async () => {
    const { proof, publicSignals } = fixture.bundle("count");
    const r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    const cases: [unknown, RegExp][] = [
      [{ publicSignals: [r, ...publicSignals.slice(1)], proof }, /publicSignals\[0\]/],
      [{ publicSignals: ["0x7", ...publicSignals.slice(1)], proof }, /publicSignals\[0\]/],
      [{ publicSignals, proof: { ...proof, pi_a: [proof.pi_a[0], "1", "1"] } }, /pi_a/],
      [{ publicSignals, proof: { ...proof, pi_c: ["0", "0", "1"] } }, /pi_c/],
      [{ publicSignals, proof, vkey: {} }, /vkey/],
      [{ publicSignals }, /proof/],
      [{ ...fixture.bundle("count"), publicSignals: publicSignals.slice(1) }, /publicSignals/],
      [[], /root/],
    ];
    for (const [input, field] of cases) {
      expect(() => calldataFromJson(input)).toThrow(VerifierInputError);
      expect(() => calldataFromJson(input)).toThrow(field);
    }
    const file = path.join(tmp, "bad.json");
    await writeFile(file, JSON.stringify(cases[0]?.[0]));
    const result = await runExport(["calldata", file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/publicSignals\[0\]/);
  });
});
