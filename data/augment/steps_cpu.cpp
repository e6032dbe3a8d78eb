// CPU implementations of the per-voxel pipeline steps (steps.h), OpenMP over rows.
#include <cstring>

#include "data/augment/steps.h"

namespace nnuc::augment::cpu {

namespace {
constexpr std::int64_t kParallelBytes = std::int64_t{1} << 18;  // below this, one thread

template <typename Element>
void mirror_typed(const Tensor& x, const std::vector<unsigned>& axes, Tensor& out) {
  const std::int64_t B = x.dim(0), C = x.dim(1), L0 = x.dim(2), L1 = x.dim(3), L2 = x.dim(4);
  const auto* in = static_cast<const Element*>(x.raw());
  auto* target = static_cast<Element*>(out.raw());
  const std::int64_t rows = B * C * L0 * L1;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(x.bytes()) >= kParallelBytes)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t bc = row / (L0 * L1), i0 = row / L1 % L0, i1 = row % L1;
    const unsigned mask = axes[static_cast<std::size_t>(bc / C)];
    const std::int64_t s0 = (mask & kMirror0) ? L0 - 1 - i0 : i0, s1 = (mask & kMirror1) ? L1 - 1 - i1 : i1;
    const Element* source = in + ((bc * L0 + s0) * L1 + s1) * L2;
    Element* destination = target + row * L2;
    if (mask & kMirror2) {
      for (std::int64_t i2 = 0; i2 < L2; ++i2) destination[i2] = source[L2 - 1 - i2];
    } else {
      std::memcpy(destination, source, static_cast<std::size_t>(L2) * sizeof(Element));
    }
  }
}
}  // namespace

void mirror_samples(const Tensor& x, const std::vector<unsigned>& axes, Tensor& out) {
  switch (dtype_size(x.dtype())) {
    case 1: mirror_typed<std::uint8_t>(x, axes, out); break;
    case 2: mirror_typed<std::uint16_t>(x, axes, out); break;
    case 4: mirror_typed<std::uint32_t>(x, axes, out); break;
    default: mirror_typed<std::uint64_t>(x, axes, out); break;
  }
}

void mask_image(Tensor& data, const Tensor& seg, std::uint64_t channels) {
  const std::int64_t B = data.dim(0), C = data.dim(1), S = seg.dim(1);
  const std::int64_t volume = data.dim(2) * data.dim(3) * data.dim(4);
  float* image = data.data<float>();
  const std::int16_t* labels = seg.data<std::int16_t>();
#pragma omp parallel for collapse(2) schedule(static) if (static_cast <std::int64_t>(data.bytes()) >= kParallelBytes)
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t c = 0; c < C; ++c) {
      if (!((channels >> c) & 1u)) continue;
      float* channel = image + (b * C + c) * volume;
      const std::int16_t* first_seg = labels + b * S * volume;
      for (std::int64_t v = 0; v < volume; ++v)
        if (first_seg[v] < 0) channel[v] = 0.0f;
    }
  }
}

void remove_label(const Tensor& seg, std::int64_t channel, Tensor& out) {
  const std::int64_t B = seg.dim(0), S = seg.dim(1), volume = seg.dim(2) * seg.dim(3) * seg.dim(4);
  const std::int16_t* labels = seg.data<std::int16_t>();
  std::int16_t* target = out.data<std::int16_t>();
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out.bytes()) >= kParallelBytes)
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int16_t* source = labels + (b * S + channel) * volume;
    for (std::int64_t v = 0; v < volume; ++v) target[b * volume + v] = source[v] == -1 ? std::int16_t{0} : source[v];
  }
}

void labels_to_regions(const Tensor& labels, const RegionTable& table, Tensor& out) {
  const std::int64_t voxels = labels.numel();
  const std::int16_t* in = labels.data<std::int16_t>();
  std::uint8_t* target = out.data<std::uint8_t>();
  const std::int64_t channels = table.channels;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out.bytes()) >= kParallelBytes)
  for (std::int64_t v = 0; v < voxels; ++v) {
    std::uint8_t* voxel = target + v * channels;
    std::memset(voxel, 0, static_cast<std::size_t>(channels));
    for (int entry = 0; entry < table.entries; ++entry)
      if (in[v] == table.label[entry]) voxel[table.region[entry]] = 1;
    if (table.ignore >= 0 && in[v] == table.ignore) voxel[channels - 1] = 1;
  }
}

void to_channels_last(const Tensor& data, Tensor& out) {
  const std::int64_t B = data.dim(0), C = data.dim(1), volume = data.dim(2) * data.dim(3) * data.dim(4);
  const float* in = data.data<float>();
  float* target = out.data<float>();
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out.bytes()) >= kParallelBytes)
  for (std::int64_t bv = 0; bv < B * volume; ++bv) {
    const std::int64_t b = bv / volume, v = bv % volume;
    for (std::int64_t c = 0; c < C; ++c) target[bv * C + c] = in[(b * C + c) * volume + v];
  }
}

}  // namespace nnuc::augment::cpu
