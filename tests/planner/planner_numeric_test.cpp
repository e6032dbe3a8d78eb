// Python/numpy arithmetic of the planner (with the float64 percentile and median it takes from
// data/preprocess/numpy_stats.h): expected values are what CPython 3.11 / numpy 2.4 return
// for the same inputs (noted beside each).
#include <gtest/gtest.h>

#include <cmath>

#include "data/preprocess/numpy_stats.h"
#include "kernels/core/error.h"
#include "planner/numeric.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

// The planner's np.percentile / np.median of float64 values: data/preprocess/numpy_stats.h.
double percentile(const std::vector<double>& values, double q) { return data::numpy_percentile_f64(values, q); }
double median(const std::vector<double>& values) { return data::numpy_median_f64(values); }

TEST(PlannerNumeric, RoundHalfEvenLikePython) {
  // round(0.5), round(1.5), round(2.5), round(-0.5), round(-1.5) -> 0 2 2 0 -2
  EXPECT_EQ(round_half_even(0.5), 0.0);
  EXPECT_EQ(round_half_even(1.5), 2.0);
  EXPECT_EQ(round_half_even(2.5), 2.0);
  EXPECT_EQ(round_half_even(-0.5), 0.0);
  EXPECT_EQ(round_half_even(-1.5), -2.0);
  EXPECT_EQ(round_half_even(2.5000000000000004), 3.0);
  EXPECT_EQ(round_half_even(2.4999999999999996), 2.0);
  EXPECT_EQ(round_half_even(1e16 + 2.0), 1e16 + 2.0);
  EXPECT_EQ(round_half_even_to_int(57.49999), 57);
  EXPECT_EQ(round_half_even_to_int(365.5), 366);
  EXPECT_EQ(round_half_even_to_int(366.5), 366);
  EXPECT_THROW(round_half_even_to_int(std::nan("")), InvalidInput);
  // Fresh values: agrees with nearest-integer rounding away from the exact halves.
  std::uniform_real_distribution<double> uniform(-1e6, 1e6);
  for (int i = 0; i < 1000; ++i) {
    const double x = uniform(testing::rng());
    if (std::fabs(x - std::trunc(x)) == 0.5) continue;
    EXPECT_EQ(round_half_even(x), std::round(x)) << x;
  }
}

TEST(PlannerNumeric, PercentileMatchesNumpyLinear) {
  const std::vector<double> v{0.7, 0.8, 0.9, 1.25, 3.6, 3.0, 2.2, 0.625, 1.1, 4.0, 0.33};
  EXPECT_EQ(percentile(v, 10), 0.625);    // np.percentile(v, 10)
  EXPECT_EQ(percentile(v, 50), 1.1);      // np.percentile(v, 50)
  EXPECT_EQ(percentile(v, 90), 3.6);      // np.percentile(v, 90)
  EXPECT_EQ(percentile(v, 33.3), 0.833);  // np.percentile(v, 33.3)
  EXPECT_EQ(percentile({3.6, 3.0, 3.6, 4.0, 2.2, 3.3}, 10), 2.6);
  EXPECT_EQ(percentile({5, 1, 2, 8}, 50), 3.5);
  EXPECT_EQ(percentile({5, 1, 2, 8, 100}, 10), 1.4);
  EXPECT_EQ(percentile({7.0}, 10), 7.0);
  EXPECT_EQ(percentile({1.0, 2.0}, 100), 2.0);
  EXPECT_EQ(percentile({1.0, 2.0}, 0), 1.0);
  // Pairs where numpy's lerp (b - (b-a)/2) and the median's (a+b)/2 differ in the last bit.
  EXPECT_EQ(percentile({4.325360879495921, 0.3385824502800899}, 50), 2.3319716648880053);
  EXPECT_EQ(median({4.325360879495921, 0.3385824502800899}), 2.331971664888006);
  EXPECT_EQ(percentile({0.13863210719135785, 1.9261274421228782}, 50), 1.0323797746571182);
  EXPECT_EQ(median({0.13863210719135785, 1.9261274421228782}), 1.032379774657118);
  EXPECT_THROW(percentile({}, 50), InvalidInput);
  EXPECT_THROW(percentile({1.0}, 101), InvalidInput);
}

TEST(PlannerNumeric, PercentileIsMonotoneAndBounded) {
  std::uniform_real_distribution<double> uniform(0.3, 7.0);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> v(1 + trial % 17);
    for (double& x : v) x = uniform(testing::rng());
    const double lo = *std::min_element(v.begin(), v.end());
    const double hi = *std::max_element(v.begin(), v.end());
    double previous = lo;
    for (double q = 0; q <= 100; q += 2.5) {
      const double p = percentile(v, q);
      EXPECT_GE(p, previous);
      EXPECT_LE(p, hi);
      previous = p;
    }
    EXPECT_EQ(percentile(v, 0), lo);
    EXPECT_EQ(percentile(v, 100), hi);
  }
}

TEST(PlannerNumeric, MedianProductArgmax) {
  EXPECT_EQ(median({3, 1, 2}), 2.0);
  EXPECT_EQ(median({40, 49, 41, 48, 42, 47, 43, 46, 44, 45}), 44.5);
  EXPECT_EQ(product({36.0, 50.0, 35.0}), 63000.0);
  EXPECT_EQ(product({}), 1.0);
  EXPECT_EQ(argmax_first({1.0, 3.0, 3.0}), 1u);
  EXPECT_EQ(argmax_last({1.0, 3.0, 3.0}), 2u);
  EXPECT_EQ(argmax_last({1.0, 1.0, 0.5}), 1u);  // np.argsort([1, 1, .5])[-1] == 1
  EXPECT_EQ(argmax_last({2.0, 1.0, 1.0}), 0u);
}

}  // namespace
}  // namespace nnuc::planner
