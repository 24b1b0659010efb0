/**
 * @module verifier/circuit-listing
 *
 * `keysFromCircuitListing(listing)`: the verification keys and their pins from what the operator's service
 * publishes at `GET /v1/circuits` (`{circuits: [{circuitId, vkeyHash, nPublic, insecure, vkey, ...}]}`,
 * docs/service.md), in the `{keys, keysManifest}` form `verify`/`verifyAny` take. A partner can thus verify
 * with what the API gives, without the operator's `keys/` directory.
 *
 * Each key must hash to the `vkeyHash` listed with it (a listing that contradicts itself is malformed), and
 * the keys manifest built from the listing is marked insecure when any listed circuit is (fail closed:
 * `InsecureKeysError` unless `allowInsecureKeys`).
 *
 * Security caveat: the listing is only as trustworthy as the channel it came over. Fetch it from the
 * operator over TLS, or better, compare its `vkeyHash` values with ones published out of band (a ceremony
 * transcript, the operator's site); a key swapped in transit would verify proofs its holder forged.
 */
import { HEX32 } from "../core/formats.ts";
import { readJsonInput } from "./bundle.ts";
import { VerifierInputError } from "./errors.ts";
import { vkeyHash } from "./vkey.ts";

/** A circuit id: lowercase letters, digits, dots and dashes (ids name files in key directories). */
const CIRCUIT_ID = /^[a-z][a-z0-9.-]{0,127}$/;

/** Pinned keys in the form `VerifyOptions` takes. */
export interface ListedKeys {
  readonly keys: Readonly<Record<string, unknown>>;
  readonly keysManifest: {
    readonly version: 1;
    readonly insecure: boolean;
    readonly circuits: Readonly<Record<string, { readonly vkeySha256: string; readonly nPublic: number }>>;
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface ListedCircuit {
  readonly circuitId: string;
  readonly vkeySha256: string;
  readonly nPublic: number;
  readonly insecure: boolean;
  readonly vkey: unknown;
}

function listedCircuit(entry: unknown, at: string): ListedCircuit {
  if (!isRecord(entry)) throw new VerifierInputError(at, "expected a circuit object");
  const { circuitId, vkeyHash: listedHash, nPublic, insecure, vkey } = entry;
  if (typeof circuitId !== "string" || !CIRCUIT_ID.test(circuitId))
    throw new VerifierInputError(`${at}.circuitId`, "expected a circuit id");
  if (typeof listedHash !== "string" || !HEX32.test(listedHash))
    throw new VerifierInputError(`${at}.vkeyHash`, "expected 64 lowercase hex characters");
  if (typeof nPublic !== "number" || !Number.isSafeInteger(nPublic) || nPublic < 0)
    throw new VerifierInputError(`${at}.nPublic`, "expected a non-negative integer");
  if (typeof insecure !== "boolean") throw new VerifierInputError(`${at}.insecure`, "expected a boolean");
  let actual: string;
  try {
    actual = vkeyHash(vkey);
  } catch (error) {
    if (!(error instanceof VerifierInputError)) throw error;
    throw new VerifierInputError(error.field.replace(/^vkey/, `${at}.vkey`), error.reason);
  }
  if (actual !== listedHash) {
    throw new VerifierInputError(
      `${at}.vkey`,
      `hashes to ${actual.slice(0, 16)}…, but the listing says vkeyHash ${listedHash.slice(0, 16)}…`,
    );
  }
  return { circuitId, vkeySha256: listedHash, nPublic, insecure, vkey };
}

/**
 * The keys and keys manifest of a `GET /v1/circuits` answer (object or its JSON text, read strictly).
 * Throws {@link VerifierInputError} for anything malformed or self-contradictory.
 */
export function keysFromCircuitListing(listing: unknown, field = "listing"): ListedKeys {
  const value = readJsonInput(listing, field);
  if (!isRecord(value) || !Array.isArray(value.circuits))
    throw new VerifierInputError(field, "expected the GET /v1/circuits answer: {circuits: [...]}");
  if (value.circuits.length === 0) throw new VerifierInputError(`${field}.circuits`, "lists no circuit");
  const keys: Record<string, unknown> = {};
  const circuits: Record<string, { vkeySha256: string; nPublic: number }> = {};
  let insecure = false;
  value.circuits.forEach((entry, index) => {
    const circuit = listedCircuit(entry, `${field}.circuits[${index}]`);
    if (Object.hasOwn(circuits, circuit.circuitId))
      throw new VerifierInputError(`${field}.circuits[${index}].circuitId`, "listed twice");
    keys[circuit.circuitId] = circuit.vkey;
    circuits[circuit.circuitId] = { vkeySha256: circuit.vkeySha256, nPublic: circuit.nPublic };
    insecure ||= circuit.insecure;
  });
  return { keys, keysManifest: { version: 1, insecure, circuits } };
}

/**
 * Whether a parsed JSON value looks like a circuit listing: `circuits` is a list of objects (a keys
 * manifest's `circuits` is an object, a dataset manifest's a list of ids).
 */
export function isCircuitListing(value: unknown): boolean {
  return isRecord(value) && Array.isArray(value.circuits) && value.circuits.every(isRecord);
}
