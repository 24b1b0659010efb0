/**
 * @module query/errors
 *
 * The typed error raised when a readable query (design.md section 3) is malformed or does not fit its
 * dataset schema. Every error carries the JSON path of the offending part (e.g. `predicate[2].value`) so
 * callers can point a partner at the exact input to fix.
 *
 * Security caveat: messages quote the partner's own input and the public schema only; never put record
 * values, counts or other private state into a QueryError, since it may be returned to the requester.
 */
import { InputError } from "../util/errors.ts";

/**
 * A query that is structurally invalid or not meaningful for the schema it is evaluated against. `code`
 * is `invalid_query`, or `query_too_large` when the query is well formed but exceeds the circuit's capacity.
 */
export class QueryError extends InputError {
  /** JSON path of the offending element, `""` for the whole query. */
  override readonly path: string;
  /** The reason without the path prefix. */
  readonly reason: string;

  constructor(path: string, reason: string, code: "invalid_query" | "query_too_large" = "invalid_query") {
    super(code, path === "" ? reason : `${path}: ${reason}`, { path });
    this.path = path;
    this.reason = reason;
  }
}

/** Formats path segments as `a.b[2].c`: numbers become indices, strings property accesses. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out;
}
