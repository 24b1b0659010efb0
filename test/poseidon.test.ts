/**
 * The fast WebAssembly Poseidon (src/poseidon) is circomlibjs' `buildPoseidon()(inputs, initialState, 1)`
 * bit for bit: known answers, every width 1..16 on random and edge inputs with random initial states, the
 * shipped constant modules equal circomlibjs' optimized constants, and non-canonical inputs are refused.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildPoseidon, type Poseidon } from "circomlibjs";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { FIELD_ORDER as R } from "../src/core/field.ts";
import { PARTIAL_ROUNDS } from "../src/poseidon/generate-constants.ts";
import { buildPoseidonHash, type PoseidonHash } from "../src/poseidon/index.ts";

/** Deterministic xorshift64* stream of field elements (the test must not depend on Math.random). */
function fieldStream(seed: bigint): () => bigint {
  let state = seed;
  const next64 = (): bigint => {
    state ^= state >> 12n;
    state ^= (state << 25n) & 0xffffffffffffffffn;
    state ^= state >> 27n;
    return (state * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
  };
  return () => ((next64() << 192n) | (next64() << 128n) | (next64() << 64n) | next64()) % R;
}

describe("fast Poseidon", () => {
  let reference: Poseidon;
  let fast: PoseidonHash;
  const expected = (inputs: bigint[], state: bigint): bigint =>
    reference.F.toObject(reference(inputs, state, 1));

  beforeAll(async () => {
    reference = await buildPoseidon();
    fast = await buildPoseidonHash();
  });

  it("gives circomlib's known answers", () => {
    expect(fast([1n, 2n], 0n)).toBe(
      7853200120776062878684798364095072458815029376092732009249414926327459813530n,
    );
    expect(fast([1n], 0n)).toBe(
      18586133768512220936620570745912940619677854269274689475585506675881198879027n,
    );
  });

  it("equals circomlibjs for every width 1..16 on random inputs and initial states", () => {
    const random = fieldStream(0x9e3779b97f4a7c15n);
    for (let count = 1; count <= 16; count++) {
      for (let trial = 0; trial < 6; trial++) {
        const inputs = Array.from({ length: count }, random);
        const state = trial === 0 ? 0n : random();
        expect(fast(inputs, state), `width ${count} trial ${trial}`).toBe(expected(inputs, state));
      }
    }
  });

  it("equals circomlibjs on edge values (0, 1, r - 1, 2^253) in every position", () => {
    const edges = [0n, 1n, R - 1n, 1n << 253n];
    for (let count = 1; count <= 16; count++) {
      for (const edge of edges) {
        const inputs = Array.from({ length: count }, (_, i) => (i % 2 === 0 ? edge : R - 1n - edge));
        expect(fast(inputs, edge), `width ${count} edge ${edge}`).toBe(expected(inputs, edge));
      }
    }
  });

  it("ships exactly circomlibjs' optimized constants", () => {
    const source = join(import.meta.dirname, "../node_modules/circomlibjs/src/poseidon_constants_opt.json");
    const opt = JSON.parse(readFileSync(source, "utf8")) as Record<"C" | "S", string[][]> &
      Record<"M" | "P", string[][][]>;
    for (let t = 2; t <= 17; t++) {
      const shipped = readFileSync(join(import.meta.dirname, `../src/poseidon/constants/t${t}.ts`), "utf8");
      const base64 = /"([A-Za-z0-9+/=]+)"/.exec(shipped)?.[1] ?? "";
      const bytes = Buffer.from(base64, "base64");
      const values = [
        opt.C[t - 2],
        opt.M[t - 2]?.flat(),
        opt.P[t - 2]?.flat(),
        opt.S[t - 2],
      ].flat() as string[];
      expect(bytes.length, `width ${t}`).toBe(values.length * 32);
      values.forEach((value, index) => {
        const little = bytes.subarray(index * 32, index * 32 + 32);
        expect(BigInt(`0x${Buffer.from(little).reverse().toString("hex")}`)).toBe(BigInt(value));
      });
      expect(shipped).toContain(`PARTIAL_ROUNDS = ${PARTIAL_ROUNDS[t - 2]};`);
    }
  });

  it("refuses non-canonical inputs and unsupported widths", () => {
    expect(() => fast([R], 0n)).toThrow(RangeError);
    expect(() => fast([-1n], 0n)).toThrow(RangeError);
    expect(() => fast([1n], R)).toThrow(/initialState/);
    expect(() => fast([], 0n)).toThrow(/1\.\.16 inputs/);
    expect(() =>
      fast(
        Array.from({ length: 17 }, () => 1n),
        0n,
      ),
    ).toThrow(/1\.\.16 inputs/);
  });

  it("bundles for the browser, each width's constants a separately loaded chunk", async () => {
    const result = await build({
      entryPoints: [join(import.meta.dirname, "../src/poseidon/index.ts")],
      bundle: true,
      platform: "browser",
      format: "esm",
      splitting: true,
      write: false,
      outdir: "out",
    });
    expect(result.outputFiles).toHaveLength(17);
    const entry = result.outputFiles.find((file) => file.path.endsWith("index.js"));
    expect(entry?.text).not.toMatch(/from\s*"node:/);
    expect(entry?.contents.length).toBeLessThan(40_000); // code only: the constants are in the other chunks
  });

  it("builds only the widths asked for", async () => {
    const narrow = await buildPoseidonHash({ inputCounts: [2] });
    expect(narrow([1n, 2n], 0n)).toBe(expected([1n, 2n], 0n));
    expect(() => narrow([1n, 2n, 3n], 0n)).toThrow(/not prepared/);
  });
});
