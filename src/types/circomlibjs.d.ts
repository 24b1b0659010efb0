/**
 * @module types/circomlibjs
 *
 * Minimal declarations for circomlibjs 0.1.7 (Poseidon only). `poseidon(inputs, initState, nOut)` returns one
 * field element in Montgomery form when nOut is 1 (convert with `poseidon.F.toObject`), an array otherwise.
 */
declare module "circomlibjs" {
  export type FieldInput = bigint | number | string;

  /** The scalar field object attached to the hasher (ffjavascript F1Field over the BN254 scalar field). */
  export interface PoseidonField {
    toObject(element: Uint8Array): bigint;
    toString(element: Uint8Array, radix?: number): string;
    e(value: FieldInput): Uint8Array;
  }

  export interface Poseidon {
    (inputs: FieldInput[], initState?: FieldInput, nOut?: 1): Uint8Array;
    (inputs: FieldInput[], initState: FieldInput | undefined, nOut: number): Uint8Array | Uint8Array[];
    F: PoseidonField;
  }

  export function buildPoseidon(): Promise<Poseidon>;
}
