/**
 * End to end: a geoeditors-style release (noisy histogram cells, docs/privacy.md "Releases") over a small
 * chunked dataset (32 records, 2 chunks; 2 wikis x 4 countries x 2 activity levels), proven with snarkjs on
 * development keys of a Q = H = 2, G = 8 pass and its noisy final (PassFinalNoisy), and verified by the SDK
 * (`verifyRelease`, `verifyDpHistogram`): every cell is its true count plus the twin's noise at its country's
 * tier, the TSV holds exactly the cells whose noisy value reaches the threshold. Soundness at bundle level,
 * each an edit of an honest release expecting rejection: a withheld cell added to the TSV, a noisy value
 * edited, a cell moved to another tier, a country's tier changed, a tier's epsilon understated, a statement
 * edited, and a manifest committing to another seed.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noiseCentre, noiseDelta } from "../src/circuits/noise.ts";
import { noisyPassFinalCircuitId } from "../src/circuits/pass-noise.ts";
import { passCircuitId } from "../src/circuits/pass-shape.ts";
import { releaseCommand } from "../src/cli/commands/release.ts";
import { runVerify } from "../src/cli/verify-command.ts";
import { type ChunkedCommitment, commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { buildChunkedManifest, type ChunkedManifest } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { deriveNoiseSecret, noiseSeedCommitment } from "../src/dataset/noise-seed.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { buildRelease, type Release, releaseGroups } from "../src/release/release.ts";
import { parseRiskList, RiskListError } from "../src/release/risk.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { ensureNoisyPassFinalMainFile, ensurePassMainFiles } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import {
  type DpHistogramBundle,
  describeNoisyHistogram,
  type NoisyHistogramAnswer,
  verifyDpHistogram,
} from "../src/verifier/dp-histogram.ts";
import type { VerifyOptions } from "../src/verifier/index.ts";
import { RELEASE_TSV_HEADER, verifyRelease } from "../src/verifier/release.ts";
import { OPERATOR_KEY, OPERATOR_SECRET } from "./helpers/bundles.ts";
import { RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE } from "./helpers/circuits.ts";

const schema = RELEASE_TEST_SCHEMA;
const shape = RELEASE_TEST_SHAPE;
const keysDir = join(buildRoot(), "test-keys-release");
const datasetSecret = new Uint8Array(32).fill(21);
const secret = deriveNoiseSecret(datasetSecret, "geoeditors", 1);
const ids = { step: passCircuitId(shape.pass), final: noisyPassFinalCircuitId(shape) };
const slots = { clauses: 3, setSize: 3, queries: 2, histogramSlots: 2, cells: 8 };
const fields = { wiki: "wiki", country: "country", activity: "activity" };
const COUNTRIES = ["DE", "FR", "US", "IN"];
const LEVELS = ["5 to 99", "100 or more"];
const WIKIS = ["enwiki", "frwiki"];
/** 32 records: wiki i mod 2, country skewed to DE and FR, activity "100 or more" for every fourth. */
const records = Array.from({ length: 32 }, (_, i) => [
  BigInt(10 * i + 1),
  BigInt(i % 2),
  BigInt([0, 0, 1, 0, 1, 2, 0, 3][i % 8] as number),
  i % 4 === 3 ? 1n : 0n,
  BigInt(5 + 3 * i),
]);
const risk = parseRiskList(
  JSON.stringify({ tiers: { low: 4, high: 1.1 }, delta: 1e-6, default: "low", countries: { IN: "high" } }),
  COUNTRIES,
);
const THRESHOLD = 3;

let backend: SnarkjsBackend;
let options: VerifyOptions;
let committed: ChunkedCommitment;
let manifest: ChunkedManifest;
let vkeyHashes: { step: string; final: string };
let release: Release;

function manifestWith(noiseCommitment: bigint): ChunkedManifest {
  return signManifest(
    buildChunkedManifest({
      datasetId: "geoeditors",
      epoch: 1,
      schema,
      recordCount: records.length,
      layout: shape.pass.chunk.layout,
      root: committed.root,
      circuits: [ids.step, ids.final],
      createdAt: "2026-12-01T10:00:00Z",
      noiseCommitment,
    }),
    OPERATOR_SECRET,
  );
}

function trueCount(wiki: number, country: number, level: number): bigint {
  return BigInt(
    records.filter((r) => r[1] === BigInt(wiki) && r[2] === BigInt(country) && r[3] === BigInt(level)).length,
  );
}

beforeAll(async () => {
  const [step] = await ensurePassMainFiles(shape.pass);
  const final = await ensureNoisyPassFinalMainFile(shape);
  await buildDevKeys([step, final], { keysDir, replace: true });
  backend = createSnarkjsBackend({ keysDir });
  const poseidon = await getPoseidon();
  committed = commitChunks(poseidon, {
    layout: shape.pass.chunk.layout,
    domains: shape.pass.chunk.domains,
    keyField: shape.pass.chunk.keyField,
    records,
    secret: datasetSecret,
    datasetId: "geoeditors",
    epoch: 1,
  });
  manifest = manifestWith(noiseSeedCommitment(poseidon, secret));
  const keysManifest = JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8"));
  const hashOf = (id: string) => (keysManifest.circuits[id] as { vkeySha256: string }).vkeySha256;
  vkeyHashes = { step: hashOf(ids.step), final: hashOf(ids.final) };
  options = {
    keys: {
      [ids.step]: await loadPinnedVkey(keysDir, ids.step),
      [ids.final]: await loadPinnedVkey(keysDir, ids.final),
    },
    keysManifest,
    operatorKey: OPERATOR_KEY,
    allowInsecureKeys: true,
  };
  release = await buildRelease({
    manifest,
    committed,
    records,
    fields,
    risk,
    threshold: THRESHOLD,
    nonce: 0x5eed_1234n,
    slots,
    noise: { secret, limits: { maxCoins: shape.maxCoins, maxScaleBits: shape.maxScaleBits } },
    vkeyHashes,
    prover: backend,
    createdAt: "2026-12-01T12:00:00Z",
  });
}, 1_500_000);

afterAll(async () => {
  await backend?.close();
  await terminateCurveWorkers();
});

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value));

describe("a geoeditors-style release, proven and verified", () => {
  it("verifies: every cell proven, the TSV exactly the cells at or above the threshold", () => {
    const result = verifyRelease(release.document, release.tsv, options);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    if (!result.valid) return;
    expect(result.rows + result.withheld).toBe(16);
    expect(result.rows).toBe(release.rows);
    expect(release.tsv.startsWith(`${RELEASE_TSV_HEADER}\n`)).toBe(true);
    for (const line of release.tsv.trim().split("\n").slice(1)) {
      const [, , , editors] = line.split("\t");
      expect(Number(editors)).toBeGreaterThanOrEqual(THRESHOLD);
    }
    expect(JSON.stringify(release.document)).not.toContain(String(secret.seed));
    expect(release.document.bundles).toHaveLength(1);
  });

  it("noises every cell at its country's tier: noisy - true count within the tier's support", () => {
    const bundle = release.document.bundles[0];
    if (bundle === undefined) throw new Error("no bundle");
    const tiers = new Map(bundle.privacy.tiers.map((tier) => [tier.name, tier]));
    expect(bundle.privacy.mechanism).toBe("binomial-dither/v1");
    bundle.answers.forEach((answer, w) => {
      answer.cells.forEach((cell) => {
        const country = COUNTRIES.indexOf(String(cell.cell[0]));
        const level = LEVELS.indexOf(String(cell.cell[1]));
        expect(cell.tier).toBe(country === 3 ? "high" : "low");
        const tier = tiers.get(cell.tier);
        if (tier === undefined) throw new Error("no tier");
        const centre = noiseCentre(tier);
        const shift = BigInt(cell.noisy) + centre - trueCount(w, country, level);
        expect(shift >= 0n && shift < BigInt(tier.coins + 1) << BigInt(tier.scaleBits)).toBe(true);
      });
    });
    for (const tier of bundle.privacy.tiers) {
      expect(noiseDelta(tier, 1n, Number(tier.epsilon))).toBeLessThanOrEqual(Number(tier.delta));
      expect(Number(tier.delta)).toBeLessThanOrEqual(1e-6);
    }
    const verified = verifyDpHistogram(bundle, options);
    expect(verified.valid, JSON.stringify(verified)).toBe(true);
    expect(bundle.statements[0]).toContain(
      "noisy count of records per country × activity where wiki = enwiki",
    );
    expect(bundle.statements[0]).toContain("high: (1.1, ");
  });
});

describe("an edited release is rejected", () => {
  it("rejects a TSV with a withheld cell shown, a row dropped or a value changed", () => {
    const lines = release.tsv.trim().split("\n");
    const dropped = `${lines.slice(0, -1).join("\n")}\n`;
    expect(verifyRelease(release.document, dropped, options)).toMatchObject({ valid: false, check: "tsv" });
    const changed = release.tsv.replace(/\t(\d+)\n/, (_, n) => `\t${Number(n) + 1}\n`);
    expect(verifyRelease(release.document, changed, options)).toMatchObject({ valid: false, check: "tsv" });
    const shown = `${release.tsv}enwiki\tIN\t100 or more\t0\n`;
    expect(verifyRelease(release.document, shown, options)).toMatchObject({ valid: false, check: "tsv" });
  });

  it("rejects a noisy value edited in a bundle (the final proof pins every cell)", () => {
    const edited = copy(release.document);
    const cell = edited.bundles[0]?.answers[0]?.cells[2] as { noisy: string };
    cell.noisy = String(BigInt(cell.noisy) + 1n);
    const result = verifyRelease(edited, release.tsv, options);
    expect(result.valid).toBe(false);
  });

  it("rejects a cell moved to another tier and a country's tier changed", () => {
    const moved = copy(release.document);
    const cell = moved.bundles[0]?.answers[0]?.cells[0] as unknown as { cell: string[]; tier: string };
    expect(cell.cell[0]).toBe("DE");
    cell.tier = "high";
    expect(verifyRelease(moved, release.tsv, options).valid).toBe(false);
    const retiered = copy(release.document) as { countryTiers: Record<string, string> };
    retiered.countryTiers.IN = "low";
    expect(verifyRelease(retiered, release.tsv, options)).toMatchObject({ valid: false, check: "tiers" });
  });

  it("rejects a tier whose epsilon is understated for its noise, and an edited statement", () => {
    const understated = copy(release.document);
    const tier = understated.bundles[0]?.privacy.tiers.find((t) => t.name === "high") as { epsilon: string };
    tier.epsilon = "0.1";
    const bundle = understated.bundles[0] as DpHistogramBundle;
    (bundle.statements as string[]).splice(
      0,
      2,
      ...bundle.queries.map((query, q) =>
        describeNoisyHistogram(query, bundle.answers[q] as NoisyHistogramAnswer, bundle.privacy, schema),
      ),
    );
    const result = verifyRelease(understated, release.tsv, options);
    expect(result).toMatchObject({ valid: false, check: "privacy" });
    const restated = copy(release.document);
    (restated.bundles[0]?.statements as string[])[0] = "noisy count of nothing";
    expect(verifyRelease(restated, release.tsv, options)).toMatchObject({ valid: false, check: "statement" });
  });

  it("rejects a release whose manifest commits to another seed", async () => {
    const poseidon = await getPoseidon();
    const other = manifestWith(
      noiseSeedCommitment(poseidon, deriveNoiseSecret(new Uint8Array(32).fill(9), "x", 1)),
    );
    const swapped = copy(release.document) as unknown as { bundles: { manifest: unknown }[] };
    for (const bundle of swapped.bundles) bundle.manifest = other;
    const result = verifyRelease(swapped, release.tsv, options);
    expect(result.valid).toBe(false);
  });
});

describe("zktally verify on a release", () => {
  it("prints VALID with the rows and tiers; exit 1 when the TSV is edited", async () => {
    const dir = await mkdtemp(join(tmpdir(), "zktally-release-"));
    try {
      const file = join(dir, "release.json");
      await writeFile(file, JSON.stringify(release.document));
      await writeFile(join(dir, "release.tsv"), release.tsv);
      const written: string[] = [];
      const write = (t: string) => {
        written.push(t);
      };
      const output = { out: write, err: write };
      const args = [file, "--keys", keysDir, "--operator-key", OPERATOR_KEY, "--allow-insecure-keys"];
      expect(await runVerify(args, output), written.join("")).toBe(0);
      const text = written.join("");
      expect(text).toContain(`VALID  release of dataset geoeditors epoch 1: ${release.rows} rows`);
      expect(text).toContain("high (1.1, 0.000001)");
      await writeFile(join(dir, "edited.tsv"), release.tsv.replace(/\t(\d+)\n/, "\t999\n"));
      written.length = 0;
      expect(await runVerify([...args, "--tsv", join(dir, "edited.tsv")], output)).toBe(1);
      expect(written.join("")).toContain("INVALID");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("release helpers", () => {
  it("parses risk lists (JSON and TSV), names an unknown country or tier", () => {
    expect(risk.countryTiers).toEqual({ DE: "low", FR: "low", US: "low", IN: "high" });
    const tsv = parseRiskList("country\ttier\nIN\thigh\nUS\tmedium\n", COUNTRIES);
    expect(tsv.tiers.map((t) => [t.name, t.epsilon])).toEqual([
      ["low", "1.1"],
      ["medium", "0.2"],
      ["high", "0.1"],
    ]);
    expect(tsv.countryTiers).toEqual({ DE: "low", FR: "low", US: "medium", IN: "high" });
    expect(() => parseRiskList("XX\thigh\n", COUNTRIES)).toThrow(RiskListError);
    expect(() => parseRiskList("IN\textreme\n", COUNTRIES)).toThrow(/extreme/);
  });

  it("zktally release names a missing argument (usage error)", async () => {
    await expect(releaseCommand.run(["--id", "x"])).rejects.toThrow(/--schema FILE/);
  });

  it("packs wiki tables H to a pass, padding the last by repetition", () => {
    expect(releaseGroups(WIKIS, 2)).toEqual([["enwiki", "frwiki"]]);
    expect(releaseGroups(["a", "b", "c"], 2)).toEqual([
      ["a", "b"],
      ["c", "c"],
    ]);
  });
});
