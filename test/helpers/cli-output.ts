/**
 * @module test/helpers/cli-output
 *
 * For tests that run CLI commands in process: captures what they write to stdout and stderr (installed
 * before and removed after each test), the flags that point `zktally serve` at the test circuit, and a
 * runner of the whole command line in process.
 */
import { afterEach, beforeEach, vi } from "vitest";
import { runCli } from "../../src/cli/run.ts";
import { TEST_KEYS_DIR } from "./keys.ts";
import { TEST_CIRCUIT } from "./service.ts";

/** `--data-dir DIR --keys-dir ... --circuit ... --scrypt-log-n 12`. */
export function serveFlags(dataDir: string): string[] {
  return [
    "--data-dir",
    dataDir,
    "--keys-dir",
    TEST_KEYS_DIR,
    "--circuit",
    TEST_CIRCUIT,
    "--scrypt-log-n",
    "12",
  ];
}

export interface CapturedOutput {
  /** Everything written since the last `clear`. */
  text(): string;
  clear(): void;
}

/** Registers beforeEach/afterEach hooks that capture stdout and stderr writes. */
export function captureCliOutput(): CapturedOutput {
  let chunks: string[] = [];
  beforeEach(() => {
    chunks = [];
    const capture = (chunk: unknown) => {
      chunks.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, "write").mockImplementation(capture);
    vi.spyOn(process.stderr, "write").mockImplementation(capture);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return {
    text: () => chunks.join(""),
    clear: () => {
      chunks = [];
    },
  };
}

/** Runs `zktally ...argv` in process (cli/run.ts) and returns its exit code and everything it printed. */
export function cliRunner(captured: CapturedOutput) {
  return async (...argv: string[]): Promise<{ code: number; text: string }> => {
    captured.clear();
    const code = await runCli(argv);
    return { code, text: captured.text() };
  };
}
