/** Minimal typings for the parts of circom_runtime the tests use. */
declare module "circom_runtime" {
  export interface WitnessCalculator {
    calculateWitness(input: Record<string, unknown>, sanityCheck?: boolean): Promise<bigint[]>;
  }
  export function WitnessCalculatorBuilder(
    code: Uint8Array | WebAssembly.Instance,
    options?: Record<string, unknown>,
  ): Promise<WitnessCalculator>;
}
