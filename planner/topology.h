// Network topology rules of the planner (spec §3.5, §3.6, §5): pooling and kernel sizes per axis,
// the padded patch, the U-Net description that plans carry, nnU-Net's feature-map count and the
// deep-supervision loss weights that follow from the number of stages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnuc::planner {

// Result of get_pool_and_conv_props (spec §3.5).
struct PoolAndConvProps {
  std::vector<int> num_pool_per_axis;                    // poolings per axis
  std::vector<std::vector<int>> strides;                 // n_stages entries; strides[0] is all ones
  std::vector<std::vector<int>> kernel_sizes;            // n_stages entries; 1 or 3 per axis
  std::vector<std::int64_t> patch_size;                  // input patch padded up to the divisor
  std::vector<std::int64_t> shape_must_be_divisible_by;  // 2^num_pool_per_axis
  int n_stages() const { return static_cast<int>(strides.size()); }
};

// nnU-Net's get_pool_and_conv_props(spacing, patch_size, min_feature_map_size, max_numpool).
//   requires: spacing and patch_size of equal length 2 or 3; spacing > 0; patch_size > 0 (may be
//             fractional: nnU-Net clips the initial patch to a median shape such as 35.5).
//   ensures: the walk of spec §3.5: each step pools (by 2) every axis whose size is >= 2*min_fmap and
//            whose spacing is within a factor 2 of the smallest such spacing; a lone axis pools only
//            while its size is >= 3*min_fmap; kernels turn 3 (for good) once an axis' spacing is within
//            a factor 2 of the smallest spacing; a final [3,...] kernel for the bottleneck; the patch
//            padded up to the next multiple of 2^num_pool (nnU-Net's pad_shape, truncated to int).
PoolAndConvProps get_pool_and_conv_props(const std::vector<double>& spacing, const std::vector<double>& patch_size,
                                         int min_feature_map_size = 4, int max_numpool = 999999);

// The two U-Nets of the method (dynamic-network-architectures).
enum class NetworkClass { PlainConvUNet, ResidualEncoderUNet };
// "dynamic_network_architectures.architectures.unet.PlainConvUNet" / "...ResidualEncoderUNet".
std::string network_class_name(NetworkClass network_class);

// Everything that determines a U-Net's shape and memory: what a memory model is given.
struct NetworkTopology {
  NetworkClass network_class = NetworkClass::PlainConvUNet;
  int dim = 3;                       // 2 or 3 spatial axes
  int input_channels = 1;            // dataset channels (a cascade stage adds one-hot channels on top)
  int output_channels = 2;           // real segmentation heads (spec §5.1)
  int estimate_output_channels = 2;  // len(dataset.json labels): nnU-Net's estimate quirk (spec §12.5)
  std::vector<int> features_per_stage;
  std::vector<std::vector<int>> kernel_sizes;  // per stage, per axis
  std::vector<std::vector<int>> strides;       // per stage, per axis; strides[0] all ones
  // PlainConvUNet: convolutions per encoder stage (n_conv_per_stage);
  // ResidualEncoderUNet: residual blocks per encoder stage (n_blocks_per_stage).
  std::vector<int> blocks_per_stage;
  std::vector<int> conv_per_stage_decoder;  // n_stages - 1 entries
  int n_stages() const { return static_cast<int>(strides.size()); }
};

// features of stage i: min(max_features, base_features * 2^i) for i < n_stages.
std::vector<int> features_per_stage(int n_stages, int base_features, int max_features);

// Number of output activations (per sample) of all conv-like ops of the network for one input patch:
// dynamic-network-architectures' compute_conv_feature_map_size (spec §3.6), with integer floor
// divisions by the strides. `num_classes` is the channel count of the segmentation head(s);
// with deep supervision every decoder stage has a head, else only the last one.
//   requires: patch_size has topology.dim entries; the topology's lists have n_stages entries
//             (conv_per_stage_decoder: n_stages - 1).
std::int64_t conv_feature_map_count(const NetworkTopology& topology, const std::vector<std::int64_t>& patch_size,
                                    int num_classes, bool deep_supervision);

}  // namespace nnuc::planner
