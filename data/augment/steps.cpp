// Public entry points of the per-voxel pipeline steps (steps.h): check at the door, allocate, dispatch.
#include "data/augment/steps.h"

#include "kernels/elementwise/dispatch.h"

namespace nnuc::augment {

namespace {
void check_channel_first(const Tensor& x, const Context& ctx, const char* op, const char* name) {
  nnuc::detail::check_operand(x, ctx, op, name);
  NNUC_CHECK(x.rank() == 5, op, ": ", name, " must be (B, C, X, Y, Z), got ", x.describe());
}
}  // namespace

Tensor mirror_samples(const Context& ctx, const Tensor& x, const std::vector<unsigned>& axes) {
  check_channel_first(x, ctx, "mirror_samples", "x");
  const std::size_t element = dtype_size(x.dtype());
  NNUC_CHECK(element == 1 || element == 2 || element == 4 || element == 8,
             "mirror_samples: elements of 1, 2, 4 or 8 bytes expected, got ", x.describe());
  NNUC_CHECK(axes.size() == static_cast<std::size_t>(x.dim(0)), "mirror_samples: ", axes.size(),
             " mirror masks for a batch of ", x.dim(0));
  for (unsigned mask : axes)
    NNUC_CHECK((mask & ~(kMirror0 | kMirror1 | kMirror2)) == 0, "mirror_samples: mask ", mask,
               " is not a subset of axes 0, 1, 2 (7)");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), ctx);
  switch (ctx.device()) {
    case Device::CPU: cpu::mirror_samples(x, axes, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::mirror_samples(ctx, x, axes, out)); break;
    case Device::Meta: break;
  }
  return out;
}

void mask_image(const Context& ctx, Tensor& data, const Tensor& seg, const std::vector<bool>& channels) {
  check_channel_first(data, ctx, "mask_image", "data");
  check_channel_first(seg, ctx, "mask_image", "seg");
  check_dtype(data, DType::f32, "mask_image: data");
  check_dtype(seg, DType::i16, "mask_image: seg");
  NNUC_CHECK(seg.dim(0) == data.dim(0) && seg.dim(1) >= 1 && seg.dim(2) == data.dim(2) && seg.dim(3) == data.dim(3) &&
                 seg.dim(4) == data.dim(4),
             "mask_image: seg ", seg.describe(), " does not match data ", data.describe());
  NNUC_CHECK(channels.size() == static_cast<std::size_t>(data.dim(1)) && channels.size() <= 64,
             "mask_image: ", channels.size(), " channel flags for data ", data.describe(),
             " (one per channel, at most 64)");
  std::uint64_t bits = 0;
  for (std::size_t c = 0; c < channels.size(); ++c)
    if (channels[c]) bits |= std::uint64_t{1} << c;
  if (bits == 0) return;
  switch (ctx.device()) {
    case Device::CPU: cpu::mask_image(data, seg, bits); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::mask_image(ctx, data, seg, bits)); break;
    case Device::Meta: break;
  }
}

std::vector<Tensor> remove_label(const Context& ctx, const Tensor& seg) {
  check_channel_first(seg, ctx, "remove_label", "seg");
  check_dtype(seg, DType::i16, "remove_label: seg");
  std::vector<Tensor> out;
  for (std::int64_t s = 0; s < seg.dim(1); ++s) {
    Tensor channel = Tensor::empty(Shape{seg.dim(0), 1, seg.dim(2), seg.dim(3), seg.dim(4)}, DType::i16, ctx);
    switch (ctx.device()) {
      case Device::CPU: cpu::remove_label(seg, s, channel); break;
      case Device::CUDA: NNUC_IF_CUDA(cuda::remove_label(ctx, seg, s, channel)); break;
      case Device::Meta: break;
    }
    out.push_back(channel);
  }
  return out;
}

Tensor labels_to_regions(const Context& ctx, const Tensor& labels, const std::vector<std::vector<int>>& regions,
                         std::optional<int> ignore_label) {
  nnuc::detail::check_operand(labels, ctx, "labels_to_regions", "labels");
  check_dtype(labels, DType::i16, "labels_to_regions: labels");
  NNUC_CHECK(labels.rank() == 5 && labels.dim(4) == 1, "labels_to_regions: labels must be (B, X, Y, Z, 1), got ",
             labels.describe());
  const std::size_t channels = regions.size() + (ignore_label ? 1 : 0);
  NNUC_CHECK(!regions.empty() && channels <= 255, "labels_to_regions: 1 to 254 regions expected, got ", regions.size());
  RegionTable table{};
  for (std::size_t r = 0; r < regions.size(); ++r) {
    NNUC_CHECK(!regions[r].empty(), "labels_to_regions: region ", r, " has no labels");
    for (int label : regions[r]) {
      NNUC_CHECK(label >= 0 && label <= 32767, "labels_to_regions: region ", r, " holds label ", label,
                 ", expected 0..32767");
      NNUC_CHECK(table.entries < kMaxRegionEntries, "labels_to_regions: more than ", kMaxRegionEntries,
                 " labels over all regions");
      table.label[table.entries] = static_cast<std::int16_t>(label);
      table.region[table.entries++] = static_cast<std::uint8_t>(r);
    }
  }
  if (ignore_label)
    NNUC_CHECK(*ignore_label >= 0 && *ignore_label <= 32767, "labels_to_regions: ignore label ", *ignore_label,
               " must be in 0..32767");
  table.channels = static_cast<std::int32_t>(channels);
  table.ignore = ignore_label ? *ignore_label : -1;
  Tensor out = Tensor::empty(
      Shape{labels.dim(0), labels.dim(1), labels.dim(2), labels.dim(3), static_cast<std::int64_t>(channels)}, DType::u8,
      ctx);
  switch (ctx.device()) {
    case Device::CPU: cpu::labels_to_regions(labels, table, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::labels_to_regions(ctx, labels, table, out)); break;
    case Device::Meta: break;
  }
  return out;
}

Tensor to_channels_last(const Context& ctx, const Tensor& data, DType dtype) {
  check_channel_first(data, ctx, "to_channels_last", "data");
  check_dtype(data, DType::f32, "to_channels_last: data");
  const bool allowed = dtype == DType::f32 || (dtype == DType::bf16 && ctx.models() == Device::CUDA);
  NNUC_CHECK(allowed, "to_channels_last: output dtype must be f32, or bf16 on CUDA; got ", dtype_name(dtype), " on ",
             device_name(ctx.models()));
  Tensor out = Tensor::empty(Shape{data.dim(0), data.dim(2), data.dim(3), data.dim(4), data.dim(1)}, dtype, ctx);
  switch (ctx.device()) {
    case Device::CPU: cpu::to_channels_last(data, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::to_channels_last(ctx, data, out)); break;
    case Device::Meta: break;
  }
  return out;
}

}  // namespace nnuc::augment
