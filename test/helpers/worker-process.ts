/**
 * @module test/helpers/worker-process
 *
 * Starts the real `zktally worker` CLI as a child process and resolves once it logs "worker ready"; keeps
 * every JSON log line (stderr) so tests can see which chunks it started and proved, and can `kill -9` it.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface WorkerLine {
  readonly msg: string;
  readonly chunkJobId?: string;
  readonly chunk?: number;
  readonly first?: boolean;
  readonly [field: string]: unknown;
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly lines: WorkerLine[];
  readonly exited: Promise<number | null>;
  /** Resolves with the first line (already seen or future) that `match` accepts. */
  waitFor(match: (line: WorkerLine) => boolean, timeoutMs?: number): Promise<WorkerLine>;
}

export function spawnWorker(flags: readonly string[], startTimeoutMs = 30_000): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "worker", ...flags], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: WorkerLine[] = [];
  const listeners = new Set<(line: WorkerLine) => void>();
  let raw = "";
  let partial = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    raw += chunk;
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    raw += chunk;
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    for (const text of parts) {
      let line: WorkerLine;
      try {
        line = JSON.parse(text) as WorkerLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const listener of [...listeners]) listener(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const waitFor = (match: (line: WorkerLine) => boolean, timeoutMs = 60_000) =>
    new Promise<WorkerLine>((resolve, reject) => {
      const seen = lines.find(match);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`worker ${child.pid}: no matching log line; output:\n${raw.slice(-4000)}`));
      }, timeoutMs);
      const listener = (line: WorkerLine) => {
        if (!match(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
    });
  const worker: WorkerProcess = { child, lines, exited, waitFor };
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}: ${raw}`)));
    waitFor((line) => line.msg === "worker ready", startTimeoutMs).then(
      () => resolve(worker),
      (error) => {
        // A worker that never got ready must not outlive the test: SIGTERM lets it stop its prover
        // processes; SIGKILL if it has not exited 5 s later.
        child.kill("SIGTERM");
        const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
        void exited.then(() => clearTimeout(force));
        reject(error);
      },
    );
  });
}
