/**
 * `zktally serve admin ...` on a fresh data directory: init prints the public keys, partners and datasets
 * (CSV and JSONL) are registered and audited, the client secret is printed once, `audit verify` passes and
 * then fails (exit 1) after a row is edited, and bad configuration or usage exits 2.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../src/cli/command.ts";
import { serveCommand } from "../src/cli/commands/serve.ts";
import { captureCliOutput, serveFlags } from "./helpers/cli-output.ts";
import { ROWS_A, SERVICE_SCHEMA, TEST_CIRCUIT, tempDir } from "./helpers/service.ts";

const dataDir = tempDir("cli");
const common = serveFlags(dataDir);
const captured = captureCliOutput();
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: parsed CLI output
async function admin(...args: string[]): Promise<{ code: number; json: any }> {
  const code = await serveCommand.run(["admin", ...args, ...common]);
  // biome-ignore lint/suspicious/noExplicitAny: parsed CLI output
  let json: any = {};
  try {
    json = JSON.parse(captured.text());
  } catch {
    json = {};
  }
  captured.clear();
  return { code, json };
}

describe("zktally serve admin", () => {
  it("init, partners, datasets (CSV and JSONL), audit verify", async () => {
    const init = await admin("init");
    expect(init.code).toBe(0);
    expect(init.json).toMatchObject({ circuit: TEST_CIRCUIT });
    expect(init.json.operatorKey).toMatch(/^[0-9a-f]{64}$/);
    expect(init.json.logKey).toMatch(/^[0-9a-f]{64}$/);

    const policy = JSON.stringify({ datasets: ["csv-set", "jsonl-set"], fields: ["country"] });
    const added = await admin(
      "partner",
      "add",
      "--id",
      "alice",
      "--scopes",
      "datasets:read,queries:submit",
      "--policy",
      policy,
    );
    expect(added.code).toBe(0);
    expect(added.json.clientSecret.startsWith("zks_")).toBe(true);
    const listed = await admin("partner", "list");
    expect(JSON.stringify(listed.json)).not.toContain(added.json.clientSecret);
    expect((await admin("partner", "add", "--id", "alice", "--scopes", "datasets:read")).code).toBe(2);

    const schemaFile = path.join(dataDir, "schema.json");
    writeFileSync(schemaFile, JSON.stringify(SERVICE_SCHEMA));
    const csv = path.join(dataDir, "rows.csv");
    writeFileSync(
      csv,
      `userId,country,edits,bot\n${ROWS_A.map((r) => `${r.userId},${r.country},${r.edits},${r.bot}`).join("\n")}\n`,
    );
    const jsonl = path.join(dataDir, "rows.jsonl");
    writeFileSync(jsonl, `${ROWS_A.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const fromCsv = await admin("dataset", "add", "--id", "csv-set", "--schema", schemaFile, "--data", csv);
    expect(fromCsv.code).toBe(0);
    const fromJsonl = await admin(
      "dataset",
      "add",
      "--id",
      "jsonl-set",
      "--schema",
      schemaFile,
      "--data",
      jsonl,
    );
    expect(fromJsonl.code).toBe(0);
    expect(fromCsv.json.manifest.recordCount).toBe(ROWS_A.length);
    // Same records, different dataset ids: different salts, different roots.
    expect(fromCsv.json.manifest.root).not.toBe(fromJsonl.json.manifest.root);
    const duplicateKey = path.join(dataDir, "dup.jsonl");
    writeFileSync(duplicateKey, '{"userId":1,"country":"FR","edits":1,"bot":false,"bot":true}\n');
    expect(
      (await admin("dataset", "add", "--id", "dup", "--schema", schemaFile, "--data", duplicateKey)).code,
    ).toBe(2);

    expect((await admin("budget", "reset", "--id", "alice")).code).toBe(0);
    // Two datasets' epoch keys and three service keys.
    expect((await admin("keys", "rotate")).json).toEqual({ reencrypted: 2 + 3 });
    const verified = await admin("audit", "verify");
    expect(verified.code).toBe(0);
    expect(verified.json).toMatchObject({ ok: true });
    // partner.create, dataset.register x2 (+ the refused duplicate partner), budget.reset, keys.rotate
    expect(verified.json.treeSize).toBeGreaterThanOrEqual(6);

    const db = new Database(path.join(dataDir, "zktally.db"));
    db.exec("DROP TRIGGER audit_entries_no_update");
    db.prepare("UPDATE audit_entries SET entry = replace(entry, 'csv-set', 'csv-sex') WHERE idx = 2").run();
    db.close();
    const tampered = await admin("audit", "verify");
    expect(tampered.code).toBe(1);
    expect(tampered.json).toMatchObject({ ok: false, index: 2 });
  });

  it("bad configuration or usage exits 2 or throws a usage error", async () => {
    expect(await serveCommand.run(["admin", "init", ...common, "--port", "99999"])).toBe(2);
    expect(captured.text()).toContain("port");
    await expect(serveCommand.run(["admin", "frobnicate", ...common])).rejects.toBeInstanceOf(UsageError);
    await expect(serveCommand.run(["admin", "partner", "add", ...common])).rejects.toThrow(
      /--id is required/,
    );
  });
});
