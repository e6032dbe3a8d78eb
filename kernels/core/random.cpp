#include "kernels/core/random.h"

#include <cmath>

#include "kernels/core/error.h"

namespace nnuc {

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::int64_t Rng::between(std::int64_t low, std::int64_t high) {
  NNUC_CHECK(low <= high, "Rng::between: low ", low, " > high ", high);
  const std::uint64_t range = static_cast<std::uint64_t>(high - low) + 1;  // 0 means the full 2^64 range
  if (range == 0) return static_cast<std::int64_t>(engine_());
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % range);  // accept draws below a multiple of range
  std::uint64_t draw = engine_();
  while (draw >= limit) draw = engine_();
  return low + static_cast<std::int64_t>(draw % range);
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * std::log(s) / s);
  spare_ = v * factor;
  has_spare_ = true;
  return u * factor;
}

}  // namespace nnuc
