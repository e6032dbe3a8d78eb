// Every public kernel op, by the name of its function. Each one has a CPU and a CUDA implementation
// and a Meta rule; tests/kernels/coverage_gpu_test.cpp fails when an op here has no GPU test that
// compares its CUDA result with the CPU (NNUC_COVER_CUDA in tests/support/coverage.h). A new op
// goes here in the same change that adds it.
#pragma once

#include <string_view>

namespace nnuc {

inline constexpr std::string_view kKernelOps[] = {
    // conv/conv.h
    "conv_forward",
    "conv_backward_data",
    "conv_backward_weight",
    "conv_backward_bias",
    "conv_transpose_forward",
    "conv_transpose_backward_data",
    "conv_transpose_backward_weight",
    // norm/instance_norm.h, norm/leaky_relu.h
    "instance_norm_leaky_relu_forward",
    "instance_norm_leaky_relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    // loss/loss.h, loss/region_loss.h
    "softmax_channels",
    "argmax_channels",
    "cross_entropy_forward",
    "cross_entropy_backward",
    "dice_sums_forward",
    "dice_sums_backward",
    "dice_ce_forward",
    "dice_ce_backward",
    "bce_with_logits_forward",
    "bce_with_logits_backward",
    "sigmoid_dice_sums_forward",
    "sigmoid_dice_sums_backward",
    "region_loss_forward",
    "region_loss_backward",
    // loss/dice_loss.h
    "soft_dice_loss_forward",
    "soft_dice_loss_backward",
    // elementwise/elementwise.h, elementwise/reduce.h
    "add",
    "scale",
    "axpy",
    "fill",
    "cast",
    "sum",
    "l2_norm",
    "any_nonfinite",
    "clip_coefficient",
    "clip_by_total_norm",
    // layout/*.h
    "concat_channels",
    "split_channels",
    "flip",
    "resize_nearest_exact",
    "avg_pool_forward",
    "avg_pool_backward",
    // optim/sgd.h
    "sgd_step",
    // window/window.h (the sliding-window predictor)
    "extract_tiles",
    "add_flipped_tiles",
    "accumulate_tiles",
    "normalize_by_weights",
    // data/augment/spatial.h, data/augment/steps.h: the augmentation's ops follow the same
    // conventions (CPU + CUDA + Meta), so their GPU tests count here too
    "spatial_transform",
    "mirror_samples",
    "mask_image",
    "remove_label",
    "labels_to_regions",
    "to_channels_last",
    // data/augment/cascade.h
    "cascade_inputs",
    "component_roots",
};

}  // namespace nnuc
