/**
 * @module prover/native-client
 *
 * Client of the native Groth16 prover executable (native/prover, built by `npm install` into
 * native/build/zktally-prover): starts `zktally-prover serve` as a child process, loads keys into it and
 * sends witnesses over its stdin, one request at a time (each proof already uses every core). Plain
 * JavaScript so that both the TypeScript backend (native-backend.ts) and the plain-JS service prover
 * process (prover-worker.mjs) use it under tsx, vitest and node alike.
 *
 * If the child exits (crash, out of memory, killed), the request in flight and all queued ones are
 * rejected and the next request starts a fresh child; keys loaded into the old child must be loaded again
 * (`loaded` is cleared, callers check it).
 *
 * Security caveats: the witness (private records and salts) crosses to the child over a pipe only, never a
 * file. The child's error messages name files and indices, never witness values. `load` returns the
 * SHA-256 of the exact bytes the child holds: the caller must compare it with the key's pin.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { fileURLToPath } from "node:url";

const DEFAULT_BINARY = fileURLToPath(new URL("../../native/build/zktally-prover", import.meta.url));

/** Path of the prover executable: `ZKTALLY_NATIVE_PROVER` when set, else the install-time build. */
export function nativeProverPath() {
  const fromEnv = process.env.ZKTALLY_NATIVE_PROVER;
  return fromEnv && fromEnv !== "" ? fromEnv : DEFAULT_BINARY;
}

/**
 * Whether the executable exists and may be run: `{available: true, path}` or `{available: false, path,
 * reason}` (the reason is one line, for the fallback message).
 */
export function nativeProverStatus(path = nativeProverPath()) {
  try {
    accessSync(path, constants.X_OK);
    return { available: true, path };
  } catch {
    return { available: false, path, reason: `native prover not built (${path} missing; run npm install)` };
  }
}

export class NativeProverError extends Error {
  name = "NativeProverError";
}

/** One long-lived `zktally-prover serve` child. */
export class NativeProverProcess {
  /** @param {{path?: string, nice?: number, threads?: number}} [options] */
  constructor(options = {}) {
    this.path = options.path ?? nativeProverPath();
    this.nice = options.nice ?? 0;
    this.threads = options.threads;
    this.child = undefined;
    /** Key names loaded into the current child. */
    this.loaded = new Set();
    this.queue = Promise.resolve();
    this.waiting = undefined;
    this.buffer = "";
    this.closed = false;
    this.started = 0;
  }

  /** Process id of the current child (undefined before the first request or after a crash). */
  get pid() {
    return this.child?.pid;
  }

  /** Loads (or reloads) a key from `zkeyPath` under `name`; resolves with the child's header info. */
  load(name, zkeyPath) {
    return this.request(`load ${name} ${zkeyPath}\n`, undefined).then((info) => {
      this.loaded.add(name);
      return info;
    });
  }

  /** Loads key bytes the caller already holds (and pin-checked) under `name`. */
  loadBytes(name, zkey) {
    return this.request(`loadbytes ${name} ${zkey.byteLength}\n`, zkey).then((info) => {
      this.loaded.add(name);
      return info;
    });
  }

  unload(name) {
    this.loaded.delete(name);
    return this.request(`unload ${name}\n`, undefined);
  }

  /** Proves `wtns` (snarkjs .wtns bytes) with the key `name`. */
  prove(name, wtns) {
    return this.request(`prove ${name} ${wtns.byteLength}\n`, wtns);
  }

  /** Kills the child; pending requests reject. */
  async close() {
    this.closed = true;
    const child = this.child;
    this.child = undefined;
    this.fail(new NativeProverError("native prover closed"));
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
  }

  request(header, body) {
    const run = () => this.send(header, body);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  send(header, body) {
    if (this.closed) return Promise.reject(new NativeProverError("native prover closed"));
    const child = this.current();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      child.stdin.write(header);
      if (body) child.stdin.write(body);
    }).then((reply) => {
      if (reply.ok !== true) throw new NativeProverError(String(reply.error ?? "native prover failed"));
      return reply;
    });
  }

  current() {
    if (this.child) return this.child;
    const env = { ...process.env };
    if (this.threads) env.ZKTALLY_PROVER_THREADS = String(this.threads);
    const child = spawn(this.path, ["serve"], { stdio: ["pipe", "pipe", "inherit"], env });
    this.started++;
    this.loaded = new Set();
    this.buffer = "";
    if (this.nice > 0 && child.pid) {
      import("node:os").then(({ setPriority }) => {
        try {
          setPriority(child.pid, Math.min(this.nice, 19));
        } catch {
          // Not permitted: prove at normal priority.
        }
      });
    }
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => this.onData(chunk));
    child.stdin.on("error", () => undefined); // EPIPE after a crash: reported by the exit handler
    const onDeath = (why) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.loaded = new Set();
      this.fail(new NativeProverError(`native prover stopped (${why})`));
    };
    child.on("error", (err) => onDeath(err.code ?? err.message));
    child.on("exit", (code, signal) => onDeath(signal ? `signal ${signal}` : `exit code ${code}`));
    this.child = child;
    return child;
  }

  onData(chunk) {
    this.buffer += chunk;
    let nl = this.buffer.indexOf("\n");
    while (nl >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting) {
        try {
          waiting.resolve(JSON.parse(line));
        } catch {
          waiting.reject(new NativeProverError("native prover sent a malformed reply"));
        }
      }
      nl = this.buffer.indexOf("\n");
    }
  }

  fail(error) {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }
}
