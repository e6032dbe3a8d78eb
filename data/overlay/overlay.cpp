#include "data/overlay/overlay.h"

#include <algorithm>
#include <map>

#include "kernels/core/error.h"

namespace nnuc::data {

const std::array<std::array<std::uint8_t, 3>, kOverlayColors> kOverlayColorCycle = {{
    {0x00, 0x00, 0x00},
    {0x43, 0x63, 0xd8},
    {0xf5, 0x82, 0x31},
    {0x3c, 0xb4, 0x4b},
    {0xe6, 0x19, 0x4b},
    {0x91, 0x1e, 0xb4},
    {0xff, 0xe1, 0x19},
    {0xbf, 0xef, 0x45},
    {0x42, 0xd4, 0xf4},
    {0xf0, 0x32, 0xe6},
    {0x00, 0x00, 0x75},
    {0x9a, 0x63, 0x24},
    {0x80, 0x80, 0x00},
    {0x80, 0x00, 0x00},
    {0x46, 0x99, 0x90},
}};

std::int64_t select_overlay_slice(const std::int16_t* seg, const std::array<std::int64_t, 3>& shape) {
  NNUC_CHECK(shape[0] > 0 && shape[1] > 0 && shape[2] > 0, "select_overlay_slice: empty volume (", shape[0], ", ",
             shape[1], ", ", shape[2], ")");
  const std::int64_t slices = shape[0], slice_voxels = shape[1] * shape[2];
  // Voxel counts per (label > 0, slice), labels ascending.
  std::map<std::int16_t, std::vector<double>> counts;
  for (std::int64_t s = 0; s < slices; ++s) {
    const std::int16_t* slice = seg + s * slice_voxels;
    for (std::int64_t v = 0; v < slice_voxels; ++v) {
      if (slice[v] <= 0) continue;
      std::vector<double>& column = counts[slice[v]];
      if (column.empty()) column.assign(static_cast<std::size_t>(slices), 0.0);
      column[static_cast<std::size_t>(s)] += 1.0;
    }
  }
  if (counts.empty()) return 0;
  std::vector<double> mean(static_cast<std::size_t>(slices), 0.0);
  double normalized_so_far = 0;  // the sum of the columns already divided (nnU-Net's matrix sum)
  for (auto& [label, column] : counts) {
    double total = 0;
    for (const double count : column) total += count;
    const double divisor = normalized_so_far + total;
    double column_sum = 0;
    for (std::size_t s = 0; s < column.size(); ++s) {
      column[s] /= divisor;
      column_sum += column[s];
      mean[s] += column[s];
    }
    normalized_so_far += column_sum;
  }
  std::int64_t best = 0;
  for (std::int64_t s = 1; s < slices; ++s)
    if (mean[static_cast<std::size_t>(s)] > mean[static_cast<std::size_t>(best)]) best = s;
  return best;
}

std::vector<std::uint8_t> overlay_rgb(const float* image, const std::int16_t* seg, std::int64_t height,
                                      std::int64_t width, double overlay_intensity) {
  NNUC_CHECK(height > 0 && width > 0, "overlay_rgb: empty slice (", height, " x ", width, ")");
  const std::int64_t pixels = height * width;
  // The image scaled to [0, 255] in float32, as nnU-Net's numpy arithmetic does it.
  float low = image[0], high = image[0];
  for (std::int64_t p = 1; p < pixels; ++p) low = std::min(low, image[p]), high = std::max(high, image[p]);
  const float range = high - low;
  std::vector<float> rgb(static_cast<std::size_t>(pixels * 3));
  for (std::int64_t p = 0; p < pixels; ++p) {
    const float shifted = image[p] - low;
    const float value = range > 0 ? shifted / range * 255.0f : 0.0f;
    for (int c = 0; c < 3; ++c) rgb[static_cast<std::size_t>(p * 3 + c)] = value;
  }
  // Each label value present, by rank: += intensity * color (a float64 sum stored back as float32).
  std::map<std::int16_t, int> rank;
  for (std::int64_t p = 0; p < pixels; ++p) rank.emplace(std::max<std::int16_t>(seg[p], 0), 0);
  int next = 0;
  for (auto& [label, index] : rank) index = next++;
  for (std::int64_t p = 0; p < pixels; ++p) {
    const auto& color =
        kOverlayColorCycle[static_cast<std::size_t>(rank.at(std::max<std::int16_t>(seg[p], 0)) % kOverlayColors)];
    for (int c = 0; c < 3; ++c) {
      float& value = rgb[static_cast<std::size_t>(p * 3 + c)];
      value = static_cast<float>(static_cast<double>(value) + overlay_intensity * color[static_cast<std::size_t>(c)]);
    }
  }
  float peak = 0;
  for (const float value : rgb) peak = std::max(peak, value);
  std::vector<std::uint8_t> out(rgb.size(), 0);
  if (peak > 0)
    for (std::size_t i = 0; i < rgb.size(); ++i) out[i] = static_cast<std::uint8_t>(rgb[i] / peak * 255.0f);
  return out;
}

}  // namespace nnuc::data
