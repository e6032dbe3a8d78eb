// Export of predictions (data/export/export.h, nnunet_method.md §8.4): the slab-wise resampling is
// bit for bit resample_data; export_prediction against an independent double-precision reference
// written here (isotropic and separate-z resampling, 2d configuration spacing, bboxes away from the
// origin, every transpose, regions, many slab boundaries); probabilities outside the bbox; parity
// with nnU-Net's convert_predicted_logits_to_segmentation_with_correct_shape on the cases of
// tests/data/fixtures/export_parity.{json,npz} (gen_export_fixtures.py, nnunetv2 2.8.1); memory;
// preprocessing followed by export gives the label map back; argument checks.
#include "data/export/export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "data/export/npz.h"
#include "data/export/slab_resample.h"
#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;

std::int64_t draw(std::int64_t low, std::int64_t high) {
  return std::uniform_int_distribution<std::int64_t>(low, high)(testing::rng());
}
double draw_real(double low, double high) { return std::uniform_real_distribution<double>(low, high)(testing::rng()); }

std::array<int, 3> random_permutation() {
  std::array<int, 3> order{0, 1, 2};
  std::shuffle(order.begin(), order.end(), testing::rng());
  return order;
}

std::array<int, 3> inverse(const std::array<int, 3>& order) {
  std::array<int, 3> back{};
  for (int i = 0; i < 3; ++i) back[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = i;
  return back;
}

// ---- the reference: §4.3 (order 1, order_z 0) and §8.4 in double, loop by loop --------------------

// Separate-z decision of §4.3 (force_separate_z None): the axis, or -1.
int reference_separate_axis(const Spacing3& current, const Spacing3& target) {
  for (const Spacing3* spacing : {&current, &target}) {
    const double largest = std::max({(*spacing)[0], (*spacing)[1], (*spacing)[2]});
    const double smallest = std::min({(*spacing)[0], (*spacing)[1], (*spacing)[2]});
    if (largest / smallest <= 3) continue;
    int count = 0, axis = -1;
    for (int a = 0; a < 3; ++a)
      if ((*spacing)[a] == largest) ++count, axis = a;
    return count == 1 ? axis : -1;
  }
  return -1;
}

// Taps and weights of output index o along an axis of `in` -> `out` voxels: linear, or nearest.
void reference_taps(std::int64_t o, std::int64_t in, std::int64_t out, bool nearest, std::int64_t taps[2],
                    double weights[2]) {
  const double source = (static_cast<double>(o) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
  auto clamp = [&](std::int64_t i) { return std::min(std::max<std::int64_t>(i, 0), in - 1); };
  if (nearest) {
    taps[0] = taps[1] = clamp(static_cast<std::int64_t>(std::floor(source + 0.5)));
    weights[0] = 1, weights[1] = 0;
    return;
  }
  const double lower = std::floor(source);
  taps[0] = clamp(static_cast<std::int64_t>(lower));
  taps[1] = clamp(static_cast<std::int64_t>(lower) + 1);
  weights[1] = source - lower;
  weights[0] = 1 - weights[1];
}

struct Reference {
  std::vector<int> segmentation;      // reader order
  std::vector<double> probabilities;  // (K, reader order)
  std::vector<double> margin;         // per reader voxel: how close the label decision was (inf outside)
  Shape3 reader_shape{};
};

Reference reference_export(const Tensor& logits, const CaseProperties& properties, const ExportPlan& plan) {
  const std::int64_t channels = logits.dim(0);
  const Shape3 in{logits.dim(1), logits.dim(2), logits.dim(3)};
  const Shape3 crop = properties.shape_after_cropping_and_before_resampling;
  Spacing3 target{};
  for (int a = 0; a < 3; ++a) target[a] = properties.spacing[static_cast<std::size_t>(plan.transpose_forward[a])];
  const std::vector<double>& c = plan.configuration_spacing;
  const Spacing3 current = c.size() == 3 ? Spacing3{c[0], c[1], c[2]} : Spacing3{target[0], c[0], c[1]};
  const int z = reference_separate_axis(current, target);
  const std::vector<double> values = logits.to_vector<double>();

  // Resampled logits in the cropped, transposed frame.
  std::vector<double> resampled(static_cast<std::size_t>(channels * crop[0] * crop[1] * crop[2]));
  for (std::int64_t o0 = 0; o0 < crop[0]; ++o0)
    for (std::int64_t o1 = 0; o1 < crop[1]; ++o1)
      for (std::int64_t o2 = 0; o2 < crop[2]; ++o2) {
        std::int64_t taps[3][2];
        double weights[3][2];
        const std::int64_t o[3] = {o0, o1, o2};
        for (int a = 0; a < 3; ++a) reference_taps(o[a], in[a], crop[a], a == z, taps[a], weights[a]);
        for (std::int64_t k = 0; k < channels; ++k) {
          double sum = 0;
          for (int f0 = 0; f0 < 2; ++f0)
            for (int f1 = 0; f1 < 2; ++f1)
              for (int f2 = 0; f2 < 2; ++f2)
                sum += weights[0][f0] * weights[1][f1] * weights[2][f2] *
                       values[static_cast<std::size_t>(((k * in[0] + taps[0][f0]) * in[1] + taps[1][f1]) * in[2] +
                                                       taps[2][f2])];
          resampled[static_cast<std::size_t>(((k * crop[0] + o0) * crop[1] + o1) * crop[2] + o2)] = sum;
        }
      }

  Reference result;
  const Shape3& before = properties.shape_before_cropping;
  for (int j = 0; j < 3; ++j) result.reader_shape[j] = before[static_cast<std::size_t>(plan.transpose_backward[j])];
  const std::int64_t volume = result.reader_shape[0] * result.reader_shape[1] * result.reader_shape[2];
  result.segmentation.assign(static_cast<std::size_t>(volume), 0);
  result.probabilities.assign(static_cast<std::size_t>(channels * volume), 0.0);
  result.margin.assign(static_cast<std::size_t>(volume), INFINITY);
  const BoundingBox& box = properties.bbox_used_for_cropping;
  std::int64_t reader_index = 0;
  for (std::int64_t r0 = 0; r0 < result.reader_shape[0]; ++r0)
    for (std::int64_t r1 = 0; r1 < result.reader_shape[1]; ++r1)
      for (std::int64_t r2 = 0; r2 < result.reader_shape[2]; ++r2, ++reader_index) {
        const std::int64_t r[3] = {r0, r1, r2};
        std::int64_t t[3];  // transposed coordinates: reader axis j is transposed axis transpose_backward[j]
        for (int j = 0; j < 3; ++j) t[plan.transpose_backward[static_cast<std::size_t>(j)]] = r[j];
        bool inside = true;
        for (int a = 0; a < 3; ++a) inside = inside && t[a] >= box.begin[a] && t[a] < box.end[a];
        if (!inside) {
          if (!plan.has_regions) result.probabilities[static_cast<std::size_t>(reader_index)] = 1.0;
          continue;
        }
        std::vector<double> v(static_cast<std::size_t>(channels));
        for (std::int64_t k = 0; k < channels; ++k)
          v[static_cast<std::size_t>(k)] = resampled[static_cast<std::size_t>(
              ((k * crop[0] + t[0] - box.begin[0]) * crop[1] + t[1] - box.begin[1]) * crop[2] + t[2] - box.begin[2])];
        int label = 0;
        double margin = INFINITY;
        if (plan.has_regions) {
          for (std::int64_t k = 0; k < channels; ++k) {
            const double p = 1 / (1 + std::exp(-v[static_cast<std::size_t>(k)]));
            if (p > 0.5) label = plan.regions_class_order[static_cast<std::size_t>(k)];
            margin = std::min(margin, std::fabs(v[static_cast<std::size_t>(k)]));
            result.probabilities[static_cast<std::size_t>(k * volume + reader_index)] = p;
          }
        } else {
          const auto best = std::max_element(v.begin(), v.end());
          label = static_cast<int>(best - v.begin());
          for (std::size_t k = 0; k < v.size(); ++k)
            if (static_cast<int>(k) != label) margin = std::min(margin, *best - v[k]);
          double sum = 0;
          for (double value : v) sum += std::exp(value - *best);
          for (std::int64_t k = 0; k < channels; ++k)
            result.probabilities[static_cast<std::size_t>(k * volume + reader_index)] =
                std::exp(v[static_cast<std::size_t>(k)] - *best) / sum;
        }
        result.segmentation[static_cast<std::size_t>(reader_index)] = label;
        result.margin[static_cast<std::size_t>(reader_index)] = margin;
      }
  return result;
}

// ---- random cases ------------------------------------------------------------------------------

struct Case {
  Tensor logits;
  CaseProperties properties;
  ExportPlan plan;
  std::string what;
};

enum class Kind { isotropic, separate_axis0, separate_other_axis, two_d, regions };

Case random_case(Kind kind) {
  Case c;
  c.plan.transpose_forward = random_permutation();
  c.plan.transpose_backward = inverse(c.plan.transpose_forward);
  const std::int64_t channels = kind == Kind::regions ? draw(2, 4) : draw(2, 5);
  Shape3 in{draw(3, 11), draw(3, 11), draw(3, 11)};
  Shape3 crop{draw(3, 15), draw(3, 15), draw(3, 15)};
  Spacing3 target{draw_real(0.6, 1.4), draw_real(0.6, 1.4), draw_real(0.6, 1.4)};  // transposed
  if (kind == Kind::separate_axis0) target[0] = draw_real(4.5, 6.0);
  if (kind == Kind::separate_other_axis) target[2] = draw_real(4.5, 6.0);
  if (kind == Kind::two_d) {
    target[0] = draw_real(4, 6);
    in[0] = crop[0];  // 2d: no resampling between slices
    c.plan.configuration_spacing = {draw_real(0.6, 1.4), draw_real(0.6, 1.4)};
  } else {
    c.plan.configuration_spacing = {draw_real(0.6, 1.4), draw_real(0.6, 1.4), draw_real(0.6, 1.4)};
  }
  if (kind == Kind::regions) {
    c.plan.has_regions = true;
    for (std::int64_t k = 0; k < channels; ++k) c.plan.regions_class_order.push_back(static_cast<int>(k + 1));
    std::shuffle(c.plan.regions_class_order.begin(), c.plan.regions_class_order.end(), testing::rng());
  }
  c.plan.num_foreground_labels = static_cast<int>(channels);
  // The case: spacing in reader order, shapes and bbox in transposed axes.
  for (int a = 0; a < 3; ++a) c.properties.spacing[static_cast<std::size_t>(c.plan.transpose_forward[a])] = target[a];
  for (int a = 0; a < 3; ++a) {
    c.properties.bbox_used_for_cropping.begin[a] = draw(0, 4);
    c.properties.bbox_used_for_cropping.end[a] = c.properties.bbox_used_for_cropping.begin[a] + crop[a];
    c.properties.shape_before_cropping[a] = c.properties.bbox_used_for_cropping.end[a] + draw(0, 4);
  }
  c.properties.shape_after_cropping_and_before_resampling = crop;
  c.properties.spacing_after_resampling = {1, 1, 1};
  c.logits = testing::random_uniform(Shape{channels, in[0], in[1], in[2]}, DType::f32, -4, 4);
  c.what = "kind " + std::to_string(static_cast<int>(kind)) + ", logits " + c.logits.shape().str() + ", crop (" +
           std::to_string(crop[0]) + ", " + std::to_string(crop[1]) + ", " + std::to_string(crop[2]) +
           "), transpose_forward (" + std::to_string(c.plan.transpose_forward[0]) + ", " +
           std::to_string(c.plan.transpose_forward[1]) + ", " + std::to_string(c.plan.transpose_forward[2]) + ")";
  return c;
}

TEST(ExportResampling, SlabsAreBitForBitResampleData) {
  const std::vector<std::pair<int, int>> orders = {{1, 0}, {0, 0}, {3, 0}, {1, 1}, {3, 3}, {1, 3}};
  const std::vector<std::optional<bool>> forces = {std::nullopt, true, false};
  int cases = 0;
  for (const auto& [order, order_z] : orders)
    for (const std::optional<bool>& force : forces)
      for (int anisotropic_axis : {-1, 0, 1, 2}) {
        const Shape3 in{draw(2, 9), draw(2, 9), draw(2, 9)};
        const Shape3 out{draw(2, 12), draw(2, 12), draw(2, 12)};
        Spacing3 current{1, 1, 1}, target{draw_real(0.7, 1.3), draw_real(0.7, 1.3), draw_real(0.7, 1.3)};
        if (anisotropic_axis >= 0) current[anisotropic_axis] = 4.5;
        const ResamplingOptions options{order, order_z, force};
        const Tensor channel = testing::random_uniform(Shape{1, in[0], in[1], in[2]}, DType::f32, -5, 5);
        const Tensor expected = resample_data(channel, out, current, target, options);
        const export_detail::SlabResampler resampler(in, out, current, target, options);
        const auto range = resampler.channel_range(channel.data<float>());
        for (std::int64_t rows : {std::int64_t{1}, std::int64_t{2}, std::int64_t{3}, out[0]}) {
          const std::int64_t step = std::max(rows, resampler.rows_per_slab(rows * out[1] * out[2]));
          std::vector<float> assembled(static_cast<std::size_t>(out[0] * out[1] * out[2]));
          for (std::int64_t row = 0; row < out[0]; row += step)
            resampler.resample(channel.data<float>(), range, row, std::min(out[0], row + step),
                               assembled.data() + row * out[1] * out[2]);
          ASSERT_EQ(std::memcmp(assembled.data(), expected.data<float>(), expected.bytes()), 0)
              << "order " << order << "/" << order_z << ", anisotropic axis " << anisotropic_axis << ", rows " << step;
        }
        ++cases;
      }
  EXPECT_EQ(cases, 72);
}

// Compares an export with the reference: probabilities within 1e-5 (the reference keeps the
// resampled logits in double, the export rounds them to f32 as nnU-Net does), labels equal wherever
// the decision is not within 1e-4 of a tie.
void expect_matches_reference(const Case& c, const ExportedPrediction& exported, bool with_probabilities) {
  SCOPED_TRACE(c.what);
  const Reference reference = reference_export(c.logits, c.properties, c.plan);
  const Shape3& r = reference.reader_shape;
  ASSERT_EQ(exported.segmentation.shape(), (Shape{r[0], r[1], r[2]}));
  EXPECT_EQ(exported.segmentation.dtype(), c.plan.num_foreground_labels < 255 ? DType::u8 : DType::i16);
  const std::vector<int> labels = exported.segmentation.to_vector<int>();
  std::int64_t differing = 0, ambiguous = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == reference.segmentation[i]) continue;
    ++differing;
    if (reference.margin[i] < 1e-4) ++ambiguous;
  }
  EXPECT_EQ(differing, ambiguous) << differing << " labels differ, " << ambiguous << " of them at near-ties";
  if (!with_probabilities) {
    EXPECT_FALSE(exported.probabilities.defined());
    return;
  }
  const std::int64_t channels = c.logits.dim(0);
  ASSERT_EQ(exported.probabilities.shape(), (Shape{channels, r[0], r[1], r[2]}));
  EXPECT_TRUE(testing::all_close(
      exported.probabilities, Tensor::from_vector(exported.probabilities.shape(), reference.probabilities), 1e-5, 0));
}

TEST(Export, MatchesTheDoublePrecisionReferenceForEveryKindOfCase) {
  for (Kind kind : {Kind::isotropic, Kind::separate_axis0, Kind::separate_other_axis, Kind::two_d, Kind::regions})
    for (int repeat = 0; repeat < 4; ++repeat) {
      const Case c = random_case(kind);
      const bool with_probabilities = repeat % 2 == 0;
      if (repeat >= 2) testing_only::set_export_slab_values(draw(1, 200));  // many slabs, odd sizes
      const ExportedPrediction exported = export_prediction(c.logits, c.properties, c.plan, with_probabilities);
      testing_only::set_export_slab_values(0);
      expect_matches_reference(c, exported, with_probabilities);
    }
}

TEST(Export, ProbabilitiesSumToOneInsideTheBboxAndAreTheBackgroundOneHotOutside) {
  for (Kind kind : {Kind::isotropic, Kind::regions}) {
    const Case c = random_case(kind);
    const ExportedPrediction exported = export_prediction(c.logits, c.properties, c.plan, true);
    const std::int64_t channels = c.logits.dim(0);
    const std::int64_t volume = exported.segmentation.numel();
    const std::vector<float> p = exported.probabilities.to_vector<float>();
    const std::vector<int> labels = exported.segmentation.to_vector<int>();
    const Reference reference = reference_export(c.logits, c.properties, c.plan);
    std::int64_t inside = 0;
    for (std::int64_t i = 0; i < volume; ++i) {
      const bool outside = std::isinf(reference.margin[static_cast<std::size_t>(i)]);
      double sum = 0;
      for (std::int64_t k = 0; k < channels; ++k) sum += p[static_cast<std::size_t>(k * volume + i)];
      if (outside) {
        EXPECT_EQ(labels[static_cast<std::size_t>(i)], 0);
        for (std::int64_t k = 0; k < channels; ++k)
          ASSERT_EQ(p[static_cast<std::size_t>(k * volume + i)], k == 0 && kind != Kind::regions ? 1.0f : 0.0f);
      } else {
        ++inside;
        if (kind != Kind::regions) {
          ASSERT_NEAR(sum, 1.0, 1e-6);
        }
      }
    }
    EXPECT_EQ(inside, c.properties.shape_after_cropping_and_before_resampling[0] *
                          c.properties.shape_after_cropping_and_before_resampling[1] *
                          c.properties.shape_after_cropping_and_before_resampling[2]);
  }
}

TEST(Export, LabelMapDoesNotDependOnProbabilitiesAndIsWideFrom255ForegroundLabels) {
  Case c = random_case(Kind::separate_axis0);
  const ExportedPrediction without = export_prediction(c.logits, c.properties, c.plan, false);
  const ExportedPrediction with = export_prediction(c.logits, c.properties, c.plan, true);
  EXPECT_EQ(without.segmentation.to_vector<int>(), with.segmentation.to_vector<int>());
  c.plan.num_foreground_labels = 300;
  const ExportedPrediction wide = export_prediction(c.logits, c.properties, c.plan, false);
  EXPECT_EQ(wide.segmentation.dtype(), DType::i16);
  EXPECT_EQ(wide.segmentation.to_vector<int>(), without.segmentation.to_vector<int>());
}

TEST(Export, HoldsNoTensorBeyondItsOutputs) {
  Case c = random_case(Kind::isotropic);
  ExportedPrediction exported;
  const std::size_t peak =
      testing::peak_bytes_of(Device::CPU, [&] { exported = export_prediction(c.logits, c.properties, c.plan, true); });
  // Slabs live in std::vector buffers bounded by the slab size; the tensors are the outputs alone.
  EXPECT_EQ(peak, rounded_allocation_bytes(exported.segmentation.bytes()) +
                      rounded_allocation_bytes(exported.probabilities.bytes()));
}

TEST(Export, ParityWithNnUNetsExportOnTheFixtureCases) {
  const fs::path folder = fs::path(__FILE__).parent_path() / "fixtures";
  std::ifstream in(folder / "export_parity.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const std::string npz = (folder / "export_parity.npz").string();
  int compared = 0;
  for (const nlohmann::json& item : fixture["cases"]) {
    const std::string name = item["name"];
    SCOPED_TRACE(name);
    nlohmann::json properties_json = item["properties"];
    properties_json["spacing_after_resampling"] = {1, 1, 1};
    properties_json["reader_properties"] = nlohmann::json::object();
    const CaseProperties properties = case_properties_from_json(properties_json, name);
    ExportPlan plan;
    plan.transpose_forward = item["transpose_forward"].get<std::array<int, 3>>();
    plan.transpose_backward = item["transpose_backward"].get<std::array<int, 3>>();
    plan.configuration_spacing = item["configuration_spacing"].get<std::vector<double>>();
    plan.has_regions = !item["regions_class_order"].is_null();
    if (plan.has_regions) plan.regions_class_order = item["regions_class_order"].get<std::vector<int>>();
    plan.num_foreground_labels = item["num_foreground_labels"];
    const Tensor logits = read_npz_array(npz, name + "_logits");
    const ExportedPrediction exported = export_prediction(logits, properties, plan, true);
    const Tensor expected_seg = read_npz_array(npz, name + "_seg");
    const Tensor expected_seg_softmax = read_npz_array(npz, name + "_seg_with_probabilities");
    const Tensor expected_probabilities = read_npz_array(npz, name + "_probabilities");
    ASSERT_EQ(exported.segmentation.shape(), expected_seg.shape());
    ASSERT_EQ(exported.probabilities.shape(), expected_probabilities.shape());
    const std::vector<int> ours = exported.segmentation.to_vector<int>();
    const std::vector<int> theirs = expected_seg.to_vector<int>(),
                           theirs_softmax = expected_seg_softmax.to_vector<int>();
    std::int64_t differing = 0, differing_softmax = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      differing += ours[i] != theirs[i];
      differing_softmax += ours[i] != theirs_softmax[i];
    }
    const testing::Difference difference = testing::compare(exported.probabilities, expected_probabilities);
    std::printf(
        "[parity] %s: %zu voxels, labels differing %lld (argmax of logits), %lld (argmax of softmax); "
        "max |probability difference| %.3g\n",
        name.c_str(), ours.size(), static_cast<long long>(differing), static_cast<long long>(differing_softmax),
        difference.max_abs);
    // Same resampling (bit for bit) and the same argmax / thresholds: no label may differ; torch's
    // float32 softmax can tie two channels that differ as logits, so that variant may differ at
    // a few voxels (none in these cases).
    EXPECT_EQ(differing, 0);
    EXPECT_LE(differing_softmax, static_cast<std::int64_t>(ours.size() / 1000));
    EXPECT_LE(difference.max_abs, kExportProbabilityTolerance);
    ++compared;
  }
  EXPECT_EQ(compared, 3);
}

TEST(Export, ArgumentsAreCheckedWithMessagesNamingTheField) {
  const Case c = random_case(Kind::isotropic);
  ExportPlan plan = c.plan;
  plan.transpose_backward =
      plan.transpose_forward == std::array<int, 3>{0, 1, 2} ? std::array<int, 3>{1, 0, 2} : plan.transpose_forward;
  if (plan.transpose_backward != inverse(plan.transpose_forward)) {
    EXPECT_ERROR_MENTIONS(export_prediction(c.logits, c.properties, plan, false), "not the inverse");
  }
  plan = c.plan;
  plan.configuration_spacing = {1.0};
  EXPECT_ERROR_MENTIONS(export_prediction(c.logits, c.properties, plan, false), "configuration_spacing");
  plan = c.plan;
  plan.has_regions = true;
  plan.regions_class_order = {1};
  EXPECT_ERROR_MENTIONS(export_prediction(c.logits, c.properties, plan, false), "regions_class_order");
  CaseProperties properties = c.properties;
  properties.bbox_used_for_cropping.end[1] = properties.shape_before_cropping[1] + 1;
  EXPECT_ERROR_MENTIONS(export_prediction(c.logits, properties, c.plan, false), "bbox_used_for_cropping");
  properties = c.properties;
  properties.shape_after_cropping_and_before_resampling[2] += 1;
  EXPECT_ERROR_MENTIONS(export_prediction(c.logits, properties, c.plan, false), "differs from the shape");
  const Tensor many = testing::random_uniform(Shape{300, 2, 2, 2}, DType::f32);
  EXPECT_ERROR_MENTIONS(export_prediction(many, c.properties, c.plan, false), "do not fit a label map");
  EXPECT_ERROR_MENTIONS(
      export_prediction(testing::random_uniform(Shape{3, 4, 4}, DType::f32), c.properties, c.plan, false),
      "(K, b0, b1, b2)");
}

}  // namespace
}  // namespace nnuc::data
