/**
 * @module service/rate-limit
 *
 * Fixed-window request limits kept in memory: per authenticated client on the API, per IP address on the
 * token endpoint. Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
 * (draft-ietf-httpapi-ratelimit-headers) and, when refused, `429` with `Retry-After`.
 *
 * Security caveats: limits are per process (one service instance owns its SQLite file anyway); the key table
 * is bounded (`maxKeys`) and swept at each window change, so a flood of distinct keys cannot grow memory
 * without bound. Behind a proxy, per-IP limits need `trustProxy` to see real client addresses.
 */

export interface LimitDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets. */
  readonly resetSeconds: number;
}

export class FixedWindowLimiter {
  private windowStart = 0;
  private counts = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {
    if (!Number.isSafeInteger(windowMs) || windowMs <= 0)
      throw new RangeError("windowMs must be a positive integer");
    if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError("max must be a positive integer");
  }

  /** Counts one request for `key`. */
  hit(key: string): LimitDecision {
    const now = this.now();
    const start = Math.floor(now / this.windowMs) * this.windowMs;
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.counts = new Map();
    }
    const resetSeconds = Math.max(1, Math.ceil((start + this.windowMs - now) / 1000));
    const count = (this.counts.get(key) ?? 0) + 1;
    if (!this.counts.has(key) && this.counts.size >= this.maxKeys) {
      // Table full: refuse new keys for the rest of the window rather than grow.
      return { allowed: false, limit: this.max, remaining: 0, resetSeconds };
    }
    this.counts.set(key, count);
    return {
      allowed: count <= this.max,
      limit: this.max,
      remaining: Math.max(0, this.max - count),
      resetSeconds,
    };
  }
}

/** The standard headers for a decision. */
export function rateLimitHeaders(decision: LimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    "RateLimit-Limit": String(decision.limit),
    "RateLimit-Remaining": String(decision.remaining),
    "RateLimit-Reset": String(decision.resetSeconds),
  };
  if (!decision.allowed) headers["Retry-After"] = String(decision.resetSeconds);
  return headers;
}
