/**
 * @module util/canonical-json
 *
 * Canonical JSON (design.md section 6): object keys sorted by UTF-16 code unit order, no whitespace, strings
 * escaped as by `JSON.stringify`, arrays in order, `undefined` object fields omitted, integers only.
 * Every hash and signature in zktally is computed over this encoding, so it is deliberately strict: anything
 * that two producers could serialise differently (floats, bigints, dates, class instances, sparse or
 * `undefined` array slots, cycles) is refused with a `TypeError` naming the path instead of being coerced.
 *
 * Security caveat: numbers must be safe integers; larger values (field elements, uint64) must be passed as
 * decimal strings by the caller, otherwise two different values could hash the same after rounding.
 */

/** Serialises `value` canonically; throws `TypeError` naming the JSON path of the first unsupported value. */
export function canonicalJson(value: unknown): string {
  return write(value, "$", new Set());
}

function write(value: unknown, path: string, ancestors: Set<object>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return writeNumber(value, path);
    case "object":
      return writeContainer(value, path, ancestors);
    case "bigint":
      throw new TypeError(`canonicalJson: ${path} is a bigint; write it as a decimal string`);
    default:
      throw new TypeError(`canonicalJson: ${path} has unsupported type ${typeof value}`);
  }
}

function writeNumber(value: number, path: string): string {
  if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is not finite (${value})`);
  if (!Number.isSafeInteger(value)) {
    throw new TypeError(`canonicalJson: ${path} is not a safe integer (${value}); only integers are allowed`);
  }
  // -0 and 0 must encode alike; String(-0) is already "0".
  return String(value);
}

function writeContainer(value: object, path: string, ancestors: Set<object>): string {
  if (ancestors.has(value)) throw new TypeError(`canonicalJson: ${path} is a circular reference`);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return writeArray(value, path, ancestors);
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
      throw new TypeError(`canonicalJson: ${path} is a ${kind}, not a plain object`);
    }
    return writeObject(value as Record<string, unknown>, path, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function writeArray(items: readonly unknown[], path: string, ancestors: Set<object>): string {
  const parts: string[] = [];
  for (let i = 0; i < items.length; i++) {
    // Sparse slots and `undefined` would become `null` in JSON.stringify; refuse rather than guess.
    if (!(i in items) || items[i] === undefined) {
      throw new TypeError(`canonicalJson: ${path}[${i}] is undefined (arrays may not contain holes)`);
    }
    parts.push(write(items[i], `${path}[${i}]`, ancestors));
  }
  return `[${parts.join(",")}]`;
}

function writeObject(record: Record<string, unknown>, path: string, ancestors: Set<object>): string {
  if (Object.getOwnPropertySymbols(record).length > 0) {
    throw new TypeError(`canonicalJson: ${path} has symbol keys`);
  }
  // Default sort compares UTF-16 code units, exactly what section 6 prescribes.
  const keys = Object.keys(record).sort();
  const parts: string[] = [];
  for (const key of keys) {
    const child = record[key];
    if (child === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${write(child, `${path}.${key}`, ancestors)}`);
  }
  return `{${parts.join(",")}}`;
}
