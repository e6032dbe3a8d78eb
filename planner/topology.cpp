#include "planner/topology.h"

#include <algorithm>
#include <cmath>

#include "kernels/core/error.h"

namespace nnuc::planner {

PoolAndConvProps get_pool_and_conv_props(const std::vector<double>& spacing, const std::vector<double>& patch_size,
                                         int min_feature_map_size, int max_numpool) {
  const std::size_t dim = spacing.size();
  NNUC_CHECK(dim == 2 || dim == 3, "get_pool_and_conv_props: spacing has ", dim, " entries, expected 2 or 3");
  NNUC_CHECK(patch_size.size() == dim, "get_pool_and_conv_props: patch_size has ", patch_size.size(),
             " entries, spacing has ", dim);
  for (std::size_t d = 0; d < dim; ++d) {
    NNUC_CHECK(spacing[d] > 0.0 && std::isfinite(spacing[d]), "get_pool_and_conv_props: spacing[", d,
               "] = ", spacing[d], ", expected a finite value > 0");
    NNUC_CHECK(patch_size[d] > 0.0 && std::isfinite(patch_size[d]), "get_pool_and_conv_props: patch_size[", d,
               "] = ", patch_size[d], ", expected a finite value > 0");
  }
  NNUC_CHECK(min_feature_map_size > 0, "get_pool_and_conv_props: min_feature_map_size = ", min_feature_map_size,
             ", expected > 0");

  std::vector<double> current_spacing = spacing;
  std::vector<double> current_size = patch_size;
  PoolAndConvProps out;
  out.strides.push_back(std::vector<int>(dim, 1));
  out.num_pool_per_axis.assign(dim, 0);
  std::vector<int> kernel(dim, 1);
  const double min_fmap = static_cast<double>(min_feature_map_size);

  while (true) {
    std::vector<std::size_t> valid;
    for (std::size_t d = 0; d < dim; ++d) {
      if (current_size[d] >= 2.0 * min_fmap) valid.push_back(d);
    }
    if (valid.empty()) break;
    double min_valid_spacing = current_spacing[valid[0]];
    for (std::size_t d : valid) min_valid_spacing = std::min(min_valid_spacing, current_spacing[d]);
    std::vector<std::size_t> pooled;
    for (std::size_t d : valid) {
      if (current_spacing[d] / min_valid_spacing < 2.0 && out.num_pool_per_axis[d] < max_numpool) {
        pooled.push_back(d);
      }
    }
    if (pooled.size() == 1 && current_size[pooled[0]] < 3.0 * min_fmap) break;
    if (pooled.empty()) break;

    const double min_spacing = *std::min_element(current_spacing.begin(), current_spacing.end());
    for (std::size_t d = 0; d < dim; ++d) {
      if (kernel[d] != 3 && current_spacing[d] / min_spacing < 2.0) kernel[d] = 3;
    }
    std::vector<int> stride(dim, 1);
    for (std::size_t d : pooled) {
      stride[d] = 2;
      out.num_pool_per_axis[d] += 1;
      current_spacing[d] *= 2.0;
      current_size[d] = std::ceil(current_size[d] / 2.0);
    }
    out.strides.push_back(stride);
    out.kernel_sizes.push_back(kernel);
  }
  out.kernel_sizes.push_back(std::vector<int>(dim, 3));

  // nnU-Net's pad_shape: s + d - (s mod d), minus d again when s is already a multiple; then int().
  out.shape_must_be_divisible_by.resize(dim);
  out.patch_size.resize(dim);
  for (std::size_t d = 0; d < dim; ++d) {
    const std::int64_t divisor = std::int64_t{1} << out.num_pool_per_axis[d];
    out.shape_must_be_divisible_by[d] = divisor;
    const double div = static_cast<double>(divisor);
    const double remainder = std::fmod(patch_size[d], div);
    double padded = patch_size[d] + div - remainder;
    if (remainder == 0.0) padded -= div;
    out.patch_size[d] = static_cast<std::int64_t>(padded);
  }
  return out;
}

std::string network_class_name(NetworkClass network_class) {
  switch (network_class) {
    case NetworkClass::PlainConvUNet: return "dynamic_network_architectures.architectures.unet.PlainConvUNet";
    case NetworkClass::ResidualEncoderUNet:
      return "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet";
  }
  NNUC_THROW(InvalidInput, "network_class_name: unknown network class ", static_cast<int>(network_class));
}

std::vector<int> features_per_stage(int n_stages, int base_features, int max_features) {
  std::vector<int> out;
  for (int i = 0; i < n_stages; ++i) {
    const std::int64_t f = static_cast<std::int64_t>(base_features) << std::min(i, 40);
    out.push_back(static_cast<int>(std::min<std::int64_t>(max_features, f)));
  }
  return out;
}

namespace {

std::int64_t volume(const std::vector<std::int64_t>& size) {
  std::int64_t v = 1;
  for (std::int64_t s : size) v *= s;
  return v;
}

std::vector<std::int64_t> divided(const std::vector<std::int64_t>& size, const std::vector<int>& stride) {
  std::vector<std::int64_t> out(size.size());
  for (std::size_t d = 0; d < size.size(); ++d) out[d] = size[d] / stride[d];
  return out;
}

void check_topology(const NetworkTopology& t, const std::vector<std::int64_t>& patch_size) {
  const std::size_t stages = t.strides.size();
  NNUC_CHECK(t.dim == 2 || t.dim == 3, "NetworkTopology: dim = ", t.dim, ", expected 2 or 3");
  NNUC_CHECK(stages >= 1, "NetworkTopology: no stages");
  NNUC_CHECK(patch_size.size() == static_cast<std::size_t>(t.dim), "conv_feature_map_count: patch has ",
             patch_size.size(), " axes, topology has dim ", t.dim);
  for (std::int64_t p : patch_size) NNUC_CHECK(p > 0, "conv_feature_map_count: patch size ", p, " must be > 0");
  NNUC_CHECK(t.features_per_stage.size() == stages && t.kernel_sizes.size() == stages &&
                 t.blocks_per_stage.size() == stages && t.conv_per_stage_decoder.size() + 1 == stages,
             "NetworkTopology: inconsistent stage counts (strides ", stages, ", features ", t.features_per_stage.size(),
             ", kernels ", t.kernel_sizes.size(), ", blocks ", t.blocks_per_stage.size(), ", decoder convs ",
             t.conv_per_stage_decoder.size(), "; expected n_stages each and n_stages - 1 decoder entries)");
  for (const auto& s : t.strides) {
    NNUC_CHECK(s.size() == static_cast<std::size_t>(t.dim), "NetworkTopology: a stride has ", s.size(),
               " axes, expected ", t.dim);
    for (int v : s) NNUC_CHECK(v >= 1, "NetworkTopology: stride ", v, " must be >= 1");
  }
}

}  // namespace

std::int64_t conv_feature_map_count(const NetworkTopology& t, const std::vector<std::int64_t>& patch_size,
                                    int num_classes, bool deep_supervision) {
  check_topology(t, patch_size);
  const int stages = t.n_stages();
  std::int64_t total = 0;

  // Encoder. Sizes after each stage: n_s = floor(n_{s-1} / stride_s).
  std::vector<std::vector<std::int64_t>> stage_sizes;
  std::vector<std::int64_t> size = patch_size;
  if (t.network_class == NetworkClass::ResidualEncoderUNet) {
    total += static_cast<std::int64_t>(t.features_per_stage[0]) * volume(size);  // stem, stride 1
  }
  int channels_in = t.features_per_stage[0];  // ResEnc: the stem's output
  for (int s = 0; s < stages; ++s) {
    const std::vector<std::int64_t> out_size = divided(size, t.strides[s]);
    const std::int64_t f = t.features_per_stage[s];
    if (t.network_class == NetworkClass::PlainConvUNet) {
      total += t.blocks_per_stage[s] * f * volume(out_size);
    } else {
      for (int b = 0; b < t.blocks_per_stage[s]; ++b) {
        const bool first = b == 0;
        const bool resized = first && out_size != size;
        const bool rechanneled = first && channels_in != t.features_per_stage[s];
        total += 2 * f * volume(out_size);                          // conv1, conv2
        if (resized || rechanneled) total += f * volume(out_size);  // 1x1 skip projection
      }
      channels_in = t.features_per_stage[s];
    }
    stage_sizes.push_back(out_size);
    size = out_size;
  }

  // Decoder: from the bottleneck up, one stage per skip resolution s = S-2 ... 0.
  for (int j = 0; j < stages - 1; ++j) {
    const int s = stages - 2 - j;
    const std::int64_t voxels = volume(stage_sizes[s]);
    const std::int64_t f = t.features_per_stage[s];
    total += t.conv_per_stage_decoder[j] * f * voxels;  // conv blocks
    total += f * voxels;                                // transposed convolution
    if (deep_supervision || j == stages - 2) total += static_cast<std::int64_t>(num_classes) * voxels;
  }
  return total;
}

}  // namespace nnuc::planner
