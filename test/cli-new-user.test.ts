/**
 * What a new user hit (issue 14, point 8), each a test: schema and query errors in words (not zod's),
 * a date in a uint column gets a hint and the error names the file, enum values NFC-normalised in schema,
 * data and queries, a missing key says which circuit and how to make its keys, and `kill -TERM` of
 * `npm run zktally -- serve` stops the server (npm's shell does not forward signals: the script execs,
 * and the server also stops when its parent goes).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/run.ts";
import { loadDataset } from "../src/dataset/load.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { canonicalQuery } from "../src/query/canonical.ts";
import { parseQuery } from "../src/query/model.ts";
import { pinnedEntry } from "../src/setup/keys-manifest.ts";
import { REPO_ROOT } from "../src/setup/paths.ts";
import { captureCliOutput, serveFlags } from "./helpers/cli-output.ts";
import { TEST_CIRCUIT, tempDir } from "./helpers/service.ts";

const dir = mkdtempSync(path.join(tmpdir(), "zktally-new-user-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

captureCliOutput();

const NFC = "Côte d’Ivoire";
const NFD = NFC.normalize("NFD");
const schema = parseSchema({
  fields: [
    { name: "country", type: "enum", values: [NFC, "FR"] },
    { name: "monthly_edits", type: "uint", bits: 16 },
  ],
});

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected an error");
}

async function rejection(promise: Promise<unknown>): Promise<Error & { hint?: string }> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error & { hint?: string },
  );
}

describe("what a new user hit", () => {
  it("schema and query errors are in words", () => {
    expect(messageOf(() => parseSchema({ fields: [{ name: "x", type: "int" }] }))).toBe(
      'schema field "x" (fields[0].type): type must be one of uint, enum, bool, date, string-key',
    );
    expect(messageOf(() => parseSchema({ fields: [{ name: "x", type: "uint" }] }))).toContain(
      "bits is required",
    );
    expect(
      messageOf(() =>
        parseQuery(
          { predicate: [{ field: "country", op: "equals", value: "FR" }], aggregate: { kind: "count" } },
          schema,
        ),
      ),
    ).toBe("predicate[0].op: op must be one of eq, neq, lt, lte, gt, gte, between, in");
  });

  it("a date in a uint column: the file, line and column, and a hint", async () => {
    const file = path.join(dir, "mine.csv");
    writeFileSync(file, `country,monthly_edits\nFR,12\nFR,2023-12-25\n`);
    const error = await rejection(loadDataset(file, schema));
    expect(error.message).toMatch(/^mine\.csv:3: column "monthly_edits": malformed number "2023-12-25"/);
    expect(error.message).toContain("looks like a date (YYYY-MM-DD)");
  });

  it("enum values are NFC-normalised in the schema, the data and queries", async () => {
    expect(parseSchema({ fields: [{ name: "c", type: "enum", values: [NFD] }] }).fields[0]).toEqual({
      name: "c",
      type: "enum",
      values: [NFC],
    });
    const file = path.join(dir, "nfd.csv");
    writeFileSync(file, `country,monthly_edits\n${NFD},1\n${NFC},2\n`);
    expect((await loadDataset(file, schema)).records.map((record) => record[0])).toEqual([0n, 0n]);
    const query = canonicalQuery(
      { predicate: [{ field: "country", op: "eq", value: NFD }], aggregate: { kind: "count" } },
      schema,
    );
    expect(query.predicate[0]?.value).toBe(NFC);
  });

  it("a missing key names the circuit and says how to make its keys", async () => {
    const error = await rejection(pinnedEntry(dir, TEST_CIRCUIT));
    expect(error.message).toBe(
      `no keys for circuit ${TEST_CIRCUIT} in ${dir} (no ${path.join(dir, "manifest.json")})`,
    );
    expect(error.message).not.toMatch(/got none/);
    expect(error.hint).toContain(`zktally setup --ptau FILE --circuit ${TEST_CIRCUIT}`);
  });

  it("kill -TERM of `npm run zktally -- serve`, or of the shell npx runs it in, stops the server", async () => {
    const dataDir = tempDir("sigterm");
    const flags = serveFlags(dataDir);
    const spawned = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
      spawn(command, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], env });
    expect(await runCli(["serve", "admin", "init", "--dev", ...flags])).toBe(0);
    const serve = ["serve", "--dev", "--host", "127.0.0.1", "--port", "0", ...flags];
    // npm run: the script execs tsx, which passes the signal on.
    await stopsOnTerm(spawned("npm", ["run", "-s", "zktally", "--", ...serve]));
    // npx runs the bin in `sh -c`, which exits on the signal without passing it on: the server, reparented,
    // stops by itself (cli/stop-signal.ts). `; exit` keeps sh from exec'ing node.
    const command = `node --import tsx src/cli/main.ts ${serve.join(" ")}; exit $?`;
    await stopsOnTerm(spawned("sh", ["-c", command], { ...process.env, npm_command: "exec" }));
    rmSync(dataDir, { recursive: true, force: true });
  }, 90_000);
});

/** Waits for the server's URL, sends SIGTERM to `parent` and expects the server to log its stop and go. */
async function stopsOnTerm(parent: ReturnType<typeof spawn>): Promise<void> {
  let log = "";
  const url = await new Promise<string>((resolve, reject) => {
    parent.stdout?.on("data", (chunk: Buffer) => {
      log += chunk;
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log);
      if (match) resolve(match[1] as string);
    });
    parent.once("exit", (code) => reject(new Error(`serve exited ${code}: ${log}`)));
  });
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  parent.kill("SIGTERM");
  // The server (the parent's child or grandchild) logs its shutdown and stops answering.
  for (let i = 0; i < 100 && !log.includes('"msg":"stopped"'); i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(log).toContain('"msg":"stopped"');
  await expect(fetch(`${url}/v1/circuits`)).rejects.toThrow();
}
