/**
 * @module util/strict-json
 *
 * The JSON reader for every file and body zktally takes from outside (bundles, manifests, keys manifests,
 * schema and query files, HTTP bodies): RFC 8259 JSON, parsed to the same values as `JSON.parse`, but an
 * object that names a member twice is refused. `JSON.parse` keeps the last of two `"answer"` members while a
 * person, a diff or another parser may read the first, so one text could mean two bundles. Errors name the
 * line and column (1-based, columns in UTF-16 code units), the JSON path of the enclosing value and, for a
 * duplicate, where the key was first seen.
 *
 * Security caveats: keys are compared after unescaping (`"a"` and `"\u0061"` are the same key); a
 * `__proto__` member becomes an own property, exactly as with `JSON.parse`, never the prototype. Nesting is
 * bounded ({@link MAX_JSON_DEPTH}) so hostile input cannot exhaust the stack. Browser-safe: imports only the
 * import-free error model.
 */
import { InputError } from "./errors.ts";

/** Deepest nesting of arrays and objects accepted (zktally formats need fewer than 10). */
export const MAX_JSON_DEPTH = 256;

/** Where in the text a problem is: offset (0-based, UTF-16 code units), line and column (1-based). */
export interface TextPosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/** Text that is not strict JSON. `message` is `[source: ]line L column C: reason[ (in path)]`. */
export class JsonTextError extends InputError {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
  /** JSON path of the value being read, e.g. `$.answer` or `$.publicSignals[3]`. */
  override readonly path: string;
  /** What is wrong, e.g. `duplicate key "value" (first at line 4 column 5)`. */
  readonly reason: string;

  /** The file or body the text came from, when the caller named it. */
  readonly source: string | undefined;
  /** For a duplicate key: the key (unescaped). */
  readonly duplicateKey: string | undefined;

  constructor(reason: string, at: TextPosition, path: string, source?: string, duplicateKey?: string) {
    const where = `${source === undefined ? "" : `${source}: `}line ${at.line} column ${at.column}`;
    super("invalid_json", `${where}: ${reason}${path === "$" ? "" : ` (in ${path})`}`, { path });
    this.source = source;
    this.duplicateKey = duplicateKey;
    this.line = at.line;
    this.column = at.column;
    this.offset = at.offset;
    this.path = path;
    this.reason = reason;
  }
}

/** The position of `offset` in `text`: `\n`, `\r\n` and a lone `\r` each end a line. */
export function positionAt(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x0a || (char === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

/**
 * Parses `text` as strict JSON (see the module comment); throws {@link JsonTextError} for a syntax error,
 * a duplicate key, trailing content or nesting deeper than {@link MAX_JSON_DEPTH}. `source` (a file
 * name, "request body") prefixes the error message.
 */
export function parseStrictJson(text: string, source?: string): unknown {
  if (typeof text !== "string") throw new TypeError("parseStrictJson: expected a string");
  return new StrictJsonReader(text, source).document();
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const HEX4 = /^[0-9a-fA-F]{4}$/;

class StrictJsonReader {
  private at = 0;
  /** Keys and indices from the document root to the value being read (for error paths). */
  private readonly trail: (string | number)[] = [];

  constructor(
    private readonly text: string,
    private readonly source: string | undefined,
  ) {}

  document(): unknown {
    if (this.text.charCodeAt(0) === 0xfeff) {
      this.fail("the text starts with a byte-order mark; save it as UTF-8 without BOM");
    }
    this.skipWhitespace();
    const value = this.value();
    this.skipWhitespace();
    if (this.at < this.text.length) this.fail(`unexpected ${this.describeHere()} after the JSON value`);
    return value;
  }

  private fail(reason: string, offset = this.at, duplicateKey?: string): never {
    throw new JsonTextError(reason, positionAt(this.text, offset), this.path(), this.source, duplicateKey);
  }

  private path(): string {
    return this.trail
      .map((step) =>
        typeof step === "number"
          ? `[${step}]`
          : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(step)
            ? `.${step}`
            : `[${JSON.stringify(step)}]`,
      )
      .reduce((path, step) => path + step, "$");
  }

  private describeHere(): string {
    if (this.at >= this.text.length) return "end of input";
    const char = this.text[this.at] as string;
    return /[\u0021-\u007e]/.test(char)
      ? `character ${JSON.stringify(char)}`
      : `character U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  }

  private skipWhitespace(): void {
    for (;;) {
      const char = this.text.charCodeAt(this.at);
      if (char !== 0x20 && char !== 0x09 && char !== 0x0a && char !== 0x0d) return;
      this.at++;
    }
  }

  private value(): unknown {
    switch (this.text[this.at]) {
      case "{":
        return this.object();
      case "[":
        return this.array();
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        return this.number();
    }
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.at))
      this.fail(`unexpected ${this.describeHere()}; expected a JSON value`);
    this.at += word.length;
    return value;
  }

  private number(): number {
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (!match) this.fail(`unexpected ${this.describeHere()}; expected a JSON value`);
    const start = this.at;
    this.at += match[0].length;
    const next = this.text[this.at];
    if (next !== undefined && /[0-9.eE+-]/.test(next))
      this.fail(`malformed number ${JSON.stringify(match[0] + next)}`, start);
    return Number(match[0]);
  }

  private string(): string {
    const start = this.at;
    let plain = true;
    for (let i = start + 1; i < this.text.length; i++) {
      const char = this.text.charCodeAt(i);
      if (char === 0x22) {
        this.at = i + 1;
        const token = this.text.slice(start, i + 1);
        // The token is valid JSON by now; JSON.parse decodes escapes exactly as the spec says.
        return plain ? token.slice(1, -1) : (JSON.parse(token) as string);
      }
      if (char < 0x20) this.fail("control character in a string; escape it (e.g. \\n)", i);
      if (char === 0x5c) {
        plain = false;
        const escaped = this.text[i + 1];
        if (escaped === "u") {
          if (!HEX4.test(this.text.slice(i + 2, i + 6))) this.fail("\\u must be followed by 4 hex digits", i);
          i += 5;
        } else if (escaped !== undefined && ESCAPES.has(escaped)) {
          i++;
        } else {
          this.fail(`invalid escape \\${escaped ?? ""} in a string`, i);
        }
      }
    }
    return this.fail("unterminated string", start);
  }

  private enter(): void {
    if (this.trail.length >= MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  }

  private array(): unknown[] {
    this.enter();
    this.at++;
    const items: unknown[] = [];
    this.skipWhitespace();
    if (this.text[this.at] === "]") {
      this.at++;
      return items;
    }
    for (;;) {
      this.trail.push(items.length);
      this.skipWhitespace();
      items.push(this.value());
      this.trail.pop();
      if (this.closes("]")) return items;
    }
  }

  private object(): Record<string, unknown> {
    this.enter();
    this.at++;
    const record: Record<string, unknown> = {};
    const firstSeen = new Map<string, number>();
    this.skipWhitespace();
    if (this.text[this.at] === "}") {
      this.at++;
      return record;
    }
    for (;;) {
      this.skipWhitespace();
      const keyAt = this.at;
      if (this.text[this.at] !== '"') this.fail(`unexpected ${this.describeHere()}; expected a string key`);
      const key = this.string();
      const first = firstSeen.get(key);
      if (first !== undefined) {
        const where = positionAt(this.text, first);
        this.fail(
          `duplicate key ${JSON.stringify(key)} (first at line ${where.line} column ${where.column}); name each member once`,
          keyAt,
          key,
        );
      }
      firstSeen.set(key, keyAt);
      this.skipWhitespace();
      if (this.text[this.at] !== ":") this.fail(`unexpected ${this.describeHere()}; expected ":"`);
      this.at++;
      this.skipWhitespace();
      this.trail.push(key);
      const value = this.value();
      if (key === "__proto__") {
        // An own property, as with JSON.parse; plain assignment would set the prototype.
        Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        record[key] = value;
      }
      this.trail.pop();
      if (this.closes("}")) return record;
    }
  }

  /** After a member or item: consumes `,` (false) or the closing bracket (true); anything else fails. */
  private closes(bracket: "]" | "}"): boolean {
    this.skipWhitespace();
    const char = this.text[this.at];
    if (char !== "," && char !== bracket)
      this.fail(`unexpected ${this.describeHere()}; expected "," or "${bracket}"`);
    this.at++;
    return char === bracket;
  }
}
