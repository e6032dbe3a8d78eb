// Rng: the sequential seeded generator of nnuc (MT19937-64 words, whose sequence the C++ standard
// fixes, turned into uniforms, integers and normals by formulas written here, because
// std::*_distribution is implementation-defined). Same seed, same numbers, on every platform with
// IEEE doubles and a correctly rounded libm. Used where numbers are drawn one after the other on the
// host: synthetic datasets (data/synth), weight initialization (nn), gradcheck inputs.
//
// The random numbers of a training run (sampling, augmentation) are counter-based instead
// (kernels/core/philox.h); kernels/README.md, "Random numbers", lists every generator and stream.
#pragma once

#include <cstdint>
#include <random>

namespace nnuc {

// splitmix64 of (seed, stream): independent seeds for the parts of a larger draw (cases, slices,
// parts of a scene), so that changing how many parts there are leaves the earlier parts unchanged.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1): the top 53 bits of one draw.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [low, high] (inclusive), unbiased (rejection sampling); always draws at least
  // one word. requires: low <= high.
  std::int64_t between(std::int64_t low, std::int64_t high);
  // Uniform integer in [0, bound), unbiased; draws nothing when bound <= 1 (returns 0).
  std::uint64_t below(std::uint64_t bound) {
    return bound <= 1 ? 0 : static_cast<std::uint64_t>(between(0, static_cast<std::int64_t>(bound - 1)));
  }
  // Standard normal: Marsaglia's polar method (only log and sqrt); caches the second value of a pair.
  double normal();
  double normal(double mean, double sigma) { return mean + sigma * normal(); }

  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace nnuc
