/**
 * @file ntt.hpp
 * Radix-2 number-theoretic transforms over Fr, natural order in and out, the same transforms as
 * ffjavascript's Fr.fft / Fr.ifft: the 2^k-th root of unity is w_k = 5^((r-1)/2^28) squared 28-k times
 * (5 is Fr's smallest quadratic non-residue), ifft uses w_k^-1 and scales by 1/n. The coset shift of
 * snarkjs's prover (multiply coefficient i by w_{k+1}^i, or by 25^i when k = 28) is fused with the 1/n
 * scaling of the ifft into one pass. Each butterfly stage is split over all threads.
 */
#pragma once
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

/** In-place forward transform of a[0..2^k) with root w (w = w_k for fft, w_k^-1 for the ifft core). */
inline void ntt_core(Fr* a, unsigned k, const Fr& w) {
  const size_t n = size_t(1) << k;
  if (n == 1) return;
  parallel_for(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      size_t j = 0;
      for (unsigned bit = 0; bit < k; bit++) j |= ((i >> bit) & 1) << (k - 1 - bit);
      if (i < j) std::swap(a[i], a[j]);
    }
  });
  std::vector<Fr> tw(n / 2);
  parallel_for(n / 2, [&](size_t b, size_t e) {
    Fr x = pow_u64(w, b);
    for (size_t i = b; i < e; i++) {
      tw[i] = x;
      x = Fr::mul(x, w);
    }
  });
  // The first k - log2(threads) stages work inside independent blocks: one parallel region for all of
  // them (fork-join per stage cost more than the stage itself on small domains under load), cache-local.
  unsigned log_t = 0;
  while ((1u << log_t) < thread_count()) log_t++;
  const unsigned local = k > log_t ? k - log_t : 0;
  auto butterflies = [&](size_t base, unsigned s, size_t j_lo, size_t j_hi) {
    const size_t half = size_t(1) << (s - 1), step = n >> s;
    for (size_t j = j_lo; j < j_hi; j++) {
      size_t i0 = base + j, i1 = i0 + half;
      Fr v = Fr::mul(a[i1], tw[j * step]);
      Fr u = a[i0];
      a[i0] = Fr::add(u, v);
      a[i1] = Fr::sub(u, v);
    }
  };
  if (local > 0) {
    const size_t bs = size_t(1) << local;
    parallel_for(n >> local, [&](size_t b, size_t e) {
      for (size_t blk = b; blk < e; blk++) {
        for (unsigned s = 1; s <= local; s++) {
          const size_t len = size_t(1) << s;
          for (size_t base = blk * bs; base < (blk + 1) * bs; base += len) butterflies(base, s, 0, len / 2);
        }
      }
    }, 1);
  }
  for (unsigned s = local + 1; s <= k; s++) {
    const size_t half = size_t(1) << (s - 1);
    parallel_for(n / 2, [&](size_t b, size_t e) {
      for (size_t t = b; t < e; t++) {
        size_t blk = t >> (s - 1), j = t & (half - 1);
        butterflies(blk << s, s, j, j + 1);
      }
    }, 4096);
  }
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

/** Evaluations on the domain -> evaluations on snarkjs's coset (ifft, shift, fft; one fused pass). */
inline void to_coset(Fr* a, unsigned k) {
  ntt_core(a, k, Fr::inv(root_of_unity(k)));
  scale_powers(a, size_t(1) << k, Fr::inv(Fr::from_u64(uint64_t(1) << k)), coset_shift(k));
  fft(a, k);
}

}  // namespace zk
