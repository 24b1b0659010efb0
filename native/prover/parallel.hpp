/**
 * @file parallel.hpp
 * Minimal fork-join helpers over std::thread. Threads are started per call: a call costs ~50 us per
 * thread, which is noise next to the milliseconds-to-seconds each NTT stage or MSM takes, and keeps the
 * prover free of a long-lived pool (nothing to shut down, nothing shared between requests).
 * The thread count is ZKTALLY_PROVER_THREADS when set (1..256), else std::thread::hardware_concurrency().
 */
#pragma once
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace zk {

inline unsigned thread_count() {
  static unsigned cached = [] {
    const char* env = std::getenv("ZKTALLY_PROVER_THREADS");
    if (env) {
      long v = std::strtol(env, nullptr, 10);
      if (v >= 1 && v <= 256) return (unsigned)v;
    }
    unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1u : hc;
  }();
  return cached;
}

/** Runs fn(begin, end) on up to thread_count() contiguous slices of [0, n). */
template <class Fn>
void parallel_for(size_t n, Fn&& fn, size_t min_per_thread = 1024) {
  size_t t = thread_count();
  if (min_per_thread == 0) min_per_thread = 1;
  if (n / min_per_thread < t) t = n / min_per_thread;
  if (t <= 1) {
    if (n) fn(size_t(0), n);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(t - 1);
  size_t chunk = (n + t - 1) / t;
  for (size_t i = 1; i < t; i++) {
    size_t b = i * chunk, e = b + chunk < n ? b + chunk : n;
    if (b >= e) break;
    threads.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(size_t(0), chunk < n ? chunk : n);
  for (auto& th : threads) th.join();
}

/** Runs fn(task) for task in [0, ntasks) on thread_count() threads pulling from a shared counter. */
template <class Fn>
void parallel_tasks(size_t ntasks, Fn&& fn) {
  size_t t = thread_count();
  if (t > ntasks) t = ntasks;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= ntasks) return;
      fn(i);
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < t; i++) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
}

}  // namespace zk
