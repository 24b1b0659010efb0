/**
 * Boot checks the service's state and creates none of it: identities (storage key file, operator, token and
 * audit keys) come only from an explicit `zktally serve admin init`. A data directory that was never
 * initialised (a typo), a corrupted database file, an edited audit entry or a lost key row make `serve` and
 * every admin command refuse with a precise message, before anything is served, signed or created.
 */
import { existsSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { serveCommand } from "../src/cli/commands/serve.ts";
import { databaseFileOf } from "../src/service/config.ts";
import { initService } from "../src/service/server.ts";
import { captureCliOutput, serveFlags } from "./helpers/cli-output.ts";
import { spawnServe } from "./helpers/serve-process.ts";
import { LogCapture, SERVICE_SCHEMA, tempDir, testConfig } from "./helpers/service.ts";

const scratch = tempDir("boot");
const flags = serveFlags;
const output = captureCliOutput();

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A data directory initialised with `serve admin init`, with one dataset so the audit log has entries. */
async function initialised(name: string): Promise<string> {
  const dataDir = path.join(scratch, name);
  expect(await serveCommand.run(["admin", "init", "--dev", ...flags(dataDir)])).toBe(0);
  const schemaFile = path.join(scratch, `${name}-schema.json`);
  const dataFile = path.join(scratch, `${name}-data.csv`);
  await import("node:fs/promises").then(async (fs) => {
    await fs.writeFile(schemaFile, JSON.stringify(SERVICE_SCHEMA));
    await fs.writeFile(dataFile, "userId,country,edits,bot\n1,FR,10,false\n2,DE,20,true\n");
  });
  const added = [
    "admin",
    "dataset",
    "add",
    "--dev",
    "--id",
    "ds-a",
    "--schema",
    schemaFile,
    "--data",
    dataFile,
  ];
  expect(await serveCommand.run([...added, ...flags(dataDir)])).toBe(0);
  output.clear();
  return dataDir;
}

/** Runs `zktally serve` as a process; resolves with its exit code and stderr when it refuses to start. */
async function serveRefuses(dataDir: string): Promise<string> {
  const error = await spawnServe(flags(dataDir)).then(
    async (server) => {
      server.child.kill("SIGTERM");
      await server.exited;
      throw new Error("serve started");
    },
    (refusal: Error) => refusal,
  );
  return error.message;
}

describe("identities come only from init", () => {
  it("serve and admin commands refuse a data directory that was never initialised, and create nothing", async () => {
    const typo = path.join(scratch, "not-the-data-dir");
    const code = await serveCommand.run(["admin", "dataset", "list", "--dev", ...flags(typo)]);
    expect(code).toBe(2);
    expect(output.text()).toMatch(/not initialised.*zktally serve admin init/s);
    expect(existsSync(typo)).toBe(false);
    expect(await serveRefuses(typo)).toMatch(/not initialised/);
    expect(existsSync(typo)).toBe(false);
  });

  it("dataset add in a mistyped data directory is a clear error and nothing is created", async () => {
    const typo = path.join(scratch, "data-dri");
    const schemaFile = path.join(scratch, "typo-schema.json");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(schemaFile, JSON.stringify(SERVICE_SCHEMA));
    writeFileSync(path.join(scratch, "typo.csv"), "userId,country,edits,bot\n1,FR,10,false\n");
    const args = ["--id", "ds-a", "--schema", schemaFile, "--data", path.join(scratch, "typo.csv")];
    const code = await serveCommand.run(["admin", "dataset", "add", "--dev", ...args, ...flags(typo)]);
    expect(code).toBe(2);
    expect(output.text()).toContain(typo);
    expect(output.text()).toMatch(/zktally serve admin init/);
    expect(existsSync(typo)).toBe(false);
  });

  it("init is idempotent: a second init keeps the same identities", async () => {
    const dataDir = path.join(scratch, "twice");
    expect(await serveCommand.run(["admin", "init", "--dev", ...flags(dataDir)])).toBe(0);
    const first = JSON.parse(output.text());
    output.clear();
    expect(await serveCommand.run(["admin", "init", "--dev", ...flags(dataDir)])).toBe(0);
    expect(JSON.parse(output.text())).toEqual(first);
  });
});

describe("boot integrity checks", () => {
  it("a corrupted database file: serve refuses to start", async () => {
    const dataDir = await initialised("corrupt");
    const file = databaseFileOf(testConfig(dataDir));
    const size = readFileSync(file).length;
    expect(size).toBeGreaterThan(8192);
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096); // page 2 onwards: b-tree pages
    writeSync(fd, Buffer.alloc(2048, 0x5a), 0, 2048, size - 2048);
    const { closeSync } = await import("node:fs");
    closeSync(fd);
    const refusal = await serveRefuses(dataDir);
    expect(refusal).toMatch(/database .* (is corrupt|fails its integrity check)/);
    expect(refusal).not.toMatch(/"url"/);
  });

  it("an edited audit entry: serve refuses to start (no head is signed over it)", async () => {
    const dataDir = await initialised("edited");
    const file = databaseFileOf(testConfig(dataDir));
    const db = new Database(file);
    const heads = db.prepare("SELECT COUNT(*) FROM audit_heads").pluck().get();
    db.exec("DROP TRIGGER IF EXISTS audit_entries_no_update");
    const row = db.prepare("SELECT idx, entry FROM audit_entries ORDER BY idx LIMIT 1").get() as {
      idx: number;
      entry: string;
    };
    db.prepare("UPDATE audit_entries SET entry = ? WHERE idx = ?").run(
      row.entry.replace('"accepted"', '"refused"'),
      row.idx,
    );
    db.close();
    const refusal = await serveRefuses(dataDir);
    expect(refusal).toMatch(/audit log .*fails verification/);
    const after = new Database(file, { readonly: true });
    expect(after.prepare("SELECT COUNT(*) FROM audit_heads").pluck().get()).toBe(heads);
    after.close();
  });

  it("a lost operator key row: serve refuses to start and no new operator key is created", async () => {
    const dataDir = await initialised("lost-key");
    const file = databaseFileOf(testConfig(dataDir));
    const db = new Database(file);
    db.prepare("DELETE FROM service_keys WHERE name = 'operator'").run();
    db.close();
    expect(await serveRefuses(dataDir)).toMatch(/service key operator is missing/);
    const code = await serveCommand.run(["admin", "dataset", "list", "--dev", ...flags(dataDir)]);
    expect(code).toBe(1);
    expect(output.text()).toMatch(/service key operator is missing/);
    // init does not paper over it either: keys exist, so a missing one is loss, not a fresh start.
    output.clear();
    expect(await serveCommand.run(["admin", "init", "--dev", ...flags(dataDir)])).toBe(1);
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT COUNT(*) FROM service_keys WHERE name = 'operator'").pluck().get()).toBe(0);
    check.close();
  });

  it("initService then openService on a healthy directory works (the path tests use)", async () => {
    const dataDir = path.join(scratch, "healthy");
    const opened = await initService(testConfig(dataDir), { logDestination: new LogCapture() });
    expect(opened.ctx.operatorKey).toMatch(/^[0-9a-f]{64}$/);
    opened.close();
  });
});
