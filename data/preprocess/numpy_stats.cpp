#include "data/preprocess/numpy_stats.h"

#include <algorithm>
#include <cmath>

#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

constexpr std::size_t kPairwiseBlock = 128;  // numpy's PW_BLOCKSIZE

// numpy's pairwise_sum for float32 (loops_utils.h.src), evaluated in float32.
float pairwise_sum(const float* a, std::size_t n) {
  if (n < 8) {
    float res = -0.0f;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kPairwiseBlock) {
    float r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + static_cast<std::size_t>(j)];
    }
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// The k-th smallest and the (k+1)-th smallest (clamped to the last) after partial sorting.
std::pair<float, float> neighbours_f32(std::vector<float>& values, std::size_t k) {
  const auto begin = values.begin();
  std::nth_element(begin, begin + static_cast<std::ptrdiff_t>(k), values.end());
  const float low = values[k];
  float high = low;
  if (k + 1 < values.size()) high = *std::min_element(begin + static_cast<std::ptrdiff_t>(k) + 1, values.end());
  return {low, high};
}

std::pair<double, double> neighbours_f64(std::vector<double>& values, std::size_t k) {
  const auto begin = values.begin();
  std::nth_element(begin, begin + static_cast<std::ptrdiff_t>(k), values.end());
  const double low = values[k];
  double high = low;
  if (k + 1 < values.size()) high = *std::min_element(begin + static_cast<std::ptrdiff_t>(k) + 1, values.end());
  return {low, high};
}

// numpy's linear virtual index: v = (n - 1) * (q / 100); the lower neighbour index and the fraction.
void virtual_index(std::size_t n, double q, std::size_t& lower, double& gamma) {
  NNUC_CHECK(q >= 0.0 && q <= 100.0, "percentile: q must be in [0, 100], got ", q);
  const double v = static_cast<double>(n - 1) * (q / 100.0);
  const double floor_v = std::floor(v);
  gamma = v - floor_v;
  lower = v >= static_cast<double>(n - 1) ? n - 1 : static_cast<std::size_t>(floor_v);
}

}  // namespace

float numpy_sum_f32(const float* values, std::size_t count) { return 0.0f + pairwise_sum(values, count); }

float numpy_mean_f32(const float* values, std::size_t count) {
  NNUC_CHECK(count > 0, "mean of an empty array");
  return static_cast<float>(static_cast<double>(numpy_sum_f32(values, count)) / static_cast<double>(count));
}

float numpy_std_f32(const float* values, std::size_t count) {
  NNUC_CHECK(count > 0, "std of an empty array");
  const float mean = numpy_mean_f32(values, count);
  std::vector<float> squared(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float deviation = values[i] - mean;
    squared[i] = deviation * deviation;
  }
  const float sum = numpy_sum_f32(squared.data(), count);
  return std::sqrt(static_cast<float>(static_cast<double>(sum) / static_cast<double>(count)));
}

float numpy_median_f32(std::vector<float>& values) {
  NNUC_CHECK(!values.empty(), "median of an empty array");
  const std::size_t n = values.size();
  if (n % 2 == 1) return neighbours_f32(values, n / 2).first;
  const auto [a, b] = neighbours_f32(values, n / 2 - 1);
  const float sum = 0.0f + (-0.0f + a + b);
  return static_cast<float>(static_cast<double>(sum) / 2.0);
}

float numpy_percentile_f32(std::vector<float>& values, double q) {
  NNUC_CHECK(!values.empty(), "percentile of an empty array");
  std::size_t lower;
  double gamma;
  virtual_index(values.size(), q, lower, gamma);
  const auto [a, b] = neighbours_f32(values, lower);
  const float difference = b - a;
  if (gamma >= 0.5) return b - difference * static_cast<float>(1.0 - gamma);
  return a + difference * static_cast<float>(gamma);
}

double numpy_median_f64(std::vector<double> values) {
  NNUC_CHECK(!values.empty(), "median of an empty array");
  const std::size_t n = values.size();
  if (n % 2 == 1) return neighbours_f64(values, n / 2).first;
  const auto [a, b] = neighbours_f64(values, n / 2 - 1);
  return (a + b) / 2.0;
}

double numpy_percentile_f64(std::vector<double> values, double q) {
  NNUC_CHECK(!values.empty(), "percentile of an empty array");
  std::size_t lower;
  double gamma;
  virtual_index(values.size(), q, lower, gamma);
  const auto [a, b] = neighbours_f64(values, lower);
  const double difference = b - a;
  if (gamma >= 0.5) return b - difference * (1.0 - gamma);
  return a + difference * gamma;
}

}  // namespace nnuc::data
