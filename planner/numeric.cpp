#include "planner/numeric.h"

#include <algorithm>
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

double percentile(std::vector<double> values, double q) {
  NNUC_CHECK(!values.empty(), "percentile: no values");
  NNUC_CHECK(q >= 0.0 && q <= 100.0, "percentile: q = ", q, ", expected 0 <= q <= 100");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double quantile = q / 100.0;
  const double virtual_index = static_cast<double>(n - 1) * quantile;
  if (virtual_index >= static_cast<double>(n - 1)) return values[n - 1];
  if (virtual_index < 0.0) return values[0];
  const double previous_index = std::floor(virtual_index);
  const auto previous = static_cast<std::size_t>(previous_index);
  const double gamma = virtual_index - previous_index;
  const double a = values[previous];
  const double b = values[previous + 1];
  const double difference = b - a;
  // numpy's _lerp: a + d*g, replaced by b - d*(1-g) where g >= 0.5 (monotone at both ends).
  if (gamma >= 0.5) return b - difference * (1.0 - gamma);
  return a + difference * gamma;
}

double median(std::vector<double> values) {
  NNUC_CHECK(!values.empty(), "median: no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2.0;
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
