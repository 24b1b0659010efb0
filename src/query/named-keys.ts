/**
 * @module query/named-keys
 *
 * Asking by name (docs/query-language.md "String keys"): in a submitted query (single or pass), every string
 * value of a clause on the schema's `string-key` field (in a clause list or in any term of a pass query's
 * `anyOf`), and a string membership key, is a name; `hashNamedKeys` replaces
 * each with its hashed key (a number) before the query is validated, canonicalised and lowered, so the proven
 * statement holds hashed keys only. Numbers pass through unchanged (a key copied from a bundle). Everything
 * else is left as is for `parseQuery` to judge.
 *
 * Security caveats: operator side only (the hasher holds the dataset secret). The names go back to the
 * partner who asked (the submit response), never into the public statement, the audit log or a bundle. The
 * partner cannot check the name -> key step; and with a `bits`-bit key a name absent from the dataset
 * aliases a present one with probability about n / 2^bits.
 */
import { type Schema, stringKeyField } from "../dataset/schema.ts";
import { nameProblem, type StringKeyHasher } from "../dataset/string-key.ts";
import { QueryError } from "./errors.ts";

/** One name the partner asked about and the key it was mapped to. */
export interface NamedKey {
  readonly field: string;
  readonly name: string;
  readonly key: number;
}

export interface NamedKeysResult {
  /** The query with names replaced by keys (the input itself when it names nobody). */
  readonly query: unknown;
  /** The names mapped, in query order (empty when none). */
  readonly names: readonly NamedKey[];
}

/**
 * Maps the names of `json` (a raw submitted query) to keys with the hasher `hasherFor` returns; it is called
 * only when the query holds a name. Throws `QueryError` for an empty or overlong name.
 */
export function hashNamedKeys(
  json: unknown,
  schema: Schema,
  hasherFor: () => StringKeyHasher,
): NamedKeysResult {
  const spec = stringKeyField(schema);
  if (spec === undefined || !isObject(json)) return { query: json, names: [] };
  const names: NamedKey[] = [];
  let hasher: StringKeyHasher | undefined;
  const keyOf = (value: unknown, path: string): unknown => {
    if (typeof value !== "string") return value;
    const problem = nameProblem(value);
    if (problem !== undefined) throw new QueryError(path, problem);
    hasher ??= hasherFor();
    const named = { field: spec.name, name: value.normalize("NFC"), key: Number(hasher(value, spec.bits)) };
    names.push(named);
    return named.key;
  };
  const mapTerm = (term: unknown, path: string): unknown =>
    Array.isArray(term)
      ? term.map((clause, i) =>
          mapClause(clause, spec.name, (value, at) => keyOf(value, `${path}[${i}].value${at}`)),
        )
      : term;
  const predicate =
    isObject(json.predicate) && Array.isArray(json.predicate.anyOf)
      ? {
          ...json.predicate,
          anyOf: json.predicate.anyOf.map((term, t) => mapTerm(term, `predicate.anyOf[${t}]`)),
        }
      : mapTerm(json.predicate, "predicate");
  const aggregate =
    isObject(json.aggregate) && json.aggregate.kind === "membership"
      ? { ...json.aggregate, key: keyOf(json.aggregate.key, "aggregate.key") }
      : json.aggregate;
  return names.length === 0 ? { query: json, names } : { query: { ...json, predicate, aggregate }, names };
}

/** The names of a result in words: `user "Alice" -> key 123, user "Bob" -> key 456`. */
export function describeNamedKeys(names: readonly NamedKey[]): string {
  return names.map(({ field, name, key }) => `${field} ${JSON.stringify(name)} -> key ${key}`).join(", ");
}

function mapClause(clause: unknown, field: string, keyOf: (value: unknown, at: string) => unknown): unknown {
  if (!isObject(clause) || clause.field !== field) return clause;
  const value = Array.isArray(clause.value)
    ? clause.value.map((item, j) => keyOf(item, `[${j}]`))
    : keyOf(clause.value, "");
  return { ...clause, value };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
