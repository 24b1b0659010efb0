pragma circom 2.1.6;

// Aggregate(N, F, W, C, M, B, A): proves count / sum / threshold answers of a query over a committed dataset.
// Specified in docs/design.md §4; TypeScript twin: src/circuits/witness.ts (identical signal names).
//
// Parameters
//   N  record slots (capacity), N = B * A^D         F  fields per record
//   W  bits per field value (values < 2^W)          C  clause slots (predicate = AND of C clauses)
//   M  constants per clause (set size of `in`)      B  records per Merkle leaf     A  Merkle tree arity
//
// Public signals (snarkjs order): suppressed, answer (outputs); root, recordCount, minGroupSize, nonce,
// aggregate, clauses[C] (inputs). The query is a public input, so one setup serves every query of this shape.
//
// Security notes
// - Every record value is range-checked to W bits; flags are boolean and non-increasing (padding only after the
//   real records), and their sum is the public recordCount, so padding can neither be counted nor hide a record.
// - Sums are at most N * (2^W - 1) < 2^252: no wrap-around (asserted below).
// - Suppression is proven (circuits/lib/suppression.circom): the minGroupSize element packs g | share << 32;
//   when 0 < g and count or recordCount - count is below g, or (sums, 0 < share) one matching record's
//   contribution exceeds share percent of the sum, the answer output is forced to 0 and suppressed to 1.
//   Contributions are < 2^W (MaxOf's bound) and the sum < 2^(W + log2ceil(N + 1)) (Dominated's bound).

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./commitment.circom";
include "./query.circom";
include "./suppression.circom";

// Width of the counters compared against minGroupSize and the threshold k.
function counterBits(W) { return W > 32 ? W : 32; }

function log2ceil(x) {
    var bits = 0;
    while ((1 << bits) < x) { bits++; }
    return bits;
}

template Aggregate(N, F, W, C, M, B, A) {
    assert(W >= 1 && W <= 64);
    assert(F >= 1 && F <= 256);
    assert(C >= 1 && M >= 2);
    assert(clauseBits(W, M) <= 248);
    assert(N % B == 0);
    assert(N < 2 ** 32);
    assert(W + log2ceil(N + 1) <= 252);
    var E = packedCount(F, W);
    assert(B * (1 + E) <= 16);

    signal output suppressed;
    signal output answer;
    signal input root;
    signal input recordCount;
    signal input minGroupSize;
    signal input nonce;
    signal input aggregate;
    signal input clauses[C];

    signal input values[N][F];
    signal input flags[N];
    signal input salts[N];

    // --- Records: range checks, flags, packing, commitment -------------------------------------------------
    component valueBits[N][F];
    component pack[N];
    var realRecords = 0;
    for (var i = 0; i < N; i++) {
        for (var k = 0; k < F; k++) {
            valueBits[i][k] = Num2Bits(W);
            valueBits[i][k].in <== values[i][k];
        }
        // Boolean and non-increasing in one constraint (flags[i - 1] is boolean: 1 leaves flags[i] boolean,
        // 0 forces flags[i]^2 = 0).
        if (i == 0) { flags[i] * (flags[i] - 1) === 0; } else { flags[i] * (flags[i] - flags[i - 1]) === 0; }
        realRecords += flags[i];
        pack[i] = PackRecord(F, W);
        pack[i].values <== values[i];
        pack[i].flag <== flags[i];
    }
    recordCount === realRecords;

    var L = N \ B;
    component leaves[L];
    component tree = MerkleRoot(L, A);
    for (var j = 0; j < L; j++) {
        leaves[j] = LeafHash(B, E);
        for (var b = 0; b < B; b++) {
            leaves[j].salts[b] <== salts[j * B + b];
            leaves[j].packed[b] <== pack[j * B + b].packed;
        }
        tree.leaves[j] <== leaves[j].out;
    }
    tree.root === root;

    // --- Query: decode the public elements ---------------------------------------------------------------
    component clause[C];
    for (var c = 0; c < C; c++) {
        clause[c] = DecodeClause(F, W, M);
        clause[c].element <== clauses[c];
    }
    component aggregateBits = Num2Bits(16 + W);
    aggregateBits.in <== aggregate;
    var mode = 0;
    var sumField = 0;
    var threshold = 0;
    for (var b = 0; b < 8; b++) {
        mode += aggregateBits.out[b] * (2 ** b);
        sumField += aggregateBits.out[8 + b] * (2 ** b);
    }
    for (var b = 0; b < W; b++) { threshold += aggregateBits.out[16 + b] * (2 ** b); }
    component modeIs = OneHot(3); // 0 count, 1 sum, 2 threshold; rejects any other mode
    modeIs.index <== mode;
    component sumSelect = OneHot(F);
    sumSelect.index <== sumField;

    // --- Per record: clause matches, count and sum -------------------------------------------------------
    component matches[N][C];
    signal matched[N][C];
    signal sumPicked[N][F];
    signal contribution[N];
    var count = 0;
    var sum = 0;
    for (var i = 0; i < N; i++) {
        for (var c = 0; c < C; c++) {
            matches[i][c] = ClauseMatch(F, W, M);
            matches[i][c].values <== values[i];
            matches[i][c].fieldSelectors <== clause[c].fieldSelectors;
            matches[i][c].isSet <== clause[c].isSet;
            matches[i][c].negate <== clause[c].negate;
            matches[i][c].constants <== clause[c].constants;
            matched[i][c] <== (c == 0 ? flags[i] : matched[i][c - 1]) * matches[i][c].out;
        }
        var picked = 0;
        for (var k = 0; k < F; k++) {
            sumPicked[i][k] <== sumSelect.selectors[k] * values[i][k];
            picked += sumPicked[i][k];
        }
        contribution[i] <== matched[i][C - 1] * picked;
        count += matched[i][C - 1];
        sum += contribution[i];
    }

    // --- Suppression (small cells, dominated sums) and answer ----------------------------------------------
    var CB = counterBits(W);
    component maxContribution = MaxOf(N, W);
    maxContribution.prior <== 0;
    maxContribution.values <== contribution;
    component suppression = Suppression(CB, W, W + log2ceil(N + 1));
    suppression.policy <== minGroupSize;
    suppression.recordCount <== recordCount;
    suppression.count <== count;
    suppression.sum <== sum;
    suppression.max <== maxContribution.out;
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

    // Bind the nonce with a constraint so no optimiser can drop it.
    signal nonceSquared <== nonce * nonce;
}
