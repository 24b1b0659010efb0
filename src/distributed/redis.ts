/**
 * @module distributed/redis
 *
 * Opens the Redis connection the coordinator and the workers share with BullMQ, and checks at boot that Redis
 * answers, so a wrong URL fails the start with a clear message instead of a silent wait.
 *
 * Security caveat: the URL may carry a password; messages name only the host and port.
 */
import { Redis } from "ioredis";

/** A Redis client as BullMQ needs it (no per-request retry limit: BullMQ retries itself). */
export function connectRedis(url: string): Redis {
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    throw new TypeError("redis URL must start with redis:// or rediss://");
  }
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** Where a Redis URL points, without credentials. */
export function redisEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "6379"}`;
  } catch {
    return "(unparsable URL)";
  }
}

/** Resolves when Redis answers PING; rejects after `timeoutMs` naming the endpoint. */
export async function assertRedisAnswers(redis: Redis, url: string, timeoutMs = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Redis at ${redisEndpoint(url)} does not answer (start it, or check --redis)`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
