/**
 * @module test/helpers/redis
 *
 * The machine's Redis (127.0.0.1:6379) for the distributed-proving tests: whether it answers (in CI a missing
 * Redis fails the run instead of skipping), a unique key prefix per test run, removal of a prefix's keys,
 * and a dump of every key and value of every type (strings, hashes, lists, sets, sorted sets, streams) with
 * a search for secrets in decimal and hexadecimal form.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.ZKTALLY_TEST_REDIS ?? "redis://127.0.0.1:6379";

/** True when Redis answers; throws under CI=true when it does not (CI must run these tests). */
export async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch (error) {
    if (process.env.CI === "true") {
      throw new Error(`CI=true but Redis at ${REDIS_URL} does not answer (.ci/run starts it): ${error}`);
    }
    return false;
  } finally {
    probe.disconnect();
  }
}

export function uniquePrefix(): string {
  return `zktally-test-${process.pid}-${randomUUID().slice(0, 8)}`;
}

export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

export interface RedisEntry {
  readonly key: string;
  readonly type: string;
  /** The key name and every member, field, value, score and stream entry, as text. */
  readonly text: string;
}

/** Every key of the database (SCAN, not just one prefix) and its whole value, whatever its type. */
export async function dumpRedis(redis: Redis): Promise<RedisEntry[]> {
  const entries: RedisEntry[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      entries.push({ key, type, text: `${key}\n${await valueText(redis, key, type)}` });
    }
  } while (cursor !== "0");
  return entries;
}

async function valueText(redis: Redis, key: string, type: string): Promise<string> {
  switch (type) {
    case "string":
      return (await redis.getBuffer(key))?.toString("latin1") ?? "";
    case "hash":
      return flat(await redis.hgetallBuffer(key));
    case "list":
      return (await redis.lrangeBuffer(key, "0", "-1")).map((b) => b.toString("latin1")).join("\n");
    case "set":
      return (await redis.smembersBuffer(key)).map((b) => b.toString("latin1")).join("\n");
    case "zset":
      return (await redis.zrange(key, "0", "-1", "WITHSCORES")).join("\n");
    case "stream":
      return JSON.stringify(await redis.xrange(key, "-", "+"));
    case "none":
      return ""; // expired or deleted between SCAN and TYPE
    default:
      throw new Error(`dumpRedis: unexpected type ${type} of ${key}`);
  }
}

function flat(hash: Record<string, Buffer>): string {
  return Object.entries(hash)
    .map(([field, value]) => `${field}\n${value.toString("latin1")}`)
    .join("\n");
}

/** Secrets found in `text`: large ones as decimal or hex substrings, small ones as whole numeric tokens. */
export function secretsIn(text: string, secrets: readonly bigint[]): bigint[] {
  const lower = text.toLowerCase();
  const small = new Set(secrets.filter((s) => s < 10n ** 12n));
  const found = new Set<bigint>();
  for (const secret of secrets) {
    if (secret < 10n ** 12n) continue;
    if (lower.includes(secret.toString()) || lower.includes(secret.toString(16))) found.add(secret);
  }
  for (const token of lower.split(/[^0-9a-z]+/)) {
    if (token === "" || token.length > 66) continue;
    const hex = token.startsWith("0x") ? token.slice(2) : token;
    if (/^[0-9]+$/.test(token) && small.has(BigInt(token))) found.add(BigInt(token));
    if (/^[0-9a-f]+$/.test(hex) && small.has(BigInt(`0x${hex}`))) found.add(BigInt(`0x${hex}`));
  }
  return [...found];
}
