// data/augment spatial_transform (spec §7.3 step 2) on the CPU: exact maps (90° rotations, integer
// zooms, the centre crop), the −1 border, the label vote's ties, and random rotations and scalings
// against a double-precision reference written here from the spec.
#include "data/augment/spatial.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tests/augment/pipeline_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc::augment {
namespace {

using namespace testing_pipeline;

const Context& cpu_ctx = Context::cpu();

SpatialParams rotation(int axis, double angle) {
  SpatialParams p;
  p.rotated = true;
  p.angles[static_cast<std::size_t>(axis)] = angle;
  return p;
}
SpatialParams scaling(double s) {
  SpatialParams p;
  p.scaled = true;
  p.scale = s;
  return p;
}

std::int64_t index5(const Tensor& t, std::int64_t b, std::int64_t c, std::int64_t i0, std::int64_t i1,
                    std::int64_t i2) {
  return (((b * t.dim(1) + c) * t.dim(2) + i0) * t.dim(3) + i1) * t.dim(4) + i2;
}

// The reference: spec §7.3 step 2 in f64, label values rounded to fp16 as the spec says.
struct Reference {
  std::vector<double> image;         // (B, C, P0, P1, P2)
  std::vector<std::int16_t> labels;  // (B, S, P0, P1, P2)
  std::vector<bool> ambiguous;       // per label voxel: the f32 computation may decide either way
};

Reference reference(const Tensor& data, const Tensor& seg, const std::vector<SpatialParams>& params, const Triple& P,
                    bool planar) {
  const std::int64_t B = data.dim(0), C = data.dim(1), S = seg.dim(1);
  const Triple L{data.dim(2), data.dim(3), data.dim(4)};
  Reference out;
  const std::int64_t out_volume = P[0] * P[1] * P[2];
  out.image.resize(static_cast<std::size_t>(B * C * out_volume));
  out.labels.resize(static_cast<std::size_t>(B * S * out_volume));
  out.ambiguous.assign(out.labels.size(), false);
  for (std::int64_t b = 0; b < B; ++b) {
    const std::array<double, 9> A = spatial_matrix(params[static_cast<std::size_t>(b)], planar);
    for (std::int64_t j0 = 0; j0 < P[0]; ++j0)
      for (std::int64_t j1 = 0; j1 < P[1]; ++j1)
        for (std::int64_t j2 = 0; j2 < P[2]; ++j2) {
          const std::int64_t o = (j0 * P[1] + j1) * P[2] + j2;
          if (!params[static_cast<std::size_t>(b)].affine()) {
            const Triple i{j0 + L[0] / 2 - P[0] / 2, j1 + L[1] / 2 - P[1] / 2, j2 + L[2] / 2 - P[2] / 2};
            const bool in = i[0] >= 0 && i[0] < L[0] && i[1] >= 0 && i[1] < L[1] && i[2] >= 0 && i[2] < L[2];
            for (std::int64_t c = 0; c < C; ++c)
              out.image[static_cast<std::size_t>((b * C + c) * out_volume + o)] =
                  in ? data.data<float>()[index5(data, b, c, i[0], i[1], i[2])] : 0.0;
            for (std::int64_t s = 0; s < S; ++s)
              out.labels[static_cast<std::size_t>((b * S + s) * out_volume + o)] =
                  in ? seg.data<std::int16_t>()[index5(seg, b, s, i[0], i[1], i[2])] : std::int16_t{-1};
            continue;
          }
          const double t[3] = {j0 - (P[0] - 1) / 2.0, j1 - (P[1] - 1) / 2.0, j2 - (P[2] - 1) / 2.0};
          double x[3];
          for (int d = 0; d < 3; ++d)
            x[d] = A[3 * d] * t[0] + A[3 * d + 1] * t[1] + A[3 * d + 2] * t[2] + (L[d] - 1) / 2.0;
          if (planar) x[0] = static_cast<double>(j0);
          bool inside = true, near_border = false;
          for (int d = planar ? 1 : 0; d < 3; ++d) {
            inside = inside && x[d] >= 0 && x[d] <= L[d] - 1;
            near_border = near_border || std::fabs(x[d]) < 1e-4 || std::fabs(x[d] - (L[d] - 1)) < 1e-4;
          }
          // Neighbours and weights.
          std::vector<std::array<std::int64_t, 3>> corners;
          std::vector<double> weights;
          const std::int64_t base[3] = {static_cast<std::int64_t>(std::floor(x[0])),
                                        static_cast<std::int64_t>(std::floor(x[1])),
                                        static_cast<std::int64_t>(std::floor(x[2]))};
          for (int k = 0; k < 8; ++k) {
            const int a[3] = {(k >> 2) & 1, (k >> 1) & 1, k & 1};
            if (planar && a[0]) continue;
            double w = 1;
            std::array<std::int64_t, 3> corner{};
            bool valid = true;
            for (int d = 0; d < 3; ++d) {
              const double f = x[d] - base[d];
              w *= (planar && d == 0) ? 1.0 : (a[d] ? f : 1 - f);
              corner[static_cast<std::size_t>(d)] = base[d] + a[d];
              valid = valid && corner[static_cast<std::size_t>(d)] >= 0 && corner[static_cast<std::size_t>(d)] < L[d];
            }
            if (valid) {
              corners.push_back(corner);
              weights.push_back(w);
            }
          }
          for (std::int64_t c = 0; c < C; ++c) {
            double sum = 0;
            for (std::size_t k = 0; k < corners.size(); ++k)
              sum += weights[k] * data.data<float>()[index5(data, b, c, corners[k][0], corners[k][1], corners[k][2])];
            out.image[static_cast<std::size_t>((b * C + c) * out_volume + o)] = sum;
          }
          for (std::int64_t s = 0; s < S; ++s) {
            const std::size_t at = static_cast<std::size_t>((b * S + s) * out_volume + o);
            if (!inside) {
              out.labels[at] = -1;
              out.ambiguous[at] = near_border;
              continue;
            }
            std::vector<std::pair<std::int16_t, double>> votes;  // label, Σ w·1000
            for (std::size_t k = 0; k < corners.size(); ++k) {
              const std::int16_t label =
                  seg.data<std::int16_t>()[index5(seg, b, s, corners[k][0], corners[k][1], corners[k][2])];
              auto it = std::find_if(votes.begin(), votes.end(), [&](const auto& v) { return v.first == label; });
              if (it == votes.end()) votes.push_back({label, 0.0}), it = votes.end() - 1;
              it->second += weights[k] * 1000.0;
            }
            std::int16_t best = 0;
            float best_value = -1;
            for (const auto& [label, value] : votes) {
              const float rounded = f16_to_float(float_to_f16(static_cast<float>(value)));
              if (rounded > best_value || (rounded == best_value && label < best)) best = label, best_value = rounded;
            }
            out.labels[at] = best;
            // Ambiguous: the f32 sums (off by ~1e-3 from these) could round to another fp16 value and
            // change the order of the best label and a close runner-up, or the position lies within
            // 1e-4 of the border.
            const auto near_rounding_boundary = [](double value) {
              const double ulp = std::ldexp(1.0, std::ilogb(std::max(value, 1e-3)) - 10);
              const double to_boundary = std::fmod(value + ulp / 2, ulp);
              return std::min(to_boundary, ulp - to_boundary) < 0.01;
            };
            double best_exact = 0;
            for (const auto& [label, value] : votes)
              if (label == best) best_exact = value;
            bool close = near_border;
            for (const auto& [label, value] : votes)
              close = close || (label != best && std::fabs(value - best_exact) <= 1.0 &&
                                (near_rounding_boundary(value) || near_rounding_boundary(best_exact)));
            out.ambiguous[at] = close;
          }
        }
  }
  return out;
}

struct Case {
  Shape data, seg;
  Triple patch;
  bool planar;
};

void expect_matches_reference(const Case& c, const std::vector<SpatialParams>& params, double image_tolerance) {
  const Tensor data = testing::random_uniform(c.data, DType::f32);
  const Tensor seg = random_labels_in(c.seg, -1, 4);
  const SpatialResult out = spatial_transform(cpu_ctx, data, seg, params, c.patch, c.planar);
  ASSERT_EQ(out.data.shape(), (Shape{c.data[0], c.data[1], c.patch[0], c.patch[1], c.patch[2]}));
  ASSERT_EQ(out.seg.shape(), (Shape{c.seg[0], c.seg[1], c.patch[0], c.patch[1], c.patch[2]}));
  const Reference ref = reference(data, seg, params, c.patch, c.planar);
  double worst = 0;
  for (std::int64_t i = 0; i < out.data.numel(); ++i)
    worst = std::max(worst, std::fabs(out.data.data<float>()[i] - ref.image[static_cast<std::size_t>(i)]));
  EXPECT_LE(worst, image_tolerance);
  std::int64_t ambiguous = 0, mismatches = 0;
  for (std::int64_t i = 0; i < out.seg.numel(); ++i) {
    if (ref.ambiguous[static_cast<std::size_t>(i)]) {
      ++ambiguous;
      continue;
    }
    if (out.seg.data<std::int16_t>()[i] != ref.labels[static_cast<std::size_t>(i)] && ++mismatches <= 5)
      ADD_FAILURE() << "label voxel " << i << ": " << out.seg.data<std::int16_t>()[i] << ", reference "
                    << ref.labels[static_cast<std::size_t>(i)];
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_LT(ambiguous, out.seg.numel() / 20) << "too few voxels decided (the reference's ambiguity test is too loose)";
}

TEST(AugmentSpatial, Rotation90MapsAsymmetricVolumeExactly) {
  // L = 7, P = 5 per axis: c_in = 3, c_out = 2, so a quarter turn in the plane of axes (p, q) maps
  // output (.., j_p, .., j_q, ..) exactly onto input voxels.
  const Tensor data = testing::random_uniform(Shape{1, 2, 7, 7, 7}, DType::f32);
  const Tensor seg = random_labels_in(Shape{1, 1, 7, 7, 7}, 0, 5);
  for (int axis = 0; axis < 3; ++axis) {
    const SpatialResult out = spatial_transform(cpu_ctx, data, seg, {rotation(axis, kPi / 2)}, {5, 5, 5}, false);
    for (std::int64_t j0 = 0; j0 < 5; ++j0)
      for (std::int64_t j1 = 0; j1 < 5; ++j1)
        for (std::int64_t j2 = 0; j2 < 5; ++j2) {
          // x = R (j − 2) + 3: Rx: (j0, 4 − j2 + 1, j1 + 1); Ry: (j2 + 1, j1 + 1, 4 − j0 + 1);
          // Rz: (4 − j1 + 1, j0 + 1, j2 + 1).
          Triple i{};
          if (axis == 0) i = {j0 + 1, 5 - j2, j1 + 1};
          if (axis == 1) i = {j2 + 1, j1 + 1, 5 - j0};
          if (axis == 2) i = {5 - j1, j0 + 1, j2 + 1};
          for (std::int64_t c = 0; c < 2; ++c)
            ASSERT_EQ(out.data.data<float>()[index5(out.data, 0, c, j0, j1, j2)],
                      data.data<float>()[index5(data, 0, c, i[0], i[1], i[2])])
                << "axis " << axis << " voxel " << j0 << "," << j1 << "," << j2;
          ASSERT_EQ(out.seg.data<std::int16_t>()[index5(out.seg, 0, 0, j0, j1, j2)],
                    seg.data<std::int16_t>()[index5(seg, 0, 0, i[0], i[1], i[2])]);
        }
  }
}

TEST(AugmentSpatial, IntegerZoomOutReadsEveryOtherVoxel) {
  // s = 2, L = 9, P = 5: x = 2 (j − 2) + 4 = 2 j.
  const Tensor data = testing::random_uniform(Shape{1, 1, 9, 9, 9}, DType::f32);
  const Tensor seg = random_labels_in(Shape{1, 1, 9, 9, 9}, -1, 3);
  const SpatialResult out = spatial_transform(cpu_ctx, data, seg, {scaling(2.0)}, {5, 5, 5}, false);
  for (std::int64_t j0 = 0; j0 < 5; ++j0)
    for (std::int64_t j1 = 0; j1 < 5; ++j1)
      for (std::int64_t j2 = 0; j2 < 5; ++j2) {
        ASSERT_EQ(out.data.data<float>()[index5(out.data, 0, 0, j0, j1, j2)],
                  data.data<float>()[index5(data, 0, 0, 2 * j0, 2 * j1, 2 * j2)]);
        ASSERT_EQ(out.seg.data<std::int16_t>()[index5(out.seg, 0, 0, j0, j1, j2)],
                  seg.data<std::int16_t>()[index5(seg, 0, 0, 2 * j0, 2 * j1, 2 * j2)]);
      }
}

TEST(AugmentSpatial, SamplesOutsideTheCropAreMinusOneAndZero) {
  // s = 1.25, L = P = 9: x = 1.25 (j − 4) + 4 is −1 at j = 0 and 9 at j = 8 (outside), inside else.
  const Tensor data = testing::random_uniform(Shape{1, 1, 9, 9, 9}, DType::f32, 1.0, 2.0);
  const Tensor seg = random_labels_in(Shape{1, 1, 9, 9, 9}, 0, 3);
  const SpatialResult out = spatial_transform(cpu_ctx, data, seg, {scaling(1.25)}, {9, 9, 9}, false);
  for (std::int64_t j0 = 0; j0 < 9; ++j0)
    for (std::int64_t j1 = 0; j1 < 9; ++j1)
      for (std::int64_t j2 = 0; j2 < 9; ++j2) {
        const bool border = j0 == 0 || j0 == 8 || j1 == 0 || j1 == 8 || j2 == 0 || j2 == 8;
        const std::int16_t label = out.seg.data<std::int16_t>()[index5(out.seg, 0, 0, j0, j1, j2)];
        if (border) {
          ASSERT_EQ(label, -1) << j0 << "," << j1 << "," << j2;
        } else {
          ASSERT_GE(label, 0) << j0 << "," << j1 << "," << j2;
        }
        const float value = out.data.data<float>()[index5(out.data, 0, 0, j0, j1, j2)];
        // x = −1 exactly: every neighbour with weight is outside, so the image is 0 there.
        if (j0 == 0 || j1 == 0 || j2 == 0) {
          ASSERT_EQ(value, 0.0f);
        } else if (!border) {
          ASSERT_GT(value, 0.99f);  // weights summing to 1 in f32 over values in [1, 2)
        }
      }
}

TEST(AugmentSpatial, IdentityParametersAreTheCentreCrop) {
  // start = floor(L/2) − floor(P/2): (4 − 2, 4 − 2, 3 − 3) here; and (1 − 2) = −1 with padding.
  for (const auto& [L, P] : {std::pair<Triple, Triple>{{9, 8, 7}, {4, 5, 6}}, {{3, 6, 5}, {5, 4, 5}}}) {
    const Tensor data = testing::random_uniform(Shape{2, 2, L[0], L[1], L[2]}, DType::f32);
    const Tensor seg = random_labels_in(Shape{2, 1, L[0], L[1], L[2]}, 0, 3);
    const SpatialResult out = spatial_transform(cpu_ctx, data, seg, {SpatialParams{}, SpatialParams{}}, P, false);
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t j0 = 0; j0 < P[0]; ++j0)
        for (std::int64_t j1 = 0; j1 < P[1]; ++j1)
          for (std::int64_t j2 = 0; j2 < P[2]; ++j2) {
            const Triple i{j0 + L[0] / 2 - P[0] / 2, j1 + L[1] / 2 - P[1] / 2, j2 + L[2] / 2 - P[2] / 2};
            const bool in = i[0] >= 0 && i[0] < L[0] && i[1] >= 0 && i[1] < L[1] && i[2] >= 0 && i[2] < L[2];
            ASSERT_EQ(out.data.data<float>()[index5(out.data, b, 1, j0, j1, j2)],
                      in ? data.data<float>()[index5(data, b, 1, i[0], i[1], i[2])] : 0.0f);
            ASSERT_EQ(out.seg.data<std::int16_t>()[index5(out.seg, b, 0, j0, j1, j2)],
                      in ? seg.data<std::int16_t>()[index5(seg, b, 0, i[0], i[1], i[2])] : -1);
          }
  }
}

TEST(AugmentSpatial, LabelVoteTiesGoToTheSmallerLabel) {
  // s = 1 through the interpolating path with L = P + 1: x = j + 0.5 on every transformed axis, so
  // each neighbour weighs the same and the vote is the most frequent label, ties to the smaller.
  for (const bool planar : {false, true}) {
    const Triple L = planar ? Triple{1, 7, 7} : Triple{5, 5, 5};
    const Triple P = planar ? Triple{1, 6, 6} : Triple{4, 4, 4};
    const Tensor data = testing::random_uniform(Shape{1, 1, L[0], L[1], L[2]}, DType::f32);
    const Tensor seg = random_labels_in(Shape{1, 1, L[0], L[1], L[2]}, 0, 3);
    const SpatialResult out = spatial_transform(cpu_ctx, data, seg, {scaling(1.0)}, P, planar);
    for (std::int64_t j0 = 0; j0 < P[0]; ++j0)
      for (std::int64_t j1 = 0; j1 < P[1]; ++j1)
        for (std::int64_t j2 = 0; j2 < P[2]; ++j2) {
          int counts[4] = {0, 0, 0, 0};
          for (int a0 = 0; a0 < (planar ? 1 : 2); ++a0)
            for (int a1 = 0; a1 < 2; ++a1)
              for (int a2 = 0; a2 < 2; ++a2)
                ++counts[seg.data<std::int16_t>()[index5(seg, 0, 0, j0 + a0, j1 + a1, j2 + a2)]];
          int expected = 0;
          for (int label = 1; label < 4; ++label)
            if (counts[label] > counts[expected]) expected = label;
          ASSERT_EQ(out.seg.data<std::int16_t>()[index5(out.seg, 0, 0, j0, j1, j2)], expected)
              << (planar ? "planar " : "volumetric ") << j0 << "," << j1 << "," << j2;
        }
  }
}

TEST(AugmentSpatial, RandomRotationsAndScalingsMatchTheReference) {
  std::uniform_real_distribution<double> angle(-kPi, kPi), scale(kScaleLow, kScaleHigh);
  std::vector<SpatialParams> params(3);
  for (SpatialParams& p : params) {
    p.rotated = true;
    p.scaled = true;
    p.angles = {angle(testing::rng()), angle(testing::rng()), angle(testing::rng())};
    p.scale = scale(testing::rng());
  }
  params[2].rotated = false;  // scaling alone
  expect_matches_reference({Shape{3, 2, 13, 11, 12}, Shape{3, 2, 13, 11, 12}, {8, 9, 7}, false}, params, 2e-5);
  // Planar: 2-D (L0 = P0 = 1) and dummy-2D (axis 0 kept), only α used.
  expect_matches_reference({Shape{3, 1, 1, 15, 14}, Shape{3, 1, 1, 15, 14}, {1, 10, 11}, true}, params, 2e-5);
  expect_matches_reference({Shape{3, 2, 4, 15, 14}, Shape{3, 1, 4, 15, 14}, {4, 10, 11}, true}, params, 2e-5);
}

TEST(AugmentSpatial, PlanarMatrixKeepsAxisZero) {
  SpatialParams p = rotation(0, 0.3);
  p.angles[1] = 0.7;  // ignored by a planar transform
  p.scaled = true;
  p.scale = 1.2;
  const std::array<double, 9> A = spatial_matrix(p, true);
  const double expected[9] = {
      1, 0, 0, 0, std::cos(0.3) * 1.2, -std::sin(0.3) * 1.2, 0, std::sin(0.3) * 1.2, std::cos(0.3) * 1.2};
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(A[static_cast<std::size_t>(i)], expected[i]) << i;
}

TEST(AugmentSpatial, RejectsInconsistentArguments) {
  const Tensor data = testing::random_uniform(Shape{1, 1, 4, 6, 6}, DType::f32);
  const Tensor seg = random_labels_in(Shape{1, 1, 4, 6, 6}, 0, 2);
  EXPECT_ERROR_MENTIONS(spatial_transform(cpu_ctx, data, seg, {}, {4, 4, 4}, false), "parameter sets");
  EXPECT_ERROR_MENTIONS(spatial_transform(cpu_ctx, data, seg, {SpatialParams{}}, {3, 4, 4}, true), "planar");
  const Tensor short_seg = random_labels_in(Shape{1, 1, 4, 6, 5}, 0, 2);
  EXPECT_ERROR_MENTIONS(spatial_transform(cpu_ctx, data, short_seg, {SpatialParams{}}, {4, 4, 4}, false), "seg");
}

}  // namespace
}  // namespace nnuc::augment
