/**
 * Prover choice and fallback: native is the default when the executable is built; a missing executable
 * falls back to snarkjs with exactly one line; unknown names are refused; the choice maps to the
 * in-process or child-process backend names.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { nativeProverStatus } from "../src/prover/native-client.mjs";
import { fallbackLine, proverBackendName, resolveProverChoice } from "../src/prover/prover-choice.ts";
import { nativeBinary } from "./helpers/native.ts";

const missing = nativeProverStatus(path.join(import.meta.dirname, "no-such-prover"));

describe("resolveProverChoice", () => {
  it("native by default and by name when the executable is built, silently", () => {
    const built = nativeProverStatus(nativeBinary());
    expect(built.available).toBe(true);
    const lines: string[] = [];
    expect(resolveProverChoice(undefined, (l) => lines.push(l), built)).toBe("native");
    expect(resolveProverChoice("", (l) => lines.push(l), built)).toBe("native");
    expect(resolveProverChoice("native", (l) => lines.push(l), built)).toBe("native");
    expect(resolveProverChoice("snarkjs", (l) => lines.push(l), built)).toBe("snarkjs");
    expect(lines).toEqual([]);
  });

  it("falls back to snarkjs with one clear line when the executable is missing", () => {
    expect(missing.available).toBe(false);
    for (const requested of [undefined, "native"]) {
      const lines: string[] = [];
      expect(resolveProverChoice(requested, (l) => lines.push(l), missing)).toBe("snarkjs");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^zktally: native prover not built \(.*no-such-prover missing; run npm install\); proving with snarkjs$/,
      );
    }
    const lines: string[] = [];
    expect(resolveProverChoice("snarkjs", (l) => lines.push(l), missing)).toBe("snarkjs");
    expect(lines).toEqual([]);
  });

  it("refuses unknown names", () => {
    expect(() => resolveProverChoice("rapidsnark", () => {})).toThrow(
      /unknown prover "rapidsnark" \(expected native or snarkjs\)/,
    );
  });

  it("maps choices to backend names", () => {
    expect(proverBackendName("native", "in-process")).toBe("native");
    expect(proverBackendName("native", "child-process")).toBe("native-worker");
    expect(proverBackendName("snarkjs", "in-process")).toBe("snarkjs");
    expect(proverBackendName("snarkjs", "child-process")).toBe("snarkjs-worker");
    expect(fallbackLine("x")).toBe("zktally: x; proving with snarkjs");
  });
});
