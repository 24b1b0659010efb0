/**
 * @module cli/operator-state
 *
 * The operator's local secrets for the embedded defaults: an Ed25519 signing key and a 32-byte dataset secret,
 * created on first use in `<dataDir>/operator.json` with mode 0600 and written atomically.
 *
 * Security caveat: these are the keys that make the manifest trustworthy and the root hiding. A production
 * operator keeps them in a KMS or at least outside the working tree; `.zktally/` is gitignored.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HEX32 } from "../core/formats.ts";
import { operatorKeyOf } from "../dataset/manifest-sign.ts";
import { parseStrictJson } from "../util/strict-json.ts";

export interface OperatorState {
  readonly operatorSecretKey: Uint8Array;
  readonly operatorPublicKey: string;
  readonly datasetSecret: Uint8Array;
}

export async function loadOrCreateOperatorState(dataDir: string): Promise<OperatorState> {
  const file = join(dataDir, "operator.json");
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (text !== undefined) return parseState(text, file);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const state = {
    operatorSecretKey: randomBytes(32).toString("hex"),
    datasetSecret: randomBytes(32).toString("hex"),
  };
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, file);
  return parseState(JSON.stringify(state), file);
}

function parseState(text: string, file: string): OperatorState {
  const json = parseStrictJson(text) as Record<string, unknown>;
  for (const key of ["operatorSecretKey", "datasetSecret"]) {
    if (typeof json[key] !== "string" || !HEX32.test(json[key] as string)) {
      throw new TypeError(`${file}: ${key} must be 32 bytes of lowercase hex`);
    }
  }
  const operatorSecretKey = Buffer.from(json.operatorSecretKey as string, "hex");
  return {
    operatorSecretKey,
    operatorPublicKey: operatorKeyOf(operatorSecretKey),
    datasetSecret: Buffer.from(json.datasetSecret as string, "hex"),
  };
}
