/**
 * @module storage/file-digest
 *
 * Digests of large operator artifacts with Node's OpenSSL hashes (about 20x faster than the pure-JS hash of
 * `util/digest`): files are streamed (`sha256File`, `digestFile`, `digestsOfFile`), so multi-GB ptau files and
 * zkeys are never held in memory for hashing, and `sha256HexNative` hashes bytes already loaded (a zkey read
 * once, hashed and then used, so the checked bytes are the used bytes).
 *
 * Node-only. Security caveat: a streamed digest describes the file at the time it was read; callers that use
 * the file afterwards must not let it be replaced in between (hash loaded bytes instead).
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Hex SHA-256 of a file, streamed. */
export function sha256File(filePath: string): Promise<string> {
  return digestFile(filePath, "sha256");
}

/** Hex digest (`sha256`, `blake2b512`, ...) of a file's bytes, streamed. */
export async function digestFile(filePath: string, algorithm: string): Promise<string> {
  return (await digestsOfFile(filePath, [algorithm]))[0] as string;
}

/** Hex digests of a file's bytes for several algorithms in one streamed pass, in the order asked. */
export function digestsOfFile(filePath: string, algorithms: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const hashes = algorithms.map((a) => createHash(a));
    createReadStream(filePath)
      .on("error", reject)
      .on("data", (chunk) => {
        for (const h of hashes) h.update(chunk);
      })
      .on("end", () => resolve(hashes.map((h) => h.digest("hex"))));
  });
}

/** Hex SHA-256 of bytes in memory (or a UTF-8 string) with OpenSSL: for artifacts of megabytes. */
export function sha256HexNative(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}
