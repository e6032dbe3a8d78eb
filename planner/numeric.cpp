#include "planner/numeric.h"

#include <cmath>

#include "kernels/core/error.h"

namespace nnuc::planner {

double round_half_even(double x) {
  if (!std::isfinite(x)) return x;
  const double below = std::floor(x);
  const double fraction = x - below;  // exact for every finite double
  if (fraction > 0.5) return below + 1.0;
  if (fraction < 0.5) return below;
  return std::fmod(below, 2.0) == 0.0 ? below : below + 1.0;
}

std::int64_t round_half_even_to_int(double x) {
  NNUC_CHECK(std::isfinite(x) && std::fabs(x) < 4.6e18, "round_half_even_to_int: value ", x,
             " is not a finite number within the int64 range");
  return static_cast<std::int64_t>(round_half_even(x));
}

double product(const std::vector<double>& values) {
  if (values.empty()) return 1.0;
  double result = values[0];
  for (std::size_t i = 1; i < values.size(); ++i) result *= values[i];
  return result;
}

std::size_t argmax_first(const std::vector<double>& values) {
  NNUC_CHECK(!values.empty(), "argmax_first: no values");
  std::size_t best = 0;
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

std::size_t argmax_last(const std::vector<double>& values) {
  NNUC_CHECK(!values.empty(), "argmax_last: no values");
  std::size_t best = 0;
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (values[i] >= values[best]) best = i;
  }
  return best;
}

}  // namespace nnuc::planner
