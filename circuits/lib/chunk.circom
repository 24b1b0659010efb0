pragma circom 2.1.6;

// ChunkStep(S, F, W, C, M, B, K, KEY, DOMAINS, CLAMP): one link of a chunk chain (docs/design.md section 7.4).
// Proves that chunk `chunkIndex` of the dataset committed by `root` (layout v2) moves the hidden accumulator
// committed by accIn to the one committed by accOut, for the public query (aggregate, clauses).
// TypeScript twin: src/circuits/chunk-witness.ts (identical signal names); statement: chunk-statement.ts.
//
// Parameters
//   S  records per chunk       F  fields (schema order)       W  query-encoding width (>= every field's bits)
//   C  clause slots            M  constants per clause        B  records per leaf (S % B == 0)
//   K  depth of the 16-ary dataset tree over chunk roots      KEY  key field index, or F for none
//   DOMAINS[F]  each field's largest value (the signed schema: uint 2^b - 1, enum n - 1, bool 1, padding 0)
//   CLAMP  1: the aggregate element also carries clamping bounds lo (W bits) << 16+W and hi << 16+2W, and
//          each matching record adds min(max(value, lo), hi) to the sum (design.md 8.3); 0: no clamping, the
//          element has 16 + W bits (exactly the circuit without the parameter)
//
// Public signals (snarkjs order): accOut (output); root, chunkIndex, nonce, aggregate, clauses[C], accIn.
//
// Security notes
// - Every value is checked against its schema domain (InDomain); the key is bounded by the key chain instead:
//   real keys are strictly increasing from keyFloorIn, each gap is range-checked to the key's bits and the
//   final floor is at most 2^bits, so keys are unique across the whole chain and inside their domain.
// - Flags are boolean, non-increasing, and a chunk may start with a real record only if every earlier chunk
//   was full (realSeenIn = chunkIndex * S); with the final step's realSeen = recordCount this fixes the flags:
//   no padding slot counted, no real record hidden. Padding slots have every value 0.
// - chunkIndex < 16^K (its digits are the path positions); S * 16^K <= 2^32 keeps realSeen, count and the key
//   floor far from wrapping, and sums stay below 2^32 * 2^64.
// - CLAMP = 1: lo <= hi is enforced once; both are W-bit, as is every summed value, so the two W-bit
//   comparisons per record are exact. A clamped element never fits the 16 + W bits of a CLAMP = 0 circuit.
// - Chunk 0 must open accIn to the all-zero state with blind 0. accOut hides the new state (fresh blindOut).
// - max: each contribution is a W-bit value (a W-bit field value, or clamped between W-bit bounds) or 0, and
//   maxIn is 0 at chunk 0 and a MaxOf output after, so MaxOf's inputs are all < 2^W and max stays < 2^W.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./chunk-commitment.circom";
include "./gadgets.circom";
include "./query.circom";
include "./suppression.circom";

// Accumulator state layout (design.md 7.3): realSeen, keyFloor, count, sum, max (the largest contribution
// of one matching record so far, for the dominance rule of the final step).
function ACC_STATE_SIZE() { return 5; }

// Match of one record under C decoded clauses (AND), gated by the record's flag.
template RecordMatch(F, W, C, M) {
    signal input values[F];
    signal input flag;
    signal input fieldSelectors[C][F];
    signal input isSet[C];
    signal input negate[C];
    signal input constants[C][M];
    signal output out;

    component clause[C];
    signal matched[C];
    for (var c = 0; c < C; c++) {
        clause[c] = ClauseMatch(F, W, M);
        clause[c].values <== values;
        clause[c].fieldSelectors <== fieldSelectors[c];
        clause[c].isSet <== isSet[c];
        clause[c].negate <== negate[c];
        clause[c].constants <== constants[c];
        matched[c] <== (c == 0 ? flag : matched[c - 1]) * clause[c].out;
    }
    out <== matched[C - 1];
}

// out = min(max(in, lo), hi) for in, lo, hi < 2^W and lo <= hi (2 W+1-bit comparisons, 2 products).
template Clamp(W) {
    signal input in;
    signal input lo;
    signal input hi;
    signal output out;

    component below = LessEq(W); // in + 1 <= lo  <=>  in < lo
    below.a <== in + 1;
    below.b <== lo;
    component above = LessEq(W); // hi + 1 <= in  <=>  in > hi
    above.a <== hi + 1;
    above.b <== in;
    signal fromLo <== below.out * (lo - in);
    signal fromHi <== above.out * (hi - in);
    out <== in + fromLo + fromHi;
}

template ChunkStep(S, F, W, C, M, B, K, KEY, DOMAINS, CLAMP) {
    assert(CLAMP == 0 || CLAMP == 1);
    assert(S >= 1 && B >= 1 && S % B == 0);
    assert(K >= 1 && S * (16 ** K) <= 2 ** 32);
    assert(F >= 1 && F <= 256 && W >= 1 && W <= 64);
    assert(C >= 1 && M >= 2 && clauseBits(W, M) <= 248);
    assert(KEY >= 0 && KEY <= F);
    for (var k = 0; k < F; k++) { assert(bitLength(DOMAINS[k]) <= W); }
    if (KEY < F) {
        assert(DOMAINS[KEY] >= 1 && (1 << bitLength(DOMAINS[KEY])) == DOMAINS[KEY] + 1); // a uint field
    }
    assert(1 + leafElements(B, F, DOMAINS) <= 16);

    signal output accOut;
    signal input root;
    signal input chunkIndex;
    signal input nonce;
    signal input aggregate;
    signal input clauses[C];
    signal input accIn;

    signal input values[S][F];
    signal input flags[S];
    signal input salts[S \ B];
    signal input path[K][16];
    signal input realSeenIn;
    signal input keyFloorIn;
    signal input countIn;
    signal input sumIn;
    signal input maxIn;
    signal input blindIn;
    signal input blindOut;

    // --- Incoming accumulator: opened, and the fixed zero state for chunk 0 ------------------------------
    component opened = AccCommit(ACC_STATE_SIZE());
    opened.state <== [realSeenIn, keyFloorIn, countIn, sumIn, maxIn];
    opened.blind <== blindIn;
    opened.out === accIn;
    component first = StrictIsZero();
    first.in <== chunkIndex;
    first.out * realSeenIn === 0;
    first.out * keyFloorIn === 0;
    first.out * countIn === 0;
    first.out * sumIn === 0;
    first.out * maxIn === 0;
    first.out * blindIn === 0;

    // --- Records: schema domains, flags, padding --------------------------------------------------------
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
        // Boolean and non-increasing in one constraint (flags[i - 1] is boolean: 1 leaves flags[i] boolean,
        // 0 forces flags[i]^2 = 0).
        if (i == 0) { flags[i] * (flags[i] - 1) === 0; } else { flags[i] * (flags[i] - flags[i - 1]) === 0; }
        // Padding slots are all zero (the non-key values are non-negative, so their sum is 0 only if each is).
        (1 - flags[i]) * others === 0;
        if (KEY < F) { (1 - flags[i]) * values[i][KEY] === 0; }
        realRecords += flags[i];
    }
    flags[0] * (realSeenIn - chunkIndex * S) === 0;

    // --- Keys: strictly increasing from keyFloorIn, below 2^bits(key) -----------------------------------
    signal keyFloorOut;
    if (KEY < F) {
        var keyBits = bitLength(DOMAINS[KEY]);
        signal gap[S];
        component gapBits[S];
        var running = keyFloorIn;
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
        keyFloorOut <== keyFloorIn;
    }

    // --- Commitment: leaves, subtree, chunk root, path to the dataset root -------------------------------
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

    // --- Query: decode the public elements (the final step checks the mode and threshold) ---------------
    component clause[C];
    for (var c = 0; c < C; c++) {
        clause[c] = DecodeClause(F, W, M);
        clause[c].element <== clauses[c];
    }
    component aggregateBits = Num2Bits(16 + W + CLAMP * 2 * W);
    aggregateBits.in <== aggregate;
    var sumField = 0;
    for (var b = 0; b < 8; b++) { sumField += aggregateBits.out[8 + b] * (2 ** b); }
    component sumSelect = OneHot(F);
    sumSelect.index <== sumField;
    var clampLo = 0;
    var clampHi = 0;
    for (var b = 0; b < W * CLAMP; b++) {
        clampLo += aggregateBits.out[16 + W + b] * (2 ** b);
        clampHi += aggregateBits.out[16 + 2 * W + b] * (2 ** b);
    }
    if (CLAMP == 1) {
        component clampOrdered = LessEq(W);
        clampOrdered.a <== clampLo;
        clampOrdered.b <== clampHi;
        clampOrdered.out === 1;
    }

    // --- Per record: match, count and sum ---------------------------------------------------------------
    component match[S];
    signal sumPicked[S][F];
    signal contribution[S];
    component clamped[S];
    var count = 0;
    var sum = 0;
    for (var i = 0; i < S; i++) {
        match[i] = RecordMatch(F, W, C, M);
        match[i].values <== values[i];
        match[i].flag <== flags[i];
        for (var c = 0; c < C; c++) {
            match[i].fieldSelectors[c] <== clause[c].fieldSelectors;
            match[i].isSet[c] <== clause[c].isSet;
            match[i].negate[c] <== clause[c].negate;
            match[i].constants[c] <== clause[c].constants;
        }
        var picked = 0;
        for (var k = 0; k < F; k++) {
            sumPicked[i][k] <== sumSelect.selectors[k] * values[i][k];
            picked += sumPicked[i][k];
        }
        if (CLAMP == 1) {
            clamped[i] = Clamp(W);
            clamped[i].in <== picked;
            clamped[i].lo <== clampLo;
            clamped[i].hi <== clampHi;
            contribution[i] <== match[i].out * clamped[i].out;
        } else {
            contribution[i] <== match[i].out * picked;
        }
        count += match[i].out;
        sum += contribution[i];
    }

    // --- Largest contribution (dominance rule): maxIn is the chain's so far, every contribution is < 2^W ----
    component maxOut = MaxOf(S, W);
    maxOut.prior <== maxIn;
    maxOut.values <== contribution;

    // --- Outgoing accumulator ----------------------------------------------------------------------------
    component next = AccCommit(ACC_STATE_SIZE());
    next.state <== [realSeenIn + realRecords, keyFloorOut, countIn + count, sumIn + sum, maxOut.out];
    next.blind <== blindOut;
    accOut <== next.out;

    // Bind the nonce with a constraint so no optimiser can drop it.
    signal nonceSquared <== nonce * nonce;
}
