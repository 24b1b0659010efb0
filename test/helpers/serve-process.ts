/**
 * @module test/helpers/serve-process
 *
 * Starts the real `zktally serve` CLI as a child process on 127.0.0.1 (port 0) and resolves once it logs the
 * URL it listens on. Shared by the crash tests and the load benchmark, which both need a separate process
 * they can kill or measure.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

export interface SpawnServeOptions {
  /** Every complete stdout line (the pino JSON log), including those after startup. */
  readonly onLine?: (line: string) => void;
  /** "pipe" keeps stderr for the startup error message; "inherit" shows it live. Default "pipe". */
  readonly stderr?: "pipe" | "inherit";
  readonly startTimeoutMs?: number;
}

/**
 * Spawns `zktally serve --dev --host 127.0.0.1 --port 0 ...flags` (development mode: the test circuit's keys are
 * development keys); rejects if it exits or stays silent.
 */
export function spawnServe(flags: readonly string[], options: SpawnServeOptions = {}): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "serve", "--dev", "--host", "127.0.0.1", "--port", "0", ...flags],
    { stdio: ["ignore", "pipe", options.stderr ?? "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let output = "";
    let partial = "";
    let started = false;
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk;
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const match = started ? null : /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(line);
        if (match) {
          started = true;
          resolve({ child, url: match[1] as string, exited });
        }
        options.onLine?.(line);
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
    setTimeout(
      () => reject(new Error(`server did not start: ${output}`)),
      options.startTimeoutMs ?? 20_000,
    ).unref();
  });
}
