pragma circom 2.1.6;

// PassStep(S, F, W, C, M, B, K, KEY, DOMAINS, Q, H, G): one link of a multi-query chunk chain (docs/design.md
// section 9). Like ChunkStep (section 7.4) it proves that chunk `chunkIndex` of the dataset committed by `root`
// moves a hidden accumulator from accIn to accOut, but for Q queries at once, each with its own DNF predicate
// (C clause slots split into terms) and aggregate, and with G histogram cells for each of the first H queries.
// The records are range-checked, hashed and walked once; only the predicate and the cells are per query.
// TypeScript twin: src/circuits/pass-witness.ts (identical signal names); statement: pass-statement.ts.
//
// Parameters: as ChunkStep, plus Q query slots, H histogram-capable slots (H <= Q: slots 0..H-1) and G cells
// per histogram (a power of two).
//
// Public signals (snarkjs order): accOut (output); root, chunkIndex, nonce, aggregates[Q], clauses[Q][C], accIn.
//
// Security notes (in addition to ChunkStep's, whose record, key and commitment checks are repeated here)
// - A matched record's cell index v[f1] + stride * v[f2] is decomposed to log2(G) bits, so a record can never
//   land outside the table (the "group selector out of range" attack), and the cell tree puts each matched
//   record in exactly one cell: sum of cells = count, a cell can be neither dropped, merged nor moved.
// - Histogram modes are refused in slots >= H (they carry no cells); f1, f2 and the summed field are one-hot.
// - A clause slot makes one comparison (PassClauseMatch): a range element that is not one-sided (lo = 0 or
//   hi = 2^W - 1) is unprovable (PassClauseSide), so no element can make the circuit test another range than
//   the one the lowering (passClauses, query/pass.ts) wrote; clause fields are one-hot (index < F).
// - Chunk 0 opens nothing: accIn must be 0 and the state is forced to zero (so verifiers need no Poseidon).

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./chunk-commitment.circom";
include "./gadgets.circom";
include "./query.circom";

// Aggregate element of a pass query (design.md 9.2): mode (8) | sumField (8) | groupField1 (8) |
// groupField2 (8) | stride (16) | used cells (16) | k (W) | termStarts (C).
function passAggregateBits(W, C) { return 64 + W + C; }

function passStateSize(Q, H, G) { return 2 + 2 * Q + 2 * H * G; }

function passLog2(G) {
    var n = 0;
    while ((1 << n) < G) { n++; }
    return n;
}

// Commitment to a state of any length: inputs [state..., blind] absorbed 16 at a time (design.md 7.3).
template AccCommitWide(N) {
    signal input state[N];
    signal input blind;
    signal output out;

    var total = N + 1;
    var steps = total <= 16 ? 1 : 1 + (total - 16 + 14) \ 15;
    component hash[steps];
    var taken = 0;
    for (var s = 0; s < steps; s++) {
        var room = s == 0 ? 16 : 15;
        var width = total - taken < room ? total - taken : room;
        var offset = s == 0 ? 0 : 1;
        hash[s] = PoseidonEx(width + offset, 1);
        hash[s].initialState <== TAG_ACC2();
        if (s > 0) { hash[s].inputs[0] <== hash[s - 1].out[0]; }
        for (var i = 0; i < width; i++) {
            var at = taken + i;
            if (at < N) { hash[s].inputs[offset + i] <== state[at]; } else { hash[s].inputs[offset + i] <== blind; }
        }
        taken += width;
    }
    out <== hash[steps - 1].out[0];
}

// Decodes a pass aggregate element: mode one-hot over 6 (count, sum, threshold, avg, histogram, histogram
// of sums), the summed and grouping fields one-hot over F, stride, used cells, k and the term-start bits.
template DecodePassAggregate(F, W, C) {
    signal input element;
    signal output modes[6];
    signal output sumSelectors[F];
    signal output group1Selectors[F];
    signal output group2Selectors[F];
    signal output stride;
    signal output used;
    signal output k;
    signal output starts[C];

    component bits = Num2Bits(passAggregateBits(W, C));
    bits.in <== element;
    var byte[4];
    for (var j = 0; j < 4; j++) {
        byte[j] = 0;
        for (var b = 0; b < 8; b++) { byte[j] += bits.out[8 * j + b] * (2 ** b); }
    }
    component mode = OneHot(6);
    mode.index <== byte[0];
    modes <== mode.selectors;
    component sumField = OneHot(F);
    sumField.index <== byte[1];
    sumSelectors <== sumField.selectors;
    component group1 = OneHot(F);
    group1.index <== byte[2];
    group1Selectors <== group1.selectors;
    component group2 = OneHot(F);
    group2.index <== byte[3];
    group2Selectors <== group2.selectors;
    var strideValue = 0;
    var usedValue = 0;
    for (var b = 0; b < 16; b++) {
        strideValue += bits.out[32 + b] * (2 ** b);
        usedValue += bits.out[48 + b] * (2 ** b);
    }
    stride <== strideValue;
    used <== usedValue;
    var kValue = 0;
    for (var b = 0; b < W; b++) { kValue += bits.out[64 + b] * (2 ** b); }
    k <== kValue;
    for (var c = 0; c < C; c++) { starts[c] <== bits.out[64 + W + c]; }
    starts[0] === 1; // clause 0 always starts the first term (canonical encoding)
}

// Per-circuit part of a pass clause (design.md 9.4): a range clause holds ONE comparison, so its range must
// be one-sided: lo = 0 (test s <= hi) or hi = 2^W - 1 (test s >= lo). The pass lowering writes eq/neq as a
// one-value set and splits a two-sided between into two clauses; a two-sided range element is unprovable.
template PassClauseSide(W) {
    signal input isSet;
    signal input lo;
    signal input hi;
    signal output lowZero;
    signal output hiIfLow;

    component low = StrictIsZero();
    low.in <== lo;
    lowZero <== low.out;
    component top = StrictIsEqual();
    top.in <== [hi, (2 ** W) - 1];
    signal twoSided <== (1 - isSet) * (1 - lowZero);
    twoSided * (1 - top.out) === 0;
    hiIfLow <== lowZero * hi;
}

// One pass clause on one record: (isSet ? s in constants : the one-sided range) XOR negate, s the selected
// field value. The comparison decomposes (lowZero ? hi - s : s - lo) + 2^W into W+1 bits: exact because s
// (range-checked by the caller) and the constants (decoded to W bits) are < 2^W.
template PassClauseMatch(F, W, M) {
    signal input values[F];
    signal input fieldSelectors[F];
    signal input isSet;
    signal input negate;
    signal input constants[M];
    signal input lowZero;
    signal input hiIfLow;
    signal output out;

    signal picked[F];
    var selected = 0;
    for (var k = 0; k < F; k++) {
        picked[k] <== fieldSelectors[k] * values[k];
        selected += picked[k];
    }
    signal flipped <== lowZero * selected;
    component side = Num2Bits(W + 1);
    side.in <== selected - constants[0] + hiIfLow - 2 * flipped + (2 ** W);
    signal inRange <== side.out[W];

    signal differences[M];
    differences[0] <== selected - constants[0];
    for (var m = 1; m < M; m++) { differences[m] <== differences[m - 1] * (selected - constants[m]); }
    component inSet = StrictIsZero();
    inSet.in <== differences[M - 1];

    signal matched <== inRange + isSet * (inSet.out - inRange);
    out <== matched + negate - 2 * negate * matched;
}

// DNF match of one record: clauses AND within a term, terms ORed; gated by the record's flag.
template PassMatch(F, W, C, M) {
    signal input values[F];
    signal input flag;
    signal input fieldSelectors[C][F];
    signal input isSet[C];
    signal input negate[C];
    signal input constants[C][M];
    signal input lowZero[C];
    signal input hiIfLow[C];
    signal input starts[C];
    signal output out;

    // carried[c] = starts[c] * running[c - 1]: the term that ended at c - 1 held (so the OR adds it).
    component clause[C];
    signal running[C];
    signal carried[C];
    var anyTerm = 0;
    for (var c = 0; c < C; c++) {
        clause[c] = PassClauseMatch(F, W, M);
        clause[c].values <== values;
        clause[c].fieldSelectors <== fieldSelectors[c];
        clause[c].isSet <== isSet[c];
        clause[c].negate <== negate[c];
        clause[c].constants <== constants[c];
        clause[c].lowZero <== lowZero[c];
        clause[c].hiIfLow <== hiIfLow[c];
        if (c == 0) {
            carried[c] <== 0;
            running[c] <== clause[c].out;
        } else {
            carried[c] <== starts[c] * running[c - 1];
            running[c] <== clause[c].out * (starts[c] + running[c - 1] - carried[c]);
        }
        anyTerm += carried[c];
    }
    anyTerm += running[C - 1];
    component none = StrictIsZero();
    none.in <== anyTerm;
    out <== flag * (1 - none.out);
}

// leaves[g] = x * (index == g) for the n-bit index given by its bits (G = 2^n leaves, G - 1 constraints).
template CellTree(n) {
    var G = 1 << n;
    signal input x;
    signal input bits[n];
    signal output leaves[G];

    signal upper[G];
    var node[G];
    node[0] = x;
    for (var j = 0; j < n; j++) {
        var half = 1 << j;
        for (var t = 0; t < half; t++) {
            upper[half + t] <== node[t] * bits[j];
            node[half + t] = upper[half + t];
            node[t] = node[t] - upper[half + t];
        }
    }
    upper[0] <== 0;
    for (var g = 0; g < G; g++) { leaves[g] <== node[g]; }
}

template PassStep(S, F, W, C, M, B, K, KEY, DOMAINS, Q, H, G) {
    assert(S >= 1 && B >= 1 && S % B == 0);
    assert(K >= 1 && S * (16 ** K) <= 2 ** 32);
    assert(F >= 1 && F <= 256 && W >= 1 && W <= 64);
    assert(C >= 1 && M >= 2 && clauseBits(W, M) <= 248 && passAggregateBits(W, C) <= 248);
    assert(Q >= 1 && H >= 0 && H <= Q && G >= 1 && (1 << passLog2(G)) == G);
    assert(KEY >= 0 && KEY <= F);
    for (var k = 0; k < F; k++) { assert(bitLength(DOMAINS[k]) <= W); }
    if (KEY < F) {
        assert(DOMAINS[KEY] >= 1 && (1 << bitLength(DOMAINS[KEY])) == DOMAINS[KEY] + 1);
    }
    assert(1 + leafElements(B, F, DOMAINS) <= 16);
    var N = passStateSize(Q, H, G);
    var LG = passLog2(G);

    signal output accOut;
    signal input root;
    signal input chunkIndex;
    signal input nonce;
    signal input aggregates[Q];
    signal input clauses[Q][C];
    signal input accIn;

    signal input values[S][F];
    signal input flags[S];
    signal input salts[S \ B];
    signal input path[K][16];
    signal input stateIn[N];
    signal input blindIn;
    signal input blindOut;

    // --- Incoming accumulator: opened unless chunk 0, where accIn = 0 and the state is zero ----------------
    component first = StrictIsZero();
    first.in <== chunkIndex;
    component opened = AccCommitWide(N);
    opened.state <== stateIn;
    opened.blind <== blindIn;
    (1 - first.out) * (opened.out - accIn) === 0;
    first.out * accIn === 0;
    for (var i = 0; i < N; i++) { first.out * stateIn[i] === 0; }
    first.out * blindIn === 0;

    // --- Records: schema domains, flags, padding (as ChunkStep) ---------------------------------------------
    component domain[S][F];
    var realRecords = 0;
    for (var i = 0; i < S; i++) {
        var others = 0;
        for (var k = 0; k < F; k++) {
            if (k != KEY) {
                domain[i][k] = InDomain(DOMAINS[k]);
                domain[i][k].in <== values[i][k];
                others += values[i][k];
            }
        }
        flags[i] * (flags[i] - 1) === 0;
        if (i > 0) { flags[i] * (1 - flags[i - 1]) === 0; }
        (1 - flags[i]) * others === 0;
        if (KEY < F) { (1 - flags[i]) * values[i][KEY] === 0; }
        realRecords += flags[i];
    }
    flags[0] * (stateIn[0] - chunkIndex * S) === 0;

    // --- Keys: strictly increasing from the incoming floor, below 2^bits(key) -------------------------------
    signal keyFloorOut;
    if (KEY < F) {
        var keyBits = bitLength(DOMAINS[KEY]);
        signal gap[S];
        component gapBits[S];
        var running = stateIn[1];
        for (var i = 0; i < S; i++) {
            gap[i] <== flags[i] * (values[i][KEY] - running);
            gapBits[i] = Num2Bits(keyBits);
            gapBits[i].in <== gap[i];
            running = running + gap[i] + flags[i];
        }
        keyFloorOut <== running;
        component floorBound = Num2Bits(keyBits + 1);
        floorBound.in <== (2 ** keyBits) - keyFloorOut;
    } else {
        keyFloorOut <== stateIn[1];
    }

    // --- Commitment: leaves, subtree, chunk root, path to the dataset root (once for all Q queries) ---------
    var L = S \ B;
    component leaves[L];
    component subtree = SubtreeRoot(L);
    for (var j = 0; j < L; j++) {
        leaves[j] = LeafHash2(B, F, DOMAINS);
        leaves[j].salt <== salts[j];
        for (var b = 0; b < B; b++) { leaves[j].values[b] <== values[j * B + b]; }
        subtree.leaves[j] <== leaves[j].out;
    }
    component chunkRoot = PoseidonEx(2, 1);
    chunkRoot.initialState <== TAG_CHUNK2();
    chunkRoot.inputs <== [chunkIndex, subtree.root];
    component datasetPath = DatasetPath(K);
    datasetPath.leaf <== chunkRoot.out[0];
    datasetPath.index <== chunkIndex;
    datasetPath.children <== path;
    datasetPath.root === root;

    // --- Queries: decode every aggregate and clause element --------------------------------------------------
    component aggregate[Q];
    component clause[Q][C];
    component side[Q][C];
    signal isHistogram[Q];
    for (var q = 0; q < Q; q++) {
        aggregate[q] = DecodePassAggregate(F, W, C);
        aggregate[q].element <== aggregates[q];
        isHistogram[q] <== aggregate[q].modes[4] + aggregate[q].modes[5];
        if (q >= H) { isHistogram[q] === 0; }
        for (var c = 0; c < C; c++) {
            clause[q][c] = DecodeClause(F, W, M);
            clause[q][c].element <== clauses[q][c];
            side[q][c] = PassClauseSide(W);
            side[q][c].isSet <== clause[q][c].isSet;
            side[q][c].lo <== clause[q][c].constants[0];
            side[q][c].hi <== clause[q][c].constants[1];
        }
    }

    // --- Per record and query: match, count, sum; cells for histogram slots ---------------------------------
    component match[S][Q];
    signal sumPicked[S][Q][F];
    signal contribution[S][Q];
    signal group1Picked[S][H][F];
    signal group2Picked[S][H][F];
    signal strided[S][H];
    signal cellIndex[S][H];
    component cellBits[S][H];
    component countTree[S][H];
    component sumTree[S][H];
    var count[Q];
    var sum[Q];
    var cellCount[H][G];
    var cellSum[H][G];
    for (var q = 0; q < Q; q++) {
        count[q] = 0;
        sum[q] = 0;
    }
    for (var h = 0; h < H; h++) {
        for (var g = 0; g < G; g++) {
            cellCount[h][g] = 0;
            cellSum[h][g] = 0;
        }
    }
    for (var i = 0; i < S; i++) {
        for (var q = 0; q < Q; q++) {
            match[i][q] = PassMatch(F, W, C, M);
            match[i][q].values <== values[i];
            match[i][q].flag <== flags[i];
            match[i][q].starts <== aggregate[q].starts;
            for (var c = 0; c < C; c++) {
                match[i][q].fieldSelectors[c] <== clause[q][c].fieldSelectors;
                match[i][q].isSet[c] <== clause[q][c].isSet;
                match[i][q].negate[c] <== clause[q][c].negate;
                match[i][q].constants[c] <== clause[q][c].constants;
                match[i][q].lowZero[c] <== side[q][c].lowZero;
                match[i][q].hiIfLow[c] <== side[q][c].hiIfLow;
            }
            var picked = 0;
            for (var k = 0; k < F; k++) {
                sumPicked[i][q][k] <== aggregate[q].sumSelectors[k] * values[i][k];
                picked += sumPicked[i][q][k];
            }
            contribution[i][q] <== match[i][q].out * picked;
            count[q] += match[i][q].out;
            sum[q] += contribution[i][q];
        }
        for (var h = 0; h < H; h++) {
            var first1 = 0;
            var second = 0;
            for (var k = 0; k < F; k++) {
                group1Picked[i][h][k] <== aggregate[h].group1Selectors[k] * values[i][k];
                group2Picked[i][h][k] <== aggregate[h].group2Selectors[k] * values[i][k];
                first1 += group1Picked[i][h][k];
                second += group2Picked[i][h][k];
            }
            strided[i][h] <== aggregate[h].stride * second;
            cellIndex[i][h] <== isHistogram[h] * (first1 + strided[i][h]);
            cellBits[i][h] = Num2Bits(LG);
            cellBits[i][h].in <== cellIndex[i][h];
            countTree[i][h] = CellTree(LG);
            countTree[i][h].x <== match[i][h].out;
            countTree[i][h].bits <== cellBits[i][h].out;
            sumTree[i][h] = CellTree(LG);
            sumTree[i][h].x <== contribution[i][h];
            sumTree[i][h].bits <== cellBits[i][h].out;
            for (var g = 0; g < G; g++) {
                cellCount[h][g] += countTree[i][h].leaves[g];
                cellSum[h][g] += sumTree[i][h].leaves[g];
            }
        }
    }

    // --- Outgoing accumulator ----------------------------------------------------------------------------------
    component next = AccCommitWide(N);
    next.state[0] <== stateIn[0] + realRecords;
    next.state[1] <== keyFloorOut;
    for (var q = 0; q < Q; q++) {
        next.state[2 + 2 * q] <== stateIn[2 + 2 * q] + count[q];
        next.state[3 + 2 * q] <== stateIn[3 + 2 * q] + sum[q];
    }
    for (var h = 0; h < H; h++) {
        for (var g = 0; g < G; g++) {
            var at = 2 + 2 * Q + 2 * G * h;
            next.state[at + g] <== stateIn[at + g] + cellCount[h][g];
            next.state[at + G + g] <== stateIn[at + G + g] + cellSum[h][g];
        }
    }
    next.blind <== blindOut;
    accOut <== next.out;

    signal nonceSquared <== nonce * nonce;
}
