/**
 * @file ntt.hpp
 * Radix-2 number-theoretic transforms over Fr, natural order in and out, the same transforms as
 * ffjavascript's Fr.fft / Fr.ifft: the 2^k-th root of unity is w_k = 5^((r-1)/2^28) squared 28-k times
 * (5 is Fr's smallest quadratic non-residue), ifft uses w_k^-1 and scales by 1/n. The coset shift of
 * snarkjs's prover (multiply coefficient i by w_{k+1}^i, or by 25^i when k = 28) is fused with the 1/n
 * scaling of the ifft into one pass (CosetPlan: DIF then DIT, no bit reversal). The stages are
 * cache-blocked (NttLayout) and split over all threads.
 */
#pragma once
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "field.hpp"
#include "parallel.hpp"

namespace zk {

/** w_k, a primitive 2^k-th root of unity in Fr (Montgomery form), k <= 28. */
inline Fr root_of_unity(unsigned k) {
  // (r - 1) >> 28
  u64 t[4] = {Fr::P[0] - 1, Fr::P[1], Fr::P[2], Fr::P[3]};
  for (int i = 0; i < 4; i++) t[i] = (t[i] >> 28) | (i < 3 ? t[i + 1] << 36 : 0);
  Fr w = Fr::pow(Fr::from_u64(5), t);
  for (unsigned i = k; i < 28; i++) w = Fr::sqr(w);
  return w;
}

/** The generator of snarkjs's evaluation coset for a domain of 2^k points. */
inline Fr coset_shift(unsigned k) { return k == 28 ? Fr::from_u64(25) : root_of_unity(k + 1); }

inline Fr pow_u64(Fr a, uint64_t e) {
  Fr r = Fr::one();
  while (e) {
    if (e & 1) r = Fr::mul(r, a);
    a = Fr::sqr(a);
    e >>= 1;
  }
  return r;
}

/** w^j for j < half (Montgomery form), computed in parallel slices. */
inline std::vector<Fr> twiddle_table(size_t half, const Fr& w) {
  std::vector<Fr> tw(half);
  parallel_for(half, [&](size_t b, size_t e) {
    Fr x = pow_u64(w, b);
    for (size_t i = b; i < e; i++) {
      tw[i] = x;
      x = Fr::mul(x, w);
    }
  });
  return tw;
}

/**
 * The stage layout of a cache-blocked radix-2 transform of 2^k points: stages 1..m pair indices inside
 * contiguous blocks of 2^m points (a block stays in cache through all m stages); stages m+1..k pair
 * indices with equal i mod 2^m, so they run in tiles of `cols` consecutive columns (i mod 2^m) by all
 * 2^(k-m) rows (cols * 2^(k-m) points, again cache-sized). Before the blocking (one pass per stage over
 * the whole array, both threads streaming 2 x 32 MB per stage at 2^20 points) the 800k bench spent 1.48 s
 * in its six transforms (docs/prover.md).
 */
struct NttLayout {
  /** Largest block (log2 points, default 13: 256 KB); ZKTALLY_NTT_BLOCK=b lowers it so tests reach the column stages. */
  static unsigned block_log() {
    static const unsigned b = [] {
      const char* e = std::getenv("ZKTALLY_NTT_BLOCK");
      const long v = e ? std::strtol(e, nullptr, 10) : 13;
      return v >= 1 && v <= 13 ? (unsigned)v : 13u;
    }();
    return b;
  }
  unsigned k, m;
  size_t n, cols;
  explicit NttLayout(unsigned k_) : k(k_) {
    const unsigned cap = block_log();
    m = k <= cap ? k : (k > cap + 10 ? k - 10 : cap);
    n = size_t(1) << k;
    cols = std::min<size_t>(16, size_t(1) << m);
  }
};

/** One butterfly of stage s at i0 (pair i0, i0 + half): DIT (v * t first) or DIF (difference times t). */
template <bool DIT>
inline void butterfly(Fr* a, size_t i0, size_t half, const Fr& t) {
  if (DIT) {
    const Fr v = Fr::mul(a[i0 + half], t), u = a[i0];
    a[i0] = Fr::add(u, v);
    a[i0 + half] = Fr::sub(u, v);
  } else {
    const Fr u = a[i0], v = a[i0 + half];
    a[i0] = Fr::add(u, v);
    a[i0 + half] = Fr::mul(Fr::sub(u, v), t);
  }
}

/** Stage s (pairs at distance 2^(s-1), twiddle w^(j * n / 2^s)) inside the block starting at base. */
template <bool DIT>
inline void block_stage(Fr* a, const NttLayout& L, const Fr* tw, unsigned s, size_t base) {
  const size_t half = size_t(1) << (s - 1), len = half << 1, step = L.n >> s;
  for (size_t g = base; g < base + (size_t(1) << L.m); g += len)
    for (size_t j = 0; j < half; j++) butterfly<DIT>(a, g + j, half, tw[j * step]);
}

/** Stage s > m on the columns [c0, c0 + cols) of every row. */
template <bool DIT>
inline void column_stage(Fr* a, const NttLayout& L, const Fr* tw, unsigned s, size_t c0) {
  const size_t half = size_t(1) << (s - 1), len = half << 1, step = L.n >> s, bs = size_t(1) << L.m;
  for (size_t g = 0; g < L.n; g += len)
    for (size_t hj = 0; hj < half; hj += bs)
      for (size_t j = hj + c0; j < hj + c0 + L.cols; j++) butterfly<DIT>(a, g + j, half, tw[j * step]);
}

/**
 * In-place radix-2 transform of a[0..2^k) with twiddles tw[j] = w^j: DIT takes bit-reversed input to
 * natural output (stages 1..k), DIF natural input to bit-reversed output (stages k..1).
 */
template <bool DIT>
inline void ntt_blocked(Fr* a, const NttLayout& L, const Fr* tw) {
  auto blocks = [&](unsigned s_lo, unsigned s_hi) {
    parallel_for(L.n >> L.m, [&](size_t b, size_t e) {
      for (size_t blk = b; blk < e; blk++) {
        if (DIT) for (unsigned s = s_lo; s <= s_hi; s++) block_stage<DIT>(a, L, tw, s, blk << L.m);
        else for (unsigned s = s_hi; s >= s_lo; s--) block_stage<DIT>(a, L, tw, s, blk << L.m);
      }
    }, 1);
  };
  auto columns = [&](unsigned s_lo, unsigned s_hi) {
    if (s_lo > s_hi) return;
    parallel_for((size_t(1) << L.m) / L.cols, [&](size_t b, size_t e) {
      for (size_t t = b; t < e; t++) {
        if (DIT) for (unsigned s = s_lo; s <= s_hi; s++) column_stage<DIT>(a, L, tw, s, t * L.cols);
        else for (unsigned s = s_hi; s >= s_lo; s--) column_stage<DIT>(a, L, tw, s, t * L.cols);
      }
    }, 1);
  };
  if (L.k == 0) return;
  if (DIT) {
    blocks(1, L.m);
    columns(L.m + 1, L.k);
  } else {
    columns(L.m + 1, L.k);
    blocks(1, L.m);
  }
}

/** k-bit reversal of i. */
inline size_t bit_reverse(size_t i, unsigned k) {
  size_t j = 0;
  for (unsigned bit = 0; bit < k; bit++) j |= ((i >> bit) & 1) << (k - 1 - bit);
  return j;
}

/** In-place forward transform of a[0..2^k) with root w (w = w_k for fft, w_k^-1 for the ifft core). */
inline void ntt_core(Fr* a, unsigned k, const Fr& w) {
  const size_t n = size_t(1) << k;
  if (n == 1) return;
  parallel_for(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      size_t j = bit_reverse(i, k);
      if (i < j) std::swap(a[i], a[j]);
    }
  });
  const NttLayout L(k);
  ntt_blocked<true>(a, L, twiddle_table(n / 2, w).data());
}

inline void fft(Fr* a, unsigned k) { ntt_core(a, k, root_of_unity(k)); }

/** Multiplies a[i] by scale * g^i. */
inline void scale_powers(Fr* a, size_t n, const Fr& scale, const Fr& g) {
  parallel_for(n, [&](size_t b, size_t e) {
    Fr x = Fr::mul(scale, pow_u64(g, b));
    for (size_t i = b; i < e; i++) {
      a[i] = Fr::mul(a[i], x);
      x = Fr::mul(x, g);
    }
  });
}

inline void ifft(Fr* a, unsigned k) {
  ntt_core(a, k, Fr::inv(root_of_unity(k)));
  scale_powers(a, size_t(1) << k, Fr::inv(Fr::from_u64(uint64_t(1) << k)), Fr::one());
}

/**
 * Evaluations on the domain -> evaluations on snarkjs's coset, for any number of arrays of 2^k points
 * with the twiddles computed once: the inverse transform as DIF (natural in, coefficient rev(p) at
 * position p), the coset shift and 1/n applied in that order (position p = hi 2^m + lo holds coefficient
 * rev(lo) 2^(k-m) + rev(hi), so its factor is a product of two small tables), then the forward transform
 * as DIT (bit-reversed in, natural out): no bit-reversal pass at all.
 */
class CosetPlan {
 public:
  explicit CosetPlan(unsigned k) : L_(k) {
    const size_t n = L_.n;
    const Fr w = root_of_unity(k), g = coset_shift(k);
    fwd_ = twiddle_table(n / 2 ? n / 2 : 1, w);
    inv_ = twiddle_table(n / 2 ? n / 2 : 1, Fr::inv(w));
    const size_t rows = n >> L_.m, cols = size_t(1) << L_.m;
    lo_.resize(cols);
    hi_.resize(rows);
    const Fr inv_n = Fr::inv(Fr::from_u64(uint64_t(n)));
    for (size_t lo = 0; lo < cols; lo++) lo_[lo] = pow_u64(g, (uint64_t)(bit_reverse(lo, L_.m) << (k - L_.m)));
    for (size_t hi = 0; hi < rows; hi++) hi_[hi] = Fr::mul(inv_n, pow_u64(g, (uint64_t)bit_reverse(hi, k - L_.m)));
  }

  void apply(Fr* a) const {
    if (L_.n > 1) ntt_blocked<false>(a, L_, inv_.data());
    const size_t cols = size_t(1) << L_.m;
    parallel_for(L_.n >> L_.m, [&](size_t b, size_t e) {
      for (size_t hi = b; hi < e; hi++)
        for (size_t lo = 0; lo < cols; lo++) {
          Fr& x = a[(hi << L_.m) + lo];
          x = Fr::mul(Fr::mul(x, lo_[lo]), hi_[hi]);
        }
    }, 1);
    if (L_.n > 1) ntt_blocked<true>(a, L_, fwd_.data());
  }

 private:
  NttLayout L_;
  std::vector<Fr> fwd_, inv_, lo_, hi_;
};

inline void to_coset(Fr* a, unsigned k) { CosetPlan(k).apply(a); }

}  // namespace zk
