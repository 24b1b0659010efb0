pragma circom 2.1.6;

// PassFinalNoisy(Q, H, G, C, W, F, NMAX, JMAX): closes a multi-query chain (PassStep, circuits/lib/pass.circom)
// with differentially private histogram cells (docs/privacy.md section "Noisy histogram cells"). Opens the last
// accumulator as PassFinal does and releases, for each histogram slot h < H and each cell g of its table,
// the true count plus noise drawn in the circuit from the committed seed (circuits/lib/noise.circom):
//
//   slotDigest[h] = PoseidonEx([root, nonce, aggregates[h], clauses[h][0..C-1], 0], TAG_NOISE_QUERY)
//   cellDigest    = PoseidonEx([slotDigest[h], g, params[h][g]], TAG_NOISE_CELL)
//   released[h][g] = count[h][g] + BinomialDitherNoise(seed, cellDigest, params[h][g])   for g < used
//   released[h][g] = 0                                                                   for g >= used
//
// TypeScript twin: src/circuits/pass-noise-witness.ts; public side: src/circuits/pass-noise.ts.
//
// Public signals (snarkjs order): released[H][G] (outputs); root, recordCount, nonce, aggregates[Q],
// clauses[Q][C], accIn, seedCommitment, params[H][G] (inputs).
//
// Security notes
// - Every slot h < H must be a count histogram (mode 4): a histogram of sums has no clamping here. Slots >= H
//   release nothing (the verifier requires the padding query there).
// - Each cell's noise is derived from the seed that opens seedCommitment, the request (root, nonce, the slot's
//   query) and the cell index g, so cells get independent noise, and the same query with the same nonce gets
//   the same noise in any slot (asking a query twice in one pass does not average the noise away).
// - params[h][g] is per cell (epsilon per country): the circuit accepts any params of the shape (even n = 0,
//   no noise); the verifier recomputes (epsilon, delta) from the public params of every released cell and
//   refuses a cell whose params are not those of its stated tier.
// - No suppression: withholding a cell below the release threshold is decided on the public noisy value
//   (post-processing, checked by the verifier). Cells beyond the table must be empty, as in PassFinal.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "../../node_modules/circomlib/circuits/poseidon.circom";
include "./pass.circom";
include "./noise.circom";

// Capacity tag int(utf8("zktally/noise-cell/v1")).
function TAG_NOISE_CELL() { return 178916657140077753263919676101047265377422637233713; }

// inTable[g] = 1 iff g < used (used <= G), from a one-hot code of used.
template TableMask(G) {
    signal input used;
    signal output inTable[G];

    component usedIs = OneHot(G + 1);
    usedIs.index <== used;
    for (var g = 0; g < G; g++) {
        var below = 0;
        for (var j = g + 1; j <= G; j++) { below += usedIs.selectors[j]; }
        inTable[g] <== below;
    }
}

// The noise of one cell: BinomialDitherNoise on PoseidonEx([slotDigest, index, params], TAG_NOISE_CELL).
template CellNoise(NMAX, JMAX) {
    signal input seed;
    signal input slotDigest;
    signal input index;
    signal input params;
    signal input active[NMAX];
    signal input scale[JMAX];
    signal output shift;

    component digest = PoseidonEx(3, 1);
    digest.initialState <== TAG_NOISE_CELL();
    digest.inputs <== [slotDigest, index, params];
    component noise = BinomialDitherNoise(NMAX, JMAX);
    noise.seed <== seed;
    noise.digest <== digest.out[0];
    noise.params <== params;
    noise.active <== active;
    noise.scale <== scale;
    shift <== noise.shift;
}

template PassFinalNoisy(Q, H, G, C, W, F, NMAX, JMAX) {
    assert(F >= 1 && F <= 256 && Q >= 1 && H >= 1 && H <= Q && G >= 2 && C >= 1 && C + 4 <= 16);
    assert(W >= 1 && W <= 64);
    var N = passStateSize(Q, H, G);

    signal output released[H][G];
    signal input root;
    signal input recordCount;
    signal input nonce;
    signal input aggregates[Q];
    signal input clauses[Q][C];
    signal input accIn;
    signal input seedCommitment;
    signal input params[H][G];

    signal input state[N];
    signal input blind;
    signal input seed;
    signal input seedBlind;
    signal input active[H][G][NMAX];
    signal input scale[H][G][JMAX];

    component opened = AccCommitWide(N);
    opened.state <== state;
    opened.blind <== blind;
    opened.out === accIn;
    component recordBits = Num2Bits(32);
    recordBits.in <== recordCount;
    state[0] === recordCount;

    component commitment = NoiseSeedCommit();
    commitment.seed <== seed;
    commitment.blind <== seedBlind;
    commitment.out === seedCommitment;

    component aggregate[H];
    component table[H];
    component slotDigest[H];
    component noise[H][G];
    signal outside[H][G];
    signal noisy[H][G];
    for (var h = 0; h < H; h++) {
        aggregate[h] = DecodePassAggregate(F, W, C);
        aggregate[h].element <== aggregates[h];
        aggregate[h].modes[4] === 1;
        table[h] = TableMask(G);
        table[h].used <== aggregate[h].used;
        slotDigest[h] = NoiseQueryDigest(C);
        slotDigest[h].root <== root;
        slotDigest[h].nonce <== nonce;
        slotDigest[h].aggregate <== aggregates[h];
        slotDigest[h].clauses <== clauses[h];
        slotDigest[h].params <== 0;
        var at = 2 + 2 * Q + 2 * G * h;
        for (var g = 0; g < G; g++) {
            outside[h][g] <== 1 - table[h].inTable[g];
            outside[h][g] * state[at + g] === 0;
            noise[h][g] = CellNoise(NMAX, JMAX);
            noise[h][g].seed <== seed;
            noise[h][g].slotDigest <== slotDigest[h].out;
            noise[h][g].index <== g;
            noise[h][g].params <== params[h][g];
            noise[h][g].active <== active[h][g];
            noise[h][g].scale <== scale[h][g];
            noisy[h][g] <== state[at + g] + noise[h][g].shift;
            released[h][g] <== table[h].inTable[g] * noisy[h][g];
        }
    }

    // Slots >= H release nothing; their elements stay bound to the proof.
    signal aggregateSquared[Q];
    signal clauseSquared[Q][C];
    for (var q = 0; q < Q; q++) {
        aggregateSquared[q] <== aggregates[q] * aggregates[q];
        for (var c = 0; c < C; c++) { clauseSquared[q][c] <== clauses[q][c] * clauses[q][c]; }
    }
}
