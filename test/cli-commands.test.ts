/**
 * Issue 14's acceptance "every CLI command has a test of its happy path and of one bad input with its exit
 * code and message", for the commands and subcommands no other test file covers that way (the rest are
 * listed in cli-operator, cli-program, cli-query, cli-setup, service-cli, verifier-cli and the tests of each
 * feature). All in process through the whole command line (cli/run.ts), on a fresh data directory and no
 * circuit build:
 * - `serve admin`: partner scopes, disable, enable, dataset list, audit head, job list / show, keys
 *   rotate-operator / revoke-operator; every subcommand that needs a flag names it when it is missing, and
 *   every one that opens state refuses a data directory that was never initialised (a typo), exit 2;
 * - `init --json` (one JSON line) and a bad `--max-enum`;
 * - policy, scope and configuration errors in words (not zod's wording);
 * - a bad input for each of ceremony init / contribute / beacon / verify / finalize (a missing transcript
 *   or ptau is exit 2 with what to pass, not an internal error), export, audit head / monitor, release,
 *   inspect, serve, setup, completion, partner policy, commit and worker, each with its exit code and message.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../src/cli/run.ts";
import { captureCliOutput, cliRunner, serveFlags } from "./helpers/cli-output.ts";
import { tempDir } from "./helpers/service.ts";

const dir = tempDir("cli-commands");
const flags = serveFlags(path.join(dir, "data"));
const typo = serveFlags(path.join(dir, "typo"));
const captured = captureCliOutput();
const cli = cliRunner(captured);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `zktally serve admin ...args` on the test data directory; the JSON it printed on success. */
async function admin(...args: string[]): Promise<{ code: number; text: string; json: () => unknown }> {
  const run = await cli("serve", "admin", ...args, ...flags);
  return { ...run, json: () => JSON.parse(run.text) };
}

beforeAll(async () => {
  // Before the capturing hooks run: silence the setup's output here.
  const quiet = (chunk: unknown) => chunk !== undefined;
  const spies = [vi.spyOn(process.stdout, "write"), vi.spyOn(process.stderr, "write")];
  for (const spy of spies) spy.mockImplementation(quiet);
  try {
    expect(await runCli(["serve", "admin", "init", "--dev", ...flags])).toBe(0);
    expect(await runCli(["partner", "add", "--id", "alice", "--scopes", "datasets:read", ...flags])).toBe(0);
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
});

describe("zktally serve admin, subcommand by subcommand", () => {
  it("partner scopes, disable and enable; an unknown scope or partner exits 2", async () => {
    const scoped = await admin(
      "partner",
      "scopes",
      "--id",
      "alice",
      "--scopes",
      "datasets:read,queries:submit",
    );
    expect(scoped.code, scoped.text).toBe(0);
    expect(scoped.json()).toMatchObject({ clientId: "alice", scopes: ["datasets:read", "queries:submit"] });
    const badScope = await admin("partner", "scopes", "--id", "alice", "--scopes", "root");
    expect(badScope.code).toBe(2);
    expect(badScope.text).toBe(
      "zktally serve: scopes.0: scopes must be one of datasets:read, queries:submit, queries:membership, audit:read, admin\n",
    );
    expect((await admin("partner", "disable", "--id", "alice")).json()).toMatchObject({ active: false });
    expect((await admin("partner", "enable", "--id", "alice")).json()).toMatchObject({ active: true });
    const unknown = await admin("partner", "enable", "--id", "mallory");
    expect(unknown).toMatchObject({ code: 2, text: "zktally serve: partner mallory not found\n" });
    const reset = await admin("budget", "reset", "--id", "mallory");
    expect(reset).toMatchObject({ code: 2, text: "zktally serve: partner mallory not found\n" });
  });

  it("dataset list, audit head and job list print the state; job show of an unknown job exits 2", async () => {
    const datasets = await admin("dataset", "list");
    expect(datasets.code).toBe(0);
    expect(datasets.json()).toMatchObject({
      operatorKey: expect.stringMatching(/^[0-9a-f]{64}$/),
      datasets: [],
    });
    const head = await admin("audit", "head");
    expect(head.code).toBe(0);
    expect(head.json()).toMatchObject({ treeHead: { treeSize: expect.any(Number) } });
    expect((head.json() as { treeHead: { treeSize: number } }).treeHead.treeSize).toBeGreaterThan(0);
    expect((await admin("job", "list")).json()).toEqual({ jobs: [] });
    expect(await admin("job", "show", "--id", "no-such-job")).toMatchObject({
      code: 2,
      text: "zktally serve: job not found\n",
    });
  });

  it("keys rotate-operator, then revoke-operator of the old key; a key it never had exits 2", async () => {
    const rotated = await admin("keys", "rotate-operator");
    expect(rotated.code, rotated.text).toBe(0);
    const { oldKey, newKey } = rotated.json() as { oldKey: string; newKey: string };
    expect(newKey).not.toBe(oldKey);
    const revoked = await admin("keys", "revoke-operator", "--key", oldKey);
    expect(revoked.code, revoked.text).toBe(0);
    expect(revoked.text).toContain(oldKey);
    const foreign = await admin("keys", "revoke-operator", "--key", "ab".repeat(32));
    expect(foreign.code).toBe(2);
    expect(foreign.text).toContain("is not one of this service's keys");
  });

  it("a subcommand without its required flag names the flag (exit 2, the serve usage)", async () => {
    const cases: [string[], string][] = [
      [["partner", "add", "--id", "bob"], "--scopes"],
      [["partner", "rotate-secret"], "--id"],
      [["partner", "policy", "--id", "alice"], "--policy"],
      [["partner", "scopes", "--id", "alice"], "--scopes"],
      [["partner", "disable"], "--id"],
      [["partner", "enable"], "--id"],
      [["budget", "reset"], "--id"],
      [["dataset", "add", "--id", "d", "--schema", "s.json"], "--data"],
      [["keys", "revoke-operator"], "--key"],
      [["backup"], "--out"],
      [["restore"], "--from"],
      [["job", "show"], "--id"],
    ];
    for (const [args, flag] of cases) {
      const { code, text } = await admin(...args);
      expect(code, args.join(" ")).toBe(2);
      expect(text, args.join(" ")).toContain(`zktally serve: ${flag} is required\nusage:\n`);
    }
  });

  it("every subcommand that opens the state refuses a data directory that was never initialised", async () => {
    const commands = [
      ["partner", "list"],
      ["dataset", "list"],
      ["keys", "rotate"],
      ["keys", "rotate-operator"],
      ["keys", "rotate-log"],
      ["audit", "verify"],
      ["audit", "head"],
      ["job", "list"],
    ];
    for (const args of commands) {
      const { code, text } = await cli("serve", "admin", ...args, ...typo);
      expect(code, args.join(" ")).toBe(2);
      expect(text, args.join(" ")).toContain(`data directory ${path.join(dir, "typo")} is not initialised`);
      expect(text, args.join(" ")).toContain("hint: check --data-dir");
    }
  });
});

describe("zktally init --json", () => {
  it("prints the proposal as one JSON line; --max-enum 0 is a usage error", async () => {
    const sample = path.join(dir, "editors.jsonl");
    writeFileSync(sample, '{"user":7,"wiki":"frwiki"}\n{"user":9,"wiki":"enwiki"}\n');
    const out = path.join(dir, "editors.config.json");
    const init = await cli("init", sample, "--out", out, "--id", "editors", "--key", "user", "--json");
    expect(init.code, init.text).toBe(0);
    expect(JSON.parse(init.text)).toMatchObject({
      config: out,
      datasetId: "editors",
      schema: {
        key: "user",
        fields: [
          { name: "user", type: "uint" },
          { name: "wiki", type: "enum" },
        ],
      },
    });
    const bad = await cli("init", sample, "--out", out, "--force", "--max-enum", "0");
    expect(bad.code).toBe(2);
    expect(bad.text).toContain("zktally init: --max-enum 0: expected a positive integer");
  });
});

describe("a bad input for each other command: its exit code and message", () => {
  const missing = path.join(dir, "missing");
  const transcript = `ceremony transcript ${path.join(missing, "ceremony.json")} does not exist`;
  const cases: [string[], number, string][] = [
    [["ceremony", "init", "--circuit", "x"], 2, 'not an aggregate circuit id: "x"'],
    [["ceremony", "contribute", "--dir", missing], 2, "zktally ceremony: --name is required"],
    [["ceremony", "contribute", "--dir", missing, "--name", "alice"], 2, transcript],
    [["ceremony", "contribute", "--dir", missing, "--name", "é"], 2, "--name must be 1..64 printable ASCII"],
    [["ceremony", "beacon", "--dir", missing], 2, "zktally ceremony: --hash is required"],
    [["ceremony", "beacon", "--dir", missing, "--hash", "xyz"], 2, "--hash must be 1..255 bytes of hex"],
    [["ceremony", "beacon", "--dir", missing, "--hash", "00"], 2, transcript],
    [["ceremony", "verify", "--dir", missing], 2, "zktally ceremony: --ptau is required"],
    [["ceremony", "verify", "--dir", missing, "--ptau", "p.ptau"], 2, transcript],
    [["ceremony", "finalize", "--dir", missing], 2, `${transcript}\n  hint: --dir must be the folder`],
    [["ceremony", "frobnicate"], 2, "expected one of init, contribute, beacon, verify, finalize"],
    [["export", "solidity"], 2, "zktally export: --circuit ID is required"],
    [["export", "frobnicate"], 2, "expected `export solidity` or `export calldata`"],
    [
      ["export", "solidity", "--circuit", "nope", "--keys", missing],
      3,
      `zktally export solidity: no keys for circuit nope in ${missing}`,
    ],
    [["audit", "head"], 2, "audit needs --db FILE"],
    [["audit", "head", "--db", path.join(missing, "zktally.db")], 2, "cannot open"],
    [["audit", "monitor"], 2, "audit monitor takes exactly one URL"],
    [["release", "--id", "x"], 2, "zktally release: release needs --schema FILE"],
    [["inspect"], 2, "zktally inspect: inspect takes exactly one bundle file, got 0"],
    [["inspect", path.join(missing, "b.json")], 3, "MALFORMED"],
    [
      ["serve", "--port", "99999", ...flags],
      2,
      "zktally serve: invalid configuration port: port must be at most 65535",
    ],
    [
      ["setup", "--ptau", path.join(missing, "p.ptau")],
      2,
      `ptau ${path.join(missing, "p.ptau")} does not exist`,
    ],
    [["setup"], 2, "zktally setup: --ptau FILE is required (or --dev"],
    [["completion"], 2, "zktally completion: missing required argument 'shell'"],
    [
      ["partner", "policy", "--id", "alice", "--policy", "{nope", ...flags],
      2,
      "--policy: not valid JSON (line 1 column 2",
    ],
    [
      ["partner", "policy", "--id", "alice", "--policy", '{"datasets":5}', ...flags],
      2,
      "policy.datasets: datasets: expected array",
    ],
    [
      ["partner", "policy", "--id", "alice", "--policy", '{"mode":"fuzzy"}', ...flags],
      2,
      "policy.mode: mode must be one of exact, dp",
    ],
    [
      ["partner", "policy", "--id", "alice", "--policy", '{"bogus":1}', ...flags],
      2,
      'zktally partner: policy: unknown property "bogus"',
    ],
    [
      ["commit", "--config", path.join(missing, "c.json")],
      2,
      `config file ${path.join(missing, "c.json")}: cannot read`,
    ],
    [
      [
        "worker",
        "--redis",
        "redis://127.0.0.1:1",
        "--keys",
        missing,
        "--key-file",
        path.join(missing, "k.json"),
      ],
      2,
      "does not exist",
    ],
  ];
  it.each(cases)("zktally %j exits %i", async (argv, code, message) => {
    const run = await cli(...argv);
    expect(run.code, run.text).toBe(code);
    expect(run.text).toContain(message);
    expect(run.text).not.toContain("internal error");
  });
});
