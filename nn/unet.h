// nnU-Net's networks (spec §5.3, §5.4): PlainConvUNet and ResidualEncoderUNet, built from a
// configuration as the plans describe it.
//
// Input (N, D, H, W, C_in) channels-last; outputs logits (N, D_s, H_s, W_s, K). With deep supervision
// forward() returns one output per decoder stage, highest resolution first; without it only the
// full-resolution output. All heads always exist, so weights load in both modes.
#pragma once

#include <string>
#include <vector>

#include "nn/layers.h"

namespace nnuc::nn {

enum class EncoderKind { Plain, Residual };

struct UNetConfig {
  EncoderKind encoder = EncoderKind::Plain;
  int input_channels = 1;
  int num_classes = 2;                        // output channels K
  std::vector<int> features_per_stage;        // F_s
  std::vector<Triple> kernel_sizes;           // per stage
  std::vector<Triple> strides;                // per stage; stage 0 is usually (1, 1, 1)
  std::vector<int> n_conv_per_stage;          // Plain: convs per encoder stage; Residual: blocks per stage
  std::vector<int> n_conv_per_stage_decoder;  // per decoder stage, from the bottleneck upward
  bool deep_supervision = true;

  int stages() const { return static_cast<int>(features_per_stage.size()); }
  // Throws InvalidInput naming the field when lengths or values are inconsistent.
  void validate() const;
};

// nnU-Net's default 3d_fullres network for a 128³ patch (6 stages, 32…320 features, 3×3×3, stride 2).
UNetConfig default_3d_config(int input_channels, int num_classes);
// nnU-Net's default 2d network for a 512² patch (8 stages, 32…512 features).
UNetConfig default_2d_config(int input_channels, int num_classes);

class UNet : public Module {
 public:
  // Parameters in `dtype` (f32, or f64 for double-precision checks), initialized from `seed`.
  UNet(const Context& ctx, const UNetConfig& config, DType dtype, std::uint64_t seed);
  // Logits, highest resolution first (deep supervision) or the full-resolution output alone.
  std::vector<Var> forward(Tape& tape, const Var& x);
  const UNetConfig& config() const { return config_; }
  void set_deep_supervision(bool enabled) { config_.deep_supervision = enabled; }

 private:
  struct Stage {
    std::vector<Module*> blocks;  // ConvNormAct (plain) or BasicBlockD / stem (residual)
  };
  Var run_block(Tape& tape, Module* block, const Var& x);

  UNetConfig config_;
  std::vector<Stage> encoder_;
  ConvNormAct* stem_ = nullptr;
  std::vector<ConvTranspose*> upsample_;  // decoder stage j
  std::vector<std::vector<ConvNormAct*>> decoder_;
  std::vector<Conv*> heads_;
};

// Closed-form parameter count of a configuration (what UNet(config).parameter_count() must equal).
std::int64_t unet_parameter_count(const UNetConfig& config);

// True for the parameters of a segmentation head (decoder.J.seg_head.*: the 1x1 convolutions to the
// classes, nnU-Net's decoder.seg_layers), which fine-tuning from pretrained weights leaves alone.
bool is_segmentation_head(const std::string& parameter_name);

}  // namespace nnuc::nn
