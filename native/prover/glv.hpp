/**
 * @file glv.hpp
 * The GLV endomorphism of BN254 G1, for the G1 multi-scalar multiplications (msm.hpp).
 *
 * phi(x, y) = (beta * x, y) equals lambda * (x, y) on G1, with beta a cube root of unity in Fq and lambda one
 * in Fr (the pair that matches, checked against @noble/curves by test/native-arith.test.ts). A scalar k < r
 * is split into k = k1 + k2 * lambda (mod r) with |k1|, |k2| < 2^127 by Babai rounding against the short
 * basis v1 = (a1, b1), v2 = (a2, b2) of the lattice {(x, y) : x + y * lambda = 0 mod r} (extended Euclid on
 * r and lambda; a1 * b2 - a2 * b1 = r): c1 = round(b2 * k / r), c2 = round(-b1 * k / r),
 * (k1, k2) = (k, 0) - c1 * v1 - c2 * v2. The divisions by r are products with g1 = round(b2 * 2^256 / r) and
 * g2 = round(-b1 * 2^256 / r) shifted right by 256: each c_i is within 1/2 + 1/8 of b2 * k / r resp.
 * -b1 * k / r, and (k, 0) is exactly (b2 k / r) v1 + (-b1 k / r) v2, so |k1| <= 5/8 (|a1| + |a2|) and
 * |k2| <= 5/8 (|b1| + |b2|), both below 2^126.2 < 2^127.
 * So an MSM of n full-size scalars becomes one of 2n scalars of 127 bits: half the windows, the same number
 * of bucket additions, half the bucket reductions. Small scalars (below about 2^126) split into (k, 0).
 *
 * Security caveat: not constant time (see field.hpp).
 */
#pragma once
#include <stdexcept>

#include "field.hpp"

namespace zk {

namespace glv {
// beta = 2203960485148121921418603742825762020974279258880205651966 (in Fq, plain)
static const u64 BETA[4] = {0x5763473177fffffeULL, 0xd4f263f1acdb5c4fULL, 0x59e26bcea0d48bacULL, 0};
// lambda = 4407920970296243842393367215006156084916469457145843978461 (in Fr, plain)
static const u64 LAMBDA[4] = {0x8b17ea66b99c90ddULL, 0x5bfc41088d8daaa7ULL, 0xb3c4d79d41a91758ULL, 0};
static const u64 A1 = 0x89d3256894d213e3ULL;                                    // a1 = b2
static const u64 B1_ABS[2] = {0x8211bbeb7d4f1128ULL, 0x6f4d8248eeb859fcULL};      // -b1
static const u64 A2[2] = {0x0be4e1541221250bULL, 0x6f4d8248eeb859fdULL};          // a2
static const u64 G1R[2] = {0xd91d232ec7e0b3d7ULL, 0x2ULL};                       // round(b2 * 2^256 / r)
static const u64 G2R[3] = {0x7a7bd9d4391eb18eULL, 0x4ccef014a773d2cfULL, 0x2ULL};  // round(-b1 * 2^256 / r)
}  // namespace glv

/** beta in Montgomery form (phi(x, y) = (beta * x, y)). */
inline const Fq& glv_beta() {
  static const Fq beta = Fq::to_mont(Fq::from_raw(glv::BETA));
  return beta;
}

/** a * b mod 2^(64 * nout) for little-endian limb arrays. */
inline void mul_limbs(u64* out, size_t nout, const u64* a, size_t na, const u64* b, size_t nb) {
  for (size_t i = 0; i < nout; i++) out[i] = 0;
  for (size_t i = 0; i < na && i < nout; i++) {
    u64 carry = 0;
    for (size_t j = 0; j < nb && i + j < nout; j++) {
      u128 t = (u128)a[i] * b[j] + out[i + j] + carry;
      out[i + j] = (u64)t;
      carry = (u64)(t >> 64);
    }
    if (i + nb < nout) out[i + nb] = carry;
  }
}

/** out = a - b mod 2^256. */
inline void sub4(u64 out[4], const u64 a[4], const u64 b[4]) {
  unsigned char br = 0;
  for (int i = 0; i < 4; i++) {
    unsigned long long r;
    br = _subborrow_u64(br, a[i], b[i], &r);
    out[i] = r;
  }
}

/** One half of a split scalar: |k_i| in two limbs and its sign. */
struct GlvHalf {
  u64 mag[4];  // mag[2] = mag[3] = 0
  bool neg;
};

/** Two's-complement 256-bit value (known to be small) to sign and magnitude below 2^127. */
inline GlvHalf glv_half(const u64 v[4]) {
  GlvHalf h{{v[0], v[1], v[2], v[3]}, (v[3] >> 63) != 0};
  if (h.neg) {
    const u64 zero[4] = {0, 0, 0, 0};
    sub4(h.mag, zero, v);
  }
  if (h.mag[2] | h.mag[3] | (h.mag[1] >> 63)) throw std::logic_error("GLV split out of range (constants wrong?)");
  return h;
}

/** k (plain, < r) = k1 + k2 * lambda (mod r), |k1|, |k2| < 2^127. */
inline void glv_split(const u64 k[4], GlvHalf& k1, GlvHalf& k2) {
  // c1 = (k * g1 + 2^255) >> 256 (< 2^64), c2 = (k * g2 + 2^255) >> 256 (< 2^128).
  u64 p1[6], p2[7];
  mul_limbs(p1, 6, k, 4, glv::G1R, 2);
  mul_limbs(p2, 7, k, 4, glv::G2R, 3);
  auto round_hi = [](u64* p, size_t n) {
    unsigned char c = _addcarry_u64(0, p[3], u64(1) << 63, reinterpret_cast<unsigned long long*>(&p[3]));
    for (size_t i = 4; i < n; i++) c = _addcarry_u64(c, p[i], 0, reinterpret_cast<unsigned long long*>(&p[i]));
  };
  round_hi(p1, 6);
  round_hi(p2, 7);
  const u64 c1[1] = {p1[4]};
  const u64 c2[2] = {p2[4], p2[5]};
  // k1 = k - c1 * a1 - c2 * a2; k2 = c1 * |b1| - c2 * b2 (b2 = a1), all mod 2^256.
  u64 t[4], u[4], r1[4], r2[4];
  mul_limbs(t, 4, c1, 1, &glv::A1, 1);
  mul_limbs(u, 4, c2, 2, glv::A2, 2);
  sub4(r1, k, t);
  sub4(r1, r1, u);
  mul_limbs(t, 4, c1, 1, glv::B1_ABS, 2);
  mul_limbs(u, 4, c2, 2, &glv::A1, 1);
  sub4(r2, t, u);
  k1 = glv_half(r1);
  k2 = glv_half(r2);
}

}  // namespace zk
