/**
 * @file curve.hpp
 * BN254 G1 (over Fq) and G2 (over Fq2, the sextic twist) in Jacobian coordinates (x = X/Z^2,
 * y = Y/Z^3, Z = 0 is the point at infinity) and affine coordinates. Formulas for a = 0 curves from the
 * Explicit-Formulas Database: dbl-2009-l, madd-2007-bl (Jacobian + affine), add-2007-bl. The affine point
 * at infinity is (0, 0), which is how snarkjs stores it in .zkey files.
 *
 * Security caveat: not constant time (see field.hpp).
 */
#pragma once
#include "field.hpp"

namespace zk {

template <class F>
struct Affine {
  F x, y;
  bool is_inf() const { return x.is_zero() && y.is_zero(); }
  static Affine inf() { return {F::zero(), F::zero()}; }
  Affine neg() const { return is_inf() ? *this : Affine{x, F::neg(y)}; }
};

template <class F>
struct Jac {
  F X, Y, Z;
  static Jac inf() { return {F::one(), F::one(), F::zero()}; }
  bool is_inf() const { return Z.is_zero(); }
  static Jac from(const Affine<F>& a) { return a.is_inf() ? inf() : Jac{a.x, a.y, F::one()}; }

  static Jac dbl(const Jac& p) {
    if (p.is_inf()) return p;
    F A = F::sqr(p.X), B = F::sqr(p.Y), C = F::sqr(B);
    F D = F::sub(F::sub(F::sqr(F::add(p.X, B)), A), C);
    D = F::dbl(D);
    F E = F::add(F::dbl(A), A);
    F Fv = F::sqr(E);
    Jac r;
    r.X = F::sub(Fv, F::dbl(D));
    F C8 = F::dbl(F::dbl(F::dbl(C)));
    r.Y = F::sub(F::mul(E, F::sub(D, r.X)), C8);
    r.Z = F::dbl(F::mul(p.Y, p.Z));
    return r;
  }

  /** p + q with q affine (mixed addition). */
  static Jac madd(const Jac& p, const Affine<F>& q) {
    if (q.is_inf()) return p;
    if (p.is_inf()) return from(q);
    F Z1Z1 = F::sqr(p.Z);
    F U2 = F::mul(q.x, Z1Z1);
    F S2 = F::mul(F::mul(q.y, p.Z), Z1Z1);
    F H = F::sub(U2, p.X);
    F rr = F::dbl(F::sub(S2, p.Y));
    if (H.is_zero()) {
      if (rr.is_zero()) return dbl(p);
      return inf();
    }
    F HH = F::sqr(H);
    F I = F::dbl(F::dbl(HH));
    F J = F::mul(H, I);
    F V = F::mul(p.X, I);
    Jac r;
    r.X = F::sub(F::sub(F::sqr(rr), J), F::dbl(V));
    r.Y = F::sub(F::mul(rr, F::sub(V, r.X)), F::dbl(F::mul(p.Y, J)));
    r.Z = F::sub(F::sub(F::sqr(F::add(p.Z, H)), Z1Z1), HH);
    return r;
  }

  static Jac add(const Jac& p, const Jac& q) {
    if (p.is_inf()) return q;
    if (q.is_inf()) return p;
    F Z1Z1 = F::sqr(p.Z), Z2Z2 = F::sqr(q.Z);
    F U1 = F::mul(p.X, Z2Z2), U2 = F::mul(q.X, Z1Z1);
    F S1 = F::mul(F::mul(p.Y, q.Z), Z2Z2);
    F S2 = F::mul(F::mul(q.Y, p.Z), Z1Z1);
    F H = F::sub(U2, U1);
    F rr = F::dbl(F::sub(S2, S1));
    if (H.is_zero()) {
      if (rr.is_zero()) return dbl(p);
      return inf();
    }
    F I = F::sqr(F::dbl(H));
    F J = F::mul(H, I);
    F V = F::mul(U1, I);
    Jac r;
    r.X = F::sub(F::sub(F::sqr(rr), J), F::dbl(V));
    r.Y = F::sub(F::mul(rr, F::sub(V, r.X)), F::dbl(F::mul(S1, J)));
    r.Z = F::mul(F::sub(F::sub(F::sqr(F::add(p.Z, q.Z)), Z1Z1), Z2Z2), H);
    return r;
  }

  static Jac neg(const Jac& p) { return {p.X, F::neg(p.Y), p.Z}; }

  Affine<F> to_affine() const {
    if (is_inf()) return Affine<F>::inf();
    F zi = F::inv(Z), zi2 = F::sqr(zi);
    return {F::mul(X, zi2), F::mul(Y, F::mul(zi2, zi))};
  }

  /** k*p for a plain (non-Montgomery) 256-bit little-endian scalar. */
  static Jac mul_scalar(const Jac& p, const u64 k[4]) {
    Jac r = inf();
    for (int i = 255; i >= 0; i--) {
      r = dbl(r);
      if ((k[i / 64] >> (i % 64)) & 1) r = add(r, p);
    }
    return r;
  }
};

using G1A = Affine<Fq>;
using G2A = Affine<Fq2>;
using G1J = Jac<Fq>;
using G2J = Jac<Fq2>;

/** Curve constants: b = 3 on G1, b' = 3/(9+u) on the twist. */
struct Curve {
  static Fq b1() { return Fq::from_u64(3); }
  static Fq2 b2() {
    Fq2 xi{Fq::from_u64(9), Fq::from_u64(1)};
    return Fq2::mul(Fq2{Fq::from_u64(3), Fq::zero()}, Fq2::inv(xi));
  }
  static bool on_curve(const G1A& p) {
    if (p.is_inf()) return true;
    return Fq::sqr(p.y) == Fq::add(Fq::mul(Fq::sqr(p.x), p.x), b1());
  }
  static bool on_curve(const G2A& p) {
    if (p.is_inf()) return true;
    return Fq2::sqr(p.y) == Fq2::add(Fq2::mul(Fq2::sqr(p.x), p.x), b2());
  }
};

}  // namespace zk
