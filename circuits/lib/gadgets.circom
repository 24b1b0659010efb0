pragma circom 2.1.6;

// Small gadgets with a unique witness. circomlib's IsZero leaves `inv` free when the input is 0; a free signal
// is harmless there, but the project rule is that every signal is determined (so any single-signal edit of an
// honest witness breaks a constraint), which these versions enforce with one extra constraint.

// out = 1 if in == 0 else 0; inv = 1/in or 0.
template StrictIsZero() {
    signal input in;
    signal output out;
    signal inv;

    inv <-- in != 0 ? 1 / in : 0;
    out <== 1 - in * inv;
    in * out === 0;
    inv * out === 0; // in == 0 forces inv = 0
}

template StrictIsEqual() {
    signal input in[2];
    signal output out;

    component isZero = StrictIsZero();
    isZero.in <== in[1] - in[0];
    out <== isZero.out;
}
