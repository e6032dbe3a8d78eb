// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11; the generator of cuRAND's and Random123's philox4x32_10). A draw is a pure function
// of (key, counter), computed the same way on the host and in CUDA kernels, so
//   - the CPU and CUDA implementations of a random op produce the same numbers from the same draw;
//   - a training run resumes exactly from an iteration index, with no generator state to save;
//   - worker threads may produce batches in any order without changing what each batch holds.
//
// Streams. A key is (seed, stream): `seed` is the run's seed, `stream` one of PhiloxStream, so that
// sampling, augmentation and initialization never share numbers. The counter's four words are the
// caller's coordinates of the draw, by convention (iteration, batch element, purpose, index), and
// each call returns four independent 32-bit words.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define NNUC_HD __host__ __device__ __forceinline__
#else
#define NNUC_HD inline
#endif

namespace nnuc {

// The documented streams of a training run. New purposes get a new value; never reuse one.
enum class PhiloxStream : std::uint32_t {
  sampler = 1,        // case choice, patch corner, foreground class and voxel (data/loader)
  augmentation = 2,   // per-sample transform parameters (data/augment)
  augment_noise = 3,  // per-voxel Gaussian noise fields (data/augment)
  validation = 4,     // the validation sampler
  split = 5,          // random splits beyond the stored folds
};

struct PhiloxKey {
  std::uint32_t k0 = 0, k1 = 0;
};
struct PhiloxCounter {
  std::uint32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
};
struct Philox4 {
  std::uint32_t v[4];
};

NNUC_HD PhiloxKey philox_key(std::uint64_t seed, PhiloxStream stream) {
  // Mix the stream into the high word so that seeds 0, 1, 2 ... of one stream stay distinct keys.
  const auto s = static_cast<std::uint32_t>(stream);
  return PhiloxKey{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32) ^ (s * 0x9E3779B9u)};
}

NNUC_HD void philox_mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t product = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(product >> 32);
  lo = static_cast<std::uint32_t>(product);
}

// Philox4x32 with 10 rounds.
NNUC_HD Philox4 philox4x32(PhiloxCounter counter, PhiloxKey key) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  std::uint32_t c0 = counter.c0, c1 = counter.c1, c2 = counter.c2, c3 = counter.c3;
  std::uint32_t k0 = key.k0, k1 = key.k1;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kM0, c0, hi0, lo0);
    philox_mulhilo(kM1, c2, hi1, lo1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) from one word: 24 random bits, exact in float and double.
NNUC_HD float philox_uniform01f(std::uint32_t word) { return static_cast<float>(word >> 8) * (1.0f / 16777216.0f); }
// Uniform in [0, 1) from two words: 53 random bits.
NNUC_HD double philox_uniform01(std::uint32_t high, std::uint32_t low) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(high) << 21) ^ (low >> 11);
  return static_cast<double>(bits & ((std::uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}
// Standard normal (Box-Muller, first value) from two words, in float: the same bits on host and
// device up to the last ulp of logf/cosf, which the op's tolerance states. For host-only draws
// (parameters), prefer PhiloxDraws::normal.
NNUC_HD float philox_normalf(std::uint32_t a, std::uint32_t b) {
  const float u1 = (static_cast<float>(a >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = philox_uniform01f(b);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864769f * u2);
}

// A sequence of draws on the host for one (key, c0, c1, c2): the fourth counter word advances every
// four words. Used for the per-sample parameters of the sampler and augmentation, which are few.
class PhiloxDraws {
 public:
  PhiloxDraws(PhiloxKey key, std::uint32_t c0, std::uint32_t c1, std::uint32_t c2)
      : key_(key), c0_(c0), c1_(c1), c2_(c2) {}
  std::uint32_t next_u32() {
    if (used_ == 4) {
      block_ = philox4x32(PhiloxCounter{c0_, c1_, c2_, next_block_++}, key_);
      used_ = 0;
    }
    return block_.v[used_++];
  }
  // Uniform in [0, 1) with 53 bits.
  double uniform() {
    const std::uint32_t high = next_u32();
    return philox_uniform01(high, next_u32());
  }
  // Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // True with probability p.
  bool bernoulli(double p) { return uniform() < p; }
  // Uniform integer in [0, bound), unbiased (rejection). requires: bound >= 1.
  std::uint64_t below(std::uint64_t bound) {
    if (bound <= 1) return 0;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
      const std::uint64_t high = next_u32();
      const std::uint64_t value = (high << 32) | next_u32();
      if (value < limit) return value % bound;
    }
  }
  // Uniform integer in [low, high] (inclusive). requires: low <= high.
  std::int64_t between(std::int64_t low, std::int64_t high) {
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low) + 1));
  }
  // Standard normal, Box-Muller in double.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }
  // How many blocks were drawn (for tests).
  std::uint32_t blocks() const { return next_block_; }

 private:
  PhiloxKey key_;
  std::uint32_t c0_, c1_, c2_;
  std::uint32_t next_block_ = 0;
  Philox4 block_{{0, 0, 0, 0}};
  int used_ = 4;
};

}  // namespace nnuc
