pragma circom 2.1.6;

// Chunked commitment layout v2 (docs/design.md section 7.2-7.3): field domains, per-leaf packing, leaf and
// in-chunk tree hashes, chunk root, the Merkle path of a chunk root in the fixed-depth 16-ary dataset tree,
// and accumulator commitments. TypeScript twin: src/dataset/chunk-layout.ts and src/circuits/chunk-witness.ts.
//
// Security notes
// - PackLeaf adds no constraints: it is injective only because the caller range-checks every value to its
//   domain (InDomain) and keys through the key chain.
// - Leaf, node, chunk-root, dataset-node and accumulator hashes are domain-separated by the Poseidon capacity
//   element (TAG_*2), and all differ from the v1 tags.
// - Path position bits come from Num2Bits of the public chunk index, so they are boolean and the one-hot
//   selector built from them has exactly one 1.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "../../node_modules/circomlib/circuits/poseidon.circom";

function TAG_LEAF2() { return 635639655186813546321495903129531954; }
function TAG_NODE2() { return 635639655186813546322069861067355698; }
function TAG_CHUNK2() { return 162723751727824267857655299305343252018; }
function TAG_DATASET2() { return 10664263793234691218323890858841588294972978; }
function TAG_ACC2() { return 2482967403073490415306240183727666; }

// Bits per packed leaf element (2^253 < r).
function LEAF_ELEMENT_BITS() { return 253; }

// Number of bits of x (0 for x = 0): the packed width of a field whose largest value is x.
function bitLength(x) {
    var n = 0;
    var rest = x;
    while (rest > 0) { n++; rest = rest \ 2; }
    return n;
}

// Elements a leaf of B records of the given domains packs into (greedy, values never split).
function leafElements(B, F, DOMAINS) {
    var elements = 1;
    var used = 0;
    for (var b = 0; b < B; b++) {
        for (var k = 0; k < F; k++) {
            var bits = bitLength(DOMAINS[k]);
            if (bits > 0) {
                if (used + bits > LEAF_ELEMENT_BITS()) { elements++; used = 0; }
                used += bits;
            }
        }
    }
    return elements;
}

// in lies in 0..max: Num2Bits(bits(max)), plus Num2Bits of max - in when max + 1 is not a power of two
// (an enum whose value count is not a power of two), and in = 0 for the zero domain.
template InDomain(max) {
    signal input in;
    var n = bitLength(max);
    if (n == 0) {
        in * in === 0;
    } else {
        component bits = Num2Bits(n);
        bits.in <== in;
        if ((1 << n) != max + 1) {
            component room = Num2Bits(n);
            room.in <== max - in;
        }
    }
}

// Packs B records into leafElements(B, F, DOMAINS) elements (linear, no constraints).
template PackLeaf(B, F, DOMAINS) {
    var E = leafElements(B, F, DOMAINS);
    signal input values[B][F];
    signal output packed[E];

    var acc[E];
    for (var e = 0; e < E; e++) { acc[e] = 0; }
    var element = 0;
    var used = 0;
    for (var b = 0; b < B; b++) {
        for (var k = 0; k < F; k++) {
            var bits = bitLength(DOMAINS[k]);
            if (bits > 0) {
                if (used + bits > LEAF_ELEMENT_BITS()) { element++; used = 0; }
                acc[element] += values[b][k] * (2 ** used);
                used += bits;
            }
        }
    }
    for (var e = 0; e < E; e++) { packed[e] <== acc[e]; }
}

// leaf = PoseidonEx([salt, packed...], TAG_LEAF2).
template LeafHash2(B, F, DOMAINS) {
    var E = leafElements(B, F, DOMAINS);
    signal input salt;
    signal input values[B][F];
    signal output out;

    component pack = PackLeaf(B, F, DOMAINS);
    pack.values <== values;
    component hash = PoseidonEx(1 + E, 1);
    hash.initialState <== TAG_LEAF2();
    hash.inputs[0] <== salt;
    for (var e = 0; e < E; e++) { hash.inputs[1 + e] <== pack.packed[e]; }
    out <== hash.out[0];
}

// Full 16-ary levels above L leaves (L a power of two) before fewer than 16 nodes remain.
function fullLevels(L) {
    var levels = 0;
    var width = L;
    while (width >= 16) { width = width \ 16; levels++; }
    return levels;
}

// Root of the ragged 16-ary tree over L = 2^l leaves (design.md 7.2): full groups of 16 while at least 16
// nodes remain, then one group of the remaining 2..8 nodes (none when one node remains).
template SubtreeRoot(L) {
    signal input leaves[L];
    signal output root;

    var levels = fullLevels(L);
    var top = L;
    var hashers = 0;
    for (var l = 0; l < levels; l++) { top = top \ 16; hashers += top; }
    signal nodes[L + hashers];
    for (var i = 0; i < L; i++) { nodes[i] <== leaves[i]; }

    component full[hashers > 0 ? hashers : 1];
    var start = 0;
    var next = L;
    var width = L;
    var h = 0;
    for (var l = 0; l < levels; l++) {
        for (var j = 0; j < width \ 16; j++) {
            full[h] = PoseidonEx(16, 1);
            full[h].initialState <== TAG_NODE2();
            for (var k = 0; k < 16; k++) { full[h].inputs[k] <== nodes[start + j * 16 + k]; }
            nodes[next + j] <== full[h].out[0];
            h++;
        }
        start = next;
        next += width \ 16;
        width = width \ 16;
    }
    if (width > 1) {
        component last = PoseidonEx(width, 1);
        last.initialState <== TAG_NODE2();
        for (var k = 0; k < width; k++) { last.inputs[k] <== nodes[start + k]; }
        root <== last.out[0];
    } else {
        root <== nodes[start];
    }
}

// One-hot of a 4-bit digit: sel[4*h + l] = [hi bits = h] * [lo bits = l] (18 constraints).
template Digit16(){
    signal input bits[4];
    signal output sel[16];

    signal low <== bits[0] * bits[1];
    signal high <== bits[2] * bits[3];
    var lo[4] = [1 - bits[0] - bits[1] + low, bits[0] - low, bits[1] - low, low];
    var hi[4] = [1 - bits[2] - bits[3] + high, bits[2] - high, bits[3] - high, high];
    for (var h = 0; h < 4; h++) {
        for (var l = 0; l < 4; l++) { sel[4 * h + l] <== hi[h] * lo[l]; }
    }
}

// Recomputes the dataset root from a chunk root at position `index` (< 16^K) and the 16 children of each
// level (bottom first). children[l][digit_l(index)] must equal the running node.
template DatasetPath(K) {
    signal input leaf;
    signal input index;
    signal input children[K][16];
    signal output root;

    component digits = Num2Bits(4 * K);
    digits.in <== index;
    component position[K];
    component hash[K];
    signal picked[K][16];
    signal running[K + 1];
    running[0] <== leaf;
    for (var l = 0; l < K; l++) {
        position[l] = Digit16();
        for (var b = 0; b < 4; b++) { position[l].bits[b] <== digits.out[4 * l + b]; }
        var own = 0;
        for (var k = 0; k < 16; k++) {
            picked[l][k] <== position[l].sel[k] * children[l][k];
            own += picked[l][k];
        }
        own === running[l];
        hash[l] = PoseidonEx(16, 1);
        hash[l].initialState <== TAG_DATASET2();
        hash[l].inputs <== children[l];
        running[l + 1] <== hash[l].out[0];
    }
    root <== running[K];
}

// Accumulator commitment PoseidonEx([state..., blind], TAG_ACC2) (design.md 7.3; N + 1 <= 16 for now).
template AccCommit(N) {
    assert(N + 1 <= 16);
    signal input state[N];
    signal input blind;
    signal output out;

    component hash = PoseidonEx(N + 1, 1);
    hash.initialState <== TAG_ACC2();
    for (var i = 0; i < N; i++) { hash.inputs[i] <== state[i]; }
    hash.inputs[N] <== blind;
    out <== hash.out[0];
}
