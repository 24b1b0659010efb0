/**
 * Native prover arithmetic against known answers: the binary's `vectors` mode prints inputs and its own
 * results for Fr/Fq/Fq2 arithmetic, G1/G2 scalar multiplication and doubling, MSMs (with infinity,
 * repeated and negated points, scalars 0, 1 and r-1, every window size from 2 to 16; scalar classes: 0, 1,
 * small, 64-bit and full-size mixed, at most 32 bits, only 0 and 1, only 0), roots of unity and
 * NTTs; every result is recomputed here with bigint arithmetic, @noble/curves and snarkjs's ffjavascript.
 * The vectors are produced five times: default (batch-affine buckets, all cores), Jacobian buckets, GLV on
 * G1, 5 threads (more MSM slices and NTT stages split across threads) and NTT blocks of 2 points (the
 * column stages that large domains use); all must give the known answers. The GLV constants (beta, lambda) and scalar splits are checked against @noble/curves and bigints.
 */
import { bn254 } from "@noble/curves/bn254.js";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runNative } from "./helpers/native.ts";

const R = bn254.fields.Fr.ORDER;
const Q = bn254.fields.Fp.ORDER;
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function pow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
const inv = (a: bigint, m: bigint) => pow(a, m - 2n, m);

type Vectors = {
  fr: string[][];
  fq: string[][];
  fq2: string[][];
  g1: [string, ...(string[] | null)[]][];
  g2: [string, ...(string[] | null)[]][];
  msm: {
    group: "G1" | "G2";
    kind: string;
    dlogs: string[];
    scalars: string[];
    results: { window: number; point: string[] | null }[];
  }[];
  glv: { beta: string; lambda: string; phi: [string, string[] | null][]; split: [string, string, string][] };
  roots: string[];
  ntt: { k: number; input: string[]; fft: string[]; ifft: string[]; coset: string[] }[];
};

const CONFIGS: Record<string, Record<string, string>> = {
  default: {},
  jacobian: { ZKTALLY_MSM: "jacobian" },
  GLV: { ZKTALLY_MSM_GLV: "1" },
  "5 threads": { ZKTALLY_PROVER_THREADS: "5" },
  "NTT blocks of 2": { ZKTALLY_NTT_BLOCK: "2" },
};
/** The MSM vectors (group and scalar kind, see vector_scalar in native/prover/main.cpp). */
const MSM_VECTORS = [
  "G1 mixed",
  "G2 mixed",
  "G1 classes",
  "G2 classes",
  "G1 small",
  "G1 ones",
  "G2 ones",
  "G1 zeros",
];
let v: Vectors;
const variants = new Map<string, Vectors>();
// biome-ignore lint/suspicious/noExplicitAny: ffjavascript's curve object is untyped
let curve: any;

beforeAll(async () => {
  for (const [name, env] of Object.entries(CONFIGS)) {
    const { code, json } = await runNative(["vectors", "20261201"], env);
    expect(code).toBe(0);
    variants.set(name, json as unknown as Vectors);
  }
  v = variants.get("default") as Vectors;
  curve = await snarkjs.curves.getCurveFromName("bn128", { singleThread: true });
}, 120_000);
afterAll(async () => {
  await curve?.terminate?.();
});

const g1 = (k: bigint) => {
  if (mod(k, R) === 0n) return null;
  const a = bn254.G1.Point.BASE.multiply(mod(k, R)).toAffine();
  return [a.x.toString(), a.y.toString()];
};
const g2 = (k: bigint) => {
  if (mod(k, R) === 0n) return null;
  const a = bn254.G2.Point.BASE.multiply(mod(k, R)).toAffine();
  return [a.x.c0, a.x.c1, a.y.c0, a.y.c1].map(String);
};

describe("native field arithmetic", () => {
  it.each([
    ["Fr", "fr", R],
    ["Fq", "fq", Q],
  ] as const)("%s mul, add, sub, inverse", (_name, key, m) => {
    for (const [a, b, prod, sum, diff, ainv] of v[key]) {
      const x = BigInt(a as string);
      const y = BigInt(b as string);
      expect(BigInt(prod as string)).toBe((x * y) % m);
      expect(BigInt(sum as string)).toBe((x + y) % m);
      expect(BigInt(diff as string)).toBe(mod(x - y, m));
      expect(BigInt(ainv as string)).toBe(inv(x, m));
    }
  });

  it("Fq2 = Fq[u]/(u^2+1) mul, square, inverse", () => {
    const Fp2 = bn254.fields.Fp2;
    for (const row of v.fq2) {
      const [a0, a1, b0, b1, m0, m1, s0, s1, i0, i1] = row.map(BigInt) as bigint[];
      const a = Fp2.create({ c0: a0 as bigint, c1: a1 as bigint });
      const b = Fp2.create({ c0: b0 as bigint, c1: b1 as bigint });
      expect(Fp2.mul(a, b)).toEqual({ c0: m0, c1: m1 });
      expect(Fp2.sqr(a)).toEqual({ c0: s0, c1: s1 });
      expect(Fp2.inv(a)).toEqual({ c0: i0, c1: i1 });
    }
  });
});

describe("native curve arithmetic", () => {
  it("G1: k*G, doubling, add(P, P) and mixed add(P, P) agree with @noble/curves", () => {
    for (const [k, p, d, s, m] of v.g1) {
      const kk = BigInt(k);
      expect(p).toEqual(g1(kk));
      expect(d).toEqual(g1(2n * kk));
      expect(s).toEqual(g1(2n * kk));
      expect(m).toEqual(g1(2n * kk));
    }
  });

  it("G2: k*G and doubling agree with @noble/curves", () => {
    for (const [k, p, d] of v.g2) {
      expect(p).toEqual(g2(BigInt(k)));
      expect(d).toEqual(g2(2n * BigInt(k)));
    }
  });

  it("GLV: beta and lambda are cube roots of unity and phi(x, y) = (beta x, y) is lambda * (x, y)", () => {
    const beta = BigInt(v.glv.beta);
    const lambda = BigInt(v.glv.lambda);
    expect([beta !== 1n, pow(beta, 3n, Q)]).toEqual([true, 1n]);
    expect([lambda !== 1n, pow(lambda, 3n, R)]).toEqual([true, 1n]);
    for (const [k, phi] of v.glv.phi) expect(phi).toEqual(g1(BigInt(k) * lambda));
  });

  it("GLV: every split k = k1 + k2 lambda (mod r) has |k1|, |k2| < 2^127", () => {
    const lambda = BigInt(v.glv.lambda);
    expect(v.glv.split.length).toBeGreaterThan(40);
    for (const [k, k1, k2] of v.glv.split) {
      const [a, b] = [BigInt(k1), BigInt(k2)];
      expect(mod(a + b * lambda, R)).toBe(BigInt(k));
      expect([a < 0n ? -a : a, b < 0n ? -b : b].every((x) => x < 1n << 127n)).toBe(true);
    }
  });

  it.each(Object.keys(CONFIGS))(
    "MSMs (%s) equal (sum dlog_i * scalar_i) * G for every window size",
    (name) => {
      const vectors = variants.get(name) as Vectors;
      expect(vectors.msm.map((m) => `${m.group} ${m.kind}`)).toEqual(MSM_VECTORS);
      for (const m of vectors.msm) {
        let k = 0n;
        m.dlogs.forEach((d, i) => {
          k += BigInt(d) * BigInt(m.scalars[i] as string);
        });
        const expected = m.group === "G1" ? g1(k) : g2(k);
        expect(new Set(m.results.map((r) => r.window)).size).toBe(m.results.length);
        for (const r of m.results)
          expect({ window: r.window, point: r.point }).toEqual({ window: r.window, point: expected });
      }
    },
  );
});

describe("native NTT", () => {
  it("roots of unity are ffjavascript's Fr.w[k]", () => {
    for (let k = 0; k <= 28; k++) {
      expect(BigInt(v.roots[k] as string)).toBe(curve.Fr.toObject(curve.Fr.w[k]));
    }
  });

  const pack = (xs: string[]) => {
    const out = new Uint8Array(xs.length * 32);
    xs.forEach((x, i) => {
      out.set(curve.Fr.e(BigInt(x)), i * 32);
    });
    return out;
  };
  const unpack = (buf: Uint8Array) =>
    Array.from({ length: buf.length / 32 }, (_, i) =>
      String(curve.Fr.toObject(buf.slice(i * 32, i * 32 + 32))),
    );

  it("fft and ifft equal ffjavascript's Fr.fft / Fr.ifft (also with 5 threads and with 2-point blocks)", async () => {
    expect((variants.get("5 threads") as Vectors).ntt).toEqual(v.ntt);
    // Blocks of 2 points: every stage above the first runs as a column stage (the path of domains > 2^13).
    expect((variants.get("NTT blocks of 2") as Vectors).ntt).toEqual(v.ntt);
    for (const t of v.ntt) {
      expect(unpack(await curve.Fr.fft(pack(t.input)))).toEqual(t.fft);
      expect(unpack(await curve.Fr.ifft(pack(t.input)))).toEqual(t.ifft);
    }
  });

  it("coset evaluation equals snarkjs's ifft, batchApplyKey(1, w[k+1]), fft", async () => {
    for (const t of v.ntt) {
      const coeffs = await curve.Fr.ifft(pack(t.input));
      const shifted = await curve.Fr.batchApplyKey(coeffs, curve.Fr.e(1), curve.Fr.w[t.k + 1]);
      expect(unpack(await curve.Fr.fft(shifted))).toEqual(t.coset);
    }
  });
});
