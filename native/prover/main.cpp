/**
 * @file main.cpp
 * zktally-prover: native BN254 Groth16 prover for snarkjs keys and witnesses.
 *
 *   zktally-prover prove <zkey> <wtns> [--zero-blinding]   one proof, JSON on stdout
 *   zktally-prover info <zkey>                              header, SHA-256, after all load checks
 *   zktally-prover serve                                    long-lived: requests on stdin, one JSON line each
 *   zktally-prover vectors <seed>                           known-answer test vectors (tests only)
 *
 * serve protocol (one request at a time, replies are single JSON lines):
 *   "load <name> <zkey path>\n"     -> {"ok":true,"sha256":..,"nVars":..,"nPublic":..,"domainSize":..}
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
      if (cmd == "prove") {
        char* end = nullptr;
        unsigned long long nbytes = std::strtoull(arg.c_str(), &end, 10);
        if (arg.empty() || *end != 0 || nbytes > (1ULL << 36)) {
          // Cannot know how many bytes follow: the stream is out of step, stop.
          fail_json("prove: bad byte count; closing");
          return 2;
        }
        std::vector<uint8_t> wbytes((size_t)nbytes);
        if (nbytes && !std::cin.read(reinterpret_cast<char*>(wbytes.data()), (std::streamsize)nbytes)) {
          fail_json("prove: witness stream ended early; closing");
          return 2;
        }
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

template <class P, class F>
std::string msm_vector(Rng& rng, const P& gen, size_t n, const char* label) {
  using J = Jac<F>;
  std::vector<Fr> dlog(n), sc(n);
  std::vector<P> pts(n);
  for (size_t i = 0; i < n; i++) {
    // Edge cases: the point at infinity, repeats (bucket doubling), negations (bucket cancels),
    // scalars 0, 1 and r-1; the rest random.
    if (i % 11 == 3) dlog[i] = Fr::zero();
    else if (i % 7 == 2 && i > 0) dlog[i] = dlog[i - 1];
    else if (i % 13 == 5 && i > 0) dlog[i] = Fr::from_mont(Fr::neg(Fr::to_mont(dlog[i - 1])));
    else dlog[i] = rng.element<Fr>();
    if (i % 9 == 4) sc[i] = Fr::zero();
    else if (i % 10 == 6) sc[i] = Fr{{1, 0, 0, 0}};
    else if (i % 17 == 8) sc[i] = Fr::from_mont(Fr::neg(Fr::one()));
    else if (i % 5 == 1 && i > 0) sc[i] = sc[i - 1];
    else sc[i] = rng.element<Fr>();
    pts[i] = J::mul_scalar(J::from(gen), dlog[i].v).to_affine();
  }
  std::string o = std::string("{\"group\":\"") + label + "\",\"dlogs\":[";
  for (size_t i = 0; i < n; i++) o += (i ? "," : "") + plain(dlog[i]);
  o += "],\"scalars\":[";
  for (size_t i = 0; i < n; i++) o += (i ? "," : "") + plain(sc[i]);
  o += "],\"results\":[";
  const unsigned windows[] = {0, 2, 3, 4, 7, 11, 16};
  for (size_t wi = 0; wi < sizeof windows / sizeof *windows; wi++) {
    MsmStats st;
    J r = msm<F>(reinterpret_cast<const uint8_t*>(pts.data()), reinterpret_cast<const uint8_t*>(sc.data()), n,
                 &st, windows[wi]);
    P a = r.to_affine();
    std::string s;
    if constexpr (sizeof(P) == 64) s = g1s(a); else s = g2s(a);
    o += std::string(wi ? "," : "") + "{\"window\":" + std::to_string(st.window) + ",\"point\":" + s + "}";
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
  o += "],\"msm\":[" + msm_vector<G1A, Fq>(rng, g1_gen(), 150, "G1") + "," +
       msm_vector<G2A, Fq2>(rng, g2_gen(), 60, "G2") + "],\"roots\":[";
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

}  // namespace

int main(int argc, char** argv) {
  init_fields();
  std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "prove") return cmd_prove(argc, argv);
    if (cmd == "serve") return cmd_serve();
    if (cmd == "vectors") return cmd_vectors(argc, argv);
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
