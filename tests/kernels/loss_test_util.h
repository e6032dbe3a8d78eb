// Helpers shared by tests/kernels/loss_test.cpp and region_loss_test.cpp: shapes, inputs, comparisons
// with double-precision references, and the central-difference gradcheck.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/loss/loss.h"
#include "kernels/loss/region_loss.h"
#include "tests/support/test_support.h"

namespace nnuc::loss_test {

// (N, D, H, W, K): odd sizes, 2-D (D = 1), batch > 1, K = 2..5, a single voxel, and K = 13 (two class chunks).
inline const std::vector<Shape> kShapes = {
    Shape{1, 3, 5, 7, 2}, Shape{2, 1, 9, 11, 3}, Shape{3, 2, 3, 5, 4},
    Shape{2, 4, 3, 5, 5}, Shape{1, 1, 1, 1, 3},  Shape{2, 3, 7, 5, 13},
};

inline constexpr double kSmooth = 1e-5;  // nnU-Net's Dice ε

struct Sizes {
  std::int64_t samples, voxels, classes;  // voxels per sample
  explicit Sizes(const Shape& s) : samples(s[0]), voxels(s[1] * s[2] * s[3]), classes(s[4]) {}
};

inline Shape label_shape(const Shape& logits) { return Shape{logits[0], logits[1], logits[2], logits[3], 1}; }

// Labels in [0, K); with an ignore label (= K) about one voxel in K + 1 is ignored.
inline Tensor make_labels(const Shape& logits, int ignore_label) {
  const int classes = static_cast<int>(logits[4]);
  return testing::random_labels(label_shape(logits), DType::i16, ignore_label >= 0 ? classes + 1 : classes);
}

inline std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

inline double scalar(const Tensor& t) { return t.to_vector<double>()[0]; }

inline ::testing::AssertionResult close(const Tensor& actual, const std::vector<double>& expected, double atol,
                                        double rtol) {
  return testing::all_close(actual, Tensor::from_vector(actual.shape(), expected), atol, rtol);
}

struct SumsReference {
  double loss_sum = 0, counted = 0;
  std::vector<double> intersection, prediction, target;  // (N, K)
};

inline void expect_sums(const Tensor& loss_sum, const Tensor& counted, const SumsReference& ref, double rtol) {
  EXPECT_NEAR(scalar(loss_sum), ref.loss_sum, rtol * (1 + std::fabs(ref.loss_sum)));
  EXPECT_EQ(scalar(counted), ref.counted);
}

inline void expect_sums(const DiceSums& dice, const SumsReference& ref, double rtol) {
  EXPECT_TRUE(close(dice.intersection, ref.intersection, rtol, rtol));
  EXPECT_TRUE(close(dice.prediction, ref.prediction, rtol, rtol));
  EXPECT_TRUE(close(dice.target, ref.target, 0, 0));  // exact counts
}

inline double reference_rtol(DType dtype) { return dtype == DType::f64 ? 1e-11 : 2e-5; }

inline std::vector<double> random_values(std::int64_t count) {
  return values(testing::random_uniform(Shape{count}, DType::f64, -1.0, 1.0));
}

inline Tensor sums_tensor(const std::vector<double>& v, const Sizes& s, DType dtype) {
  Tensor f64 = Tensor::from_vector(Shape{s.samples, s.classes}, v);
  return dtype == DType::f64 ? f64 : testing::as_f32(f64);
}

// Central differences of `objective` at `logits` (f64) against `analytic`.
inline void gradcheck(const Tensor& logits, const Tensor& analytic,
                      const std::function<double(const Tensor&)>& objective) {
  const double h = 1e-5;
  std::vector<double> x = values(logits);
  const std::vector<double> grad = values(analytic);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double plus = objective(Tensor::from_vector(logits.shape(), x));
    x[i] = saved - h;
    const double minus = objective(Tensor::from_vector(logits.shape(), x));
    x[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    EXPECT_NEAR(grad[i], numeric, 1e-7 + 1e-6 * std::fabs(numeric)) << "element " << i;
  }
}

inline double dot(const Tensor& a, const std::vector<double>& b) {
  const std::vector<double> av = values(a);
  double total = 0;
  for (std::size_t i = 0; i < av.size(); ++i) total += av[i] * b[i];
  return total;
}

inline Tensor make_targets(const Shape& logits, RegionIgnore ignore) {
  const std::int64_t channels = logits[4] + (ignore == RegionIgnore::last_target_channel ? 1 : 0);
  return testing::random_labels(Shape{logits[0], logits[1], logits[2], logits[3], channels}, DType::u8, 2);
}

}  // namespace nnuc::loss_test
