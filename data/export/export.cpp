#include "data/export/export.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "data/export/slab_resample.h"
#include "data/nifti/nifti_io.h"
#include "data/preprocess/nifti_case.h"
#include "kernels/core/error.h"
#include "kernels/core/nvtx.h"

namespace nnuc::data {

namespace {

// Output values (all channels together) resampled per slab: bounds the slab buffers to about
// 32 MB of f32 plus the double work buffers of one channel.
constexpr std::int64_t kSlabValues = std::int64_t{8} << 20;
std::atomic<std::int64_t> g_slab_values{kSlabValues};

std::string triple_text(const Shape3& values) {
  return "(" + std::to_string(values[0]) + ", " + std::to_string(values[1]) + ", " + std::to_string(values[2]) + ")";
}

bool is_permutation(const std::array<int, 3>& order) {
  std::array<bool, 3> seen{};
  for (int axis : order) {
    if (axis < 0 || axis > 2 || seen[static_cast<std::size_t>(axis)]) return false;
    seen[static_cast<std::size_t>(axis)] = true;
  }
  return true;
}

void check_plan(const ExportPlan& plan, std::int64_t channels) {
  NNUC_CHECK(is_permutation(plan.transpose_forward) && is_permutation(plan.transpose_backward),
             "export plan: transpose_forward and transpose_backward must be permutations of (0, 1, 2), got (",
             plan.transpose_forward[0], ", ", plan.transpose_forward[1], ", ", plan.transpose_forward[2], ") and (",
             plan.transpose_backward[0], ", ", plan.transpose_backward[1], ", ", plan.transpose_backward[2], ")");
  std::array<int, 3> inverse{};
  for (int axis = 0; axis < 3; ++axis)
    inverse[static_cast<std::size_t>(plan.transpose_forward[static_cast<std::size_t>(axis)])] = axis;
  NNUC_CHECK(inverse == plan.transpose_backward, "export plan: transpose_backward (", plan.transpose_backward[0], ", ",
             plan.transpose_backward[1], ", ", plan.transpose_backward[2],
             ") is not the inverse of transpose_forward (", plan.transpose_forward[0], ", ", plan.transpose_forward[1],
             ", ", plan.transpose_forward[2], ")");
  NNUC_CHECK(plan.configuration_spacing.size() == 2 || plan.configuration_spacing.size() == 3,
             "export plan: configuration_spacing has ", plan.configuration_spacing.size(),
             " values; expected 3 (2 for 2d)");
  for (double value : plan.configuration_spacing)
    NNUC_CHECK(std::isfinite(value) && value > 0, "export plan: configuration_spacing value ", value,
               " is not finite and > 0");
  NNUC_CHECK(plan.num_foreground_labels >= 0, "export plan: num_foreground_labels is ", plan.num_foreground_labels);
  const std::int64_t largest_label = plan.num_foreground_labels < 255 ? 255 : std::numeric_limits<std::int16_t>::max();
  if (plan.has_regions) {
    NNUC_CHECK(static_cast<std::int64_t>(plan.regions_class_order.size()) == channels,
               "export plan: ", plan.regions_class_order.size(), " regions_class_order entries for ", channels,
               " logit channels");
    for (int label : plan.regions_class_order)
      NNUC_CHECK(label >= 0 && label <= largest_label, "export plan: regions_class_order label ", label,
                 " does not fit a label map of ", plan.num_foreground_labels, " foreground labels (0 .. ",
                 largest_label, ")");
  } else {
    NNUC_CHECK(channels - 1 <= largest_label, "export: ", channels, " logit channels give labels up to ", channels - 1,
               ", which do not fit a label map of ", plan.num_foreground_labels, " foreground labels (0 .. ",
               largest_label, ")");
  }
}

void check_properties(const CaseProperties& properties) {
  const BoundingBox& box = properties.bbox_used_for_cropping;
  for (int axis = 0; axis < 3; ++axis) {
    NNUC_CHECK(std::isfinite(properties.spacing[axis]) && properties.spacing[axis] > 0, "export: case spacing ",
               properties.spacing[axis], " (axis ", axis, ") is not finite and > 0");
    NNUC_CHECK(0 <= box.begin[axis] && box.begin[axis] < box.end[axis] &&
                   box.end[axis] <= properties.shape_before_cropping[axis],
               "export: bbox_used_for_cropping axis ", axis, " is [", box.begin[axis], ", ", box.end[axis],
               "); expected inside shape_before_cropping ", triple_text(properties.shape_before_cropping));
  }
  NNUC_CHECK(box.shape() == properties.shape_after_cropping_and_before_resampling,
             "export: shape_after_cropping_and_before_resampling ",
             triple_text(properties.shape_after_cropping_and_before_resampling),
             " differs from the shape of bbox_used_for_cropping ", triple_text(box.shape()));
}

// Labels and probabilities of one slab of resampled logits, written at their places in the
// un-cropped, un-transposed outputs.
struct SlabWriter {
  const ExportPlan& plan;
  std::int64_t channels;
  Shape3 crop;                         // the slab's axes 1 and 2 (transposed, cropped)
  Shape3 begin;                        // bbox begin (transposed)
  std::array<std::int64_t, 3> stride;  // output element stride of each transposed axis
  std::int64_t volume;                 // voxels per output channel
  const float* slab;                   // (channels, rows, crop[1], crop[2])
  std::int64_t slab_channel;           // values per slab channel
  float* probabilities;                // (channels, volume) or nullptr

  template <typename Label>
  void write(Label* segmentation, std::int64_t row_begin, std::int64_t rows) const {
    const std::int64_t n1 = crop[1], n2 = crop[2];
#pragma omp parallel
    {
      std::vector<double> values(static_cast<std::size_t>(channels));
#pragma omp for schedule(static)
      for (std::int64_t line = 0; line < rows * n1; ++line) {
        const std::int64_t r = line / n1, i1 = line % n1;
        for (std::int64_t i2 = 0; i2 < n2; ++i2) {
          const std::int64_t at = (r * n1 + i1) * n2 + i2;
          const std::int64_t target =
              (row_begin + r + begin[0]) * stride[0] + (i1 + begin[1]) * stride[1] + (i2 + begin[2]) * stride[2];
          Label label = 0;
          if (plan.has_regions) {
            for (std::int64_t c = 0; c < channels; ++c) {
              const auto p =
                  static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(slab[c * slab_channel + at]))));
              if (p > 0.5f) label = static_cast<Label>(plan.regions_class_order[static_cast<std::size_t>(c)]);
              if (probabilities != nullptr) probabilities[c * volume + target] = p;
            }
          } else {
            float best = slab[at];
            for (std::int64_t c = 1; c < channels; ++c) {
              const float value = slab[c * slab_channel + at];
              if (value > best) {
                best = value;
                label = static_cast<Label>(c);
              }
            }
            if (probabilities != nullptr) {
              double sum = 0;
              for (std::int64_t c = 0; c < channels; ++c) {
                values[static_cast<std::size_t>(c)] =
                    std::exp(static_cast<double>(slab[c * slab_channel + at]) - static_cast<double>(best));
                sum += values[static_cast<std::size_t>(c)];
              }
              for (std::int64_t c = 0; c < channels; ++c)
                probabilities[c * volume + target] = static_cast<float>(values[static_cast<std::size_t>(c)] / sum);
            }
          }
          segmentation[target] = label;
        }
      }
    }
  }
};

}  // namespace

ExportedPrediction export_prediction(const Tensor& logits, const CaseProperties& properties, const ExportPlan& plan,
                                     bool with_probabilities) {
  NNUC_RANGE("export_prediction");
  check_defined(logits, "logits");
  check_dtype(logits, DType::f32, "logits");
  NNUC_CHECK(logits.device() == Device::CPU && logits.rank() == 4,
             "export: logits must be a host f32 (K, b0, b1, b2) tensor, got ", logits.describe());
  const std::int64_t channels = logits.dim(0);
  const Shape3 in_shape{logits.dim(1), logits.dim(2), logits.dim(3)};
  NNUC_CHECK(channels >= 1 && in_shape[0] >= 1 && in_shape[1] >= 1 && in_shape[2] >= 1,
             "export: logits must have K >= 1 channels and sizes >= 1, got ", logits.describe());
  check_plan(plan, channels);
  check_properties(properties);

  // Spacings of §8.4 step 1, in transposed axes.
  Spacing3 case_spacing{};
  for (int axis = 0; axis < 3; ++axis)
    case_spacing[axis] = properties.spacing[static_cast<std::size_t>(plan.transpose_forward[axis])];
  const std::vector<double>& configuration = plan.configuration_spacing;
  const Spacing3 current_spacing = configuration.size() == 3
                                       ? Spacing3{configuration[0], configuration[1], configuration[2]}
                                       : Spacing3{case_spacing[0], configuration[0], configuration[1]};
  const Shape3 crop = properties.shape_after_cropping_and_before_resampling;
  const export_detail::SlabResampler resampler(in_shape, crop, current_spacing, case_spacing,
                                               plan.probabilities_resampling);

  // Outputs in the reader's axis order: reader axis j is transposed axis transpose_backward[j].
  const Shape3& before = properties.shape_before_cropping;
  Shape3 reader_shape{};
  for (int j = 0; j < 3; ++j) reader_shape[j] = before[static_cast<std::size_t>(plan.transpose_backward[j])];
  const std::array<std::int64_t, 3> reader_stride{reader_shape[1] * reader_shape[2], reader_shape[2], 1};
  std::array<std::int64_t, 3> stride{};  // of each transposed axis in the reader-order output
  for (int j = 0; j < 3; ++j) stride[static_cast<std::size_t>(plan.transpose_backward[j])] = reader_stride[j];
  const std::int64_t volume = reader_shape[0] * reader_shape[1] * reader_shape[2];

  const bool wide = plan.num_foreground_labels >= 255;
  ExportedPrediction result;
  result.segmentation =
      Tensor::empty_cpu(Shape{reader_shape[0], reader_shape[1], reader_shape[2]}, wide ? DType::i16 : DType::u8);
  std::memset(result.segmentation.raw(), 0, result.segmentation.bytes());
  float* probabilities = nullptr;
  if (with_probabilities) {
    result.probabilities =
        Tensor::empty_cpu(Shape{channels, reader_shape[0], reader_shape[1], reader_shape[2]}, DType::f32);
    probabilities = result.probabilities.data<float>();
    // Outside the bbox: background 1, others 0 (regions: all 0); the bbox is overwritten below.
    std::fill(probabilities, probabilities + channels * volume, 0.0f);
    if (!plan.has_regions) std::fill(probabilities, probabilities + volume, 1.0f);
  }

  const float* channel_logits = logits.data<float>();
  const std::int64_t in_count = in_shape[0] * in_shape[1] * in_shape[2];
  std::vector<export_detail::SlabResampler::ChannelRange> ranges;
  for (std::int64_t c = 0; c < channels; ++c) ranges.push_back(resampler.channel_range(channel_logits + c * in_count));

  const std::int64_t rows_per_slab =
      resampler.rows_per_slab(std::max<std::int64_t>(1, g_slab_values.load() / channels));
  const std::int64_t plane = crop[1] * crop[2];
  std::vector<float> slab(static_cast<std::size_t>(channels * rows_per_slab * plane));
  SlabWriter writer{plan,         channels, crop,        properties.bbox_used_for_cropping.begin,
                    stride,       volume,   slab.data(), rows_per_slab * plane,
                    probabilities};
  for (std::int64_t row = 0; row < crop[0]; row += rows_per_slab) {
    const std::int64_t rows = std::min(rows_per_slab, crop[0] - row);
    for (std::int64_t c = 0; c < channels; ++c)
      resampler.resample(channel_logits + c * in_count, ranges[static_cast<std::size_t>(c)], row, row + rows,
                         slab.data() + c * rows_per_slab * plane);
    if (wide) {
      writer.write(result.segmentation.data<std::int16_t>(), row, rows);
    } else {
      writer.write(result.segmentation.data<std::uint8_t>(), row, rows);
    }
  }
  return result;
}

void write_segmentation(const std::string& path, const Tensor& segmentation, const CaseProperties& properties) {
  NNUC_RANGE("write_segmentation");
  check_defined(segmentation, "segmentation");
  const nlohmann::json& reader = properties.reader_properties;
  NNUC_CHECK(reader.is_object() && reader.contains("geometry"), "write_segmentation(", path,
             "): the case's reader_properties hold no NIfTI \"geometry\" (nnuc writes NIfTI only); got ",
             reader.dump().substr(0, 200));
  NNUC_CHECK(!reader.contains("reader") || reader.at("reader") == "nifti", "write_segmentation(", path,
             "): the case was read by reader ", reader.at("reader").dump(), "; nnuc writes NIfTI only");
  const NiftiGeometry geometry = nifti_geometry_from_json(reader.at("geometry"));
  const Shape3 shape = geometry.shape();
  NNUC_CHECK(segmentation.rank() == 3 && segmentation.dim(0) == shape[0] && segmentation.dim(1) == shape[1] &&
                 segmentation.dim(2) == shape[2],
             "write_segmentation(", path, "): segmentation ", segmentation.describe(),
             " does not have the input image's shape ", triple_text(shape));
  write_nifti_label(path, segmentation, geometry);
}

namespace testing_only {
void set_export_slab_values(std::int64_t values) { g_slab_values = values > 0 ? values : kSlabValues; }
}  // namespace testing_only

}  // namespace nnuc::data
