// A seeded generator whose output is the same with every compiler and standard library:
// MT19937-64 words turned into uniforms and normals by formulas written here (std::*_distribution
// is implementation-defined).
#pragma once

#include <cstdint>
#include <random>

namespace nnuc {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  // Standard normal by Box-Muller (both values of a pair are used).
  double normal();
  // Uniform integer in [0, bound) without modulo bias.
  std::uint64_t below(std::uint64_t bound);
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace nnuc
