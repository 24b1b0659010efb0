pragma circom 2.1.6;

// The proven suppression decision shared by Aggregate and ChunkFinal (docs/design.md section 4,
// docs/privacy.md "Dominance rule"): small cells and dominated sums.
// TypeScript twin: src/query/evaluate.ts (isSuppressed, isDominated) and src/circuits/public-signals.ts
// (suppressionElement).
//
// The statement's minGroupSize element packs the policy: g = bits 0..31 (minimum group size, 0 = off) and
// d = bits 32..38 (dominanceShare, a percentage 0..100, 0 = off). Every element without a share reads as before.
//
// Security notes
// - The element is decomposed to exactly 39 bits and d <= 100 is range-checked, so the policy is canonical.
// - MaxOf proves the maximum of W-bit values: an upper bound of every value (W-bit differences) that is one of
//   them (a product of the differences is 0); so it is exactly the maximum, and below 2^W.
// - Dominated compares 100 * max with d * total as integers: max < 2^MB, total < 2^TB, d <= 100 keep both
//   sides below 2^(max(MB, TB) + 7) <= 2^252, so LessEq is exact (callers assert the bounds).

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./gadgets.circom";
include "./query.circom";

// Bits of the packed policy: minimum group size (32) and dominance share (7).
function policyGroupBits() { return 32; }
function policyShareBits() { return 7; }

// out = max(prior, values[0..S-1]) for inputs below 2^W (the caller range-checks them). W + 1 constraints per
// value: a W-bit decomposition of out - value, and one product of the chain that forces out to be attained.
template MaxOf(S, W) {
    signal input prior;
    signal input values[S];
    signal output out;

    var best = prior;
    for (var i = 0; i < S; i++) { best = values[i] > best ? values[i] : best; }
    out <-- best;

    component room[S + 1];
    signal attained[S + 1];
    room[S] = Num2Bits(W);
    room[S].in <== out - prior;
    attained[0] <== out - prior;
    for (var i = 0; i < S; i++) {
        room[i] = Num2Bits(W);
        room[i].in <== out - values[i];
        attained[i + 1] <== attained[i] * (out - values[i]);
    }
    attained[S] === 0;
}

// out = 1 iff 100 * max > share * total (one record makes more than share percent of the total), for
// max < 2^MB, total < 2^TB, share <= 100.
template Dominated(MB, TB) {
    signal input max;
    signal input total;
    signal input share;
    signal output out;

    var n = (MB > TB ? MB : TB) + 7;
    assert(n <= 252);
    signal weighted <== share * total;
    component exceeds = LessEq(n); // share * total + 1 <= 100 * max
    exceeds.a <== weighted + 1;
    exceeds.b <== 100 * max;
    out <== exceeds.out;
}

// suppressed = small cell (g > 0 and count < g or recordCount - count < g) or dominated sum (isSum, d > 0 and
// 100 * max > d * sum). count <= recordCount < 2^32 and g < 2^32 keep the CB-bit comparisons exact.
template Suppression(CB, MB, TB) {
    assert(CB >= 32);
    signal input policy;
    signal input recordCount;
    signal input count;
    signal input sum;
    signal input max;
    signal input isSum;
    signal output suppressed;

    var GB = policyGroupBits();
    component policyBits = Num2Bits(GB + policyShareBits());
    policyBits.in <== policy;
    var group = 0;
    var share = 0;
    for (var b = 0; b < GB; b++) { group += policyBits.out[b] * (2 ** b); }
    for (var b = 0; b < policyShareBits(); b++) { share += policyBits.out[GB + b] * (2 ** b); }
    component shareRoom = Num2Bits(policyShareBits()); // share <= 100
    shareRoom.in <== 100 - share;

    component groupOff = StrictIsZero();
    groupOff.in <== group;
    component countSmall = LessEq(CB);      // count + 1 <= g  <=>  count < g
    countSmall.a <== count + 1;
    countSmall.b <== group;
    component complementSmall = LessEq(CB); // recordCount - count < g
    complementSmall.a <== recordCount - count + 1;
    complementSmall.b <== group;
    signal eitherSmall <== countSmall.out + complementSmall.out - countSmall.out * complementSmall.out;
    signal small <== (1 - groupOff.out) * eitherSmall;

    component shareOff = StrictIsZero();
    shareOff.in <== share;
    component dominated = Dominated(MB, TB);
    dominated.max <== max;
    dominated.total <== sum;
    dominated.share <== share;
    signal ruleOn <== isSum * (1 - shareOff.out);
    signal dominates <== ruleOn * dominated.out;
    suppressed <== small + dominates - small * dominates;
}
