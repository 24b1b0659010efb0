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
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "batch_affine.hpp"
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

/**
 * Cost of window size c in bucket additions: the additions (a b-bit scalar has a non-zero digit in at most
 * scalar_windows(c, b) windows; `hist[b]` scalars have b bits, or all n have `bits` when hist is null),
 * the bucket reductions (REDUCE additions per bucket per (window, slice): two batched affine additions
 * plus the lanes' share) and the digit scan (SCAN per digit read); additions cost 4% more per bit of c
 * above 14, where the G1 bucket array outgrows the core's cache. Calibrated with callgrind at 2^16 points
 * and CPU times at 800k / 2^20 points (docs/prover.md): near the optimum the cost is flat.
 */
inline double window_cost(unsigned c, size_t n, unsigned threads, unsigned bits, const uint64_t* hist) {
  const double REDUCE = 2.3, SCAN = 0.03;
  const unsigned nw = scalar_windows(c, bits);
  const unsigned chunks = nw >= 2 * threads ? 1 : (2 * threads + nw - 1) / nw;
  double adds = (double)n * nw;
  if (hist) {
    adds = 0;
    for (unsigned b = 1; b <= 256; b++)
      if (hist[b]) adds += (double)hist[b] * std::min(nw, scalar_windows(c, b));
  }
  adds *= 1 + 0.04 * (c > 14 ? c - 14 : 0);  // bucket arrays past ~512 KB: cache misses (docs/prover.md)
  return adds + (double)nw * chunks * (double)(size_t(1) << (c - 1)) * REDUCE + (double)nw * (double)n * SCAN;
}

/** Window size (window_cost) for n points of at most `bits` bits; `force` (>0) overrides it. */
inline unsigned choose_window(size_t n, unsigned threads, unsigned force = 0, unsigned bits = 254,
                              const uint64_t* hist = nullptr) {
  if (force) return force;
  double best = 1e300;
  unsigned bestC = 2;
  for (unsigned c = 2; c <= 20; c++) {
    const double cost = window_cost(c, n, threads, bits, hist);
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

/** ZKTALLY_MSM_BATCH=N overrides the batch size of the bucket additions (for measurements). */
inline size_t batch_size(size_t nbuckets) {
  static const size_t forced = [] {
    const char* e = std::getenv("ZKTALLY_MSM_BATCH");
    return e ? (size_t)std::strtoul(e, nullptr, 10) : size_t(0);
  }();
  if (forced) return forced;
  return nbuckets >= 2048 ? 256 : (nbuckets >= 64 ? nbuckets / 8 : 8);
}

/** sum_b (b + 1) * bucket[b]: batch-affine lanes (batch_affine.hpp) unless there are few buckets. */
template <class F>
Jac<F> bucket_sum(const std::vector<Affine<F>>& bucket) {
  using J = Jac<F>;
  const size_t nb = bucket.size();
  if (nb >= 64) return reduce_buckets(bucket, nb);
  J running = J::inf(), sum = J::inf();
  for (size_t b = nb; b-- > 0;) {
    running = J::madd(running, bucket[b]);
    sum = J::add(sum, running);
  }
  return sum;
}

/**
 * One (window, slice) task with affine buckets: additions are collected into batches in which every bucket
 * appears at most once (AffineBatch, ~6 multiplications per addition instead of 11). A point whose bucket
 * is already in the current batch goes into that bucket's Jacobian side sum instead of waiting (waiting
 * lists go quadratic when few buckets are hit, as in the top window or for small witness values); the side
 * sums are folded into their buckets (one batch) before the bucket reduction. mark[b]: 0 empty, 1 holding
 * a point, the batch's epoch while queued in it.
 */
template <class F>
Jac<F> window_affine(const Bases& bases, const int32_t* dw, size_t lo, size_t hi, size_t nbuckets) {
  using A = Affine<F>;
  using J = Jac<F>;
  AffineBatch<F> batch(batch_size(nbuckets));
  std::vector<A> bucket(nbuckets, A::inf());
  std::vector<uint32_t> mark(nbuckets, 0);
  std::vector<J> sides;
  std::vector<uint32_t> side_bucket, side_at(nbuckets, 0);
  for (size_t i = lo; i < hi; i++) {
    int32_t d = dw[i];
    A p;
    if (!signed_base(bases, i, d, p)) continue;
    const uint32_t b = (uint32_t)(d > 0 ? d - 1 : -d - 1);
    const uint32_t m = mark[b];
    if (m == 0) {
      bucket[b] = p;
      mark[b] = 1;
    } else if (m == batch.epoch()) {
      if (side_at[b] == 0) {
        sides.push_back(J::from(p));
        side_bucket.push_back(b);
        side_at[b] = (uint32_t)sides.size();
      } else {
        sides[side_at[b] - 1] = J::madd(sides[side_at[b] - 1], p);
      }
    } else {
      __builtin_prefetch(&bucket[b], 1);
      mark[b] = batch.epoch();
      batch.add(&bucket[b], p);
    }
  }
  batch.flush();
  if (!sides.empty()) {
    std::vector<A> folded;
    normalize(sides, folded);
    for (size_t k = 0; k < sides.size(); k++) batch.add(&bucket[side_bucket[k]], folded[k]);
    batch.flush();
  }
  return bucket_sum(bucket);
}

/**
 * Pippenger over the n points of `bases` with scalars of at most `bits` bits whose signed c-bit digits
 * `fill(c, nw, digits)` writes (digit of point i in window w at digits[w * n + i]); `hist` (bit-length counts
 * of the scalars, see ScalarCensus) refines the window choice.
 */
template <class F, class Fill>
Jac<F> pippenger(const Bases& bases, size_t n, unsigned bits, Fill&& fill, MsmStats* stats, unsigned force_window,
                 const uint64_t* hist = nullptr) {
  using J = Jac<F>;
  const unsigned T = thread_count();
  const unsigned c = choose_window(n, T, force_window, bits, hist);
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

/** Bit length of a 4-limb scalar (0 for zero). */
inline unsigned bit_length(const u64 k[4]) {
  for (int i = 3; i >= 0; i--)
    if (k[i]) return 64 * (unsigned)i + 64 - (unsigned)__builtin_clzll(k[i]);
  return 0;
}

inline bool is_one(const u64 k[4]) { return k[0] == 1 && (k[1] | k[2] | k[3]) == 0; }

/**
 * The scalars by size, in one pass: hist[b] counts the scalars of b bits other than 1 (witnesses are
 * mostly bits and small numbers), maxBits the largest such b; `ones` is the sum of the bases whose scalar
 * is 1, added with batched affine additions (sum_points) instead of going through Pippenger, where they
 * would all land in one bucket of window 0 and its Jacobian side sum.
 */
template <class F>
struct ScalarCensus {
  std::vector<uint64_t> hist = std::vector<uint64_t>(257, 0);
  unsigned maxBits = 0;
  Jac<F> ones = Jac<F>::inf();

  ScalarCensus(const uint8_t* bases, const uint8_t* scalars, size_t n) {
    std::mutex mu;
    parallel_for(n, [&](size_t b, size_t e) {
      std::vector<uint64_t> h(257, 0);
      std::vector<Affine<F>> pts;
      for (size_t i = b; i < e; i++) {
        u64 k[4];
        std::memcpy(k, scalars + i * 32, 32);
        if (!is_one(k)) {
          h[bit_length(k)]++;
          continue;
        }
        Affine<F> p;
        std::memcpy(&p, bases + i * sizeof(Affine<F>), sizeof p);
        if (!p.is_inf()) pts.push_back(p);
      }
      const Jac<F> sum = sum_points(pts);
      std::lock_guard<std::mutex> lock(mu);
      for (unsigned k = 0; k <= 256; k++) hist[k] += h[k];
      ones = Jac<F>::add(ones, sum);
    });
    for (unsigned k = 256; k > 0 && !maxBits; k--)
      if (hist[k]) maxBits = k;
  }
};

/**
 * MSM over n affine bases stored back to back (sizeof(Affine<F>) bytes each) and n scalars of 32 bytes
 * each (stored back to back, little-endian, plain form). Both may be unaligned. Scalars equal to 1 are
 * summed apart (ScalarCensus); the others go through Pippenger with windows for their actual sizes. G1
 * uses the GLV split when ZKTALLY_MSM_GLV=1.
 */
template <class F>
Jac<F> msm(const uint8_t* bases, const uint8_t* scalars, size_t n, MsmStats* stats = nullptr,
           unsigned force_window = 0) {
  if (n == 0) return Jac<F>::inf();
  if constexpr (std::is_same_v<F, Fq>) {
    if (glv_enabled()) return msm_glv(bases, scalars, n, stats, force_window);
  }
  const ScalarCensus<F> census(bases, scalars, n);
  if (census.maxBits == 0) {
    if (stats) *stats = {force_window, 0, 0};
    return census.ones;
  }
  const Bases all{bases, bases, n, sizeof(Affine<F>)};
  auto fill = [&](unsigned c, unsigned nw, int32_t* digits) {
    parallel_for(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        u64 k[4];
        std::memcpy(k, scalars + i * 32, 32);
        if (is_one(k)) k[0] = 0;  // in census.ones
        signed_digits(k, c, nw, digits + i, n);
      }
    });
  };
  const Jac<F> rest = pippenger<F>(all, n, census.maxBits, fill, stats, force_window, census.hist.data());
  return Jac<F>::add(rest, census.ones);
}

}  // namespace zk
