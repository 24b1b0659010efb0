/**
 * The `zktally` command tree on commander (src/cli/program.ts, run.ts), in process: `--version`, `--help`
 * with the exit codes, `--help` of every command and subcommand (exit 0, that command's text), `help CMD`,
 * usage errors that print only the usage of the command concerned (exit 2), an unknown command, and the
 * bash and zsh completion scripts (an unknown shell: exit 2).
 */
import { describe, expect, it } from "vitest";
import { captureCliOutput, cliRunner } from "./helpers/cli-output.ts";

const captured = captureCliOutput();

const cli = cliRunner(captured);

const COMMANDS = [
  "verify",
  "inspect",
  "setup",
  "ceremony",
  "export",
  "audit",
  "serve",
  "release",
  "erase",
  "worker",
  "init",
  "commit",
  "partner",
  "query",
  "completion",
];

describe("zktally (commander)", () => {
  it("--version and --help exit 0; the help lists every command and the exit codes", async () => {
    const version = await cli("--version");
    expect(version).toMatchObject({ code: 0 });
    expect(version.text).toMatch(/^zktally \d+\.\d+\.\d+\n$/);
    const help = await cli("--help");
    expect(help.code).toBe(0);
    for (const name of COMMANDS) expect(help.text).toMatch(new RegExp(`\\n  ${name} `));
    expect(help.text).toContain("Exit codes:");
    expect(help.text).toMatch(/3 +a malformed bundle/);
    expect((await cli()).code).toBe(2); // no command: the help on stderr, a usage error
  });

  it("--help of every command and subcommand exits 0 with that command's help", async () => {
    for (const name of [...COMMANDS, "partner add", "partner rotate", "partner policy"]) {
      const { code, text } = await cli(...name.split(" "), "--help");
      expect(code, name).toBe(0);
      expect(text, name).toMatch(new RegExp(`[Uu]sage:\\s+zktally ${name}\\b`));
    }
    const viaHelp = await cli("help", "verify");
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.text).toContain("--allow-insecure-keys");
  });

  it("a usage error prints only that command's usage and exits 2", async () => {
    const verify = await cli("verify");
    expect(verify.code).toBe(2);
    expect(verify.text).toContain("zktally verify: verify takes one or more bundle files, got none");
    expect(verify.text).toContain("(zktally verify --help for details)");
    expect(verify.text).not.toContain("zktally serve");
    const init = await cli("init", "--bogus");
    expect(init.code).toBe(2);
    expect(init.text).toContain("zktally init: unknown option '--bogus'");
    expect(init.text).toContain("usage: zktally init [options] <sample>");
    expect(init.text).not.toContain("commit");
    const partner = await cli("partner", "add", "--id", "p");
    expect(partner.code).toBe(2);
    expect(partner.text).toContain("zktally partner add: required option '--scopes <list>' not specified");
    const demo = await cli("demo", "--prover", "native");
    expect(demo.code).toBe(2);
    expect(demo.text).toBe(
      "zktally demo was removed: the end-to-end demo is npm start (it commits the sample, serves it and queries it); for your own data: zktally init FILE, zktally commit, then zktally query (README, Command line)\n",
    );
    const worker = await cli("worker", "--redis", "redis://127.0.0.1:1", "--provers", "0", "--keys", "keys");
    expect(worker.code).toBe(2);
    expect(worker.text).toContain("zktally worker: --provers must be at least 1");
    for (const argv of [["frobnicate"], ["frobnicate", "--help"], ["help", "frobnicate"]]) {
      const unknown = await cli(...argv);
      expect(unknown.code, argv.join(" ")).toBe(2);
      expect(unknown.text, argv.join(" ")).toContain("unknown command 'frobnicate'");
    }
  });

  it("completion bash|zsh prints a script naming the commands and their flags; another shell exits 2", async () => {
    const bash = await cli("completion", "bash");
    expect(bash.code).toBe(0);
    expect(bash.text).toContain("complete -o default -F _zktally zktally");
    expect(bash.text).toMatch(/verify\) words="[^"]*--keys[^"]*--allow-insecure-keys/);
    expect(bash.text).toMatch(/partner\) words="add rotate policy [^"]*--scopes/);
    expect(bash.text).toMatch(/audit\) words="verify head monitor/);
    const zsh = await cli("completion", "zsh");
    expect(zsh.code).toBe(0);
    expect(zsh.text).toContain("#compdef zktally");
    expect(zsh.text).toContain("'init:propose a schema");
    const fish = await cli("completion", "fish");
    expect(fish.code).toBe(2);
    expect(fish.text).toContain('unknown shell "fish": expected bash or zsh');
  });
});
