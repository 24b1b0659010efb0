/**
 * @module cli/commands/worker
 *
 * `zktally worker --redis URL --keys DIR [--key-file F] [--provers N] [--prover native|snarkjs] [--prefix P]
 * [--lock-ms N]` joins a
 * service's distributed proving (distributed/worker.ts) from any machine that reaches its Redis: it proves
 * chunk jobs with `--provers` prover processes (keys loaded once each, pin-checked against the keys manifest
 * of `--keys`) until SIGTERM or SIGINT, then finishes the running chunks and exits 0. Log lines (JSON) go to
 * stderr. Exit code 2: bad usage, a key file that does not load, Redis not answering.
 *
 * Security caveats: the key file (`--key-file`, default `<ZKTALLY_DATA_DIR>/worker-keyring.json`, the file
 * the service created) opens every witness input on the queue; keep it mode 0600 and give it only to
 * machines trusted with the data. The Redis URL may hold a password and is never printed.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { DATA_DIR, KEYS_DIR } from "../../config/defaults.ts";
import { DEFAULT_PREFIX } from "../../distributed/protocol.ts";
import { assertRedisAnswers, connectRedis } from "../../distributed/redis.ts";
import { ChunkWorker } from "../../distributed/worker.ts";
import { ProverPool } from "../../prover/pool.ts";
import { resolveProverChoice } from "../../prover/prover-choice.ts";
import { WorkerProverBackend } from "../../prover/worker-backend.ts";
import { createLogger } from "../../service/logger.ts";
import { KeyFileError, KeyRing } from "../../storage/keyring.ts";
import { type Command, UsageError } from "../command.ts";
import { untilStopSignal } from "../stop-signal.ts";

const options = {
  redis: { type: "string" },
  keys: { type: "string" },
  "key-file": { type: "string" },
  "build-dir": { type: "string" },
  provers: { type: "string", default: "1" },
  prefix: { type: "string", default: DEFAULT_PREFIX },
  "lock-ms": { type: "string", default: "30000" },
  nice: { type: "string", default: "0" },
  prover: { type: "string" },
  "log-level": { type: "string", default: "info" },
} as const;

function positiveInt(value: string, flag: string, max: number): number {
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) > max) {
    throw new UsageError(`--${flag} must be an integer in 0..${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

async function runWorker(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
  const url = values.redis ?? process.env.ZKTALLY_REDIS;
  if (!url) throw new UsageError("--redis URL is required (or ZKTALLY_REDIS)");
  const provers = positiveInt(values.provers, "provers", 64);
  if (provers < 1) throw new UsageError("--provers must be at least 1");
  const lockMs = positiveInt(values["lock-ms"], "lock-ms", 3_600_000);
  if (lockMs < 1000) throw new UsageError("--lock-ms must be at least 1000");
  const nice = positiveInt(values.nice, "nice", 19);
  const keysDir = path.resolve(values.keys ?? KEYS_DIR);
  const keyFile = path.resolve(
    values["key-file"] ?? process.env.ZKTALLY_WORKER_KEY_FILE ?? path.join(DATA_DIR, "worker-keyring.json"),
  );
  let keyRing: KeyRing;
  try {
    keyRing = await KeyRing.load(keyFile);
  } catch (error) {
    if (error instanceof KeyFileError) throw new UsageError(`--key-file: ${error.message}`);
    throw error;
  }
  const logger = createLogger({
    level: values["log-level"],
    destination: pino.destination({ dest: 2, sync: true }),
  });
  const redis = connectRedis(url);
  try {
    await assertRedisAnswers(redis, url);
  } catch (error) {
    redis.disconnect();
    throw new UsageError((error as Error).message);
  }
  let engine: ReturnType<typeof resolveProverChoice>;
  try {
    engine = resolveProverChoice(values.prover ?? process.env.ZKTALLY_PROVER, (line) =>
      logger.warn({}, line),
    );
  } catch (error) {
    redis.disconnect();
    throw new UsageError(`--prover: ${(error as Error).message}`);
  }
  const pool = new ProverPool({
    size: provers,
    create: () => new WorkerProverBackend({ keysDir, buildDir: values["build-dir"], nice, engine }),
  });
  const worker = new ChunkWorker({
    redis,
    prefix: values.prefix,
    keyRing,
    backend: pool,
    concurrency: provers,
    lockMs,
    logger,
  });
  try {
    await worker.start();
    logger.info({ worker: worker.id, prefix: worker.prefix, provers, engine, keysDir }, "worker ready");
    await untilStopSignal();
    logger.info({ worker: worker.id, ...worker.stats }, "worker stopping");
    await worker.close();
    return 0;
  } finally {
    await pool.close();
    await redis.quit().catch(() => undefined);
  }
}

export const workerCommand: Command = {
  name: "worker",
  usage: [
    "worker --redis URL --keys DIR [--key-file F] [--provers N] [--prover native|snarkjs] [--prefix P] [--lock-ms N]",
    "                                     prove chunk jobs of a service started with --redis (any machine)",
  ],
  run: runWorker,
};
