/**
 * The operator's commands on a fresh data directory, in process (src/cli/run.ts): `zktally init` proposes a
 * schema from a sample (enum values NFC-normalised, uint bits from the largest value, a date column, the id column as key)
 * and writes the config; `commit` refuses an uninitialised (mistyped) data directory unless `--init`,
 * names the file and line of a bad row, refuses a header-only file, and commits; `partner add|rotate|policy`
 * (a policy without budget keeps the budget), `erase`. One happy path and one bad input (exit code, message)
 * each.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { captureCliOutput, cliRunner, serveFlags } from "./helpers/cli-output.ts";
import { tempDir } from "./helpers/service.ts";

const dir = tempDir("cli-operator");
const dataDir = path.join(dir, "data");
const flags = serveFlags(dataDir);
const captured = captureCliOutput();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cli = cliRunner(captured);

/** "Côte d’Ivoire" in decomposed form (o + U+0302), as some tools write it. */
const NFD_COTE = "Côte d’Ivoire".normalize("NFD");
const sample = path.join(dir, "mine.csv");
const config = path.join(dir, "zktally.config.json");
writeFileSync(
  sample,
  `userId,country,monthly_edits,registered\n101,FR,27,2021-03-04\n102,${NFD_COTE},3000,2019-12-31\n103,"Côte d’Ivoire",5,2024-02-29\n`,
);

describe("zktally init / commit / partner", () => {
  it("init proposes a schema from the sample and writes the config; an existing config needs --force", async () => {
    const init = await cli("init", sample, "--out", config);
    expect(init.code).toBe(0);
    expect(init.text).toContain("userId  uint (7 bits)  [key]");
    const written = JSON.parse(readFileSync(config, "utf8"));
    expect(written).toMatchObject({ datasetId: "mine", data: "mine.csv" });
    expect(written.schema).toEqual({
      fields: [
        { name: "userId", type: "uint", bits: 7 },
        { name: "country", type: "enum", values: ["Côte d’Ivoire", "FR"] },
        { name: "monthly_edits", type: "uint", bits: 12 },
        { name: "registered", type: "date" },
      ],
      key: "userId",
    });
    expect(written.schema.fields[1].values[0]).toBe("Côte d’Ivoire".normalize("NFC"));
    const again = await cli("init", sample, "--out", config);
    expect(again.code).toBe(2);
    expect(again.text).toContain(`${config} exists`);
    expect(again.text).toContain("hint: pass --force");
    const missing = await cli("init", path.join(dir, "nope.csv"), "--out", path.join(dir, "x.json"));
    expect(missing.code).toBe(2);
    expect(missing.text).toContain("nope.csv: cannot read (ENOENT)");
  });

  it("commit refuses a mistyped data directory unless --init, then commits the config's dataset", async () => {
    const refused = await cli("commit", "--config", config, ...flags);
    expect(refused.code).toBe(2);
    expect(refused.text).toContain(`data directory ${dataDir} is not initialised`);
    expect(refused.text).toContain("pass --init");
    const committed = await cli("commit", "--config", config, "--init", "--dev", ...flags);
    expect(committed.code, committed.text).toBe(0);
    expect(committed.text).toMatch(/committed mine epoch 1: 3 records, root \d+/);
    const json = await cli("commit", "--config", config, "--json", ...flags);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.text)).toMatchObject({
      datasetId: "mine",
      epoch: 2,
      manifest: { recordCount: 3 },
    });
  });

  it("commit names the file and line of a bad row, and refuses a header-only file", async () => {
    const bad = path.join(dir, "bad.csv");
    writeFileSync(bad, "userId,country,monthly_edits,registered\n104,FR,2023-12-25,2020-01-01\n");
    const rejected = await cli("commit", "--config", config, "--data", bad, ...flags);
    expect(rejected.code).toBe(2);
    expect(rejected.text).toContain('bad.csv:2: column "monthly_edits": malformed number "2023-12-25"');
    expect(rejected.text).toContain("it looks like a date (YYYY-MM-DD)");
    const headerOnly = path.join(dir, "header.csv");
    writeFileSync(headerOnly, "userId,country,monthly_edits,registered\n");
    const empty = await cli("commit", "--config", config, "--data", headerOnly, ...flags);
    expect(empty.code).toBe(2);
    expect(empty.text).toContain("header.csv: no records");
  });

  it("erase removes a person's record in a new epoch (--force); without a key it is a usage error", async () => {
    const erased = await cli("erase", "--dataset", "mine", "--key", "101", "--force", ...flags);
    expect(erased.code, erased.text).toBe(0);
    expect(JSON.parse(erased.text)).toMatchObject({ datasetId: "mine", applied: true, erased: 1 });
    const usage = await cli("erase", "--dataset", "mine", ...flags);
    expect(usage.code).toBe(2);
    expect(usage.text).toContain("zktally erase: erase needs at least one --key K");
  });

  it("partner add, rotate and policy (a policy without budget keeps the budget); an unknown partner exits 2", async () => {
    const budget = { queries: 7, periodSeconds: 3600 };
    const policy = JSON.stringify({ datasets: ["mine"], budget });
    const added = await cli(
      "partner",
      "add",
      "--id",
      "alice",
      "--scopes",
      "datasets:read",
      "--policy",
      policy,
      ...flags,
    );
    expect(added.code).toBe(0);
    const secret = JSON.parse(added.text).clientSecret as string;
    expect(secret.startsWith("zks_")).toBe(true);
    const rotated = await cli("partner", "rotate", "--id", "alice", ...flags);
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.text).clientSecret).not.toBe(secret);
    const updated = await cli(
      "partner",
      "policy",
      "--id",
      "alice",
      "--policy",
      '{"datasets":["mine"],"fields":["registered"]}',
      ...flags,
    );
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.text).policy).toMatchObject({ fields: ["registered"], budget });
    const unknown = await cli("partner", "rotate", "--id", "mallory", ...flags);
    expect(unknown.code).toBe(2);
    expect(unknown.text).toMatch(/partner.*not found/);
  });
});
