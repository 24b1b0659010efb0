/**
 * `zktally prove` (src/cli/commands/prove.ts), in process on the test circuit: the operator commits a small
 * dataset (the service tests' rows), proves its own count offline, and `zktally verify` accepts the bundle
 * (exit 0) whose answer equals the reference evaluator's under the group size prove states; a query naming an
 * unknown field, a missing query file, an uninitialised data directory and missing keys exit 2 with the file or
 * directory, the problem and what to run.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDataset } from "../src/dataset/load.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { captureCliOutput, cliRunner, serveFlags } from "./helpers/cli-output.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import { FR_COUNT, ROWS_A, SERVICE_SCHEMA, tempDir } from "./helpers/service.ts";

const dir = tempDir("cli-prove");
const flags = serveFlags(path.join(dir, "data"));
const cli = cliRunner(captureCliOutput());
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const schemaFile = path.join(dir, "schema.json");
const dataFile = path.join(dir, "rows.jsonl");
const queryFile = path.join(dir, "fr.json");
writeFileSync(schemaFile, JSON.stringify(SERVICE_SCHEMA));
writeFileSync(dataFile, `${ROWS_A.map((row) => JSON.stringify(row)).join("\n")}\n`);
writeFileSync(queryFile, JSON.stringify(FR_COUNT));

describe("zktally prove", () => {
  it("refuses a data directory nothing was committed to, with the command to run", async () => {
    const refused = await cli("prove", "--id", "mine", "--query", queryFile, "--dev", ...flags);
    expect(refused.code).toBe(2);
    expect(refused.text).toContain("is not initialised");
    expect(refused.text).toContain("hint: commit a dataset first: zktally commit --init");
  });

  it("proves the operator's own count offline; zktally verify accepts the bundle with the reference answer", async () => {
    const committed = await cli(
      "commit",
      ...["--id", "mine", "--schema", schemaFile, "--data", dataFile, "--init", "--dev", "--json"],
      ...flags,
    );
    expect(committed.code, committed.text).toBe(0);
    const { operatorKey } = JSON.parse(committed.text) as { operatorKey: string };
    const out = path.join(dir, "fr.bundle.json");
    const proved = await cli(
      "prove",
      ...["--id", "mine", "--query", queryFile, "--min-group", "2", "--nonce", "42", "--out", out, "--dev"],
      ...["--json", ...flags],
    );
    expect(proved.code, proved.text).toBe(0);
    const result = JSON.parse(proved.text.trim().split("\n").at(-1) as string);
    expect(result).toMatchObject({ bundle: out, operatorKey, minGroupSize: 2, nonce: "42" });

    const schema = parseSchema(SERVICE_SCHEMA);
    const { records } = await loadDataset(dataFile, schema);
    const reference = evaluateQuery(FR_COUNT, schema, records, { minGroupSize: 2 });
    expect(reference.suppressed).toBe(false);
    expect(result.answer).toEqual({ kind: "count", suppressed: false, value: String(reference.answer) });
    expect(JSON.parse(readFileSync(out, "utf8")).answer).toEqual(result.answer);

    const check = ["verify", out, "--keys", TEST_KEYS_DIR, "--operator-key", operatorKey];
    const verified = await cli(...check, "--nonce", "42", "--allow-insecure-keys");
    expect(verified.code, verified.text).toBe(0);
    expect(verified.text).toContain("VALID");
    // Development keys: the verifier refuses them unless asked to accept them.
    expect((await cli(...check)).code).toBe(4);
  });

  it("a query naming an unknown field, or a missing query file, exits 2 naming the file and the problem", async () => {
    const bad = path.join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({ predicate: [{ field: "nope", op: "eq", value: 1 }], aggregate: { kind: "count" } }),
    );
    const unknown = await cli("prove", "--id", "mine", "--query", bad, "--dev", ...flags);
    expect(unknown.code).toBe(2);
    expect(unknown.text).toMatch(/--query \S*bad\.json: predicate\[0\]\.field: .*nope/);
    const missing = await cli(
      "prove",
      "--id",
      "mine",
      "--query",
      path.join(dir, "gone.json"),
      "--dev",
      ...flags,
    );
    expect(missing.code).toBe(2);
    expect(missing.text).toContain("gone.json: cannot read the file (ENOENT)");
  });

  it("missing keys exit 2 pointing at setup or --dev; development keys need --dev", async () => {
    const noKeys = [...flags, "--keys-dir", path.join(dir, "no-keys")];
    const missing = await cli("prove", "--id", "mine", "--query", queryFile, ...noKeys);
    expect(missing.code).toBe(2);
    expect(missing.text).toContain("hint: make them with zktally setup --ptau FILE");
    expect(missing.text).toContain("or pass --dev");
    const insecure = await cli("prove", "--id", "mine", "--query", queryFile, ...flags);
    expect(insecure.code).toBe(2);
    expect(insecure.text).toContain("INSECURE development keys");
  });
});
