/**
 * @file main.cpp
 * zktally-prover: native BN254 Groth16 prover for snarkjs keys and witnesses.
 *
 *   zktally-prover prove <zkey> <wtns> [--zero-blinding]   one proof, JSON on stdout
 *   zktally-prover info <zkey>                              header, SHA-256, after all load checks
 *   zktally-prover serve                                    long-lived: requests on stdin, one JSON line each
 *   zktally-prover vectors <seed>                           known-answer test vectors (tests only)
 *   zktally-prover synth <zkey> <wtns> <constraints> [seed] synthetic key + witness (benchmarks only)
 *   zktally-prover bench-msm <n> [window] [full|witness] [g1|g2]  synthetic MSM timing (tuning only)
 *
 * serve protocol (one request at a time, replies are single JSON lines):
 *   "load <name> <zkey path>\n"     -> {"ok":true,"sha256":..,"nVars":..,"nPublic":..,"domainSize":..}
 *   "loadbytes <name> <nbytes>\n" + zkey bytes -> the same (the caller's already pin-checked bytes)
 *   "prove <name> <nbytes>\n" + wtns bytes -> {"ok":true,"proof":{..},"publicSignals":[..],"timings":{..}}
 *   "unload <name>\n"               -> {"ok":true}
 * Errors reply {"ok":false,"error":"<message>"}; the witness bytes of a prove request are always read in
 * full first, so the stream stays in step. The witness travels over the pipe, never through a file.
 * A long-lived process keeps each key (read and checked once) in memory across proofs.
 *
 * Security caveats: error messages name files, sections and indices, never witness values. The process
 * proves whatever witness it is given for a loaded key; pin checks (the SHA-256 reported by `load`) are
 * the caller's job.
 */
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "groth16.hpp"

using namespace zk;

namespace {

int fail_json(const std::string& msg) {
  std::printf("{\"ok\":false,\"error\":%s}\n", json_str(msg).c_str());
  std::fflush(stdout);
  return 1;
}

std::string info_json(const Zkey& z) {
  return "{\"ok\":true,\"sha256\":\"" + z.sha256 + "\",\"nVars\":" + std::to_string(z.nVars) +
         ",\"nPublic\":" + std::to_string(z.nPublic) + ",\"domainSize\":" + std::to_string(z.domainSize) +
         ",\"nCoefs\":" + std::to_string(z.nCoefs) + "}";
}

int cmd_prove(int argc, char** argv) {
  if (argc < 4) return fail_json("usage: zktally-prover prove <zkey> <wtns> [--zero-blinding]");
  bool zero = argc > 4 && std::string(argv[4]) == "--zero-blinding";
  Zkey z;
  auto t0 = std::chrono::steady_clock::now();
  z.load(argv[2]);
  double loadMs = ms_since(t0);
  std::vector<uint8_t> wbytes = read_file(argv[3]);
  Wtns w;
  w.parse(wbytes.data(), wbytes.size(), argv[3]);
  Proof p = prove(z, w, zero);
  std::string j = proof_json(p);
  j.pop_back();
  j.pop_back();
  char extra[64];
  std::snprintf(extra, sizeof extra, ",\"loadMs\":%.3f}}", loadMs);
  std::printf("%s%s\n", j.c_str(), extra);
  return 0;
}

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 100) return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

int cmd_serve() {
  std::map<std::string, std::unique_ptr<Zkey>> keys;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string reply;
    try {
      size_t sp1 = line.find(' ');
      std::string cmd = line.substr(0, sp1);
      std::string rest = sp1 == std::string::npos ? "" : line.substr(sp1 + 1);
      size_t sp2 = rest.find(' ');
      std::string name = rest.substr(0, sp2);
      std::string arg = sp2 == std::string::npos ? "" : rest.substr(sp2 + 1);
      if (cmd == "prove" || cmd == "loadbytes") {
        char* end = nullptr;
        unsigned long long nbytes = std::strtoull(arg.c_str(), &end, 10);
        if (arg.empty() || *end != 0 || nbytes > (1ULL << 36)) {
          // Cannot know how many bytes follow: the stream is out of step, stop.
          fail_json(cmd + ": bad byte count; closing");
          return 2;
        }
        std::vector<uint8_t> body((size_t)nbytes);
        if (nbytes && !std::cin.read(reinterpret_cast<char*>(body.data()), (std::streamsize)nbytes)) {
          fail_json(cmd + ": stream ended early; closing");
          return 2;
        }
        if (cmd == "loadbytes") {
          if (!valid_name(name)) throw std::runtime_error("loadbytes: bad key name");
          auto z = std::make_unique<Zkey>();
          z->load_bytes(std::move(body), "key " + name);
          reply = info_json(*z);
          keys[name] = std::move(z);
          std::printf("%s\n", reply.c_str());
          std::fflush(stdout);
          continue;
        }
        std::vector<uint8_t>& wbytes = body;
        auto it = keys.find(name);
        if (it == keys.end()) throw std::runtime_error("prove: key " + name + " is not loaded");
        Wtns w;
        w.parse(wbytes.data(), wbytes.size(), "witness");
        reply = proof_json(prove(*it->second, w, false));
      } else if (cmd == "load") {
        if (!valid_name(name) || arg.empty()) throw std::runtime_error("load: usage load <name> <path>");
        auto z = std::make_unique<Zkey>();
        z->load(arg);
        reply = info_json(*z);
        keys[name] = std::move(z);
      } else if (cmd == "unload") {
        keys.erase(name);
        reply = "{\"ok\":true}";
      } else {
        throw std::runtime_error("unknown request (expected load, prove or unload)");
      }
    } catch (const std::bad_alloc&) {
      reply = "{\"ok\":false,\"error\":\"out of memory\"}";
    } catch (const std::exception& e) {
      reply = "{\"ok\":false,\"error\":" + json_str(e.what()) + "}";
    }
    std::printf("%s\n", reply.c_str());
    std::fflush(stdout);
  }
  return 0;
}

// ---- known-answer vectors ------------------------------------------------------------------------------

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  template <class F>
  F element() {  // uniform-ish canonical element, plain form
    for (;;) {
      F x{{next(), next(), next(), next() & ((u64(1) << 62) - 1)}};
      if (F::lt_p(x.v)) return x;
    }
  }
};

template <class F>
std::string plain(const F& x) {
  return "\"" + to_decimal(x.v) + "\"";
}

G1A g1_gen() { return {Fq::from_u64(1), Fq::from_u64(2)}; }

G2A g2_gen() {
  auto fq = [](const char* d) {
    Fq x;
    from_decimal(d, x.v);
    return Fq::to_mont(x);
  };
  return {{fq("10857046999023057135944570762232829481370756359578518086990519993285655852781"),
           fq("11559732032986387107991004021392285783925812861821192530917403151452391805634")},
          {fq("8495653923123431417604973247489272438418190587263600148770280649306958101930"),
           fq("4082367875863433681332203403145435568316851327593401208105741076214120093531")}};
}

std::string g1s(const G1A& p) { return p.is_inf() ? "null" : "[\"" + dec(p.x) + "\",\"" + dec(p.y) + "\"]"; }
std::string g2s(const G2A& p) {
  return p.is_inf() ? "null"
                    : "[\"" + dec(p.x.c0) + "\",\"" + dec(p.x.c1) + "\",\"" + dec(p.y.c0) + "\",\"" +
                          dec(p.y.c1) + "\"]";
}

/**
 * Scalar i of an MSM vector of this kind: "mixed" (0, 1, r - 1, repeats, the rest random), "classes" (0, 1,
 * small, 64-bit, full-size and r - 1 in turn: every class of ScalarCensus and Pippenger), "small" (at most
 * 32 bits: fewer windows), "ones" (only 0 and 1: Pippenger gets nothing) and "zeros".
 */
Fr vector_scalar(Rng& rng, const std::string& kind, size_t i, const std::vector<Fr>& sc) {
  const Fr one{{1, 0, 0, 0}}, rm1 = Fr::from_mont(Fr::neg(Fr::one()));
  if (kind == "zeros") return Fr::zero();
  if (kind == "ones") return i % 4 == 3 ? Fr::zero() : one;
  if (kind == "small") return i % 3 == 0 ? one : Fr{{(rng.next() & 0xffffffffULL) * (i % 5 != 1), 0, 0, 0}};
  if (kind == "classes") {
    switch (i % 6) {
      case 0: return Fr::zero();
      case 1: return one;
      case 2: return Fr{{2 + (rng.next() & 0xffffff), 0, 0, 0}};
      case 3: return Fr{{rng.next(), 0, 0, 0}};
      case 4: return rng.element<Fr>();
      default: return rm1;
    }
  }
  if (i % 9 == 4) return Fr::zero();
  if (i % 10 == 6) return one;
  if (i % 17 == 8) return rm1;
  if (i % 5 == 1 && i > 0) return sc[i - 1];
  return rng.element<Fr>();
}

/**
 * Discrete log of base i: the point at infinity, repeats (bucket doubling) and negations (bucket cancels)
 * among random ones; for "ones" the repeats and negations face each other in sum_points' halving tree
 * (base n - 1 - i is added to base i).
 */
Fr vector_dlog(Rng& rng, const std::string& kind, size_t i, size_t n, const std::vector<Fr>& dlog) {
  const auto neg = [](const Fr& x) { return Fr::from_mont(Fr::neg(Fr::to_mont(x))); };
  if (kind == "ones" && 2 * i >= n && i % 3 != 2) return i % 3 == 0 ? dlog[n - 1 - i] : neg(dlog[n - 1 - i]);
  if (i % 11 == 3) return Fr::zero();
  if (i % 7 == 2 && i > 0) return dlog[i - 1];
  if (i % 13 == 5 && i > 0) return neg(dlog[i - 1]);
  return rng.element<Fr>();
}

/** An MSM vector: bases, scalars and the MSM for the automatic window and several forced ones. */
template <class P, class F>
std::string msm_vector(Rng& rng, const P& gen, size_t n, const char* label, const std::string& kind) {
  using J = Jac<F>;
  std::vector<Fr> dlog(n), sc(n);
  std::vector<P> pts(n);
  for (size_t i = 0; i < n; i++) {
    dlog[i] = vector_dlog(rng, kind, i, n, dlog);
    sc[i] = vector_scalar(rng, kind, i, sc);
    pts[i] = J::mul_scalar(J::from(gen), dlog[i].v).to_affine();
  }
  std::string o = std::string("{\"group\":\"") + label + "\",\"kind\":\"" + kind + "\",\"dlogs\":[";
  for (size_t i = 0; i < n; i++) o += (i ? "," : "") + plain(dlog[i]);
  o += "],\"scalars\":[";
  for (size_t i = 0; i < n; i++) o += (i ? "," : "") + plain(sc[i]);
  o += "],\"results\":[";
  const unsigned windows[] = {0, 2, 3, 4, 5, 7, 11, 16};
  unsigned automatic = 0;
  for (size_t wi = 0; wi < sizeof windows / sizeof *windows; wi++) {
    if (wi > 0 && windows[wi] == automatic) continue;  // already there
    MsmStats st;
    J r = msm<F>(reinterpret_cast<const uint8_t*>(pts.data()), reinterpret_cast<const uint8_t*>(sc.data()), n,
                 &st, windows[wi]);
    if (wi == 0) automatic = st.window;
    P a = r.to_affine();
    std::string s;
    if constexpr (sizeof(P) == 64) s = g1s(a); else s = g2s(a);
    o += std::string(wi ? "," : "") + "{\"window\":" + std::to_string(st.window) + ",\"point\":" + s + "}";
  }
  return o + "]}";
}

/** GLV: beta, lambda, phi(k*G) for random k, and splits of edge-case and random scalars. */
std::string glv_vectors(Rng& rng) {
  auto half = [](const GlvHalf& h) { return std::string("\"") + (h.neg ? "-" : "") + to_decimal(h.mag) + "\""; };
  std::string o = "{\"beta\":\"" + dec(glv_beta()) + "\",\"lambda\":\"" + to_decimal(glv::LAMBDA) + "\",\"phi\":[";
  for (int i = 0; i < 4; i++) {
    Fr k = rng.element<Fr>();
    G1A p = G1J::mul_scalar(G1J::from(g1_gen()), k.v).to_affine();
    o += std::string(i ? "," : "") + "[" + plain(k) + "," + g1s(G1A{Fq::mul(p.x, glv_beta()), p.y}) + "]";
  }
  o += "],\"split\":[";
  const Fr r1 = Fr::from_mont(Fr::neg(Fr::one()));
  std::vector<Fr> ks = {Fr::zero(), Fr{{1, 0, 0, 0}}, r1, Fr::from_mont(Fr::neg(Fr::to_mont(Fr{{2, 0, 0, 0}}))),
                        Fr::from_raw(glv::LAMBDA), Fr::from_mont(Fr::neg(Fr::to_mont(Fr::from_raw(glv::LAMBDA)))),
                        Fr{{0, 0, 1, 0}}, Fr{{~u64(0), ~u64(0), 0, 0}}, Fr{{0, u64(1) << 63, 0, 0}}};
  for (int i = 0; i < 40; i++) ks.push_back(rng.element<Fr>());
  for (size_t i = 0; i < ks.size(); i++) {
    GlvHalf k1, k2;
    glv_split(ks[i].v, k1, k2);
    o += std::string(i ? "," : "") + "[" + plain(ks[i]) + "," + half(k1) + "," + half(k2) + "]";
  }
  return o + "]}";
}

int cmd_vectors(int argc, char** argv) {
  Rng rng{argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1};
  std::string o = "{\"fr\":[";
  for (int i = 0; i < 8; i++) {
    Fr a = rng.element<Fr>(), b = rng.element<Fr>();
    if (i == 0) a = Fr::from_mont(Fr::neg(Fr::one()));  // r-1
    Fr ma = Fr::to_mont(a), mb = Fr::to_mont(b);
    o += std::string(i ? "," : "") + "[" + plain(a) + "," + plain(b) + ",\"" + dec(Fr::mul(ma, mb)) + "\",\"" +
         dec(Fr::add(ma, mb)) + "\",\"" + dec(Fr::sub(ma, mb)) + "\",\"" + dec(Fr::inv(ma)) + "\"]";
  }
  o += "],\"fq\":[";
  for (int i = 0; i < 8; i++) {
    Fq a = rng.element<Fq>(), b = rng.element<Fq>();
    if (i == 0) a = Fq::from_mont(Fq::neg(Fq::one()));
    Fq ma = Fq::to_mont(a), mb = Fq::to_mont(b);
    o += std::string(i ? "," : "") + "[" + plain(a) + "," + plain(b) + ",\"" + dec(Fq::mul(ma, mb)) + "\",\"" +
         dec(Fq::add(ma, mb)) + "\",\"" + dec(Fq::sub(ma, mb)) + "\",\"" + dec(Fq::inv(ma)) + "\"]";
  }
  o += "],\"fq2\":[";
  for (int i = 0; i < 4; i++) {
    Fq2 a{Fq::to_mont(rng.element<Fq>()), Fq::to_mont(rng.element<Fq>())};
    Fq2 b{Fq::to_mont(rng.element<Fq>()), Fq::to_mont(rng.element<Fq>())};
    Fq2 m = Fq2::mul(a, b), s = Fq2::sqr(a), v = Fq2::inv(a);
    o += std::string(i ? "," : "") + "[\"" + dec(a.c0) + "\",\"" + dec(a.c1) + "\",\"" + dec(b.c0) + "\",\"" +
         dec(b.c1) + "\",\"" + dec(m.c0) + "\",\"" + dec(m.c1) + "\",\"" + dec(s.c0) + "\",\"" + dec(s.c1) +
         "\",\"" + dec(v.c0) + "\",\"" + dec(v.c1) + "\"]";
  }
  o += "],\"g1\":[";
  for (int i = 0; i < 4; i++) {
    Fr k = rng.element<Fr>();
    G1J p = G1J::mul_scalar(G1J::from(g1_gen()), k.v);
    G1J d = G1J::dbl(p), s = G1J::add(p, p), m = G1J::madd(p, p.to_affine());
    o += std::string(i ? "," : "") + "[" + plain(k) + "," + g1s(p.to_affine()) + "," + g1s(d.to_affine()) + "," +
         g1s(s.to_affine()) + "," + g1s(m.to_affine()) + "]";
  }
  o += "],\"g2\":[";
  for (int i = 0; i < 4; i++) {
    Fr k = rng.element<Fr>();
    G2J p = G2J::mul_scalar(G2J::from(g2_gen()), k.v);
    o += std::string(i ? "," : "") + "[" + plain(k) + "," + g2s(p.to_affine()) + "," +
         g2s(G2J::dbl(p).to_affine()) + "]";
  }
  o += "],\"glv\":" + glv_vectors(rng);
  o += ",\"msm\":[" + msm_vector<G1A, Fq>(rng, g1_gen(), 150, "G1", "mixed") + "," +
       msm_vector<G2A, Fq2>(rng, g2_gen(), 60, "G2", "mixed") + "," +
       msm_vector<G1A, Fq>(rng, g1_gen(), 150, "G1", "classes") + "," +
       msm_vector<G2A, Fq2>(rng, g2_gen(), 60, "G2", "classes") + "," +
       msm_vector<G1A, Fq>(rng, g1_gen(), 100, "G1", "small") + "," +
       msm_vector<G1A, Fq>(rng, g1_gen(), 64, "G1", "ones") + "," +
       msm_vector<G2A, Fq2>(rng, g2_gen(), 30, "G2", "ones") + "," +
       msm_vector<G1A, Fq>(rng, g1_gen(), 10, "G1", "zeros") + "],\"roots\":[";
  for (unsigned k = 0; k <= 28; k++) o += std::string(k ? "," : "") + "\"" + dec(root_of_unity(k)) + "\"";
  o += "],\"ntt\":[";
  for (unsigned k : {1u, 3u, 4u}) {
    size_t n = size_t(1) << k;
    std::vector<Fr> in(n);
    for (auto& x : in) x = Fr::to_mont(rng.element<Fr>());
    std::vector<Fr> f = in, fi = in, co = in;
    fft(f.data(), k);
    ifft(fi.data(), k);
    to_coset(co.data(), k);
    auto list = [](const std::vector<Fr>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); i++) s += (i ? ",\"" : "\"") + dec(v[i]) + "\"";
      return s + "]";
    };
    o += std::string(k == 1 ? "" : ",") + "{\"k\":" + std::to_string(k) + ",\"input\":" + list(in) +
         ",\"fft\":" + list(f) + ",\"ifft\":" + list(fi) + ",\"coset\":" + list(co) + "}";
  }
  std::printf("%s]}\n", o.c_str());
  return 0;
}

// ---- synthetic keys (benchmarks only) -------------------------------------------------------------------

/** n points start, start+step, start+2*step, ... in affine form (batch inversion per 4096). */
template <class F>
void point_run(std::vector<Affine<F>>& out, size_t n, Jac<F> start, const Affine<F>& step) {
  out.resize(n);
  parallel_for((n + 4095) / 4096, [&](size_t b, size_t e) {
    Jac<F> cur = start;
    // jump to block b: start + (b*4096) * step
    u64 k[4] = {(u64)(b * 4096), 0, 0, 0};
    cur = Jac<F>::add(cur, Jac<F>::mul_scalar(Jac<F>::from(step), k));
    std::vector<Jac<F>> js(4096);
    std::vector<F> prefix(4096);
    for (size_t blk = b; blk < e; blk++) {
      size_t lo = blk * 4096, m = std::min<size_t>(4096, n - lo);
      for (size_t i = 0; i < m; i++) {
        js[i] = cur;
        cur = Jac<F>::madd(cur, step);
      }
      F acc = F::one();
      for (size_t i = 0; i < m; i++) {
        prefix[i] = acc;
        acc = F::mul(acc, js[i].Z);
      }
      F inv = F::inv(acc);
      for (size_t i = m; i-- > 0;) {
        F zi = F::mul(inv, prefix[i]);
        inv = F::mul(inv, js[i].Z);
        F zi2 = F::sqr(zi);
        out[lo + i] = {F::mul(js[i].X, zi2), F::mul(js[i].Y, F::mul(zi2, zi))};
      }
    }
  }, 1);
}

/**
 * A witness-like scalar for benchmarks: a third bits, a third 32-bit values, a third full-size field
 * elements (as `synth` writes its witness), or always full-size when `full`.
 */
Fr bench_scalar(Rng& rng, size_t i, bool full) {
  Fr v = Fr::zero();
  if (full || i % 3 == 2) v = rng.element<Fr>();
  else if (i % 3 == 0) v.v[0] = rng.next() & 1;
  else v.v[0] = rng.next() & 0xffffffffULL;
  return v;
}

/** One timed MSM of n points (i + 1) * G over the group of F (CPU and wall time, window, a check value). */
template <class F>
int bench_msm_group(size_t n, unsigned force, bool full, const Affine<F>& gen) {
  Rng rng{42};
  std::vector<Affine<F>> pts;
  point_run<F>(pts, n, Jac<F>::from(gen), gen);
  std::vector<Fr> sc(n);
  for (size_t i = 0; i < n; i++) sc[i] = bench_scalar(rng, i, full);
  MsmStats st;
  const double c0 = cpu_ms();
  auto t0 = std::chrono::steady_clock::now();
  Jac<F> r = msm<F>(reinterpret_cast<const uint8_t*>(pts.data()), reinterpret_cast<const uint8_t*>(sc.data()), n,
                    &st, force);
  const double ms = ms_since(t0), cpu = cpu_ms() - c0;
  Affine<F> a = r.to_affine();
  std::string check;
  if constexpr (std::is_same_v<F, Fq>) check = dec(a.x);
  else check = dec(a.x.c0);
  std::printf("{\"n\":%zu,\"window\":%u,\"chunks\":%u,\"cpuMs\":%.1f,\"msmMs\":%.1f,\"check\":\"%s\"}\n", n,
              st.window, st.chunks, cpu, ms, check.substr(0, 12).c_str());
  return 0;
}

/** bench-msm <n> [window] [full|witness] [g1|g2]: synthetic MSM timing (tuning only). */
int cmd_bench_msm(int argc, char** argv) {
  const size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 65536;
  const unsigned force = argc > 3 ? (unsigned)std::strtoul(argv[3], nullptr, 10) : 0;
  const bool full = !(argc > 4 && std::string(argv[4]) == "witness");
  if (argc > 5 && std::string(argv[5]) == "g2") return bench_msm_group<Fq2>(n, force, full, g2_gen());
  return bench_msm_group<Fq>(n, force, full, g1_gen());
}

void put32(std::vector<uint8_t>& b, uint32_t v) { b.insert(b.end(), (uint8_t*)&v, (uint8_t*)&v + 4); }
void put64(std::vector<uint8_t>& b, uint64_t v) { b.insert(b.end(), (uint8_t*)&v, (uint8_t*)&v + 8); }
template <class T>
void putv(std::vector<uint8_t>& b, const T& v) { b.insert(b.end(), (const uint8_t*)&v, (const uint8_t*)&v + sizeof(T)); }
template <class T>
void putvec(std::vector<uint8_t>& b, const std::vector<T>& v) {
  b.insert(b.end(), (const uint8_t*)v.data(), (const uint8_t*)(v.data() + v.size()));
}
void write_all(const std::string& path, const std::vector<uint8_t>& b) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(b.data(), 1, b.size(), f) != b.size() || std::fclose(f) != 0)
    throw std::runtime_error(path + ": write failed");
}

/**
 * A structurally valid Groth16 zkey (no trusted setup: random points, so proofs do not verify) of
 * `constraints` constraints over `constraints` signals, 2 public, 3 coefficients per constraint, and a
 * witness mixing bits, 32-bit values and full-size field elements (a third each), for timing both provers
 * on the same files at sizes whose real setup is too slow for the benchmark machine.
 */
int cmd_synth(int argc, char** argv) {
  if (argc < 5) return fail_json("usage: zktally-prover synth <zkey out> <wtns out> <constraints> [seed]");
  const uint32_t nc = (uint32_t)std::strtoul(argv[4], nullptr, 10);
  Rng rng{argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 7};
  if (nc < 4 || nc > (1u << 24)) return fail_json("constraints must be 4..2^24");
  const uint32_t nVars = nc, nPublic = 2;
  uint32_t domain = 1;
  while (domain < nc + nPublic + 1) domain <<= 1;
  auto rnd_point = [&](const G1A& g) { Fr k = rng.element<Fr>(); return G1J::mul_scalar(G1J::from(g), k.v); };
  G1A g1 = g1_gen();
  G2A g2 = g2_gen();
  auto g1_at = [&]() { return rnd_point(g1); };
  auto g2_at = [&]() { Fr k = rng.element<Fr>(); return G2J::mul_scalar(G2J::from(g2), k.v); };
  std::vector<uint8_t> z;
  z.insert(z.end(), {'z', 'k', 'e', 'y'});
  put32(z, 1);
  put32(z, 9);
  auto section = [&](uint32_t type, const std::vector<uint8_t>& body) {
    put32(z, type);
    put64(z, body.size());
    z.insert(z.end(), body.begin(), body.end());
  };
  std::vector<uint8_t> b;
  put32(b, 1);
  section(1, b);
  b.clear();
  put32(b, 32);
  b.insert(b.end(), (const uint8_t*)BN254_Q, (const uint8_t*)BN254_Q + 32);
  put32(b, 32);
  b.insert(b.end(), (const uint8_t*)BN254_R, (const uint8_t*)BN254_R + 32);
  put32(b, nVars);
  put32(b, nPublic);
  put32(b, domain);
  putv(b, g1_at().to_affine());
  putv(b, g1_at().to_affine());
  putv(b, g2_at().to_affine());
  putv(b, g2_at().to_affine());
  putv(b, g1_at().to_affine());
  putv(b, g2_at().to_affine());
  section(2, b);
  std::vector<G1A> pts;
  auto g1_section = [&](uint32_t type, size_t n) {
    point_run<Fq>(pts, n, g1_at(), g1_at().to_affine());
    b.clear();
    putvec(b, pts);
    section(type, b);
  };
  g1_section(3, nPublic + 1);
  b.clear();
  put32(b, 3 * nc);
  for (uint32_t c = 0; c < nc; c++) {
    for (uint32_t t = 0; t < 3; t++) {
      put32(b, t == 2 ? 1 : 0);
      put32(b, c);
      put32(b, (uint32_t)(rng.next() % nVars));
      putv(b, rng.element<Fr>());
    }
  }
  section(4, b);
  g1_section(5, nVars);
  g1_section(6, nVars);
  std::vector<G2A> pts2;
  point_run<Fq2>(pts2, nVars, g2_at(), g2_at().to_affine());
  b.clear();
  putvec(b, pts2);
  section(7, b);
  g1_section(8, nVars - nPublic - 1);
  g1_section(9, domain);
  write_all(argv[2], z);
  std::vector<uint8_t> w;
  w.insert(w.end(), {'w', 't', 'n', 's'});
  put32(w, 2);
  put32(w, 2);
  put32(w, 1);
  put64(w, 40);
  put32(w, 32);
  w.insert(w.end(), (const uint8_t*)BN254_R, (const uint8_t*)BN254_R + 32);
  put32(w, nVars);
  put32(w, 2);
  put64(w, (uint64_t)nVars * 32);
  for (uint32_t i = 0; i < nVars; i++) {
    Fr v = Fr::zero();
    if (i == 0) v.v[0] = 1;
    else if (i % 3 == 0) v.v[0] = rng.next() & 1;
    else if (i % 3 == 1) v.v[0] = rng.next() & 0xffffffffULL;
    else v = rng.element<Fr>();
    putv(w, v);
  }
  write_all(argv[3], w);
  std::printf("{\"ok\":true,\"constraints\":%u,\"nVars\":%u,\"domainSize\":%u}\n", nc, nVars, domain);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  init_fields();
  std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "prove") return cmd_prove(argc, argv);
    if (cmd == "serve") return cmd_serve();
    if (cmd == "vectors") return cmd_vectors(argc, argv);
    if (cmd == "bench-msm") return cmd_bench_msm(argc, argv);
    if (cmd == "synth") return cmd_synth(argc, argv);
    if (cmd == "info") {
      if (argc < 3) return fail_json("usage: zktally-prover info <zkey>");
      Zkey z;
      z.load(argv[2]);
      std::printf("%s\n", info_json(z).c_str());
      return 0;
    }
  } catch (const std::bad_alloc&) {
    return fail_json("out of memory");
  } catch (const std::exception& e) {
    return fail_json(e.what());
  }
  std::fprintf(stderr, "usage: zktally-prover prove <zkey> <wtns> | info <zkey> | serve | vectors <seed>\n");
  return 64;
}
