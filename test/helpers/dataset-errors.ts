/**
 * @module test/helpers/dataset-errors
 *
 * `rejection(parse)`: runs a load that must fail and returns its `DatasetError` (file, line, column, reason),
 * failing the test when it throws anything else or nothing.
 */
import { expect } from "vitest";
import { DatasetError } from "../../src/dataset/errors.ts";

export function rejection(parse: () => unknown): DatasetError {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(DatasetError);
    return error as DatasetError;
  }
  throw new Error("expected a DatasetError");
}
