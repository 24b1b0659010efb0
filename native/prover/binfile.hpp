/**
 * @file binfile.hpp
 * Readers for snarkjs's binary containers (@iden3/binfileutils layout): 4-byte magic, u32 version,
 * u32 section count, then sections of (u32 type, u64 size, bytes). Implements the Groth16 .zkey
 * (sections 1-9) and the .wtns (sections 1-2) formats.
 *
 * Every length and index is checked before it is used: a truncated, corrupted or foreign file gives a
 * FormatError naming the file and the problem, never an out-of-bounds read. Keys and witnesses of
 * another curve are rejected by comparing the stored field primes with BN254's. The key's header points
 * and every base point are checked to be canonical and on the curve at load time (once per process);
 * the coefficient section is checked for in-range matrix, constraint and signal indices.
 *
 * Files are read into owned memory rather than mmap'ed: a long-lived prover that maps a file which is
 * later truncated or rewritten in place would fault (SIGBUS) or prove with bytes other than the ones
 * whose SHA-256 was reported; one sequential read per process costs ~0.1 s per GB.
 */
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "curve.hpp"
#include "parallel.hpp"
#include "sha256.hpp"

namespace zk {

struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

/** Reads a whole regular file into memory (size limit 64 GiB). */
inline std::vector<uint8_t> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FormatError(path + ": not a regular file");
  }
  if ((uint64_t)st.st_size > (uint64_t(1) << 36)) {
    ::close(fd);
    throw FormatError(path + ": larger than 64 GiB");
  }
  std::vector<uint8_t> buf((size_t)st.st_size);
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(fd);
      throw FormatError(path + ": read failed after " + std::to_string(got) + " bytes");
    }
    got += (size_t)r;
  }
  ::close(fd);
  return buf;
}

struct Section {
  size_t offset = 0, size = 0;
};

/** Parsed container: the section table over bytes owned elsewhere. */
struct BinFile {
  std::string label;  // file name for messages
  const uint8_t* data = nullptr;
  size_t len = 0;
  std::map<uint32_t, Section> sections;

  void parse(const uint8_t* d, size_t n, const char magic[4], const std::string& name) {
    label = name;
    data = d;
    len = n;
    if (n < 12) fail("truncated: " + std::to_string(n) + " bytes, shorter than the 12-byte header");
    if (std::memcmp(d, magic, 4) != 0) fail(std::string("not a .") + std::string(magic, 4) + " file (bad magic)");
    uint32_t nsec = rd32(d + 8);
    if (nsec > 64) fail("corrupted: " + std::to_string(nsec) + " sections");
    size_t pos = 12;
    for (uint32_t i = 0; i < nsec; i++) {
      if (len - pos < 12) fail("truncated in the header of section " + std::to_string(i + 1));
      uint32_t type = rd32(d + pos);
      uint64_t size = rd64(d + pos + 4);
      pos += 12;
      if (size > len - pos)
        fail("truncated: section " + std::to_string(type) + " declares " + std::to_string(size) + " bytes, " +
             std::to_string(len - pos) + " remain");
      if (sections.count(type)) fail("corrupted: section " + std::to_string(type) + " appears twice");
      sections[type] = Section{pos, (size_t)size};
      pos += (size_t)size;
    }
  }

  [[noreturn]] void fail(const std::string& what) const { throw FormatError(label + ": " + what); }

  const Section& need(uint32_t type, const char* what) const {
    auto it = sections.find(type);
    if (it == sections.end()) fail(std::string("missing section ") + std::to_string(type) + " (" + what + ")");
    return it->second;
  }

  void expect_size(uint32_t type, const char* what, uint64_t size) const {
    const Section& s = need(type, what);
    if (s.size != size)
      fail(std::string("section ") + std::to_string(type) + " (" + what + ") has " + std::to_string(s.size) +
           " bytes, expected " + std::to_string(size));
  }
};

/** Reads a canonical (< modulus) 32-byte field element at p; Montgomery bytes are kept as they are. */
template <class F>
inline bool read_canonical(const uint8_t* p, F& out) {
  std::memcpy(out.v, p, 32);
  return F::lt_p(out.v);
}

inline bool is_prime(const uint8_t* p, const u64 prime[4]) { return std::memcmp(p, prime, 32) == 0; }

struct Zkey {
  std::vector<uint8_t> bytes;
  BinFile file;
  std::string sha256;
  uint32_t nVars = 0, nPublic = 0, domainSize = 0, power = 0;
  G1A alpha1, beta1, delta1;
  G2A beta2, gamma2, delta2;
  const uint8_t *coefs = nullptr, *A = nullptr, *B1 = nullptr, *B2 = nullptr, *C = nullptr, *H = nullptr;
  uint32_t nCoefs = 0;
  static constexpr size_t COEF_SIZE = 12 + 32;
  /** Coefficient indices grouped by (matrix, constraint slice), so buildABC runs in parallel. */
  std::vector<std::vector<uint32_t>> coef_slices;
  uint32_t slice_count = 1;

  void load(const std::string& path) { load_bytes(read_file(path), path); }

  /** Takes ownership of the key bytes (`label` names them in errors) and checks them. */
  void load_bytes(std::vector<uint8_t>&& data, const std::string& label) {
    bytes = std::move(data);
    sha256 = sha256_hex(bytes.data(), bytes.size());
    file.parse(bytes.data(), bytes.size(), "zkey", label);
    parse_header();
    parse_sections();
  }

 private:
  template <class P>
  P point_at(size_t off, const char* what) const {
    P p;
    std::memcpy(&p, file.data + off, sizeof(P));
    check_point(p, what);
    return p;
  }

  void check_point(const G1A& p, const char* what) const {
    if (!Fq::lt_p(p.x.v) || !Fq::lt_p(p.y.v) || !Curve::on_curve(p))
      file.fail(std::string(what) + " is not a BN254 G1 point");
  }
  void check_point(const G2A& p, const char* what) const {
    if (!Fq::lt_p(p.x.c0.v) || !Fq::lt_p(p.x.c1.v) || !Fq::lt_p(p.y.c0.v) || !Fq::lt_p(p.y.c1.v) ||
        !Curve::on_curve(p))
      file.fail(std::string(what) + " is not a BN254 G2 point");
  }

  void parse_header() {
    const Section& s1 = file.need(1, "header");
    if (s1.size < 4) file.fail("section 1 (header) truncated");
    uint32_t protocol = rd32(file.data + s1.offset);
    if (protocol != 1) file.fail("not a Groth16 key (protocol id " + std::to_string(protocol) + ")");
    const Section& s2 = file.need(2, "Groth16 header");
    const uint8_t* p = file.data + s2.offset;
    size_t left = s2.size;
    auto take = [&](size_t n, const char* what) {
      if (left < n) file.fail(std::string("section 2 (Groth16 header) truncated at ") + what);
      const uint8_t* at = p;
      p += n;
      left -= n;
      return at;
    };
    uint32_t n8q = rd32(take(4, "n8q"));
    if (n8q != 32) file.fail("wrong curve: base field of " + std::to_string(n8q) + " bytes, BN254 has 32");
    if (!is_prime(take(32, "q"), BN254_Q)) file.fail("wrong curve: the base field prime is not BN254's");
    uint32_t n8r = rd32(take(4, "n8r"));
    if (n8r != 32) file.fail("wrong curve: scalar field of " + std::to_string(n8r) + " bytes, BN254 has 32");
    if (!is_prime(take(32, "r"), BN254_R)) file.fail("wrong curve: the scalar field prime is not BN254's");
    nVars = rd32(take(4, "nVars"));
    nPublic = rd32(take(4, "nPublic"));
    domainSize = rd32(take(4, "domainSize"));
    if (domainSize == 0 || (domainSize & (domainSize - 1)) != 0 || domainSize > (1u << 28))
      file.fail("corrupted: domain size " + std::to_string(domainSize) + " is not a power of two <= 2^28");
    power = 0;
    while ((1u << power) < domainSize) power++;
    if (nVars == 0 || (uint64_t)nPublic + 1 > nVars)
      file.fail("corrupted: " + std::to_string(nPublic) + " public signals for " + std::to_string(nVars) +
                " variables");
    size_t base = (size_t)(p - file.data);
    take(64 * 3 + 128 * 3, "verification key points");
    alpha1 = point_at<G1A>(base, "alpha1");
    beta1 = point_at<G1A>(base + 64, "beta1");
    beta2 = point_at<G2A>(base + 128, "beta2");
    gamma2 = point_at<G2A>(base + 256, "gamma2");
    delta1 = point_at<G1A>(base + 384, "delta1");
    delta2 = point_at<G2A>(base + 448, "delta2");
  }

  template <class P>
  void check_bases(const uint8_t* at, size_t n, const char* what) const {
    std::atomic<bool> bad{false};
    std::atomic<size_t> first{SIZE_MAX};
    parallel_for(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        P p;
        std::memcpy(&p, at + i * sizeof(P), sizeof(P));
        bool ok;
        if constexpr (sizeof(P) == 64) {
          ok = Fq::lt_p(p.x.v) && Fq::lt_p(p.y.v) && Curve::on_curve(p);
        } else {
          ok = Fq::lt_p(p.x.c0.v) && Fq::lt_p(p.x.c1.v) && Fq::lt_p(p.y.c0.v) && Fq::lt_p(p.y.c1.v) &&
               Curve::on_curve(p);
        }
        if (!ok) {
          bad = true;
          size_t cur = first.load();
          while (i < cur && !first.compare_exchange_weak(cur, i)) {
          }
          return;
        }
      }
    });
    if (bad) file.fail(std::string(what) + " point " + std::to_string(first.load()) + " is not on the curve");
  }

  void parse_sections() {
    const uint64_t nv = nVars, np = nPublic, ds = domainSize;
    file.expect_size(3, "IC points", (np + 1) * 64);
    const Section& s4 = file.need(4, "coefficients");
    if (s4.size < 4) file.fail("section 4 (coefficients) truncated");
    nCoefs = rd32(file.data + s4.offset);
    if (s4.size != 4 + (uint64_t)nCoefs * COEF_SIZE)
      file.fail("section 4 (coefficients) has " + std::to_string(s4.size) + " bytes for " +
                std::to_string(nCoefs) + " coefficients");
    coefs = file.data + s4.offset + 4;
    file.expect_size(5, "A points", nv * 64);
    file.expect_size(6, "B1 points", nv * 64);
    file.expect_size(7, "B2 points", nv * 128);
    file.expect_size(8, "C points", (nv - np - 1) * 64);
    file.expect_size(9, "H points", ds * 64);
    A = file.data + file.need(5, "A").offset;
    B1 = file.data + file.need(6, "B1").offset;
    B2 = file.data + file.need(7, "B2").offset;
    C = file.data + file.need(8, "C").offset;
    H = file.data + file.need(9, "H").offset;
    check_bases<G1A>(A, nv, "A");
    check_bases<G1A>(B1, nv, "B1");
    check_bases<G2A>(B2, nv, "B2");
    check_bases<G1A>(C, nv - np - 1, "C");
    check_bases<G1A>(H, ds, "H");
    index_coefficients();
  }

  void index_coefficients() {
    slice_count = thread_count() * 2;
    if (slice_count > domainSize) slice_count = domainSize;
    coef_slices.assign(2 * (size_t)slice_count, {});
    const uint64_t per = (domainSize + slice_count - 1) / slice_count;
    for (uint32_t i = 0; i < nCoefs; i++) {
      const uint8_t* c = coefs + (size_t)i * COEF_SIZE;
      uint32_t m = rd32(c), row = rd32(c + 4), sig = rd32(c + 8);
      Fr v;
      if (m > 1) file.fail("coefficient " + std::to_string(i) + ": matrix " + std::to_string(m) + " is not A or B");
      if (row >= domainSize) file.fail("coefficient " + std::to_string(i) + ": constraint index out of range");
      if (sig >= nVars) file.fail("coefficient " + std::to_string(i) + ": signal index out of range");
      if (!read_canonical(c + 12, v)) file.fail("coefficient " + std::to_string(i) + ": value not below r");
      coef_slices[(size_t)m * slice_count + row / per].push_back(i);
    }
  }
};

struct Wtns {
  BinFile file;
  uint32_t nWitness = 0;
  const uint8_t* values = nullptr;  // nWitness plain little-endian 32-byte values, all < r

  /** Parses witness bytes owned by the caller (kept alive while this is used). */
  void parse(const uint8_t* d, size_t n, const std::string& name) {
    file.parse(d, n, "wtns", name);
    const Section& s1 = file.need(1, "header");
    if (s1.size < 4) file.fail("section 1 (header) truncated");
    uint32_t n8 = rd32(d + s1.offset);
    if (n8 != 32) file.fail("wrong curve: field elements of " + std::to_string(n8) + " bytes, BN254 has 32");
    if (s1.size != 4 + 32 + 4) file.fail("section 1 (header) has " + std::to_string(s1.size) + " bytes, expected 40");
    if (!is_prime(d + s1.offset + 4, BN254_R)) file.fail("wrong curve: the witness field is not BN254's scalar field");
    nWitness = rd32(d + s1.offset + 36);
    file.expect_size(2, "witness values", (uint64_t)nWitness * 32);
    values = d + file.need(2, "values").offset;
    for (uint32_t i = 0; i < nWitness; i++) {
      u64 v[4];
      std::memcpy(v, values + (size_t)i * 32, 32);
      if (!Fr::lt_p(v)) file.fail("witness value " + std::to_string(i) + " is not below r");
    }
    u64 one[4] = {0, 0, 0, 0};
    if (nWitness) std::memcpy(one, values, 32);
    if (one[0] != 1 || one[1] || one[2] || one[3]) file.fail("witness value 0 is not 1 (not a circom witness)");
  }
};

}  // namespace zk
