/**
 * @file msm.hpp
 * Multi-scalar multiplication sum(k_i * P_i) by Pippenger's bucket method, on all cores.
 *
 * - Signed digits: each scalar is recoded into windows of c bits with digits in [-2^(c-1), 2^(c-1)],
 *   so a window needs 2^(c-1) buckets instead of 2^c - 1 and a negative digit adds -P (free to negate).
 * - Window size c minimises nWindows * (n + nChunks * 2^c), the bucket additions plus the bucket
 *   reduction (two additions per bucket), see choose_window().
 * - Parallelism: tasks are (window, slice of points); a window gets more than one slice only when there
 *   are fewer windows than 2x the threads, because every slice pays its own bucket reduction.
 * - Buckets are Jacobian and bases are added with mixed (Jacobian + affine) additions; bases are read in
 *   place from the key bytes (memcpy: zkey sections are only 4-byte aligned).
 * Measured alternatives are recorded in docs/prover.md.
 *
 * Scalars are plain (non-Montgomery) little-endian 256-bit integers below the group order r.
 */
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "curve.hpp"
#include "parallel.hpp"

namespace zk {

struct MsmStats {
  unsigned window = 0;
  unsigned windows = 0;
  unsigned chunks = 0;
};

inline unsigned scalar_windows(unsigned c, unsigned bits) { return (bits + 1 + c - 1) / c; }

/** Window size for n points (cost model above); `force` (>0) overrides it, for tests. */
inline unsigned choose_window(size_t n, unsigned threads, unsigned force = 0) {
  if (force) return force;
  double best = 1e300;
  unsigned bestC = 2;
  for (unsigned c = 2; c <= 20; c++) {
    unsigned nw = scalar_windows(c, 254);
    unsigned chunks = nw >= 2 * threads ? 1 : (2 * threads + nw - 1) / nw;
    double cost = (double)nw * ((double)n + (double)chunks * (double)(1u << c));
    if (cost < best) {
      best = cost;
      bestC = c;
    }
  }
  return bestC;
}

/** Signed c-bit digits of one scalar into out[w] for w < nw (top digit may reach 2^(c-1)). */
inline void signed_digits(const u64 k[4], unsigned c, unsigned nw, int32_t* out, size_t stride) {
  const int64_t half = int64_t(1) << (c - 1), full = int64_t(1) << c;
  int64_t carry = 0;
  for (unsigned w = 0; w < nw; w++) {
    unsigned bit = w * c;
    uint64_t raw = 0;
    if (bit < 256) {
      unsigned limb = bit / 64, off = bit % 64;
      raw = k[limb] >> off;
      if (off + c > 64 && limb + 1 < 4) raw |= k[limb + 1] << (64 - off);
      raw &= (uint64_t(1) << c) - 1;
    }
    int64_t d = (int64_t)raw + carry;
    if (d > half && w + 1 < nw) {
      d -= full;
      carry = 1;
    } else {
      carry = 0;
    }
    out[(size_t)w * stride] = (int32_t)d;
  }
}

/**
 * MSM over n affine bases stored back to back (sizeof(Affine<F>) bytes each) and n scalars of 32 bytes
 * each (stored back to back, little-endian, plain form). Both may be unaligned.
 */
template <class F>
Jac<F> msm(const uint8_t* bases, const uint8_t* scalars, size_t n, MsmStats* stats = nullptr,
           unsigned force_window = 0) {
  using A = Affine<F>;
  using J = Jac<F>;
  if (n == 0) return J::inf();
  const unsigned T = thread_count();
  const unsigned c = choose_window(n, T, force_window);
  const unsigned nw = scalar_windows(c, 254);
  const unsigned chunks = nw >= 2 * T ? 1 : (2 * T + nw - 1) / nw;
  const size_t per_chunk = (n + chunks - 1) / chunks;
  if (stats) *stats = {c, nw, chunks};

  std::vector<int32_t> digits((size_t)nw * n);
  parallel_for(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      u64 k[4];
      std::memcpy(k, scalars + i * 32, 32);
      signed_digits(k, c, nw, digits.data() + i, n);
    }
  });

  std::vector<J> partial((size_t)nw * chunks, J::inf());
  const size_t nbuckets = size_t(1) << (c - 1);
  parallel_tasks((size_t)nw * chunks, [&](size_t task) {
    const size_t w = task / chunks, ch = task % chunks;
    const size_t lo = ch * per_chunk, hi = lo + per_chunk < n ? lo + per_chunk : n;
    std::vector<J> buckets(nbuckets, J::inf());
    const int32_t* dw = digits.data() + w * n;
    for (size_t i = lo; i < hi; i++) {
      int32_t d = dw[i];
      if (d == 0) continue;
      A p;
      std::memcpy(&p, bases + i * sizeof(A), sizeof(A));
      if (p.is_inf()) continue;
      if (d > 0) {
        buckets[d - 1] = J::madd(buckets[d - 1], p);
      } else {
        buckets[-d - 1] = J::madd(buckets[-d - 1], p.neg());
      }
    }
    J running = J::inf(), sum = J::inf();
    for (size_t b = nbuckets; b-- > 0;) {
      running = J::add(running, buckets[b]);
      sum = J::add(sum, running);
    }
    partial[task] = sum;
  });

  J acc = J::inf();
  for (size_t w = nw; w-- > 0;) {
    for (unsigned i = 0; i < c; i++) acc = J::dbl(acc);
    for (size_t ch = 0; ch < chunks; ch++) acc = J::add(acc, partial[w * chunks + ch]);
  }
  return acc;
}

}  // namespace zk
