// The synthetic-data generator's random numbers: std::mt19937_64 (whose output sequence the C++
// standard fixes) with distributions implemented here, because std::uniform_real_distribution and
// std::normal_distribution produce different numbers in different standard libraries. Same seed,
// same bytes, on every platform with IEEE doubles and a correctly rounded libm.
#pragma once

#include <cstdint>
#include <random>

namespace nnuc::data::synth {

// splitmix64 of (seed, stream): independent seeds for cases, slices and parts of a scene, so that
// changing the number of cases leaves the earlier cases unchanged.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

class SynthRandom {
 public:
  explicit SynthRandom(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1): the top 53 bits of one draw.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [low, high] (inclusive), unbiased (rejection sampling).
  std::int64_t uniform_int(std::int64_t low, std::int64_t high);
  // Standard normal: Marsaglia's polar method (uses only log and sqrt); caches the second value.
  double normal();
  double normal(double mean, double sigma) { return mean + sigma * normal(); }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace nnuc::data::synth
