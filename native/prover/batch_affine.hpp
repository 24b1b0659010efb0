/**
 * @file batch_affine.hpp
 * Batched affine point additions and their two users in the MSM (msm.hpp):
 *
 * - AffineBatch: queues dst_k += p_k for distinct destinations and, per batch, inverts all the slope
 *   denominators together (Montgomery's trick: 3 multiplications each plus one inversion per batch), so an
 *   addition costs about 6 multiplications instead of the 11 of a mixed Jacobian addition. A destination
 *   at infinity takes the source's value; equal x (doubling or cancellation, absent from real keys) takes a
 *   slow exact path. Infinity is the affine (0, 0), which is on neither curve.
 * - sum_points: the sum of many affine points as a tree of batched additions (the MSM's scalar-1 class).
 * - reduce_buckets: the Pippenger bucket reduction sum_b (b + 1) * B_b with the running sums in
 *   batch-affine form: the buckets are cut into L segments ("lanes") whose running sums advance together,
 *   one batched addition per lane and step, and the lanes are combined at the end (see the function).
 *
 * Security caveat: not constant time (see field.hpp).
 */
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "curve.hpp"

namespace zk {

template <class F>
class AffineBatch {
 public:
  using A = Affine<F>;
  explicit AffineBatch(size_t capacity) : cap_(capacity ? capacity : 1), den_(cap_), pre_(cap_) {
    dst_.reserve(cap_);
    src_.reserve(cap_);
  }

  /** Queues *d += p (p at infinity adds nothing). *d must not be queued already in this batch. */
  void add(A* d, const A& p) {
    if (p.is_inf()) return;
    dst_.push_back(d);
    src_.push_back(p);
    if (dst_.size() == cap_) flush();
  }

  /** Flush count so far: callers that mark queued destinations compare marks with it. */
  uint32_t epoch() const { return epoch_; }
  size_t capacity() const { return cap_; }

  /** Performs every queued addition (one field inversion). */
  void flush() {
    const size_t m = dst_.size();
    if (m == 0) return;
    F acc = F::one();
    for (size_t k = 0; k < m; k++) {
      const A& q = *dst_[k];
      den_[k] = F::sub(src_[k].x, q.x);
      if (den_[k].is_zero() || q.is_inf()) den_[k] = F::one();  // slow path below; keep it invertible
      pre_[k] = acc;
      acc = F::mul(acc, den_[k]);
    }
    F inv = F::inv(acc);
    for (size_t k = m; k-- > 0;) {
      A& q = *dst_[k];
      const A& p = src_[k];
      const F dinv = F::mul(inv, pre_[k]);
      inv = F::mul(inv, den_[k]);
      if (q.is_inf()) {
        q = p;
        continue;
      }
      if (q.x == p.x) {
        q = Jac<F>::madd(Jac<F>::from(q), p).to_affine();  // double, or cancel to (0, 0)
        continue;
      }
      const F lambda = F::mul(F::sub(p.y, q.y), dinv);
      const F x3 = F::sub(F::sub(F::sqr(lambda), q.x), p.x);
      q.y = F::sub(F::mul(lambda, F::sub(q.x, x3)), q.y);
      q.x = x3;
    }
    dst_.clear();
    src_.clear();
    epoch_++;
  }

 private:
  size_t cap_;
  std::vector<A*> dst_;
  std::vector<A> src_;
  std::vector<F> den_, pre_;
  uint32_t epoch_ = 2;  // starts at 2: callers keep 0 and 1 for their own marks
};

/** Jacobian points to affine with one inversion (Montgomery's trick); infinity becomes (0, 0). */
template <class F>
void normalize(const std::vector<Jac<F>>& in, std::vector<Affine<F>>& out) {
  const size_t m = in.size();
  out.assign(m, Affine<F>::inf());
  std::vector<F> pre(m);
  F acc = F::one();
  for (size_t k = 0; k < m; k++) {
    pre[k] = acc;
    if (!in[k].is_inf()) acc = F::mul(acc, in[k].Z);
  }
  F inv = F::inv(acc);
  for (size_t k = m; k-- > 0;) {
    if (in[k].is_inf()) continue;
    const F zi = F::mul(inv, pre[k]);
    inv = F::mul(inv, in[k].Z);
    const F zi2 = F::sqr(zi);
    out[k] = {F::mul(in[k].X, zi2), F::mul(in[k].Y, F::mul(zi2, zi))};
  }
}

/** The sum of pts (consumed), halving it with batched additions until one point is left. */
template <class F>
Jac<F> sum_points(std::vector<Affine<F>>& pts) {
  AffineBatch<F> batch(1024);
  while (pts.size() > 1) {
    const size_t n = pts.size(), h = n / 2;
    for (size_t k = 0; k < h; k++) batch.add(&pts[k], pts[n - 1 - k]);  // dst < h <= src: no overlap
    batch.flush();
    pts.resize(n - h);
  }
  return pts.empty() ? Jac<F>::inf() : Jac<F>::from(pts[0]);
}

/** k * p for a small k (double and add). */
template <class F>
Jac<F> mul_small(const Jac<F>& p, uint64_t k) {
  Jac<F> r = Jac<F>::inf();
  for (int i = 63; i >= 0; i--) {
    r = Jac<F>::dbl(r);
    if ((k >> i) & 1) r = Jac<F>::add(r, p);
  }
  return r;
}

/**
 * sum_b (b + 1) * bucket[b] over nb buckets (affine, infinity as (0, 0)). Lane l runs the usual running
 * sums R (sum of its buckets from the top down) and S (sum of the R's) over its segment [l s, (l + 1) s)
 * of s = ceil(nb / L) buckets, all lanes in step, so each step is two batches of L affine additions with
 * one inversion each. S_l weights bucket b by b - l s + 1, so the total is sum_l S_l + s * sum_l l R_l,
 * whose second term is one more (Jacobian) running sum over the L lanes and a product by s. L ~
 * sqrt(18 nb) balances the inversions (two per step, ~380 multiplications each) against the per-lane
 * combination (~45 multiplications per lane).
 */
template <class F>
Jac<F> reduce_buckets(const std::vector<Affine<F>>& bucket, size_t nb) {
  using A = Affine<F>;
  using J = Jac<F>;
  size_t lanes = (size_t)std::sqrt(18.0 * (double)nb);
  lanes = lanes < 1 ? 1 : (lanes > nb ? nb : lanes);
  const size_t seg = (nb + lanes - 1) / lanes;
  std::vector<A> run(lanes, A::inf()), sum(lanes, A::inf());
  AffineBatch<F> batch(lanes);
  for (size_t t = 0; t < seg; t++) {
    for (size_t l = 0; l < lanes; l++) {
      const size_t b = l * seg + seg - 1 - t;
      if (b < nb) batch.add(&run[l], bucket[b]);
    }
    batch.flush();
    for (size_t l = 0; l < lanes; l++) batch.add(&sum[l], run[l]);
    batch.flush();
  }
  J weighted = J::inf(), acc = J::inf(), total = J::inf();
  for (size_t l = lanes; l-- > 1;) {
    acc = J::madd(acc, run[l]);
    weighted = J::add(weighted, acc);
  }
  for (size_t l = 0; l < lanes; l++) total = J::madd(total, sum[l]);
  return J::add(total, mul_small(weighted, seg));
}

}  // namespace zk
