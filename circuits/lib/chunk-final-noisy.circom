pragma circom 2.1.6;

// ChunkFinalNoisy(C, W, NMAX, JMAX): closes a chunk chain with a differentially private answer (docs/design.md
// section 8, docs/privacy.md). Opens the last accumulator as ChunkFinal does, and releases the true count or
// (clamped) sum plus noise drawn in the circuit from the committed seed (circuits/lib/noise.circom).
// TypeScript twin: src/circuits/noise-witness.ts (noisyFinalInput); statement: src/circuits/noise.ts.
//
// Parameters: C clause slots, W query-encoding width, NMAX most coins, JMAX most scale bits (s = 2^j).
//
// Public signals (snarkjs order): released (output); root, recordCount, nonce, aggregate, clauses[C], accIn,
// seedCommitment, params (inputs).
//
// Security notes
// - released = answer + shift, shift in [0, 2^j (n + 1)): the verifier subtracts the public centre; the
//   answer itself is never output. There is no suppression: a withholding decision on the noisy value is
//   post-processing, made outside the circuit. The accumulator's max (the dominance rule's input) is
//   opened but not used: clamping bounds each record's influence instead.
// - The aggregate element is decomposed to 16 + 3W bits (mode, sumField, k, clamp lo, clamp hi); only count
//   (mode 0) and sum (mode 1) are accepted. Clamping is enforced by the chain's chunk circuit (ChunkStep with
//   CLAMP = 1), which refuses an element whose clamp bits it would not apply; here the element only selects
//   the answer and enters the noise digest.
// - The seed opens seedCommitment (binding), so the noise is a function of the manifest's commitment, the
//   request and the params; the params fix the coin and scale masks.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "./chunk-commitment.circom";
include "./noise.circom";

template ChunkFinalNoisy(C, W, NMAX, JMAX) {
    assert(C >= 1 && C + 4 <= 16 && W >= 1 && W <= 64);

    signal output released;
    signal input root;
    signal input recordCount;
    signal input nonce;
    signal input aggregate;
    signal input clauses[C];
    signal input accIn;
    signal input seedCommitment;
    signal input params;

    signal input realSeen;
    signal input keyFloor;
    signal input count;
    signal input sum;
    signal input max;
    signal input blind;
    signal input seed;
    signal input seedBlind;
    signal input active[NMAX];
    signal input scale[JMAX];

    component opened = AccCommit(5);
    opened.state <== [realSeen, keyFloor, count, sum, max];
    opened.blind <== blind;
    opened.out === accIn;
    component recordBits = Num2Bits(32);
    recordBits.in <== recordCount;
    realSeen === recordCount;

    // --- Aggregate: count (0) or sum (1) ------------------------------------------------------------------
    component aggregateBits = Num2Bits(16 + 3 * W);
    aggregateBits.in <== aggregate;
    var mode = 0;
    for (var b = 0; b < 8; b++) { mode += aggregateBits.out[b] * (2 ** b); }
    mode * (mode - 1) === 0;
    signal answer <== count + mode * (sum - count);

    // --- Noise from the committed seed ----------------------------------------------------------------------
    component commitment = NoiseSeedCommit();
    commitment.seed <== seed;
    commitment.blind <== seedBlind;
    commitment.out === seedCommitment;
    component digest = NoiseQueryDigest(C);
    digest.root <== root;
    digest.nonce <== nonce;
    digest.aggregate <== aggregate;
    digest.clauses <== clauses;
    digest.params <== params;
    component noise = BinomialDitherNoise(NMAX, JMAX);
    noise.seed <== seed;
    noise.digest <== digest.out;
    noise.params <== params;
    noise.active <== active;
    noise.scale <== scale;
    released <== answer + noise.shift;
}
