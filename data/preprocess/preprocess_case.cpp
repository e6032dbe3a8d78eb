#include "data/preprocess/preprocess_case.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/preprocess/numpy_random.h"
#include "kernels/core/error.h"
#include "kernels/core/nvtx.h"

namespace nnuc::data {

std::vector<ClassSpec> classes_for_sampling(const std::vector<int>& all_labels,
                                            const std::vector<std::vector<int>>& foreground_regions, bool has_regions,
                                            bool has_ignore_label) {
  std::vector<ClassSpec> classes;
  if (has_regions) {
    for (const std::vector<int>& region : foreground_regions) classes.push_back({region, true});
  } else {
    for (int label : all_labels)
      if (label != 0) classes.push_back({{label}, false});
  }
  if (has_ignore_label) {
    ClassSpec annotated{{-1}, true};
    annotated.labels.insert(annotated.labels.end(), all_labels.begin(), all_labels.end());
    classes.push_back(annotated);
  }
  return classes;
}

std::vector<ClassLocations> sample_class_locations(const Tensor& seg, const std::vector<ClassSpec>& classes,
                                                   std::uint32_t seed, std::int64_t min_samples, double min_coverage) {
  NNUC_RANGE("sample_class_locations");
  check_dtype(seg, DType::i16, "seg");
  NNUC_CHECK(seg.device() == Device::CPU && seg.rank() == 3, "seg must be a host (a0, a1, a2) tensor, got ",
             seg.describe());
  const std::int64_t n1 = seg.dim(1), n2 = seg.dim(2);
  const std::int64_t count = seg.numel();
  const std::int16_t* labels = seg.data<std::int16_t>();
  // Voxel count of every label value (index label + 32768).
  std::vector<std::int64_t> label_count(65536, 0);
  for (std::int64_t i = 0; i < count; ++i) ++label_count[static_cast<std::size_t>(labels[i] + 32768)];
  auto count_of = [&](int label) -> std::int64_t {
    if (label < -32768 || label > 32767) return 0;
    return label_count[static_cast<std::size_t>(label + 32768)];
  };

  NumpyRandomState generator(seed);
  std::vector<ClassLocations> result;
  for (const ClassSpec& spec : classes) {
    NNUC_CHECK(!spec.labels.empty(), "a class to sample must name at least one label");
    ClassLocations locations;
    locations.key = spec;
    // The union in the listed label order; labels absent from the map are skipped.
    std::vector<int> range_label;
    std::vector<std::int64_t> range_start;  // offset of each label's block in the union
    std::int64_t total = 0;
    for (int label : spec.labels) {
      const std::int64_t n = count_of(label);
      if (n == 0) continue;
      range_label.push_back(label);
      range_start.push_back(total);
      total += n;
    }
    if (total == 0) {
      result.push_back(std::move(locations));
      continue;
    }
    std::int64_t target = std::min(min_samples, total);
    target = std::max(target, static_cast<std::int64_t>(std::ceil(static_cast<double>(total) * min_coverage)));
    const std::vector<std::int64_t> offsets = generator.choice_without_replacement(total, target);
    // For every label block: (rank within the label, output position), sorted by rank; then one scan
    // of the map finds the rank-th voxel of each label in C order.
    std::vector<std::vector<std::pair<std::int64_t, std::size_t>>> wanted(range_label.size());
    for (std::size_t k = 0; k < offsets.size(); ++k) {
      const auto block = static_cast<std::size_t>(std::upper_bound(range_start.begin(), range_start.end(), offsets[k]) -
                                                  range_start.begin() - 1);
      wanted[block].push_back({offsets[k] - range_start[block], k});
    }
    for (auto& list : wanted) std::sort(list.begin(), list.end());
    std::vector<int> block_of(65536, -1);  // label + 32768 -> its block in this class
    for (std::size_t b = 0; b < range_label.size(); ++b)
      if (!wanted[b].empty()) block_of[static_cast<std::size_t>(range_label[b] + 32768)] = static_cast<int>(b);
    std::vector<std::int64_t> seen(range_label.size(), 0);
    std::vector<std::size_t> next(range_label.size(), 0);
    locations.voxels.resize(offsets.size());
    for (std::int64_t i = 0; i < count; ++i) {
      const int b = block_of[static_cast<std::size_t>(labels[i] + 32768)];
      if (b < 0) continue;
      const auto block = static_cast<std::size_t>(b);
      const auto& list = wanted[block];
      while (next[block] < list.size() && list[next[block]].first == seen[block]) {
        locations.voxels[list[next[block]].second] = {static_cast<std::int32_t>(i / (n1 * n2)),
                                                      static_cast<std::int32_t>((i / n2) % n1),
                                                      static_cast<std::int32_t>(i % n2)};
        ++next[block];
      }
      ++seen[block];
    }
    result.push_back(std::move(locations));
  }
  return result;
}

Tensor transpose_spatial(const Tensor& tensor, const std::array<int, 3>& order) {
  check_defined(tensor, "tensor");
  NNUC_CHECK(tensor.device() == Device::CPU && (tensor.rank() == 3 || tensor.rank() == 4),
             "transpose_spatial: host (C, a0, a1, a2) or (a0, a1, a2) tensor required, got ", tensor.describe());
  std::array<int, 3> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  NNUC_CHECK(sorted == (std::array<int, 3>{0, 1, 2}), "transpose order must be a permutation of (0, 1, 2), got (",
             order[0], ", ", order[1], ", ", order[2], ")");
  if (order == std::array<int, 3>{0, 1, 2}) return tensor;
  const int first = tensor.rank() - 3;
  const std::int64_t channels = first == 1 ? tensor.dim(0) : 1;
  const Shape3 in{tensor.dim(first), tensor.dim(first + 1), tensor.dim(first + 2)};
  const Shape3 out{in[order[0]], in[order[1]], in[order[2]]};
  const Shape out_shape = first == 1 ? Shape{channels, out[0], out[1], out[2]} : Shape{out[0], out[1], out[2]};
  Tensor result = Tensor::empty_cpu(out_shape, tensor.dtype());
  const std::size_t item = dtype_size(tensor.dtype());
  const std::array<std::int64_t, 3> in_stride{in[1] * in[2], in[2], 1};
  const std::int64_t stride_a = in_stride[order[0]], stride_b = in_stride[order[1]], stride_c = in_stride[order[2]];
  const std::int64_t count = in[0] * in[1] * in[2];
  const auto* source = static_cast<const char*>(tensor.raw());
  auto* target = static_cast<char*>(result.raw());
  std::int64_t k = 0;
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t i = 0; i < out[0]; ++i)
      for (std::int64_t j = 0; j < out[1]; ++j)
        for (std::int64_t l = 0; l < out[2]; ++l, ++k) {
          const std::int64_t from = c * count + i * stride_a + j * stride_b + l * stride_c;
          std::memcpy(target + static_cast<std::size_t>(k) * item, source + static_cast<std::size_t>(from) * item,
                      item);
        }
  return result;
}

PreprocessedCase preprocess_case(const LoadedCase& input, const PreprocessingPlan& plan) {
  NNUC_RANGE("preprocess_case");
  check_dtype(input.image, DType::f32, "image");
  NNUC_CHECK(input.image.rank() == 4, "case '", input.identifier, "': image must be (C, a0, a1, a2), got ",
             input.image.describe());
  NNUC_CHECK(static_cast<std::int64_t>(plan.normalization.size()) == input.image.dim(0), "case '", input.identifier,
             "': the plan normalizes ", plan.normalization.size(), " channels, the image has ", input.image.dim(0));
  NNUC_CHECK(plan.target_spacing.size() == 2 || plan.target_spacing.size() == 3,
             "target spacing must have 2 (2d) or 3 values, got ", plan.target_spacing.size());
  if (input.seg.defined()) {
    check_dtype(input.seg, DType::i16, "seg");
    check_shape(input.seg, Shape{input.image.dim(1), input.image.dim(2), input.image.dim(3)}, "seg");
  }
  PreprocessedCase result;
  result.identifier = input.identifier;
  CaseProperties& properties = result.properties;
  properties.spacing = input.spacing;
  properties.reader_properties = input.reader_properties;

  // 1. transpose (spatial axes; the spacing follows)
  const Tensor image = transpose_spatial(input.image, plan.transpose_forward);
  const Tensor seg = input.seg.defined() ? transpose_spatial(input.seg, plan.transpose_forward) : Tensor();
  const Spacing3 original_spacing{input.spacing[plan.transpose_forward[0]], input.spacing[plan.transpose_forward[1]],
                                  input.spacing[plan.transpose_forward[2]]};
  properties.shape_before_cropping = {image.dim(1), image.dim(2), image.dim(3)};

  // 2. crop to the nonzero region (seg gets -1 outside the mask)
  CropResult cropped = crop_to_nonzero(image, seg);
  properties.bbox_used_for_cropping = cropped.bbox;
  const Shape3 cropped_shape = cropped.bbox.shape();
  properties.shape_after_cropping_and_before_resampling = cropped_shape;

  // 3. target spacing and shape (2d: axis 0 keeps the case's spacing)
  Spacing3 target{};
  if (plan.target_spacing.size() == 2) {
    target = {original_spacing[0], plan.target_spacing[0], plan.target_spacing[1]};
  } else {
    target = {plan.target_spacing[0], plan.target_spacing[1], plan.target_spacing[2]};
  }
  properties.spacing_after_resampling = target;
  const Shape3 new_shape = compute_new_shape(cropped_shape, original_spacing, target);

  // 4. normalize (before resampling: the mask must still fit the image)
  normalize(cropped.image, cropped.seg, plan.normalization);

  // 5. resample data (order 3) and seg (order 1, one-hot)
  result.data = resample_data(cropped.image, new_shape, original_spacing, target, plan.data_resampling);
  if (input.seg.defined() || plan.keep_mask_seg)
    result.seg = resample_seg(cropped.seg, new_shape, original_spacing, target, plan.seg_resampling);

  // 6. class locations for foreground oversampling (training cases)
  if (input.seg.defined()) {
    properties.has_class_locations = true;
    properties.class_locations = sample_class_locations(result.seg, plan.sampling_classes);
  }
  return result;
}

}  // namespace nnuc::data
