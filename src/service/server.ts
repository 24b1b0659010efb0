/**
 * @module service/server
 *
 * Boot and shutdown of `zktally serve`. `initService(config)` (`zktally serve admin init`) is the only place
 * that creates state: the data directory, the KeyRing key file, the SQLite database and the operator, token
 * and audit keys. `openService(config)` opens and CHECKS it, creating nothing: the directory, key file and
 * database must exist (else `not_initialised`: a mistyped --data-dir is an error, not a fresh service), the
 * database must pass SQLite's quick_check, every service key must be present (a lost operator key is never
 * silently replaced), the audit log must replay to its signed heads (no head is signed over an edited
 * entry), and the served circuit's verification key must match its pin.
 * `startServer(config)` adds the HTTP(S) listener and the job runner and returns a handle whose `close()`
 * shuts down gracefully: stop accepting connections, let in-flight requests finish, drain or re-queue the
 * running proof, stop the prover process, close the database.
 *
 * Security caveats: TLS, when configured, is TLS 1.3 only. Without TLS the service should listen on loopback
 * behind a TLS-terminating proxy. Node's own request timeouts are set (whole request, headers, keep-alive) so
 * slow clients cannot hold connections open; the per-handler deadline is in http.ts.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { DestinationStream } from "pino";
import { AuditLog } from "../audit/log.ts";
import { AuditIntegrityError } from "../audit/types.ts";
import { shapeFromId } from "../circuits/shape.ts";
import { getPoseidon } from "../dataset/commitment.ts";
import { operatorKeyOf } from "../dataset/manifest-sign.ts";
import { RedisChunkProver } from "../distributed/coordinator.ts";
import { assertRedisAnswers, connectRedis } from "../distributed/redis.ts";
import type { ProverBackend } from "../prover/backend.ts";
import { createProverBackend } from "../prover/backends.ts";
import type { ChunkProver } from "../prover/chunks.ts";
import { ProverPool } from "../prover/pool.ts";
import { proverBackendName, resolveProverChoice } from "../prover/prover-choice.ts";
import { loadPinnedVkey, pinnedEntry } from "../setup/keys-manifest.ts";
import { vkeyHash } from "../setup/phase2.ts";
import { KeyFileError, KeyRing } from "../storage/keyring.ts";
import type { Progress } from "../util/progress.ts";
import { createApp } from "./app.ts";
import { ServiceAudit, verifyStoredLog } from "./audit.ts";
import {
  chainCircuitIds,
  chainCircuitList,
  ensureChainCircuits,
  pinnedChainCircuits,
  pinnedDpChainCircuits,
  pinnedPassCircuits,
  servedPassCircuitIds,
} from "./chunk-circuits.ts";
import {
  ConfigError,
  chunkStoreRootOf,
  databaseFileOf,
  keyFileOf,
  type ServiceConfig,
  workerKeyFileOf,
} from "./config.ts";
import type { ServedCircuit, ServiceContext } from "./context.ts";
import { DatasetStore } from "./datasets.ts";
import { type Db, notInitialised, openDatabase } from "./db.ts";
import { JobStore } from "./jobs.ts";
import { createLogger, type Logger } from "./logger.ts";
import { PartnerStore } from "./partners.ts";
import { FixedWindowLimiter } from "./rate-limit.ts";
import { ReleaseRunner } from "./release-runner.ts";
import { ReleaseStore } from "./releases.ts";
import { JobRunner } from "./runner.ts";
import type { EnvelopeCipher } from "./sealed.ts";
import {
  createServiceKeys,
  loadRetiredTokenKeys,
  loadServiceKeys,
  resealServiceKeys,
  type ServiceKeyName,
} from "./service-keys.ts";
import { TokenService } from "./tokens.ts";

export interface OpenOptions {
  /**
   * Replay the audit log against its signed heads before opening (default true). Only `serve admin audit
   * verify`, which runs the same check and reports where it fails, opens without it.
   */
  readonly verifyAuditLog?: boolean;
}

/** Test and embedding hooks; production passes none. */
export interface ServiceOverrides {
  /** Where log lines go (default stdout). */
  readonly logDestination?: DestinationStream;
  /** Prover backend (default: a pool of `jobs.provers` child-process snarkjs backends). */
  readonly backend?: ProverBackend;
  /** Chunk prover used instead of the local pool or the BullMQ coordinator (tests wrap one to poison it). */
  readonly prover?: ChunkProver;
  /** Clock in ms (default Date.now). */
  readonly now?: () => number;
  /** Keys to import at init only (e.g. an existing operator key); ignored once keys are stored. */
  readonly initialKeys?: Partial<Record<ServiceKeyName, Uint8Array>>;
  /** Progress of development chain-key builds at registration (`npm start` shows it; default silent). */
  readonly keyProgress?: Progress;
}

export interface OpenedService {
  readonly ctx: ServiceContext;
  readonly keyRing: KeyRing;
  /** Closes the database (and nothing else). */
  close(): void;
  /** Set by startServer: wakes its runner. */
  setWake(wake: () => void): void;
}

async function servedCircuit(config: ServiceConfig): Promise<ServedCircuit> {
  const shape = shapeFromId(config.circuit);
  const vkey = await loadPinnedVkey(config.keysDir, config.circuit);
  const { manifest, entry } = await pinnedEntry(config.keysDir, config.circuit);
  return {
    id: config.circuit,
    shape,
    vkey,
    vkeyHash: vkeyHash(vkey),
    nPublic: entry.nPublic,
    constraints: entry.constraints,
    insecure: manifest.insecure,
  };
}

/**
 * Creates the service state (`zktally serve admin init`, and tests): the data directory, the storage key
 * file, the database and the operator, token and audit keys, each only when missing; then opens it like
 * `openService`, so a second init is a no-op that prints the same identities. The only place identities
 * are created: boot and every other command refuse a directory without them.
 */
export async function initService(
  config: ServiceConfig,
  overrides: ServiceOverrides = {},
): Promise<OpenedService> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const keyRing = await KeyRing.loadOrCreate(keyFileOf(config));
  const db = openDatabase(databaseFileOf(config), config.dataDir, { create: true });
  try {
    createServiceKeys(db, keyRing, overrides.initialKeys, overrides.now);
  } finally {
    db.close();
  }
  return openService(config, overrides);
}

async function loadKeyRing(config: ServiceConfig): Promise<KeyRing> {
  try {
    return await KeyRing.load(keyFileOf(config));
  } catch (error) {
    if (error instanceof KeyFileError && error.errno === "ENOENT") {
      throw notInitialised(config.dataDir, `no key file ${keyFileOf(config)}`);
    }
    throw error;
  }
}

/** The stored audit log must replay to its signed heads before the service signs another one over it. */
function checkAuditLog(db: Db, log: AuditLog): void {
  const result = verifyStoredLog(db, log);
  if (result.ok) return;
  throw new AuditIntegrityError(
    `the audit log fails verification at entry ${result.index}: ${result.reason}`,
    {
      hint: "restore the database from a backup and compare it with partners' receipts (zktally serve admin audit verify)",
    },
  );
}

/** Opens the stores, keys and audit log (no listener, no runner), after checking them (see the header). */
export async function openService(
  config: ServiceConfig,
  overrides: ServiceOverrides = {},
  options: OpenOptions = {},
): Promise<OpenedService> {
  const now = overrides.now ?? Date.now;
  const logger = createLogger({ level: config.logLevel, destination: overrides.logDestination });
  if (!existsSync(config.dataDir)) throw notInitialised(config.dataDir, "it does not exist");
  const circuit = await servedCircuit(config);
  const keyRing = await loadKeyRing(config);
  const db = openDatabase(databaseFileOf(config), config.dataDir);
  try {
    const cipher: EnvelopeCipher = keyRing;
    const keys = loadServiceKeys(db, cipher);
    const log = new AuditLog(db, { secretKey: keys.audit }, { now });
    if (options.verifyAuditLog !== false) checkAuditLog(db, log);
    const audit = new ServiceAudit(log, db, logger, { refusalWindowMs: config.auditRefusalWindowMs, now });
    const tokens = await TokenService.create({
      secretKey: keys.token,
      issuer: config.issuer,
      audience: config.audience,
      ttlSeconds: config.tokenTtlSeconds,
      clockToleranceSeconds: config.clockToleranceSeconds,
      now,
      retired: loadRetiredTokenKeys(db, cipher, Math.floor(now() / 1000)),
    });
    const datasets = new DatasetStore({
      db,
      cipher,
      operatorSecretKey: keys.operator,
      shape: circuit.shape,
      circuitId: circuit.id,
      chunked: {
        root: chunkStoreRootOf(config),
        defaults: config.chunks,
        prepareCircuits: async (schema, layout) => {
          return chainCircuitList(
            await ensureChainCircuits(config, schema, layout, circuit.shape, overrides.keyProgress),
          );
        },
      },
      now,
      retainEpochs: config.retainEpochs,
    });
    let wake = () => {};
    const ctx: ServiceContext = {
      config,
      db,
      logger,
      audit,
      partners: new PartnerStore(db, config.scryptLogN, now),
      datasets,
      jobs: new JobStore(db, audit, { ...config.jobs }, now),
      releases: new ReleaseStore(db, audit, now),
      tokens,
      circuit,
      operatorKey: operatorKeyOf(keys.operator),
      limiters: {
        api: new FixedWindowLimiter(config.rateLimit.windowMs, config.rateLimit.max, now),
        token: new FixedWindowLimiter(config.tokenRateLimit.windowMs, config.tokenRateLimit.max, now),
      },
      rotateStorageKey: (within) => rotateStorageKey(db, keyRing, datasets, within),
      wake: () => wake(),
      now,
    };
    return {
      ctx,
      keyRing,
      close: () => db.close(),
      setWake: (fn) => {
        wake = fn;
      },
    };
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Adds a storage key version (persisted in the key file first), then re-encrypts every envelope (datasets,
 * service keys) under it in one transaction together with `within` (the caller's audit entry). Old key
 * versions stay in the key file, so a crash between the two steps leaves everything readable.
 */
async function rotateStorageKey(
  db: Db,
  keyRing: KeyRing,
  datasets: DatasetStore,
  within: (reencrypted: number) => void,
): Promise<number> {
  await keyRing.rotate();
  const reseal = (text: string, aad: { datasetId: string; epoch: number; purpose: string }) =>
    JSON.stringify(keyRing.reencrypt(JSON.parse(text), aad));
  return db.transaction(() => {
    const count = datasets.reencryptAll(reseal) + resealServiceKeys(db, reseal);
    within(count);
    return count;
  })();
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly ctx: ServiceContext;
  readonly runner: JobRunner | undefined;
  /** The local prover pool (undefined when this instance proves nothing). */
  readonly pool: ProverPool | undefined;
  /** The pool's first backend (with one prover process: the only one). */
  readonly backend: ProverBackend | undefined;
  readonly server: http.Server;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Fails closed on development keys: a proof under keys the keys manifest marks insecure can be forged by
 * whoever holds the setup's build folder, so only `mode: development` (`--dev`) serves them.
 */
function assertServableKeys(config: ServiceConfig, circuit: ServedCircuit): void {
  if (!circuit.insecure || config.mode === "development") return;
  throw new ConfigError(
    "mode",
    `the keys of circuit ${circuit.id} in ${config.keysDir} are INSECURE development keys (keys manifest insecure: true): anyone holding their setup's build folder can forge proofs. Use production keys (zktally setup --ptau FILE, zktally ceremony) or start in development mode (--dev, ZKTALLY_MODE=development) for a demo or test`,
  );
}

/** Boots the service and listens on `config.host:config.port` (port 0 picks a free port). */
export async function startServer(
  config: ServiceConfig,
  overrides: ServiceOverrides = {},
): Promise<RunningServer> {
  const opened = await openService(config, overrides);
  const { ctx } = opened;
  let pool: ProverPool | undefined;
  let prover: ChunkProver | undefined;
  let runner: JobRunner | undefined;
  let releaseRunner: ReleaseRunner | undefined;
  try {
    assertServableKeys(config, ctx.circuit);
    if (config.jobs.concurrency > 0) {
      if (overrides.prover) {
        prover = overrides.prover;
      } else if (config.redis) {
        prover = await distributedProver(config);
      } else {
        pool = localProverPool(config, overrides, (line) => ctx.logger.warn(line));
        await pool.load(ctx.circuit.id);
        prover = pool;
      }
      runner = new JobRunner({
        jobs: ctx.jobs,
        datasets: ctx.datasets,
        prover,
        shape: ctx.circuit.shape,
        circuitId: ctx.circuit.id,
        vkeyHash: ctx.circuit.vkeyHash,
        chainCircuits: (manifest) =>
          pinnedChainCircuits(config, chainCircuitIds(manifest.schema, manifest.layout, ctx.circuit.shape)),
        dpChainCircuits: (manifest) =>
          pinnedDpChainCircuits(
            config,
            chainCircuitIds(manifest.schema, manifest.layout, ctx.circuit.shape, config.noise),
          ),
        passCircuits: (manifest) =>
          pinnedPassCircuits(
            config,
            servedPassCircuitIds(config, manifest.schema, manifest.layout, ctx.circuit.shape),
          ),
        logger: ctx.logger,
        concurrency: config.jobs.concurrency,
        leaseMs: config.jobs.leaseMs,
        pollMs: config.jobs.pollMs,
        maxAttempts: config.jobs.maxAttempts,
        retryDelayMs: config.jobs.retryDelayMs,
        drainTimeoutMs: config.jobs.drainTimeoutMs,
      });
      const started = runner;
      const releases = config.release
        ? new ReleaseRunner({
            config,
            releases: ctx.releases,
            datasets: ctx.datasets,
            prover,
            logger: ctx.logger,
            now: ctx.now,
          })
        : undefined;
      releaseRunner = releases;
      opened.setWake(() => {
        started.wake();
        releases?.wake();
      });
    }
    // Build the Poseidon constants now: done lazily, the first job would stall the event loop for a moment.
    await getPoseidon();
    const server = await listen(config, createApp(ctx));
    runner?.start();
    releaseRunner?.start();
    const port = (server.address() as AddressInfo).port;
    const scheme = config.tls ? "https" : "http";
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    const url = `${scheme}://${host}:${port}`;
    ctx.logger.info(
      {
        url,
        mode: config.mode,
        circuit: ctx.circuit.id,
        workers: config.jobs.concurrency,
        prover: prover?.name,
        insecureKeys: ctx.circuit.insecure,
      },
      "listening",
    );
    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      ctx,
      runner,
      pool,
      backend: pool?.backends[0],
      server,
      close: () => {
        closing ??= shutdown(server, ctx.logger, runner, prover, opened, releaseRunner);
        return closing;
      },
    };
  } catch (error) {
    await (prover ?? pool)?.close();
    opened.close();
    throw error;
  }
}

/**
 * The BullMQ coordinator: chunks go to `zktally worker` processes; inputs are sealed with the workers' key
 * file (created on first use, mode 0600: copy it to the worker machines); results are verified against the
 * pinned keys of this service's keys directory.
 */
async function distributedProver(config: ServiceConfig): Promise<ChunkProver> {
  const settings = config.redis as NonNullable<ServiceConfig["redis"]>;
  const keyRing = await KeyRing.loadOrCreate(workerKeyFileOf(config));
  const redis = connectRedis(settings.url);
  try {
    await assertRedisAnswers(redis, settings.url);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return new RedisChunkProver({
    redis,
    ownsConnection: true,
    prefix: settings.prefix,
    keyRing,
    chunkAttempts: settings.chunkAttempts,
    verificationKey: (circuitId) => loadPinnedVkey(config.keysDir, circuitId),
  });
}

/**
 * `jobs.provers` prover processes, each loading the served circuit's keys once (or the override backend);
 * they prove with `jobs.prover` (native by default when built, else snarkjs with one `warn` line).
 */
function localProverPool(
  config: ServiceConfig,
  overrides: ServiceOverrides,
  warn: (line: string) => void,
): ProverPool {
  const { backend } = overrides;
  if (backend) return new ProverPool({ size: 1, create: () => backend });
  const engine = resolveProverChoice(config.jobs.prover, warn);
  return new ProverPool({
    size: config.jobs.provers,
    create: () =>
      createProverBackend(proverBackendName(engine, "child-process"), {
        keysDir: config.keysDir,
        buildDir: config.buildDir,
        nice: config.jobs.proverNice,
      }),
  });
}

function listen(config: ServiceConfig, app: http.RequestListener): Promise<http.Server> {
  const timeouts = {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: Math.min(config.requestTimeoutMs, 10_000),
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: Math.min(1_000, config.requestTimeoutMs),
  };
  const server = config.tls
    ? https.createServer(
        {
          ...timeouts,
          cert: readFileSync(config.tls.certPath),
          key: readFileSync(config.tls.keyPath),
          minVersion: "TLSv1.3",
        },
        app,
      )
    : http.createServer(timeouts, app);
  server.maxHeadersCount = 64;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

async function shutdown(
  server: http.Server,
  logger: Logger,
  runner: JobRunner | undefined,
  prover: ChunkProver | undefined,
  opened: OpenedService,
  releaseRunner?: ReleaseRunner,
): Promise<void> {
  logger.info("shutting down");
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const forced = setTimeout(() => server.closeAllConnections(), 5_000);
  await closed;
  clearTimeout(forced);
  await Promise.all([runner?.stop(), releaseRunner?.stop()]);
  await prover?.close();
  opened.close();
  logger.info("stopped");
}
