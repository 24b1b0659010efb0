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
 * - Buckets are affine with batched additions (window_affine) or Jacobian with mixed additions
 *   (window_jacobian, ZKTALLY_MSM=jacobian); bases are read in place from the key bytes (memcpy: zkey
 *   sections are only 4-byte aligned).
 * - GLV on G1 (glv.hpp): each scalar is split into two of 127 bits, for the base and its endomorphism
 *   image (computed once per MSM), so the windows halve over twice the points (ZKTALLY_MSM_GLV=1; off by
 *   default, measured no faster).
 * Measured alternatives are recorded in docs/prover.md.
 *
 * Scalars are plain (non-Montgomery) little-endian 256-bit integers below the group order r.
 */
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "curve.hpp"
#include "glv.hpp"
#include "parallel.hpp"

namespace zk {

struct MsmStats {
  unsigned window = 0;
  unsigned windows = 0;
  unsigned chunks = 0;
};

inline unsigned scalar_windows(unsigned c, unsigned bits) { return (bits + 1 + c - 1) / c; }

/** Window size for n points of `bits`-bit scalars (cost model above); `force` (>0) overrides it. */
inline unsigned choose_window(size_t n, unsigned threads, unsigned force = 0, unsigned bits = 254) {
  if (force) return force;
  double best = 1e300;
  unsigned bestC = 2;
  for (unsigned c = 2; c <= 20; c++) {
    unsigned nw = scalar_windows(c, bits);
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

enum class BucketMode { Affine, Jacobian };

/** ZKTALLY_MSM=jacobian selects Jacobian buckets (for measurements); default batch-affine. */
inline BucketMode bucket_mode() {
  static BucketMode m = [] {
    const char* e = std::getenv("ZKTALLY_MSM");
    return e && std::string(e) == "jacobian" ? BucketMode::Jacobian : BucketMode::Affine;
  }();
  return m;
}

/**
 * ZKTALLY_MSM_GLV=1 turns the GLV split on for G1 MSMs; off by default: it measured no faster than the
 * plain signed-digit Pippenger here (docs/prover.md), the bucket additions being the same in number.
 */
inline bool glv_enabled() {
  static bool on = [] {
    const char* e = std::getenv("ZKTALLY_MSM_GLV");
    return e && std::string(e) == "1";
  }();
  return on;
}

/** The MSM's points: [0, split) from `lo`, [split, ...) from `hi` (the GLV images), back to back each. */
struct Bases {
  const uint8_t* lo;
  const uint8_t* hi;
  size_t split;
  size_t stride;
  const uint8_t* at(size_t i) const { return i < split ? lo + i * stride : hi + (i - split) * stride; }
};

/**
 * Base i with the sign of its window digit d, into p; false when it adds nothing (d == 0 or the point at
 * infinity). Its bucket is |d| - 1.
 */
template <class F>
inline bool signed_base(const Bases& bases, size_t i, int32_t d, Affine<F>& p) {
  if (d == 0) return false;
  std::memcpy(&p, bases.at(i), sizeof(Affine<F>));
  if (p.is_inf()) return false;
  if (d < 0) p = p.neg();
  return true;
}

/** One (window, slice) task with Jacobian buckets and mixed additions. */
template <class F>
Jac<F> window_jacobian(const Bases& bases, const int32_t* dw, size_t lo, size_t hi, size_t nbuckets) {
  using A = Affine<F>;
  using J = Jac<F>;
  std::vector<J> buckets(nbuckets, J::inf());
  for (size_t i = lo; i < hi; i++) {
    int32_t d = dw[i];
    A p;
    if (!signed_base(bases, i, d, p)) continue;
    size_t b = (size_t)(d > 0 ? d - 1 : -d - 1);
    buckets[b] = J::madd(buckets[b], p);
  }
  J running = J::inf(), sum = J::inf();
  for (size_t b = nbuckets; b-- > 0;) {
    running = J::add(running, buckets[b]);
    sum = J::add(sum, running);
  }
  return sum;
}

/**
 * One (window, slice) task with affine buckets: additions are collected into batches in which every bucket
 * appears at most once, and all the batch's slope denominators are inverted together (Montgomery's trick,
 * 3 multiplications each plus one inversion per batch), so an addition costs about 6 multiplications
 * instead of the 11 of a mixed Jacobian addition. A point whose bucket is already in the current batch goes
 * into that bucket's Jacobian side sum instead of waiting (waiting lists go quadratic when few buckets are
 * hit, as in the top window or for 0/1 witness values). Equal x (doubling or cancellation, absent from
 * real keys) takes a slow exact path.
 */
template <class F>
Jac<F> window_affine(const Bases& bases, const int32_t* dw, size_t lo, size_t hi, size_t nbuckets) {
  using A = Affine<F>;
  using J = Jac<F>;
  const size_t BATCH = nbuckets >= 2048 ? 256 : (nbuckets >= 64 ? nbuckets / 8 : 8);
  std::vector<A> bucket(nbuckets);
  std::vector<J> side(nbuckets, J::inf());
  std::vector<uint8_t> full(nbuckets, 0), queued(nbuckets, 0);
  struct Item {
    uint32_t b;
    A p;
  };
  std::vector<Item> batch;
  batch.reserve(BATCH);
  std::vector<F> den(BATCH), prefix(BATCH);

  auto flush = [&] {
    size_t m = batch.size();
    if (m == 0) return;
    F acc = F::one();
    for (size_t k = 0; k < m; k++) {
      const Item& it = batch[k];
      den[k] = F::sub(it.p.x, bucket[it.b].x);
      if (den[k].is_zero()) den[k] = F::one();  // slow path below; keep the product invertible
      prefix[k] = acc;
      acc = F::mul(acc, den[k]);
    }
    F inv = F::inv(acc);
    for (size_t k = m; k-- > 0;) {
      const Item& it = batch[k];
      A& q = bucket[it.b];
      F dinv = F::mul(inv, prefix[k]);
      inv = F::mul(inv, den[k]);
      queued[it.b] = 0;
      if (q.x == it.p.x) {  // P == Q (double) or P == -Q (cancel): exact Jacobian path
        J r = J::madd(J::from(q), it.p);
        if (r.is_inf()) full[it.b] = 0;
        else q = r.to_affine();
        continue;
      }
      F lambda = F::mul(F::sub(it.p.y, q.y), dinv);
      F x3 = F::sub(F::sub(F::sqr(lambda), q.x), it.p.x);
      q.y = F::sub(F::mul(lambda, F::sub(q.x, x3)), q.y);
      q.x = x3;
    }
    batch.clear();
  };

  for (size_t i = lo; i < hi; i++) {
    int32_t d = dw[i];
    A p;
    if (!signed_base(bases, i, d, p)) continue;
    uint32_t b = (uint32_t)(d > 0 ? d - 1 : -d - 1);
    if (!full[b]) {
      bucket[b] = p;
      full[b] = 1;
    } else if (queued[b]) {
      side[b] = J::madd(side[b], p);
    } else {
      queued[b] = 1;
      batch.push_back({b, p});
      if (batch.size() == BATCH) flush();
    }
  }
  flush();
  J running = J::inf(), sum = J::inf();
  for (size_t b = nbuckets; b-- > 0;) {
    if (full[b]) running = J::madd(running, bucket[b]);
    if (!side[b].is_inf()) running = J::add(running, side[b]);
    sum = J::add(sum, running);
  }
  return sum;
}

/**
 * Pippenger over the n points of `bases` with scalars of at most `bits` bits whose signed c-bit digits
 * `fill(c, nw, digits)` writes (digit of point i in window w at digits[w * n + i]).
 */
template <class F, class Fill>
Jac<F> pippenger(const Bases& bases, size_t n, unsigned bits, Fill&& fill, MsmStats* stats, unsigned force_window) {
  using J = Jac<F>;
  const unsigned T = thread_count();
  const unsigned c = choose_window(n, T, force_window, bits);
  const unsigned nw = scalar_windows(c, bits);
  const unsigned chunks = nw >= 2 * T ? 1 : (2 * T + nw - 1) / nw;
  const size_t per_chunk = (n + chunks - 1) / chunks;
  if (stats) *stats = {c, nw, chunks};

  std::vector<int32_t> digits((size_t)nw * n);
  fill(c, nw, digits.data());

  std::vector<J> partial((size_t)nw * chunks, J::inf());
  const size_t nbuckets = size_t(1) << (c - 1);
  const bool affine = bucket_mode() == BucketMode::Affine;
  parallel_tasks((size_t)nw * chunks, [&](size_t task) {
    const size_t w = task / chunks, ch = task % chunks;
    const size_t lo = ch * per_chunk, hi = lo + per_chunk < n ? lo + per_chunk : n;
    const int32_t* dw = digits.data() + w * n;
    partial[task] = lo >= hi ? J::inf()
                    : affine ? window_affine<F>(bases, dw, lo, hi, nbuckets)
                             : window_jacobian<F>(bases, dw, lo, hi, nbuckets);
  });

  J acc = J::inf();
  for (size_t w = nw; w-- > 0;) {
    for (unsigned i = 0; i < c; i++) acc = J::dbl(acc);
    for (size_t ch = 0; ch < chunks; ch++) acc = J::add(acc, partial[w * chunks + ch]);
  }
  return acc;
}

/** Signed digits of a split half, negated when the half is negative (the sign moves onto the base). */
inline void half_digits(const GlvHalf& h, unsigned c, unsigned nw, int32_t* out, size_t stride) {
  signed_digits(h.mag, c, nw, out, stride);
  if (h.neg)
    for (unsigned w = 0; w < nw; w++) out[(size_t)w * stride] = -out[(size_t)w * stride];
}

/** G1 MSM with the GLV split: 2n points (P_i, then phi(P_i)) and 2n scalars of 127 bits. */
inline G1J msm_glv(const uint8_t* bases, const uint8_t* scalars, size_t n, MsmStats* stats, unsigned force_window) {
  std::vector<G1A> phi(n);
  const Fq& beta = glv_beta();
  parallel_for(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      G1A p;
      std::memcpy(&p, bases + i * sizeof(G1A), sizeof(G1A));
      phi[i] = p.is_inf() ? p : G1A{Fq::mul(p.x, beta), p.y};
    }
  });
  const Bases all{bases, reinterpret_cast<const uint8_t*>(phi.data()), n, sizeof(G1A)};
  auto fill = [&](unsigned c, unsigned nw, int32_t* digits) {
    parallel_for(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        u64 k[4];
        std::memcpy(k, scalars + i * 32, 32);
        GlvHalf k1, k2;
        glv_split(k, k1, k2);
        half_digits(k1, c, nw, digits + i, 2 * n);
        half_digits(k2, c, nw, digits + n + i, 2 * n);
      }
    });
  };
  return pippenger<Fq>(all, 2 * n, 127, fill, stats, force_window);
}

/**
 * MSM over n affine bases stored back to back (sizeof(Affine<F>) bytes each) and n scalars of 32 bytes
 * each (stored back to back, little-endian, plain form). Both may be unaligned. G1 uses the GLV split
 * when ZKTALLY_MSM_GLV=1.
 */
template <class F>
Jac<F> msm(const uint8_t* bases, const uint8_t* scalars, size_t n, MsmStats* stats = nullptr,
           unsigned force_window = 0) {
  if (n == 0) return Jac<F>::inf();
  if constexpr (std::is_same_v<F, Fq>) {
    if (glv_enabled()) return msm_glv(bases, scalars, n, stats, force_window);
  }
  const Bases all{bases, bases, n, sizeof(Affine<F>)};
  auto fill = [&](unsigned c, unsigned nw, int32_t* digits) {
    parallel_for(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        u64 k[4];
        std::memcpy(k, scalars + i * 32, 32);
        signed_digits(k, c, nw, digits + i, n);
      }
    });
  };
  return pippenger<F>(all, n, 254, fill, stats, force_window);
}

}  // namespace zk
