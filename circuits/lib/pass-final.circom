pragma circom 2.1.6;

// PassFinal(Q, H, G, C, W, F): closes a multi-query chain (docs/design.md section 9.4). Opens the last accumulator
// and proves, for each of the Q queries, its answer and suppression from the state and the manifest's
// recordCount, and for each histogram slot its G cells with per-cell suppression; nothing else is revealed.
// TypeScript twin: src/circuits/pass-witness.ts (passFinalInput, passOutputs).
//
// Public signals (snarkjs order): suppressed[Q], answers[Q], counts[Q], cells[H][G] (outputs); root,
// recordCount, minGroupSize, nonce, aggregates[Q], clauses[Q][C], accIn (inputs).
//
// Suppression (g = minGroupSize > 0, design.md 9.3)
// - count, sum, threshold, avg: suppressed when count < g or recordCount - count < g (as Aggregate).
// - histograms, per cell with count c of a table of total T: suppressed when c < g or T - c < g; the table as a
//   whole is suppressed when some cell is and the suppressed cells' total R satisfies R < g or R >= n (g - 1)
//   (n = suppressed cells): otherwise T (which may be public) minus the visible cells would pin a suppressed
//   cell. A cell output is 2 * value + suppressed (value 0 when suppressed).
// - counts[q] carries avg's count (0 for the other modes); answers[q] is 0 for histograms.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./gadgets.circom";
include "./query.circom";
include "./pass.circom";

template PassFinal(Q, H, G, C, W, F) {
    assert(F >= 1 && F <= 256 && Q >= 1 && H >= 0 && H <= Q && G >= 1 && C >= 1 && W >= 1 && W <= 64);
    var N = passStateSize(Q, H, G);
    var CB = W > 32 ? W : 32;

    signal output suppressed[Q];
    signal output answers[Q];
    signal output counts[Q];
    signal output cells[H][G];
    signal input root;
    signal input recordCount;
    signal input minGroupSize;
    signal input nonce;
    signal input aggregates[Q];
    signal input clauses[Q][C];
    signal input accIn;

    signal input state[N];
    signal input blind;

    component opened = AccCommitWide(N);
    opened.state <== state;
    opened.blind <== blind;
    opened.out === accIn;

    component recordBits = Num2Bits(32);
    recordBits.in <== recordCount;
    state[0] === recordCount;

    component groupBits = Num2Bits(CB);
    groupBits.in <== minGroupSize;
    component groupOff = StrictIsZero();
    groupOff.in <== minGroupSize;

    component aggregate[Q];
    component countSmall[Q];
    component complementSmall[Q];
    component met[Q];
    signal eitherSmall[Q];
    signal scalarSuppressed[Q];
    signal byMode[Q][4];
    signal avgCount[Q];
    for (var q = 0; q < Q; q++) {
        var count = state[2 + 2 * q];
        var sum = state[3 + 2 * q];
        aggregate[q] = DecodePassAggregate(F, W, C);
        aggregate[q].element <== aggregates[q];
        countSmall[q] = LessEq(CB);
        countSmall[q].a <== count + 1;
        countSmall[q].b <== minGroupSize;
        complementSmall[q] = LessEq(CB);
        complementSmall[q].a <== recordCount - count + 1;
        complementSmall[q].b <== minGroupSize;
        eitherSmall[q] <== countSmall[q].out + complementSmall[q].out - countSmall[q].out * complementSmall[q].out;
        scalarSuppressed[q] <== (1 - groupOff.out) * eitherSmall[q];
        met[q] = LessEq(CB);
        met[q].a <== aggregate[q].k;
        met[q].b <== count;
        byMode[q][0] <== aggregate[q].modes[0] * count;
        byMode[q][1] <== (aggregate[q].modes[1] + aggregate[q].modes[3]) * sum;
        byMode[q][2] <== aggregate[q].modes[2] * met[q].out;
        byMode[q][3] <== (1 - scalarSuppressed[q]) * (byMode[q][0] + byMode[q][1] + byMode[q][2]);
        answers[q] <== byMode[q][3];
        avgCount[q] <== aggregate[q].modes[3] * count;
        counts[q] <== (1 - scalarSuppressed[q]) * avgCount[q];
    }

    // --- Histograms: per-cell suppression, the table rule, cell outputs -----------------------------------------
    component cellSmall[H][G];
    component cellBig[H][G];
    signal cellEither[H][G];
    signal cellInTable[H][G];
    signal cellSuppressed[H][G];
    signal suppressedMass[H][G];
    component anySuppressed[H];
    component massSmall[H];
    component massFull[H];
    signal fullBound[H];
    signal massEither[H];
    signal tableSuppressed[H];
    signal tableHidden[H][G];
    signal hidden[H][G];
    signal shownCount[H][G];
    signal shownValue[H][G];
    signal shown[H][G];
    signal histogramSlot[H];
    component usedIs[H];
    signal outside[H][G];
    for (var h = 0; h < H; h++) {
        // inTable[g] = (g < used): cells of the table; cells beyond it must be empty (structural zeros).
        histogramSlot[h] <== aggregate[h].modes[4] + aggregate[h].modes[5];
        usedIs[h] = OneHot(G + 1);
        usedIs[h].index <== aggregate[h].used;
        var inTable[G];
        for (var g = 0; g < G; g++) {
            inTable[g] = 0;
            for (var j = g + 1; j <= G; j++) { inTable[g] += usedIs[h].selectors[j]; }
        }
        var at = 2 + 2 * Q + 2 * G * h;
        var total = state[2 + 2 * h];
        var n = 0;
        var mass = 0;
        for (var g = 0; g < G; g++) {
            cellSmall[h][g] = LessEq(CB);      // c < g
            cellSmall[h][g].a <== state[at + g] + 1;
            cellSmall[h][g].b <== minGroupSize;
            cellBig[h][g] = LessEq(CB);        // T - c < g
            cellBig[h][g].a <== total - state[at + g] + 1;
            cellBig[h][g].b <== minGroupSize;
            cellEither[h][g] <== cellSmall[h][g].out + cellBig[h][g].out - cellSmall[h][g].out * cellBig[h][g].out;
            outside[h][g] <== histogramSlot[h] * (1 - inTable[g]);
            outside[h][g] * state[at + g] === 0;
            cellInTable[h][g] <== (1 - groupOff.out) * inTable[g];
            cellSuppressed[h][g] <== cellInTable[h][g] * cellEither[h][g];
            suppressedMass[h][g] <== cellSuppressed[h][g] * state[at + g];
            n += cellSuppressed[h][g];
            mass += suppressedMass[h][g];
        }
        anySuppressed[h] = StrictIsZero();
        anySuppressed[h].in <== n;
        massSmall[h] = LessEq(CB + 16);        // R < g
        massSmall[h].a <== mass + 1;
        massSmall[h].b <== minGroupSize;
        fullBound[h] <== n * (minGroupSize - 1 + groupOff.out);
        massFull[h] = LessEq(CB + 16);         // n (g - 1) <= R
        massFull[h].a <== fullBound[h];
        massFull[h].b <== mass;
        massEither[h] <== massSmall[h].out + massFull[h].out - massSmall[h].out * massFull[h].out;
        tableSuppressed[h] <== (1 - anySuppressed[h].out) * massEither[h];
        for (var g = 0; g < G; g++) {
            tableHidden[h][g] <== inTable[g] * tableSuppressed[h];
            hidden[h][g] <== cellSuppressed[h][g] + tableHidden[h][g] - cellSuppressed[h][g] * tableHidden[h][g];
            // modes[4]: the cell's count; modes[5]: its sum
            shownCount[h][g] <== aggregate[h].modes[4] * state[at + g];
            shownValue[h][g] <== shownCount[h][g] + aggregate[h].modes[5] * state[at + G + g];
            shown[h][g] <== (1 - hidden[h][g]) * shownValue[h][g];
            cells[h][g] <== histogramSlot[h] * (2 * shown[h][g] + hidden[h][g]);
        }
    }

    // Per-query suppressed flag: the table's for histograms, the scalar rule otherwise.
    signal tableFlag[Q];
    for (var q = 0; q < Q; q++) {
        if (q < H) {
            tableFlag[q] <== (aggregate[q].modes[4] + aggregate[q].modes[5]) * (tableSuppressed[q] - scalarSuppressed[q]);
            suppressed[q] <== scalarSuppressed[q] + tableFlag[q];
        } else {
            tableFlag[q] <== 0;
            suppressed[q] <== scalarSuppressed[q];
        }
    }

    signal rootSquared <== root * root;
    signal nonceSquared <== nonce * nonce;
    signal clauseSquared[Q][C];
    for (var q = 0; q < Q; q++) {
        for (var c = 0; c < C; c++) { clauseSquared[q][c] <== clauses[q][c] * clauses[q][c]; }
    }
}
