pragma circom 2.1.6;

// Dataset commitment: record packing, leaf hashing and a full Merkle tree, as specified in docs/design.md §2.
// TypeScript twin: src/dataset/commitment.ts (same names, same vectors).
//
// Security notes
// - Packing is injective only because every packed value is range-checked (< 2^W) by the caller and the flag
//   is boolean; PackRecord itself adds no constraints.
// - Leaf and node hashes are domain-separated by the Poseidon capacity element (TAG_LEAF / TAG_NODE).

include "../../node_modules/circomlib/circuits/poseidon.circom";

// int(utf8("zktally/leaf/v1")) and int(utf8("zktally/node/v1"))
function TAG_LEAF() { return 635639655186813546321495903129531953; }
function TAG_NODE() { return 635639655186813546322069861067355697; }

// Bits per packed element; 248 < 253 keeps every element canonical and below r.
function PACK_BITS() { return 248; }

// Number of field elements a record of F values of W bits plus a 1-bit flag packs into
// (greedy, never splitting a value across elements).
function packedCount(F, W) {
    var elements = 1;
    var used = 0;
    for (var i = 0; i < F; i++) {
        if (used + W > PACK_BITS()) { elements++; used = 0; }
        used += W;
    }
    if (used + 1 > PACK_BITS()) { elements++; }
    return elements;
}

// Packs F range-checked values and the real-record flag into packedCount(F, W) elements (linear, no constraints).
template PackRecord(F, W) {
    var E = packedCount(F, W);
    signal input values[F];
    signal input flag;
    signal output packed[E];

    var acc[E];
    for (var e = 0; e < E; e++) { acc[e] = 0; }
    var element = 0;
    var used = 0;
    for (var i = 0; i < F; i++) {
        if (used + W > PACK_BITS()) { element++; used = 0; }
        acc[element] += values[i] * (2 ** used);
        used += W;
    }
    if (used + 1 > PACK_BITS()) { element++; used = 0; }
    acc[element] += flag * (2 ** used);
    for (var e = 0; e < E; e++) { packed[e] <== acc[e]; }
}

// Leaf over B consecutive records: PoseidonEx([salt_0, packed_0..., salt_1, packed_1..., ...], TAG_LEAF).
template LeafHash(B, E) {
    signal input salts[B];
    signal input packed[B][E];
    signal output out;

    component hash = PoseidonEx(B * (1 + E), 1);
    hash.initialState <== TAG_LEAF();
    for (var b = 0; b < B; b++) {
        hash.inputs[b * (1 + E)] <== salts[b];
        for (var e = 0; e < E; e++) { hash.inputs[b * (1 + E) + 1 + e] <== packed[b][e]; }
    }
    out <== hash.out[0];
}

// Root of the complete A-ary tree over L = A^D leaves; internal node = PoseidonEx(children, TAG_NODE).
template MerkleRoot(L, A) {
    signal input leaves[L];
    signal output root;

    var internal = (L - 1) \ (A - 1);
    signal nodes[L + internal];
    for (var i = 0; i < L; i++) { nodes[i] <== leaves[i]; }

    component hashers[internal > 0 ? internal : 1];
    var start = 0;
    var width = L;
    var next = L;
    var h = 0;
    while (width > 1) {
        for (var j = 0; j < width \ A; j++) {
            hashers[h] = PoseidonEx(A, 1);
            hashers[h].initialState <== TAG_NODE();
            for (var k = 0; k < A; k++) { hashers[h].inputs[k] <== nodes[start + j * A + k]; }
            nodes[next + j] <== hashers[h].out[0];
            h++;
        }
        start = next;
        next += width \ A;
        width = width \ A;
    }
    root <== nodes[L + internal - 1];
}
