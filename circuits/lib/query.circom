pragma circom 2.1.6;

// Query decoding and per-record clause evaluation, as specified in docs/design.md §3-4.
// TypeScript twin: src/query/lower.ts (encoding) and src/query/evaluate.ts (evaluateLowered).
//
// Security notes
// - Every public element is decomposed to exactly its bit length, so it is canonical and every constant is
//   < 2^W; field indices are one-hot (so < F); isSet/negate are bits.
// - Comparisons decompose s - lo + 2^W and hi - s + 2^W into W+1 bits. This is exact only because s and the
//   constants are < 2^W: the record values are range-checked by the caller and the constants here.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./gadgets.circom";

// Bit length of a clause element: fieldIndex (8) | isSet (1) | negate (1) | M values of W bits.
function clauseBits(W, M) { return 10 + M * W; }

// One-hot selector of `index` over F positions; the sum constraint rejects index >= F.
template OneHot(F) {
    signal input index;
    signal output selectors[F];

    var total = 0;
    component equal[F];
    for (var k = 0; k < F; k++) {
        equal[k] = StrictIsEqual();
        equal[k].in[0] <== index;
        equal[k].in[1] <== k;
        selectors[k] <== equal[k].out;
        total += selectors[k];
    }
    total === 1;
}

// Decodes a clause element into a field selector, the isSet/negate bits and M constants (< 2^W each).
template DecodeClause(F, W, M) {
    signal input element;
    signal output fieldSelectors[F];
    signal output isSet;
    signal output negate;
    signal output constants[M];

    component bits = Num2Bits(clauseBits(W, M));
    bits.in <== element;

    var index = 0;
    for (var i = 0; i < 8; i++) { index += bits.out[i] * (2 ** i); }
    component field = OneHot(F);
    field.index <== index;
    fieldSelectors <== field.selectors;

    isSet <== bits.out[8];
    negate <== bits.out[9];
    for (var m = 0; m < M; m++) {
        var value = 0;
        for (var b = 0; b < W; b++) { value += bits.out[10 + m * W + b] * (2 ** b); }
        constants[m] <== value;
    }
}

// 1 if a <= b for a, b < 2^n (n + 1 constraints).
template LessEq(n) {
    signal input a;
    signal input b;
    signal output out;

    component bits = Num2Bits(n + 1);
    bits.in <== b - a + (2 ** n);
    out <== bits.out[n];
}

// Evaluates one decoded clause on one record: (lo <= s <= hi, or s in constants) xor negate,
// where s is the selected field value and lo, hi = constants[0], constants[1].
template ClauseMatch(F, W, M) {
    signal input values[F];
    signal input fieldSelectors[F];
    signal input isSet;
    signal input negate;
    signal input constants[M];
    signal output out;

    signal picked[F];
    var selected = 0;
    for (var k = 0; k < F; k++) {
        picked[k] <== fieldSelectors[k] * values[k];
        selected += picked[k];
    }

    component atLeastLo = LessEq(W);
    atLeastLo.a <== constants[0];
    atLeastLo.b <== selected;
    component atMostHi = LessEq(W);
    atMostHi.a <== selected;
    atMostHi.b <== constants[1];
    signal inRange <== atLeastLo.out * atMostHi.out;

    signal differences[M];
    differences[0] <== selected - constants[0];
    for (var m = 1; m < M; m++) { differences[m] <== differences[m - 1] * (selected - constants[m]); }
    component inSet = StrictIsZero();
    inSet.in <== differences[M - 1];

    signal matched <== inRange + isSet * (inSet.out - inRange);
    out <== matched + negate - 2 * negate * matched;
}
