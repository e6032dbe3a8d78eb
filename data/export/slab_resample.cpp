#include "data/export/slab_resample.h"

#include <algorithm>
#include <limits>

#include "kernels/core/error.h"

namespace nnuc::data::export_detail {

namespace {

// The axes among `candidates` whose size changes, the strongest reduction first (resize_volume's
// order; ties keep the axis order).
std::vector<int> pass_order(const Shape3& in, const Shape3& out, std::vector<int> candidates) {
  std::vector<int> axes;
  for (int axis : candidates)
    if (in[axis] != out[axis]) axes.push_back(axis);
  std::stable_sort(axes.begin(), axes.end(), [&](int a, int b) {
    return static_cast<double>(out[a]) / static_cast<double>(in[a]) <
           static_cast<double>(out[b]) / static_cast<double>(in[b]);
  });
  return axes;
}

}  // namespace

SlabResampler::SlabResampler(const Shape3& in_shape, const Shape3& out_shape, const Spacing3& current_spacing,
                             const Spacing3& new_spacing, const ResamplingOptions& options)
    : in_shape_(in_shape), out_shape_(out_shape) {
  for (int axis = 0; axis < 3; ++axis)
    NNUC_CHECK(in_shape[axis] >= 1 && out_shape[axis] >= 1, "resampling needs sizes >= 1, got axis ", axis, ": ",
               in_shape[axis], " -> ", out_shape[axis]);
  NNUC_CHECK(options.order == 0 || options.order == 1 || options.order == 3,
             "probabilities resampling order must be 0, 1 or 3, got ", options.order);
  NNUC_CHECK(options.order_z == 0 || options.order_z == 1 || options.order_z == 3,
             "probabilities resampling order_z must be 0, 1 or 3, got ", options.order_z);
  const SeparateZ separate = determine_separate_z(current_spacing, new_spacing, options.force_separate_z);
  identity_ = in_shape == out_shape;
  if (identity_) return;
  if (!separate.separate) {
    for (int axis : pass_order(in_shape, out_shape, {0, 1, 2}))
      before_clip_.push_back({axis, resampling::zoom_taps(in_shape[axis], out_shape[axis], options.order)});
  } else {
    const int z = separate.axis;
    std::vector<int> in_plane;
    for (int axis = 0; axis < 3; ++axis)
      if (axis != z) in_plane.push_back(axis);
    for (int axis : pass_order(in_shape, out_shape, in_plane))
      before_clip_.push_back({axis, resampling::zoom_taps(in_shape[axis], out_shape[axis], options.order)});
    clip_axis_ = z;
    if (in_shape[z] != out_shape[z])
      after_clip_.push_back({z, resampling::zoom_taps(in_shape[z], out_shape[z], options.order_z)});
  }
  for (const std::vector<Pass>* passes : {&before_clip_, &after_clip_})
    for (const Pass& pass : *passes)
      if (pass.axis == 0 && pass.taps.order > 1) splittable_ = false;
}

SlabResampler::ChannelRange SlabResampler::channel_range(const float* channel) const {
  ChannelRange range;
  if (identity_) return range;
  const std::size_t slices = clip_axis_ < 0 ? 1 : static_cast<std::size_t>(in_shape_[clip_axis_]);
  range.low.assign(slices, std::numeric_limits<double>::infinity());
  range.high.assign(slices, -std::numeric_limits<double>::infinity());
  std::size_t at = 0;
  for (std::int64_t i0 = 0; i0 < in_shape_[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < in_shape_[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < in_shape_[2]; ++i2, ++at) {
        const std::size_t slice = clip_axis_ < 0 ? 0
                                                 : static_cast<std::size_t>(clip_axis_ == 0   ? i0
                                                                            : clip_axis_ == 1 ? i1
                                                                                              : i2);
        const double value = channel[at];
        range.low[slice] = std::min(range.low[slice], value);
        range.high[slice] = std::max(range.high[slice], value);
      }
  return range;
}

std::int64_t SlabResampler::rows_per_slab(std::int64_t voxels) const {
  if (!splittable_) return out_shape_[0];
  return std::clamp<std::int64_t>(voxels / (out_shape_[1] * out_shape_[2]), 1, out_shape_[0]);
}

void SlabResampler::resample(const float* channel, const ChannelRange& range, std::int64_t row_begin,
                             std::int64_t row_end, float* out) const {
  NNUC_INTERNAL_ASSERT(0 <= row_begin && row_begin < row_end && row_end <= out_shape_[0], "rows ", row_begin, "..",
                       row_end, " of ", out_shape_[0]);
  const std::int64_t in_plane = in_shape_[1] * in_shape_[2];
  if (identity_) {
    std::copy(channel + row_begin * in_plane, channel + row_end * in_plane, out);
    return;
  }
  // The input rows the slab reads.
  const Pass* axis0 = nullptr;
  for (const std::vector<Pass>* passes : {&before_clip_, &after_clip_})
    for (const Pass& pass : *passes)
      if (pass.axis == 0) axis0 = &pass;
  std::int64_t first = row_begin, last = row_end;  // input rows [first, last)
  if (axis0 != nullptr) {
    if (splittable_) {
      const int taps = axis0->taps.taps;
      first = axis0->taps.index[static_cast<std::size_t>(row_begin * taps)];
      last = axis0->taps.index[static_cast<std::size_t>((row_end - 1) * taps + taps - 1)] + 1;
    } else {
      NNUC_INTERNAL_ASSERT(row_begin == 0 && row_end == out_shape_[0], "an order-3 pass along axis 0 needs all rows");
      first = 0;
      last = in_shape_[0];
    }
  }
  Shape3 shape{last - first, in_shape_[1], in_shape_[2]};
  std::vector<double> current(channel + first * in_plane, channel + last * in_plane);
  std::vector<double> next;

  auto run = [&](const Pass& pass) {
    const resampling::AxisTaps* taps = &pass.taps;
    resampling::AxisTaps rows;  // axis 0 of a slab: the taps of its rows, relative to its first input row
    if (pass.axis == 0 && splittable_) {
      rows.order = pass.taps.order;
      rows.taps = pass.taps.taps;
      rows.pad = pass.taps.pad;  // 0 for orders 0 and 1
      rows.length = last - first;
      const auto from = static_cast<std::size_t>(row_begin * rows.taps);
      const auto to = static_cast<std::size_t>(row_end * rows.taps);
      rows.index.assign(pass.taps.index.begin() + from, pass.taps.index.begin() + to);
      for (std::int64_t& index : rows.index) index -= first;
      if (!pass.taps.weight.empty()) rows.weight.assign(pass.taps.weight.begin() + from, pass.taps.weight.begin() + to);
      taps = &rows;
    }
    const std::int64_t out_length = static_cast<std::int64_t>(taps->index.size()) / taps->taps;
    std::int64_t outer = 1, inner = 1;
    for (int axis = 0; axis < pass.axis; ++axis) outer *= shape[axis];
    for (int axis = pass.axis + 1; axis < 3; ++axis) inner *= shape[axis];
    next.resize(static_cast<std::size_t>(outer * out_length * inner));
    resampling::resample_axis(current.data(), outer, inner, *taps, next.data());
    shape[pass.axis] = out_length;
    current.swap(next);
  };

  for (const Pass& pass : before_clip_) run(pass);
  // Clip as resize_volume does: to the channel's range, or (separate z) to each input slice's range.
  // The clip axis has not been resampled yet, so its index here is the input slice (offset by the
  // slab's first row when it is axis 0).
  const std::int64_t n0 = shape[0], n1 = shape[1], n2 = shape[2];
  const int clip_axis = clip_axis_;
#pragma omp parallel for schedule(static)
  for (std::int64_t line = 0; line < n0 * n1; ++line) {
    const std::int64_t i0 = line / n1, i1 = line % n1;
    for (std::int64_t i2 = 0; i2 < n2; ++i2) {
      const std::int64_t slice = clip_axis < 0 ? 0 : clip_axis == 0 ? i0 + first : clip_axis == 1 ? i1 : i2;
      double& value = current[static_cast<std::size_t>(line * n2 + i2)];
      value = std::min(std::max(value, range.low[static_cast<std::size_t>(slice)]),
                       range.high[static_cast<std::size_t>(slice)]);
    }
  }
  for (const Pass& pass : after_clip_) run(pass);
  NNUC_INTERNAL_ASSERT(shape[0] == row_end - row_begin && shape[1] == out_shape_[1] && shape[2] == out_shape_[2],
                       "slab shape after resampling");
  std::transform(current.begin(), current.end(), out, [](double value) { return static_cast<float>(value); });
}

}  // namespace nnuc::data::export_detail
