pragma circom 2.1.6;

// ChunkFinal(C, W): closes a chunk chain (docs/design.md section 7.4). Opens the last accumulator and proves
// the answer and the suppression decision from it and the manifest's recordCount, revealing nothing else.
// TypeScript twin: src/circuits/chunk-witness.ts (finalCircuitInput); statement: chunk-statement.ts.
//
// Parameters: C clause slots, W query-encoding width (the aggregate element's threshold has W bits).
//
// Public signals (snarkjs order): suppressed, answer (outputs); root, recordCount, minGroupSize, nonce,
// aggregate, clauses[C], accIn (inputs). Indices 0..6+C mean what they mean for Aggregate.
//
// Security notes
// - realSeen = recordCount: every real record of the manifest went through the chain exactly once.
// - count <= realSeen < 2^32 by construction of the chain, so the 32-bit comparisons are exact; the chain
//   keeps max < 2^W and sum < 2^W * 2^32 (at most 2^32 records of W-bit contributions), the bounds Dominated
//   needs. The minGroupSize element packs g | dominanceShare << 32 (suppression.circom).
// - root, nonce and the clauses are not used here except to bind the statement (squared below); the chain's
//   chunk proofs use them, and the noise of the privacy issue will derive from them.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./chunk-commitment.circom";
include "./gadgets.circom";
include "./query.circom";
include "./suppression.circom";

template ChunkFinal(C, W) {
    assert(C >= 1 && W >= 1 && W <= 64);

    signal output suppressed;
    signal output answer;
    signal input root;
    signal input recordCount;
    signal input minGroupSize;
    signal input nonce;
    signal input aggregate;
    signal input clauses[C];
    signal input accIn;

    signal input realSeen;
    signal input keyFloor;
    signal input count;
    signal input sum;
    signal input max;
    signal input blind;

    component opened = AccCommit(5);
    opened.state <== [realSeen, keyFloor, count, sum, max];
    opened.blind <== blind;
    opened.out === accIn;

    component recordBits = Num2Bits(32);
    recordBits.in <== recordCount;
    realSeen === recordCount;

    // --- Aggregate element: mode (count, sum, threshold) and k ------------------------------------------
    component aggregateBits = Num2Bits(16 + W);
    aggregateBits.in <== aggregate;
    var mode = 0;
    var threshold = 0;
    for (var b = 0; b < 8; b++) { mode += aggregateBits.out[b] * (2 ** b); }
    for (var b = 0; b < W; b++) { threshold += aggregateBits.out[16 + b] * (2 ** b); }
    component modeIs = OneHot(3); // 0 count, 1 sum, 2 threshold; rejects any other mode
    modeIs.index <== mode;

    // --- Suppression (small cells, dominated sums; circuits/lib/suppression.circom) and answer -----------
    var CB = W > 32 ? W : 32;
    component suppression = Suppression(CB, W, W + 32);
    suppression.policy <== minGroupSize;
    suppression.recordCount <== recordCount;
    suppression.count <== count;
    suppression.sum <== sum;
    suppression.max <== max;
    suppression.isSum <== modeIs.selectors[1];
    suppressed <== suppression.suppressed;

    component met = LessEq(CB);             // threshold <= count
    met.a <== threshold;
    met.b <== count;
    signal byMode[3];
    byMode[0] <== modeIs.selectors[0] * count;
    byMode[1] <== modeIs.selectors[1] * sum;
    byMode[2] <== modeIs.selectors[2] * met.out;
    answer <== (1 - suppressed) * (byMode[0] + byMode[1] + byMode[2]);

    // Bind the statement's other public inputs with constraints so no optimiser can drop them.
    signal rootSquared <== root * root;
    signal nonceSquared <== nonce * nonce;
    signal clauseSquared[C];
    for (var c = 0; c < C; c++) { clauseSquared[c] <== clauses[c] * clauses[c]; }
}
