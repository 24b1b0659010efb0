pragma circom 2.1.6;

// Noise drawn in the circuit (docs/design.md section 8, docs/privacy.md): the binomial-with-dither mechanism
// `binomial-dither/v1`. The noise is a deterministic function of the operator's committed secret seed, the
// partner's nonce and the query, so the operator cannot choose it and the partner cannot predict it.
// TypeScript twin: src/circuits/noise-witness.ts (derivation) and src/circuits/noise.ts (encoding, accounting).
//
//   seedCommitment = PoseidonEx([seed, seedBlind], TAG_NOISE_SEED)                      (in the signed manifest)
//   digest         = PoseidonEx([root, nonce, aggregate, clauses[0..C-1], params], TAG_NOISE_QUERY)
//   h_t            = PoseidonEx([seed, digest, t], TAG_NOISE_COIN), t = 0 .. ceil(NMAX / 128) - 1, and 2^16
//   coin i         = bit (i mod 128) of h_{i div 128} (the canonical 254-bit decomposition), for i < n
//   dither U       = the low j bits of h_{2^16} (an index no coin block reaches);  s = 2^j
//   shift          = s * (coin_0 + ... + coin_{n-1}) + U   in [0, s * (n + 1))
//
// params = n (16 bits) | j (8 bits) << 16, with n <= NMAX and j <= JMAX; the released value is the true answer
// plus `shift`, and a verifier subtracts the public centre floor((s * (n + 1) - 1) / 2).
//
// Security notes
// - Every h_t is decomposed with Num2Bits_strict (the alias check), so its bits are unique: with plain
//   Num2Bits(254) a prover could use h + r when h + r < 2^254 and pick other coins.
// - Only the low 128 bits of each hash are used: a uniform element of [0, r) has its low 128 bits within
//   statistical distance 2^128 / r < 2^-125 of uniform (the accounting adds this to delta).
// - The coin mask `active` and the scale mask `scale` are thermometer codes (boolean, non-increasing) whose
//   sums are n and j, so they are fixed by the public params and every signal is determined.

include "../../node_modules/circomlib/circuits/bitify.circom";
include "../../node_modules/circomlib/circuits/poseidon.circom";

// Capacity tags int(utf8("zktally/noise-seed/v1")), ("zktally/noise-query/v1"), ("zktally/noise-coin/v1").
function TAG_NOISE_SEED() { return 178916657140077753263919676101047269880992065615409; }
function TAG_NOISE_QUERY() { return 45802664227859904835563437081868100949922441715480113; }
function TAG_NOISE_COIN() { return 178916657140077753263919676101047265388404902164017; }
// Coins taken from one hash, and the hash index of the dither (above every coin block, n < 2^16).
function NOISE_COIN_BITS() { return 128; }
function NOISE_DITHER_INDEX() { return 65536; }

// seedCommitment = PoseidonEx([seed, blind], TAG_NOISE_SEED).
template NoiseSeedCommit() {
    signal input seed;
    signal input blind;
    signal output out;

    component hash = PoseidonEx(2, 1);
    hash.initialState <== TAG_NOISE_SEED();
    hash.inputs <== [seed, blind];
    out <== hash.out[0];
}

// digest of everything the noise depends on besides the seed: the dataset, the request and the noise params.
template NoiseQueryDigest(C) {
    assert(C + 4 <= 16);
    signal input root;
    signal input nonce;
    signal input aggregate;
    signal input clauses[C];
    signal input params;
    signal output out;

    component hash = PoseidonEx(C + 4, 1);
    hash.initialState <== TAG_NOISE_QUERY();
    hash.inputs[0] <== root;
    hash.inputs[1] <== nonce;
    hash.inputs[2] <== aggregate;
    for (var c = 0; c < C; c++) { hash.inputs[3 + c] <== clauses[c]; }
    hash.inputs[3 + C] <== params;
    out <== hash.out[0];
}

// A thermometer code of `count` over N positions: mask[i] = 1 iff i < count (count <= N is implied).
template Thermometer(N) {
    signal input count;
    signal input mask[N];

    var total = 0;
    for (var i = 0; i < N; i++) {
        mask[i] * (mask[i] - 1) === 0;
        if (i > 0) { mask[i] * (1 - mask[i - 1]) === 0; }
        total += mask[i];
    }
    total === count;
}

// shift = 2^j * Bin(n) + U from the seed and the digest (see the file comment). active and scale are the
// thermometer codes of n and j (private, fixed by them).
template BinomialDitherNoise(NMAX, JMAX) {
    assert(NMAX >= 2 && NMAX < 2 ** 16 && JMAX >= 1 && JMAX <= 64);
    signal input seed;
    signal input digest;
    signal input params;
    signal input active[NMAX];
    signal input scale[JMAX];
    signal output shift;

    component paramBits = Num2Bits(24);
    paramBits.in <== params;
    var n = 0;
    var j = 0;
    for (var b = 0; b < 16; b++) { n += paramBits.out[b] * (2 ** b); }
    for (var b = 0; b < 8; b++) { j += paramBits.out[16 + b] * (2 ** b); }
    component coinsUsed = Thermometer(NMAX);
    coinsUsed.count <== n;
    coinsUsed.mask <== active;
    component scaleUsed = Thermometer(JMAX);
    scaleUsed.count <== j;
    scaleUsed.mask <== scale;

    var H = (NMAX + NOISE_COIN_BITS() - 1) \ NOISE_COIN_BITS();
    component hash[H + 1];
    component bits[H + 1];
    for (var t = 0; t <= H; t++) {
        hash[t] = PoseidonEx(3, 1);
        hash[t].initialState <== TAG_NOISE_COIN();
        hash[t].inputs <== [seed, digest, t < H ? t : NOISE_DITHER_INDEX()];
        bits[t] = Num2Bits_strict();
        bits[t].in <== hash[t].out[0];
    }

    signal counted[NMAX];
    var heads = 0;
    for (var i = 0; i < NMAX; i++) {
        counted[i] <== active[i] * bits[i \ NOISE_COIN_BITS()].out[i % NOISE_COIN_BITS()];
        heads += counted[i];
    }
    signal ditherBits[JMAX];
    var dither = 0;
    var s = 1;
    for (var b = 0; b < JMAX; b++) {
        ditherBits[b] <== scale[b] * bits[H].out[b];
        dither += ditherBits[b] * (2 ** b);
        s += scale[b] * (2 ** b);
    }
    signal scaled <== s * heads;
    shift <== scaled + dither;
}
