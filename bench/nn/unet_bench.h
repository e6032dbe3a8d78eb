// Shared by the U-Net benchmarks: the network they time and its napkin math (forward FLOPs on one
// patch, 2 FLOPs per multiply-add: convolutions, transposed convolutions and segmentation heads; norms
// and activations are memory traffic, not FLOPs).
#pragma once

#include <cstddef>
#include <vector>

#include "nn/unet.h"

namespace nnuc::bench {

// nnU-Net's default 3d_fullres network (nn::default_3d_config) for a cubic `patch`, shortened (as the
// planner would) until its smallest stage is at least 4 voxels per axis: 6 stages at 128³, 4 at 32³.
inline nn::UNetConfig network_for_patch(int patch, int num_classes, bool deep_supervision) {
  nn::UNetConfig config = nn::default_3d_config(1, num_classes);
  while (patch >> (config.stages() - 1) < 4) {
    config.features_per_stage.pop_back();
    config.kernel_sizes.pop_back();
    config.strides.pop_back();
    config.n_conv_per_stage.pop_back();
    config.n_conv_per_stage_decoder.pop_back();
  }
  config.deep_supervision = deep_supervision;
  return config;
}

// Forward FLOPs of `config` (plain encoder) on a batch of `patch` (D, H, W): Σ 2·V_out·k³·C_in·C_out
// over the encoder and decoder convolutions, 2·V_out·C_in·C_out per transposed convolution, and
// 2·V·F_s·K per head (every decoder stage with deep supervision, only the full-resolution one without).
inline double unet_forward_flops(const nn::UNetConfig& config, const nn::Triple& patch, int batch) {
  std::vector<double> voxels;
  nn::Triple size = patch;
  double flops = 0;
  int previous = config.input_channels;
  for (int s = 0; s < config.stages(); ++s) {
    const auto stage = static_cast<std::size_t>(s);
    for (int a = 0; a < 3; ++a) size[a] /= config.strides[stage][a];
    voxels.push_back(double(size[0]) * size[1] * size[2]);
    const double taps =
        double(config.kernel_sizes[stage][0]) * config.kernel_sizes[stage][1] * config.kernel_sizes[stage][2];
    const int f = config.features_per_stage[stage];
    for (int c = 0; c < config.n_conv_per_stage[stage]; ++c)
      flops += 2.0 * voxels[stage] * taps * (c ? f : previous) * f;
    previous = f;
  }
  for (int s = config.stages() - 2; s >= 0; --s) {
    const auto stage = static_cast<std::size_t>(s);
    const int f = config.features_per_stage[stage], below = config.features_per_stage[stage + 1];
    const double taps =
        double(config.kernel_sizes[stage][0]) * config.kernel_sizes[stage][1] * config.kernel_sizes[stage][2];
    flops += 2.0 * voxels[stage] * below * f;  // transposed convolution
    const int convs = config.n_conv_per_stage_decoder[static_cast<std::size_t>(config.stages() - 2 - s)];
    for (int c = 0; c < convs; ++c) flops += 2.0 * voxels[stage] * taps * (c ? f : 2 * f) * f;
    if (config.deep_supervision || s == 0) flops += 2.0 * voxels[stage] * f * config.num_classes;  // head
  }
  return flops * batch;
}

}  // namespace nnuc::bench
