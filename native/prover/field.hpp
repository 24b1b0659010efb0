/**
 * @file field.hpp
 * BN254 prime fields in Montgomery form on 4x64-bit limbs (Fq: base field, Fr: scalar field) and Fq2.
 *
 * Representation: 4 little-endian 64-bit limbs holding a*R mod p (R = 2^256), the same bytes snarkjs
 * writes for "LEM" (little-endian Montgomery) values in .zkey files, so points are used as stored.
 * Multiplication is CIOS with unsigned __int128 and the "no final carry" shortcut (valid because the top
 * limb of both moduli is below 2^62, so intermediate results stay below 2p < 2^256). Measured on this
 * machine (AMD EPYC, g++ 12 -O3): see docs/prover.md; the compiler emits mulx/adc chains with -march
 * that has BMI2, which is why the build detects it.
 *
 * Security caveat: nothing here is constant time. The prover's secret inputs (witness, r, s) are used as
 * MSM scalars and bucket indices anyway; run the prover on a machine that does not host untrusted code.
 */
#pragma once
#if defined(__x86_64__)
#include <x86intrin.h>
#else
// Portable stand-ins for the x86 carry intrinsics.
inline unsigned char _addcarry_u64(unsigned char c, unsigned long long a, unsigned long long b,
                                   unsigned long long* out) {
  unsigned __int128 s = (unsigned __int128)a + b + c;
  *out = (unsigned long long)s;
  return (unsigned char)(s >> 64);
}
inline unsigned char _subborrow_u64(unsigned char c, unsigned long long a, unsigned long long b,
                                    unsigned long long* out) {
  unsigned __int128 d = (unsigned __int128)a - b - c;
  *out = (unsigned long long)d;
  return (unsigned char)((d >> 64) & 1);
}
#endif

#include <cstdint>
#include <cstring>
#include <string>

#if defined(__x86_64__) && defined(__BMI2__) && defined(__ADX__) && !defined(ZK_NO_ASM)
#define ZK_MULX_ADX 1
#else
#define ZK_MULX_ADX 0
#endif

namespace zk {

using u64 = uint64_t;
using u128 = unsigned __int128;

/** Compile-time modulus description; constants derived once at static init (see init()). */
template <class Tag>
struct Fp {
  u64 v[4];

  static u64 P[4];      // modulus
  static u64 INV;       // -P^{-1} mod 2^64
  static Fp R2;         // R^2 mod P (to convert into Montgomery form)
  static Fp ONE;        // R mod P
  static bool ready;

  static void init(const u64 p[4]) {
    for (int i = 0; i < 4; i++) P[i] = p[i];
    u64 inv = 1;  // Newton iteration for p^{-1} mod 2^64
    for (int i = 0; i < 7; i++) inv *= 2 - P[0] * inv;
    INV = (u64)0 - inv;
    // R mod P = 2^256 mod P: start at 1 and double 256 times; R2 by 256 more doublings.
    Fp x{{1, 0, 0, 0}};
    for (int i = 0; i < 256; i++) x = add(x, x);
    ONE = x;
    for (int i = 0; i < 256; i++) x = add(x, x);
    R2 = x;
    Fp pw = ONE;
    for (int j = 0; j < 512; j++, pw = add(pw, pw)) POW2[j] = pw;
    ready = true;
  }

  static Fp zero() { return Fp{{0, 0, 0, 0}}; }
  static Fp one() { return ONE; }
  bool is_zero() const { return (v[0] | v[1] | v[2] | v[3]) == 0; }
  bool operator==(const Fp& o) const {
    return v[0] == o.v[0] && v[1] == o.v[1] && v[2] == o.v[2] && v[3] == o.v[3];
  }
  bool operator!=(const Fp& o) const { return !(*this == o); }

  /** True when the raw limbs are < P (canonical). */
  static bool lt_p(const u64 a[4]) {
    for (int i = 3; i >= 0; i--) {
      if (a[i] < P[i]) return true;
      if (a[i] > P[i]) return false;
    }
    return false;
  }

  static inline Fp sub_p_if_ge(Fp a) {
    unsigned long long r0, r1, r2, r3;
    unsigned char br = _subborrow_u64(0, a.v[0], P[0], &r0);
    br = _subborrow_u64(br, a.v[1], P[1], &r1);
    br = _subborrow_u64(br, a.v[2], P[2], &r2);
    br = _subborrow_u64(br, a.v[3], P[3], &r3);
    if (!br) a = Fp{{r0, r1, r2, r3}};
    return a;
  }

  static inline Fp add(const Fp& a, const Fp& b) {
    unsigned long long r0, r1, r2, r3;  // a + b < 2P < 2^256: no carry out
    unsigned char c = _addcarry_u64(0, a.v[0], b.v[0], &r0);
    c = _addcarry_u64(c, a.v[1], b.v[1], &r1);
    c = _addcarry_u64(c, a.v[2], b.v[2], &r2);
    _addcarry_u64(c, a.v[3], b.v[3], &r3);
    return sub_p_if_ge(Fp{{r0, r1, r2, r3}});
  }

  static inline Fp sub(const Fp& a, const Fp& b) {
    unsigned long long r0, r1, r2, r3;
    unsigned char br = _subborrow_u64(0, a.v[0], b.v[0], &r0);
    br = _subborrow_u64(br, a.v[1], b.v[1], &r1);
    br = _subborrow_u64(br, a.v[2], b.v[2], &r2);
    br = _subborrow_u64(br, a.v[3], b.v[3], &r3);
    if (br) {  // wrapped: add P back (mask form keeps it branch-light)
      const u64 m = 0 - (u64)1;
      unsigned char c = _addcarry_u64(0, r0, P[0] & m, &r0);
      c = _addcarry_u64(c, r1, P[1] & m, &r1);
      c = _addcarry_u64(c, r2, P[2] & m, &r2);
      _addcarry_u64(c, r3, P[3] & m, &r3);
    }
    return Fp{{r0, r1, r2, r3}};
  }

  static inline Fp neg(const Fp& a) { return a.is_zero() ? a : sub(zero(), a); }
  static inline Fp dbl(const Fp& a) { return add(a, a); }

  /** Montgomery product a*b/R mod P (CIOS, no-carry variant). */
  __attribute__((always_inline)) static inline Fp mul(const Fp& a, const Fp& b) {
#if ZK_MULX_ADX
    return mul_adx(a, b);
#else
    return mul_c(a, b);
#endif
  }

#if ZK_MULX_ADX
  /**
   * The same CIOS product in x86-64 assembly: mulx plus two independent carry chains (adcx on CF, adox on
   * OF) keep all limbs in registers; the portable C version below spills to the stack under g++ and
   * measured about 2x slower here (docs/prover.md).
   */
  __attribute__((always_inline)) static inline Fp mul_adx(const Fp& a, const Fp& b) {
    u64 t0, t1, t2, t3, hi, lo, tmp;
#define ZK_REDUCE                             \
  "movq %[t0], %%rdx\n\t"                     \
  "imulq %[inv], %%rdx\n\t"                   \
  "xorq %[lo], %[lo]\n\t"                     \
  "mulxq 0(%[p]), %[lo], %[tmp]\n\t"          \
  "adcxq %[t0], %[lo]\n\t"                    \
  "movq %[tmp], %[t0]\n\t"                    \
  "adcxq %[t1], %[t0]\n\t"                    \
  "mulxq 8(%[p]), %[lo], %[t1]\n\t"           \
  "adoxq %[lo], %[t0]\n\t"                    \
  "adcxq %[t2], %[t1]\n\t"                    \
  "mulxq 16(%[p]), %[lo], %[t2]\n\t"          \
  "adoxq %[lo], %[t1]\n\t"                    \
  "adcxq %[t3], %[t2]\n\t"                    \
  "mulxq 24(%[p]), %[lo], %[t3]\n\t"          \
  "adoxq %[lo], %[t2]\n\t"                    \
  "movq $0, %[lo]\n\t"                        \
  "adcxq %[lo], %[t3]\n\t"                    \
  "adoxq %[hi], %[t3]\n\t"
#define ZK_ROUND(off)                         \
  "movq " #off "(%[b]), %%rdx\n\t"            \
  "xorq %[lo], %[lo]\n\t"                     \
  "mulxq 0(%[a]), %[lo], %[hi]\n\t"           \
  "adoxq %[lo], %[t0]\n\t"                    \
  "adcxq %[hi], %[t1]\n\t"                    \
  "mulxq 8(%[a]), %[lo], %[hi]\n\t"           \
  "adoxq %[lo], %[t1]\n\t"                    \
  "adcxq %[hi], %[t2]\n\t"                    \
  "mulxq 16(%[a]), %[lo], %[hi]\n\t"          \
  "adoxq %[lo], %[t2]\n\t"                    \
  "adcxq %[hi], %[t3]\n\t"                    \
  "mulxq 24(%[a]), %[lo], %[hi]\n\t"          \
  "adoxq %[lo], %[t3]\n\t"                    \
  "movq $0, %[lo]\n\t"                        \
  "adcxq %[lo], %[hi]\n\t"                    \
  "adoxq %[lo], %[hi]\n\t"
    __asm__(
        "movq 0(%[b]), %%rdx\n\t"
        "xorq %[lo], %[lo]\n\t"
        "mulxq 0(%[a]), %[t0], %[t1]\n\t"
        "mulxq 8(%[a]), %[lo], %[t2]\n\t"
        "adoxq %[lo], %[t1]\n\t"
        "mulxq 16(%[a]), %[lo], %[t3]\n\t"
        "adoxq %[lo], %[t2]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adoxq %[lo], %[t3]\n\t"
        "movq $0, %[lo]\n\t"
        "adoxq %[lo], %[hi]\n\t" ZK_REDUCE ZK_ROUND(8) ZK_REDUCE ZK_ROUND(16) ZK_REDUCE ZK_ROUND(24) ZK_REDUCE
        : [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [hi] "=&r"(hi), [lo] "=&r"(lo),
          [tmp] "=&r"(tmp)
        : [a] "r"(a.v), [b] "r"(b.v), [p] "r"(P), [inv] "m"(INV), "m"(*(const u64(*)[4])a.v),
          "m"(*(const u64(*)[4])b.v), "m"(*(const u64(*)[4])P)
        : "rdx", "cc");
#undef ZK_REDUCE
#undef ZK_ROUND
    return sub_p_if_ge(Fp{{t0, t1, t2, t3}});
  }
#endif

  static inline Fp mul_c(const Fp& a, const Fp& b) {
    u64 t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    const u64 p0 = P[0], p1 = P[1], p2 = P[2], p3 = P[3];
#define ZK_ROUND(bi)                                              \
  {                                                               \
    u128 A = (u128)a.v[0] * (bi) + t0;                            \
    u64 lo = (u64)A;                                              \
    u64 m = lo * INV;                                             \
    u128 C = ((u128)m * p0 + lo) >> 64;                           \
    A = (u128)a.v[1] * (bi) + t1 + (A >> 64);                     \
    C = (u128)m * p1 + (u64)A + (C);                              \
    t0 = (u64)C;                                                  \
    C >>= 64;                                                     \
    A = (u128)a.v[2] * (bi) + t2 + (A >> 64);                     \
    C = (u128)m * p2 + (u64)A + C;                                \
    t1 = (u64)C;                                                  \
    C >>= 64;                                                     \
    A = (u128)a.v[3] * (bi) + t3 + (A >> 64);                     \
    C = (u128)m * p3 + (u64)A + C;                                \
    t2 = (u64)C;                                                  \
    t3 = (u64)(C >> 64) + (u64)(A >> 64);                         \
  }
    ZK_ROUND(b.v[0]) ZK_ROUND(b.v[1]) ZK_ROUND(b.v[2]) ZK_ROUND(b.v[3])
#undef ZK_ROUND
    return sub_p_if_ge(Fp{{t0, t1, t2, t3}});
  }

  static inline Fp sqr(const Fp& a) { return mul(a, a); }

  static Fp from_raw(const u64 a[4]) { return Fp{{a[0], a[1], a[2], a[3]}}; }
  /** Canonical integer (little-endian limbs, < P) to Montgomery form. */
  static Fp to_mont(const Fp& a) { return mul(a, R2); }
  /** Montgomery form back to the canonical integer. */
  static Fp from_mont(const Fp& a) { return mul(a, Fp{{1, 0, 0, 0}}); }
  static Fp from_u64(u64 x) { return to_mont(Fp{{x, 0, 0, 0}}); }

  /** a^e for a little-endian 4-limb exponent (plain integer). */
  static Fp pow(const Fp& a, const u64 e[4]) {
    Fp r = ONE;
    for (int i = 255; i >= 0; i--) {
      r = sqr(r);
      if ((e[i / 64] >> (i % 64)) & 1) r = mul(r, a);
    }
    return r;
  }

  /**
   * Inverse (inverse of 0 is 0) by Kaliski's almost Montgomery inverse on the stored integer aR: with
   * u = P, v = aR, r = 0, s = 1 and u s + v r = P throughout, the loop halves the even one of u, v (doubling
   * s or r; a whole run of zero bits at once) or halves their difference, counting the halvings k; at
   * v = 0, P - r = (aR)^-1 2^k (254 <= k <= 508). The Montgomery product with 2^(512 - k) R (table POW2)
   * is (aR)^-1 2^512 = a^-1 R. All of u, v, r, s stay at most P (r at most 2P at the end), so four limbs
   * suffice. About 3.5x faster than Fermat's 254 squarings and ~128 multiplications (docs/prover.md);
   * the MSM's batched additions invert once per batch. Not constant time (see the file comment).
   */
  static Fp inv(const Fp& a) {
    if (a.is_zero()) return a;
    u64 u[4] = {P[0], P[1], P[2], P[3]}, v[4] = {a.v[0], a.v[1], a.v[2], a.v[3]};
    u64 r[4] = {0, 0, 0, 0}, s[4] = {1, 0, 0, 0};
    unsigned k = 0;
    while (v[0] | v[1] | v[2] | v[3]) {
      if (!(u[0] & 1)) {
        const unsigned t = u[0] ? (unsigned)__builtin_ctzll(u[0]) : 63;
        shr(u, t);
        shl(s, t);
        k += t;
      } else if (!(v[0] & 1)) {
        const unsigned t = v[0] ? (unsigned)__builtin_ctzll(v[0]) : 63;
        shr(v, t);
        shl(r, t);
        k += t;
      } else if (!geq(v, u)) {
        sub_raw(u, v);
        shr(u, 1);
        add_raw(r, s);
        shl(s, 1);
        k++;
      } else {
        sub_raw(v, u);
        shr(v, 1);
        add_raw(s, r);
        shl(r, 1);
        k++;
      }
    }
    if (geq(r, P)) sub_raw(r, P);
    u64 out[4] = {P[0], P[1], P[2], P[3]};
    sub_raw(out, r);
    return mul(Fp{{out[0], out[1], out[2], out[3]}}, POW2[512 - k]);
  }

  /** POW2[j] = 2^j in Montgomery form, j < 512 (for inv). */
  static Fp POW2[512];

 private:
  static bool geq(const u64 a[4], const u64 b[4]) {
    for (int i = 3; i >= 0; i--)
      if (a[i] != b[i]) return a[i] > b[i];
    return true;
  }
  /** a += b (Add) or a -= b mod 2^256, the carry or borrow dropped. */
  template <bool Add>
  static void addsub_raw(u64 a[4], const u64 b[4]) {
    auto op = Add ? _addcarry_u64 : _subborrow_u64;
    unsigned long long r[4];
    unsigned char c = 0;
    for (int i = 0; i < 4; i++) c = op(c, a[i], b[i], &r[i]);
    for (int i = 0; i < 4; i++) a[i] = r[i];
  }
  static void sub_raw(u64 a[4], const u64 b[4]) { addsub_raw<false>(a, b); }
  static void add_raw(u64 a[4], const u64 b[4]) { addsub_raw<true>(a, b); }
  /** a >>= t, a <<= t for 1 <= t <= 63. */
  static void shr(u64 a[4], unsigned t) {
    a[0] = (a[0] >> t) | (a[1] << (64 - t));
    a[1] = (a[1] >> t) | (a[2] << (64 - t));
    a[2] = (a[2] >> t) | (a[3] << (64 - t));
    a[3] >>= t;
  }
  static void shl(u64 a[4], unsigned t) {
    a[3] = (a[3] << t) | (a[2] >> (64 - t));
    a[2] = (a[2] << t) | (a[1] >> (64 - t));
    a[1] = (a[1] << t) | (a[0] >> (64 - t));
    a[0] <<= t;
  }
};

template <class T> u64 Fp<T>::P[4];
template <class T> u64 Fp<T>::INV;
template <class T> Fp<T> Fp<T>::R2;
template <class T> Fp<T> Fp<T>::ONE;
template <class T> Fp<T> Fp<T>::POW2[512];
template <class T> bool Fp<T>::ready = false;

struct FqTag {};
struct FrTag {};
using Fq = Fp<FqTag>;
using Fr = Fp<FrTag>;

// q = 21888242871839275222246405745257275088696311157297823662689037894645226208583
static const u64 BN254_Q[4] = {0x3c208c16d87cfd47ULL, 0x97816a916871ca8dULL, 0xb85045b68181585dULL,
                               0x30644e72e131a029ULL};
// r = 21888242871839275222246405745257275088548364400416034343698204186575808495617
static const u64 BN254_R[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL, 0xb85045b68181585dULL,
                               0x30644e72e131a029ULL};

/** Fq2 = Fq[u]/(u^2 + 1). */
struct Fq2 {
  Fq c0, c1;
  static Fq2 zero() { return {Fq::zero(), Fq::zero()}; }
  static Fq2 one() { return {Fq::one(), Fq::zero()}; }
  bool is_zero() const { return c0.is_zero() && c1.is_zero(); }
  bool operator==(const Fq2& o) const { return c0 == o.c0 && c1 == o.c1; }
  bool operator!=(const Fq2& o) const { return !(*this == o); }
  static inline Fq2 add(const Fq2& a, const Fq2& b) { return {Fq::add(a.c0, b.c0), Fq::add(a.c1, b.c1)}; }
  static inline Fq2 sub(const Fq2& a, const Fq2& b) { return {Fq::sub(a.c0, b.c0), Fq::sub(a.c1, b.c1)}; }
  static inline Fq2 neg(const Fq2& a) { return {Fq::neg(a.c0), Fq::neg(a.c1)}; }
  static inline Fq2 dbl(const Fq2& a) { return add(a, a); }
  static inline Fq2 mul(const Fq2& a, const Fq2& b) {
    Fq t0 = Fq::mul(a.c0, b.c0), t1 = Fq::mul(a.c1, b.c1);
    Fq t2 = Fq::mul(Fq::add(a.c0, a.c1), Fq::add(b.c0, b.c1));
    return {Fq::sub(t0, t1), Fq::sub(Fq::sub(t2, t0), t1)};
  }
  static inline Fq2 sqr(const Fq2& a) {
    // (a0+a1u)^2 = (a0+a1)(a0-a1) + 2a0a1 u
    Fq t = Fq::mul(a.c0, a.c1);
    return {Fq::mul(Fq::add(a.c0, a.c1), Fq::sub(a.c0, a.c1)), Fq::add(t, t)};
  }
  static Fq2 inv(const Fq2& a) {
    Fq n = Fq::add(Fq::sqr(a.c0), Fq::sqr(a.c1));
    Fq ni = Fq::inv(n);
    return {Fq::mul(a.c0, ni), Fq::neg(Fq::mul(a.c1, ni))};
  }
};

inline void init_fields() {
  if (!Fq::ready) Fq::init(BN254_Q);
  if (!Fr::ready) Fr::init(BN254_R);
}

/** Decimal string of a 4-limb little-endian integer. */
inline std::string to_decimal(const u64 in[4]) {
  u64 a[4] = {in[0], in[1], in[2], in[3]};
  std::string out;
  const u64 base = 10000000000000000000ULL;  // 10^19
  bool nonzero = (a[0] | a[1] | a[2] | a[3]) != 0;
  if (!nonzero) return "0";
  while ((a[0] | a[1] | a[2] | a[3]) != 0) {
    u128 rem = 0;
    for (int i = 3; i >= 0; i--) {
      u128 cur = (rem << 64) | a[i];
      a[i] = (u64)(cur / base);
      rem = cur % base;
    }
    u64 chunk = (u64)rem;
    bool last = (a[0] | a[1] | a[2] | a[3]) == 0;
    for (int d = 0; d < 19; d++) {
      if (last && chunk == 0) break;
      out.push_back(char('0' + chunk % 10));
      chunk /= 10;
    }
  }
  return std::string(out.rbegin(), out.rend());
}

/** Parses a decimal string (< 2^256) into limbs; false on bad characters or overflow. */
inline bool from_decimal(const std::string& s, u64 out[4]) {
  u64 a[4] = {0, 0, 0, 0};
  if (s.empty() || s.size() > 78) return false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    u128 c = (u64)(ch - '0');
    for (int i = 0; i < 4; i++) {
      c += (u128)a[i] * 10;
      a[i] = (u64)c;
      c >>= 64;
    }
    if (c) return false;
  }
  std::memcpy(out, a, sizeof a);
  return true;
}

template <class F>
inline std::string dec(const F& x) {
  F n = F::from_mont(x);
  return to_decimal(n.v);
}

}  // namespace zk
