// Resampling (nnunet_method.md §4.3) against double-precision references written from scipy's
// definitions: B-spline coefficients by solving the interpolation condition, the 64-term
// tensor-product sum evaluated per output voxel as scipy.ndimage.zoom does, and a literal
// resize_segmentation (per label, full sums, clip, threshold 0.5).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "data/preprocess/resample.h"
#include "data/preprocess/resample_kernels.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

using resampling::kSplinePad;

// Cubic B-spline basis.
double bspline3(double x) {
  x = std::fabs(x);
  if (x < 1) return 2.0 / 3.0 - x * x + x * x * x / 2.0;
  if (x < 2) return (2 - x) * (2 - x) * (2 - x) / 6.0;
  return 0;
}

// Coefficients c with s[k] = (c[k-1] + 4 c[k] + c[k+1]) / 6 and mirror boundaries c[-1] = c[1],
// c[n] = c[n-2]: a dense solve (n is small in tests).
std::vector<double> reference_coefficients(const std::vector<double>& s) {
  const std::size_t n = s.size();
  std::vector<std::vector<double>> a(n, std::vector<double>(n + 1, 0.0));
  for (std::size_t k = 0; k < n; ++k) {
    a[k][k] += 4.0 / 6.0;
    a[k][k == 0 ? 1 : k - 1] += 1.0 / 6.0;
    a[k][k == n - 1 ? n - 2 : k + 1] += 1.0 / 6.0;
    a[k][n] = s[k];
  }
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t row = col + 1; row < n; ++row)
      if (std::fabs(a[row][col]) > std::fabs(a[pivot][col])) pivot = row;
    std::swap(a[col], a[pivot]);
    for (std::size_t row = 0; row < n; ++row) {
      if (row == col) continue;
      const double factor = a[row][col] / a[col][col];
      for (std::size_t k = col; k <= n; ++k) a[row][k] -= factor * a[col][k];
    }
  }
  std::vector<double> c(n);
  for (std::size_t k = 0; k < n; ++k) c[k] = a[k][n] / a[k][k];
  return c;
}

// The same system solved with the Thomas algorithm (it is tridiagonal: the mirror boundary only
// doubles the off-diagonal of the first and last rows). O(n), for the volume references.
std::vector<double> tridiagonal_coefficients(const std::vector<double>& s) {
  const std::size_t n = s.size();
  std::vector<double> lower(n, 1.0 / 6.0), diagonal(n, 4.0 / 6.0), upper(n, 1.0 / 6.0), rhs = s;
  upper[0] = 2.0 / 6.0;
  lower[n - 1] = 2.0 / 6.0;
  for (std::size_t k = 1; k < n; ++k) {
    const double factor = lower[k] / diagonal[k - 1];
    diagonal[k] -= factor * upper[k - 1];
    rhs[k] -= factor * rhs[k - 1];
  }
  std::vector<double> c(n);
  c[n - 1] = rhs[n - 1] / diagonal[n - 1];
  for (std::size_t k = n - 1; k-- > 0;) c[k] = (rhs[k] - upper[k] * c[k + 1]) / diagonal[k];
  return c;
}

// skimage.resize(order 3, mode 'edge', clip, anti_aliasing False) from the definitions.
std::vector<double> reference_resize3(const std::vector<double>& in, const Shape3& in_shape, const Shape3& out_shape) {
  const Shape3 padded{in_shape[0] + 2 * kSplinePad, in_shape[1] + 2 * kSplinePad, in_shape[2] + 2 * kSplinePad};
  auto padded_at = [&](std::int64_t a, std::int64_t b, std::int64_t c) {
    auto clampi = [](std::int64_t v, std::int64_t n) {
      return std::min(std::max<std::int64_t>(v - kSplinePad, 0), n - 1);
    };
    return in[static_cast<std::size_t>((clampi(a, in_shape[0]) * in_shape[1] + clampi(b, in_shape[1])) * in_shape[2] +
                                       clampi(c, in_shape[2]))];
  };
  std::vector<double> coefficients(static_cast<std::size_t>(padded[0] * padded[1] * padded[2]));
  for (std::int64_t a = 0; a < padded[0]; ++a)
    for (std::int64_t b = 0; b < padded[1]; ++b)
      for (std::int64_t c = 0; c < padded[2]; ++c)
        coefficients[static_cast<std::size_t>((a * padded[1] + b) * padded[2] + c)] = padded_at(a, b, c);
  // Solve along each axis in turn (the spline filter is separable).
  const std::array<std::int64_t, 3> stride{padded[1] * padded[2], padded[2], 1};
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t n = padded[axis];
    for (std::int64_t base = 0; base < static_cast<std::int64_t>(coefficients.size()); ++base) {
      if ((base / stride[axis]) % n != 0) continue;  // first element of a line along `axis`
      std::vector<double> line(static_cast<std::size_t>(n));
      for (std::int64_t k = 0; k < n; ++k)
        line[static_cast<std::size_t>(k)] = coefficients[static_cast<std::size_t>(base + k * stride[axis])];
      const std::vector<double> solved = tridiagonal_coefficients(line);
      for (std::int64_t k = 0; k < n; ++k)
        coefficients[static_cast<std::size_t>(base + k * stride[axis])] = solved[static_cast<std::size_t>(k)];
    }
  }
  const auto [lo, hi] = std::minmax_element(in.begin(), in.end());
  std::vector<double> out(static_cast<std::size_t>(out_shape[0] * out_shape[1] * out_shape[2]));
  std::size_t index = 0;
  for (std::int64_t o0 = 0; o0 < out_shape[0]; ++o0)
    for (std::int64_t o1 = 0; o1 < out_shape[1]; ++o1)
      for (std::int64_t o2 = 0; o2 < out_shape[2]; ++o2, ++index) {
        const std::array<std::int64_t, 3> o{o0, o1, o2};
        std::array<double, 3> cc{};
        for (int axis = 0; axis < 3; ++axis)
          cc[axis] = (o[axis] + 0.5) * (static_cast<double>(in_shape[axis]) / static_cast<double>(out_shape[axis])) -
                     0.5 + static_cast<double>(kSplinePad);
        double sum = 0;
        for (std::int64_t k0 = static_cast<std::int64_t>(std::floor(cc[0])) - 1;
             k0 <= static_cast<std::int64_t>(std::floor(cc[0])) + 2; ++k0)
          for (std::int64_t k1 = static_cast<std::int64_t>(std::floor(cc[1])) - 1;
               k1 <= static_cast<std::int64_t>(std::floor(cc[1])) + 2; ++k1)
            for (std::int64_t k2 = static_cast<std::int64_t>(std::floor(cc[2])) - 1;
                 k2 <= static_cast<std::int64_t>(std::floor(cc[2])) + 2; ++k2) {
              const std::int64_t i0 = std::min(std::max<std::int64_t>(k0, 0), padded[0] - 1);
              const std::int64_t i1 = std::min(std::max<std::int64_t>(k1, 0), padded[1] - 1);
              const std::int64_t i2 = std::min(std::max<std::int64_t>(k2, 0), padded[2] - 1);
              sum += coefficients[static_cast<std::size_t>((i0 * padded[1] + i1) * padded[2] + i2)] *
                     bspline3(cc[0] - static_cast<double>(k0)) * bspline3(cc[1] - static_cast<double>(k1)) *
                     bspline3(cc[2] - static_cast<double>(k2));
            }
        out[index] = std::min(std::max(sum, *lo), *hi);
      }
  return out;
}

// batchgenerators' resize_segmentation(order 1), literally: per label ascending, scipy's order-1
// zoom of the one-hot mask (every tap, taps clamped, product w0 * w1 * w2), clip, threshold >= 0.5.
std::vector<std::int16_t> reference_resize_labels(const std::vector<std::int16_t>& in, const Shape3& in_shape,
                                                  const Shape3& out_shape) {
  std::vector<std::int16_t> unique = in;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<std::int16_t> out(static_cast<std::size_t>(out_shape[0] * out_shape[1] * out_shape[2]), 0);
  for (std::int16_t label : unique) {
    double mask_min = 1, mask_max = 0;
    for (std::int16_t v : in) {
      mask_min = std::min(mask_min, v == label ? 1.0 : 0.0);
      mask_max = std::max(mask_max, v == label ? 1.0 : 0.0);
    }
    std::size_t index = 0;
    for (std::int64_t o0 = 0; o0 < out_shape[0]; ++o0)
      for (std::int64_t o1 = 0; o1 < out_shape[1]; ++o1)
        for (std::int64_t o2 = 0; o2 < out_shape[2]; ++o2, ++index) {
          const std::array<std::int64_t, 3> o{o0, o1, o2};
          std::array<std::int64_t, 3> start{};
          std::array<std::array<double, 2>, 3> w{};
          for (int axis = 0; axis < 3; ++axis) {
            double cc = static_cast<double>(o[axis]);
            cc += 0.5;
            cc *= static_cast<double>(in_shape[axis]) / static_cast<double>(out_shape[axis]);
            cc -= 0.5;
            start[axis] = static_cast<std::int64_t>(std::floor(cc));
            const double x = cc - std::floor(cc);
            w[axis][0] = 1.0 - x;
            w[axis][1] = 1.0 - w[axis][0];
          }
          double t = 0.0;
          for (int f0 = 0; f0 < 2; ++f0)
            for (int f1 = 0; f1 < 2; ++f1)
              for (int f2 = 0; f2 < 2; ++f2) {
                const std::int64_t i0 = std::min(std::max<std::int64_t>(start[0] + f0, 0), in_shape[0] - 1);
                const std::int64_t i1 = std::min(std::max<std::int64_t>(start[1] + f1, 0), in_shape[1] - 1);
                const std::int64_t i2 = std::min(std::max<std::int64_t>(start[2] + f2, 0), in_shape[2] - 1);
                double coeff =
                    in[static_cast<std::size_t>((i0 * in_shape[1] + i1) * in_shape[2] + i2)] == label ? 1.0 : 0.0;
                coeff *= w[0][static_cast<std::size_t>(f0)];
                coeff *= w[1][static_cast<std::size_t>(f1)];
                coeff *= w[2][static_cast<std::size_t>(f2)];
                t += coeff;
              }
          t = std::min(std::max(t, mask_min), mask_max);
          if (t >= 0.5) out[index] = label;
        }
  }
  return out;
}

std::vector<double> random_values(std::int64_t count, double low, double high) {
  std::uniform_real_distribution<double> draw(low, high);
  std::vector<double> values(static_cast<std::size_t>(count));
  for (double& v : values) v = static_cast<float>(draw(testing::rng()));  // float32 inputs, as nnU-Net's
  return values;
}

TEST(ResampleKernels, SplineWeightsAreScipysAndSumToOne) {
  for (double x : {0.0, 0.25, 0.5, 0.999, 3.7, 12.0}) {
    double w3[4], w1[2];
    resampling::spline_weights(x, 3, w3);
    resampling::spline_weights(x, 1, w1);
    const double f = x - std::floor(x);
    for (int h = 0; h < 4; ++h) EXPECT_NEAR(w3[h], bspline3(f + 1 - h), 1e-15) << x;
    EXPECT_DOUBLE_EQ(w1[0], 1 - f);
    EXPECT_NEAR(w1[0] + w1[1], 1.0, 1e-16);
  }
}

TEST(ResampleKernels, PrefilterSolvesTheMirrorInterpolationCondition) {
  for (std::int64_t n : {2, 3, 5, 26, 40}) {
    const std::vector<double> signal = random_values(n, -3, 5);
    std::vector<double> line = signal;
    resampling::prefilter_order3(line.data(), n, 1);
    const std::vector<double> expected = reference_coefficients(signal);
    const std::vector<double> thomas = tridiagonal_coefficients(signal);
    for (std::int64_t k = 0; k < n; ++k) {
      EXPECT_NEAR(line[static_cast<std::size_t>(k)], expected[static_cast<std::size_t>(k)], 1e-12) << n;
      EXPECT_NEAR(thomas[static_cast<std::size_t>(k)], expected[static_cast<std::size_t>(k)], 1e-12) << n;
    }
  }
}

TEST(ResampleReference, Order3ResizeMatchesTheTensorProductDefinition) {
  const std::vector<std::pair<Shape3, Shape3>> cases{{{6, 7, 5}, {9, 4, 5}},
                                                     {{5, 5, 5}, {3, 8, 7}},
                                                     {{1, 6, 7}, {1, 11, 3}},
                                                     {{4, 9, 3}, {4, 9, 6}},
                                                     {{2, 3, 4}, {5, 1, 2}}};
  for (const auto& [in_shape, out_shape] : cases) {
    const std::vector<double> in = random_values(in_shape[0] * in_shape[1] * in_shape[2], -50, 120);
    std::vector<double> out(static_cast<std::size_t>(out_shape[0] * out_shape[1] * out_shape[2]));
    resize_volume(in.data(), in_shape, out.data(), out_shape, 3);
    const std::vector<double> expected = reference_resize3(in, in_shape, out_shape);
    double worst = 0;
    for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(out[i] - expected[i]));
    EXPECT_LE(worst, 1e-11 * 170) << "in (" << in_shape[0] << "," << in_shape[1] << "," << in_shape[2] << ") out ("
                                  << out_shape[0] << "," << out_shape[1] << "," << out_shape[2] << ")";
  }
}

TEST(ResampleReference, LinearLabelResizeIsIdenticalToResizeSegmentation) {
  const std::vector<std::pair<Shape3, Shape3>> cases{{{8, 6, 7}, {4, 3, 7}},  {{5, 7, 6}, {10, 14, 11}},
                                                     {{9, 8, 7}, {6, 13, 5}}, {{1, 9, 8}, {1, 5, 16}},
                                                     {{6, 6, 6}, {3, 3, 3}},  {{7, 5, 9}, {7, 10, 4}}};
  for (const auto& [in_shape, out_shape] : cases) {
    Tensor labels = testing::random_labels(Shape{in_shape[0], in_shape[1], in_shape[2]}, DType::i16, 4);
    std::vector<std::int16_t> in = labels.to_vector<std::int16_t>();
    for (auto& v : in) v = static_cast<std::int16_t>(v - 1);  // labels -1 .. 2
    std::vector<std::int16_t> out(static_cast<std::size_t>(out_shape[0] * out_shape[1] * out_shape[2]));
    resize_labels(in.data(), in_shape, out.data(), out_shape, 1);
    EXPECT_EQ(out, reference_resize_labels(in, in_shape, out_shape));
  }
  // A single label everywhere stays that label (the clip to [1, 1] in skimage).
  std::vector<std::int16_t> same(60, 5), out(105);
  resize_labels(same.data(), {3, 4, 5}, out.data(), {5, 3, 7}, 1);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::int16_t v) { return v == 5; }));
}

TEST(ResampleDecision, SeparateZAndNewShapeFollowNnUNet) {
  EXPECT_EQ(determine_separate_z({3.6, 0.625, 0.625}, {3.6, 0.625, 0.625}).axis, 0);
  EXPECT_TRUE(determine_separate_z({0.7, 0.7, 5.0}, {1, 1, 1}).separate);
  EXPECT_EQ(determine_separate_z({0.7, 0.7, 5.0}, {1, 1, 1}).axis, 2);
  EXPECT_FALSE(determine_separate_z({1, 1, 1}, {1.5, 1.5, 1.5}).separate);
  EXPECT_FALSE(determine_separate_z({0.24, 1.25, 1.25}, {1, 1, 1}).separate);  // two axes share the max
  const SeparateZ from_new = determine_separate_z({1, 1, 1}, {1, 4, 1});
  EXPECT_TRUE(from_new.separate);
  EXPECT_EQ(from_new.axis, 1);
  EXPECT_FALSE(determine_separate_z({1, 1, 1}, {1, 3, 1}).separate);  // ratio 3 is not > 3
  EXPECT_FALSE(determine_separate_z({5, 1, 1}, {5, 1, 1}, false).separate);
  EXPECT_EQ(determine_separate_z({1, 2, 1}, {1, 1, 1}, true).axis, 1);
  EXPECT_EQ(compute_new_shape({5, 7, 9}, {1, 1, 1}, {2, 2, 2}), (Shape3{2, 4, 4}));  // 2.5 -> 2, 3.5 -> 4, 4.5 -> 4
  EXPECT_EQ(compute_new_shape({36, 50, 35}, {1.2, 0.8, 3.0}, {1, 1, 1}), (Shape3{43, 40, 105}));
  EXPECT_THROW(compute_new_shape({3, 3, 3}, {1, 0, 1}, {1, 1, 1}), InvalidInput);
}

TEST(ResampleReference, SeparateZResizesInPlaneAndTakesNearestSlices) {
  const Shape3 in_shape{5, 9, 8};
  const Shape3 out_shape{8, 6, 11};
  Tensor data = testing::random_uniform(Shape{2, in_shape[0], in_shape[1], in_shape[2]}, DType::f32, -2, 3);
  const Spacing3 spacing{4.0, 0.8, 0.8}, target{2.5, 1.2, 0.58};
  const Tensor out = resample_data(data, out_shape, spacing, target);
  ASSERT_EQ(out.shape(), (Shape{2, 8, 6, 11}));
  const std::vector<float> values = data.to_vector<float>();
  std::map<std::int64_t, std::vector<double>> planes;  // (channel * 5 + slice) -> reference in-plane resize
  for (std::int64_t c = 0; c < 2; ++c) {
    for (std::int64_t o = 0; o < out_shape[0]; ++o) {
      const double source = 5.0 / 8.0 * (static_cast<double>(o) + 0.5) - 0.5;
      const std::int64_t slice =
          std::min<std::int64_t>(std::max<std::int64_t>(static_cast<std::int64_t>(std::floor(source + 0.5)), 0), 4);
      const std::int64_t key = c * 5 + slice;
      if (planes.count(key) == 0) {
        const std::vector<double> plane(values.begin() + key * 72, values.begin() + (key + 1) * 72);
        planes[key] = reference_resize3(plane, {1, 9, 8}, {1, 6, 11});
      }
      const std::vector<double>& expected = planes[key];
      for (std::int64_t k = 0; k < 66; ++k)
        EXPECT_NEAR(out.data<float>()[(c * 8 + o) * 66 + k], expected[static_cast<std::size_t>(k)], 2e-6)
            << "channel " << c << " slice " << o;
    }
  }
  // Labels: in-plane linear one-hot per slice, nearest slice out of plane.
  Tensor seg = testing::random_labels(Shape{in_shape[0], in_shape[1], in_shape[2]}, DType::i16, 3);
  const Tensor seg_out = resample_seg(seg, out_shape, spacing, target);
  const std::vector<std::int16_t> labels = seg.to_vector<std::int16_t>();
  for (std::int64_t o = 0; o < out_shape[0]; ++o) {
    const double source = 5.0 / 8.0 * (static_cast<double>(o) + 0.5) - 0.5;
    const std::int64_t slice =
        std::min<std::int64_t>(std::max<std::int64_t>(static_cast<std::int64_t>(std::floor(source + 0.5)), 0), 4);
    const std::vector<std::int16_t> plane(labels.begin() + slice * 72, labels.begin() + (slice + 1) * 72);
    const std::vector<std::int16_t> expected = reference_resize_labels(plane, {1, 9, 8}, {1, 6, 11});
    for (std::int64_t k = 0; k < 66; ++k)
      EXPECT_EQ(seg_out.data<std::int16_t>()[o * 66 + k], expected[static_cast<std::size_t>(k)]);
  }
}

TEST(ResampleReference, UnchangedShapeReturnsTheInputAndIsotropicPathClips) {
  Tensor data = testing::random_uniform(Shape{1, 6, 5, 4}, DType::f32, -1, 1);
  const Tensor same = resample_data(data, {6, 5, 4}, {1, 1, 1}, {1, 1, 1});
  EXPECT_EQ(same.raw(), data.raw());
  // A step edge overshoots with cubic splines; skimage clips to the input range.
  Tensor step = Tensor::empty_cpu(Shape{1, 1, 1, 12}, DType::f32);
  for (int i = 0; i < 12; ++i) step.data<float>()[i] = i < 6 ? 0.0f : 1.0f;
  const Tensor up = resample_data(step, {1, 1, 37}, {1, 1, 1}, {1, 1, 0.33});
  for (float v : up.to_vector<float>()) EXPECT_TRUE(v >= 0.0f && v <= 1.0f) << v;
  EXPECT_THROW(resample_data(data, {6, 0, 4}, {1, 1, 1}, {1, 1, 1}), InvalidInput);
  EXPECT_THROW(resample_seg(testing::random_labels(Shape{3, 3, 3}, DType::i16, 2), {2, 2, 2}, {1, 1, 1}, {1, 1, 1},
                            ResamplingOptions{3, 0, std::nullopt}),
               InvalidInput);
}

}  // namespace
}  // namespace nnuc::data
