/**
 * @file groth16.hpp
 * Groth16 proving over a loaded .zkey and .wtns, step for step as snarkjs 0.7 groth16_prove.js:
 *  1. A, B evaluations on the domain from the key's coefficient section (values in Montgomery form:
 *     mont_mul(coef, witness) with the coefficient bytes as stored), C = A * B pointwise;
 *  2. each of A, B, C to the coset (ifft, multiply by w_{k+1}^i, fft), then A*B - C out of Montgomery
 *     form: these are the scalars for the key's H points (which snarkjs computed for that coset);
 *  3. MSMs: A and B1 (G1) and B2 (G2) over the whole witness, C over the private part, H over step 2;
 *  4. blinding with fresh r, s from the OS CSPRNG (getrandom):
 *     pi_a = A + alpha + r*delta1, pi_b = B2 + beta2 + s*delta2,
 *     pi_c = C + H + s*pi_a + r*(B1 + beta1 + s*delta1) - r*s*delta1.
 * `zero_blinding` (r = s = 0) exists for differential tests against snarkjs only; it reveals the witness
 * and is refused by the service protocol.
 */
#pragma once
#include <sys/random.h>
#include <sys/resource.h>

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "binfile.hpp"
#include "msm.hpp"
#include "ntt.hpp"

namespace zk {

struct Proof {
  G1A a, c;
  G2A b;
  std::vector<std::string> publicSignals;
  double witnessMs = 0, abcMs = 0, nttMs = 0, msmMs = 0, totalMs = 0;
  double cpuMs = 0;  // process CPU time (all threads) spent in prove()
  double nttCpuMs = 0, msmCpuMs = 0;  // the same for the transforms and the MSMs (steadier than wall under load)
};

/** A uniformly random non-zero element of Fr (plain form) from getrandom(2), by rejection. */
inline Fr random_scalar() {
  for (;;) {
    u64 v[4];
    size_t got = 0;
    while (got < sizeof v) {
      ssize_t r = getrandom(reinterpret_cast<uint8_t*>(v) + got, sizeof v - got, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("getrandom failed: no OS randomness for the proof's blinding");
      }
      got += (size_t)r;
    }
    v[3] &= (u64(1) << 62) - 1;  // below 2^254; accept with probability r / 2^254 ~ 0.76
    if (Fr::lt_p(v) && (v[0] | v[1] | v[2] | v[3])) return Fr{{v[0], v[1], v[2], v[3]}};
  }
}

inline double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/** Coset evaluations of A*B - C, as plain scalars (32 bytes each) for the H MSM. */
inline std::vector<Fr> h_scalars(const Zkey& z, const Wtns& w, Proof& out) {
  auto t0 = std::chrono::steady_clock::now();
  const size_t n = z.domainSize;
  std::vector<Fr> a(n, Fr::zero()), b(n, Fr::zero()), c(n);
  const size_t slices = z.slice_count;
  parallel_tasks(2 * slices, [&](size_t task) {
    std::vector<Fr>& out_m = task < slices ? a : b;
    for (uint32_t idx : z.coef_slices[task]) {
      const uint8_t* e = z.coefs + (size_t)idx * Zkey::COEF_SIZE;
      uint32_t row = rd32(e + 4), sig = rd32(e + 8);
      Fr coef, wv;
      std::memcpy(coef.v, e + 12, 32);
      std::memcpy(wv.v, w.values + (size_t)sig * 32, 32);
      out_m[row] = Fr::add(out_m[row], Fr::mul(coef, wv));
    }
  });
  parallel_for(n, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) c[i] = Fr::mul(a[i], b[i]);
  });
  out.abcMs = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_ms();
  const CosetPlan coset(z.power);
  coset.apply(a.data());
  coset.apply(b.data());
  coset.apply(c.data());
  parallel_for(n, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) a[i] = Fr::from_mont(Fr::sub(Fr::mul(a[i], b[i]), c[i]));
  });
  out.nttMs = ms_since(t0);
  out.nttCpuMs = cpu_ms() - cpu0;
  return a;
}

inline Proof prove(const Zkey& z, const Wtns& w, bool zero_blinding) {
  if (w.nWitness != z.nVars)
    throw FormatError("witness has " + std::to_string(w.nWitness) + " values, the key's circuit has " +
                      std::to_string(z.nVars) + " signals (witness for another circuit?)");
  auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_ms();
  Proof out;
  std::vector<Fr> hs = h_scalars(z, w, out);
  auto tm = std::chrono::steady_clock::now();
  const double cpu_m = cpu_ms();
  const uint8_t* wit = w.values;
  G1J pa = msm<Fq>(z.A, wit, z.nVars);
  G1J pb1 = msm<Fq>(z.B1, wit, z.nVars);
  G2J pb = msm<Fq2>(z.B2, wit, z.nVars);
  const size_t priv = (size_t)z.nPublic + 1;
  G1J pc = msm<Fq>(z.C, wit + priv * 32, z.nVars - priv);
  G1J ph = msm<Fq>(reinterpret_cast<const uint8_t*>(z.H), reinterpret_cast<const uint8_t*>(hs.data()), z.domainSize);
  out.msmMs = ms_since(tm);
  out.msmCpuMs = cpu_ms() - cpu_m;

  Fr r = zero_blinding ? Fr::zero() : random_scalar();
  Fr s = zero_blinding ? Fr::zero() : random_scalar();
  // -r*s mod r, as a plain integer: (r*s) via Montgomery of the plain values, then back.
  Fr rs = Fr::from_mont(Fr::mul(Fr::to_mont(r), Fr::to_mont(s)));
  Fr neg_rs = Fr::neg(rs);
  const G1J d1 = G1J::from(z.delta1);
  pa = G1J::add(G1J::add(pa, G1J::from(z.alpha1)), G1J::mul_scalar(d1, r.v));
  pb = G2J::add(G2J::add(pb, G2J::from(z.beta2)), G2J::mul_scalar(G2J::from(z.delta2), s.v));
  pb1 = G1J::add(G1J::add(pb1, G1J::from(z.beta1)), G1J::mul_scalar(d1, s.v));
  pc = G1J::add(pc, ph);
  pc = G1J::add(pc, G1J::mul_scalar(pa, s.v));
  pc = G1J::add(pc, G1J::mul_scalar(pb1, r.v));
  pc = G1J::add(pc, G1J::mul_scalar(d1, neg_rs.v));
  out.a = pa.to_affine();
  out.b = pb.to_affine();
  out.c = pc.to_affine();
  for (uint32_t i = 1; i <= z.nPublic; i++) {
    u64 v[4];
    std::memcpy(v, wit + (size_t)i * 32, 32);
    out.publicSignals.push_back(to_decimal(v));
  }
  out.totalMs = ms_since(t0);
  out.cpuMs = cpu_ms() - cpu0;
  return out;
}

inline std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      o.push_back('\\');
      o.push_back((char)ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      o += buf;
    } else {
      o.push_back((char)ch);
    }
  }
  return o + "\"";
}

/** snarkjs's JSON form of affine points (infinity as ffjavascript prints it: (0, 1, 0)). */
inline std::string g1_json(const G1A& p) {
  if (p.is_inf()) return "[\"0\",\"1\",\"0\"]";
  return "[\"" + dec(p.x) + "\",\"" + dec(p.y) + "\",\"1\"]";
}
inline std::string g2_json(const G2A& p) {
  if (p.is_inf()) return "[[\"0\",\"0\"],[\"1\",\"0\"],[\"0\",\"0\"]]";
  return "[[\"" + dec(p.x.c0) + "\",\"" + dec(p.x.c1) + "\"],[\"" + dec(p.y.c0) + "\",\"" + dec(p.y.c1) +
         "\"],[\"1\",\"0\"]]";
}

inline std::string proof_json(const Proof& p) {
  std::string o = "{\"ok\":true,\"proof\":{\"pi_a\":" + g1_json(p.a) + ",\"pi_b\":" + g2_json(p.b) +
                  ",\"pi_c\":" + g1_json(p.c) + ",\"protocol\":\"groth16\",\"curve\":\"bn128\"},\"publicSignals\":[";
  for (size_t i = 0; i < p.publicSignals.size(); i++) o += (i ? ",\"" : "\"") + p.publicSignals[i] + "\"";
  struct rusage ru;
  long max_rss_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
  char t[400];
  std::snprintf(t, sizeof t,
                "],\"timings\":{\"abcMs\":%.3f,\"nttMs\":%.3f,\"msmMs\":%.3f,\"proveMs\":%.3f,\"cpuMs\":%.3f,"
                "\"nttCpuMs\":%.3f,\"msmCpuMs\":%.3f,\"threads\":%u,\"maxRssKb\":%ld}}",
                p.abcMs, p.nttMs, p.msmMs, p.totalMs, p.cpuMs, p.nttCpuMs, p.msmCpuMs, thread_count(), max_rss_kb);
  return o + t;
}

}  // namespace zk
