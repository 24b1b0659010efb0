/**
 * @module storage/json-file
 *
 * `readJsonFile`: a JSON file read with the strict reader (util/strict-json.ts), for the keys manifest,
 * pinned verification keys and ceremony transcripts, so a file that names a member twice is refused instead
 * of meaning whatever its last occurrence says.
 *
 * Node-only. Security caveat: the error message carries the reader's reason, which may quote one character of
 * the file; use it for public files (manifests, keys, transcripts), not for files holding secrets.
 */
import { readFile } from "node:fs/promises";
import { parseStrictJson } from "../util/strict-json.ts";

/**
 * Reads and parses `file`; throws `TypeError` `<file>: not readable JSON (...)` with the line and column
 * of a syntax error or duplicate key, or with the reason the file could not be read.
 */
export async function readJsonFile(file: string): Promise<unknown> {
  try {
    return parseStrictJson(await readFile(file, "utf8"));
  } catch (err) {
    throw new TypeError(`${file}: not readable JSON (${(err as Error).message})`);
  }
}
