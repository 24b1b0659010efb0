/**
 * @module service/logger
 *
 * The service's pino logger: JSON lines, ISO timestamps, and redaction of every field name that could carry
 * a credential or private data (authorization headers, client secrets, tokens, records, salts, witnesses).
 *
 * Security caveat: redaction is a second line of defence. The service logs no request or response bodies
 * and no header values at all; error objects are reduced to name, message and stack by `errorFields`, and
 * messages of the service's own errors are built from public values only.
 */
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

/** Field paths censored in every log line (pino `redact`). */
export const REDACTED_PATHS: readonly string[] = [
  "authorization",
  "headers.authorization",
  "headers.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
  "clientSecret",
  "*.clientSecret",
  "client_secret",
  "*.client_secret",
  "access_token",
  "*.access_token",
  "token",
  "*.token",
  "secret",
  "*.secret",
  "password",
  "*.password",
  "records",
  "*.records",
  "rows",
  "*.rows",
  "salts",
  "*.salts",
  "witness",
  "*.witness",
];

export interface LoggerOptions {
  readonly level: string;
  /** Where lines go; default stdout. Tests pass a capturing stream. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: "zktally" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** The loggable part of an error: name, message and stack (no enumerable payload fields). */
export function errorFields(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: "NonError", message: typeof error };
}

/**
 * Name and stack frames of an error, without its message: for errors raised while proving, whose text might
 * quote private values (the stack's frames are code locations only).
 */
export function errorLocation(error: unknown): { name: string; frames?: string } {
  if (!(error instanceof Error)) return { name: "NonError" };
  const frames = error.stack?.split("\n").filter((line) => line.trimStart().startsWith("at "));
  return { name: error.name, ...(frames ? { frames: frames.slice(0, 8).join("\n") } : {}) };
}
