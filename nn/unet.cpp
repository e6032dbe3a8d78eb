#include "nn/unet.h"

#include <algorithm>

namespace nnuc::nn {

namespace {
std::int64_t volume(const Triple& t) { return std::int64_t{t[0]} * t[1] * t[2]; }
}  // namespace

void UNetConfig::validate() const {
  const auto stage_count = features_per_stage.size();
  NNUC_CHECK(stage_count >= 2, "UNetConfig.features_per_stage: at least 2 stages, got ", stage_count);
  NNUC_CHECK(kernel_sizes.size() == stage_count, "UNetConfig.kernel_sizes: ", kernel_sizes.size(), " entries for ",
             stage_count, " stages");
  NNUC_CHECK(strides.size() == stage_count, "UNetConfig.strides: ", strides.size(), " entries for ", stage_count,
             " stages");
  NNUC_CHECK(n_conv_per_stage.size() == stage_count, "UNetConfig.n_conv_per_stage: ", n_conv_per_stage.size(),
             " entries for ", stage_count, " stages");
  NNUC_CHECK(n_conv_per_stage_decoder.size() == stage_count - 1,
             "UNetConfig.n_conv_per_stage_decoder: ", n_conv_per_stage_decoder.size(), " entries for ", stage_count - 1,
             " decoder stages");
  NNUC_CHECK(input_channels >= 1, "UNetConfig.input_channels must be >= 1, got ", input_channels);
  NNUC_CHECK(num_classes >= 1, "UNetConfig.num_classes must be >= 1, got ", num_classes);
  for (std::size_t s = 0; s < stage_count; ++s) {
    NNUC_CHECK(features_per_stage[s] >= 1, "UNetConfig.features_per_stage[", s, "] = ", features_per_stage[s]);
    NNUC_CHECK(n_conv_per_stage[s] >= 1, "UNetConfig.n_conv_per_stage[", s, "] = ", n_conv_per_stage[s]);
    for (int axis = 0; axis < 3; ++axis) {
      const int k = kernel_sizes[s][axis], st = strides[s][axis];
      NNUC_CHECK(k >= 1 && k % 2 == 1, "UNetConfig.kernel_sizes[", s, "][", axis, "] must be odd and >= 1, got ", k);
      NNUC_CHECK(st >= 1, "UNetConfig.strides[", s, "][", axis, "] must be >= 1, got ", st);
    }
  }
  for (std::size_t j = 0; j + 1 < stage_count; ++j)
    NNUC_CHECK(n_conv_per_stage_decoder[j] >= 1, "UNetConfig.n_conv_per_stage_decoder[", j,
               "] = ", n_conv_per_stage_decoder[j]);
}

UNetConfig default_3d_config(int input_channels, int num_classes) {
  UNetConfig config;
  config.input_channels = input_channels;
  config.num_classes = num_classes;
  config.features_per_stage = {32, 64, 128, 256, 320, 320};
  config.kernel_sizes.assign(6, Triple{3, 3, 3});
  config.strides = {Triple{1, 1, 1}, Triple{2, 2, 2}, Triple{2, 2, 2},
                    Triple{2, 2, 2}, Triple{2, 2, 2}, Triple{2, 2, 2}};
  config.n_conv_per_stage.assign(6, 2);
  config.n_conv_per_stage_decoder.assign(5, 2);
  return config;
}

UNetConfig default_2d_config(int input_channels, int num_classes) {
  UNetConfig config;
  config.input_channels = input_channels;
  config.num_classes = num_classes;
  config.features_per_stage = {32, 64, 128, 256, 512, 512, 512, 512};
  config.kernel_sizes.assign(8, Triple{1, 3, 3});
  config.strides.assign(8, Triple{1, 2, 2});
  config.strides[0] = Triple{1, 1, 1};
  config.n_conv_per_stage.assign(8, 2);
  config.n_conv_per_stage_decoder.assign(7, 2);
  return config;
}

UNet::UNet(const Context& ctx, const UNetConfig& config, DType dtype, std::uint64_t seed) : config_(config) {
  config_.validate();
  Rng rng(seed);
  const int stages = config_.stages();
  int previous = config_.input_channels;
  if (config_.encoder == EncoderKind::Residual) {
    stem_ =
        &register_module("stem", std::make_unique<ConvNormAct>(ctx, previous, config_.features_per_stage[0],
                                                               config_.kernel_sizes[0], Triple{1, 1, 1}, dtype, rng));
    previous = config_.features_per_stage[0];
  }
  for (int s = 0; s < stages; ++s) {
    Stage stage;
    const int features = config_.features_per_stage[static_cast<std::size_t>(s)];
    for (int b = 0; b < config_.n_conv_per_stage[static_cast<std::size_t>(s)]; ++b) {
      const Triple stride = b == 0 ? config_.strides[static_cast<std::size_t>(s)] : Triple{1, 1, 1};
      const std::string name = "encoder." + std::to_string(s) + "." + std::to_string(b);
      const Triple& kernel = config_.kernel_sizes[static_cast<std::size_t>(s)];
      if (config_.encoder == EncoderKind::Plain) {
        stage.blocks.push_back(
            &register_module(name, std::make_unique<ConvNormAct>(ctx, previous, features, kernel, stride, dtype, rng)));
      } else {
        stage.blocks.push_back(
            &register_module(name, std::make_unique<BasicBlockD>(ctx, previous, features, kernel, stride, dtype, rng)));
      }
      previous = features;
    }
    encoder_.push_back(std::move(stage));
  }
  for (int j = 0; j + 1 < stages; ++j) {
    const auto s = static_cast<std::size_t>(stages - 2 - j);  // encoder stage this decoder stage works at
    const int below = config_.features_per_stage[s + 1], features = config_.features_per_stage[s];
    const std::string prefix = "decoder." + std::to_string(j) + ".";
    upsample_.push_back(
        &register_module(prefix + "transpconv",
                         std::make_unique<ConvTranspose>(ctx, below, features, config_.strides[s + 1], dtype, rng)));
    std::vector<ConvNormAct*> convs;
    for (int c = 0; c < config_.n_conv_per_stage_decoder[static_cast<std::size_t>(j)]; ++c) {
      convs.push_back(
          &register_module(prefix + std::to_string(c),
                           std::make_unique<ConvNormAct>(ctx, c == 0 ? 2 * features : features, features,
                                                         config_.kernel_sizes[s], Triple{1, 1, 1}, dtype, rng)));
    }
    decoder_.push_back(std::move(convs));
    heads_.push_back(&register_module(prefix + "seg_head",
                                      std::make_unique<Conv>(ctx, features, config_.num_classes, Triple{1, 1, 1},
                                                             Triple{1, 1, 1}, true, dtype, rng)));
  }
}

bool is_segmentation_head(const std::string& parameter_name) {
  return parameter_name.rfind("decoder.", 0) == 0 && parameter_name.find(".seg_head.") != std::string::npos;
}

Var UNet::run_block(Tape& tape, Module* block, const Var& x) {
  if (config_.encoder == EncoderKind::Plain) return static_cast<ConvNormAct*>(block)->forward(tape, x);
  return static_cast<BasicBlockD*>(block)->forward(tape, x);
}

std::vector<Var> UNet::forward(Tape& tape, const Var& input) {
  NNUC_CHECK(input.shape().rank() == 5 && input.shape()[4] == config_.input_channels,
             "UNet input must be (N, D, H, W, ", config_.input_channels, "), got ", input.value().describe());
  std::vector<Var> skips;
  Var x = stem_ ? stem_->forward(tape, input) : input;
  for (Stage& stage : encoder_) {
    for (Module* block : stage.blocks) x = run_block(tape, block, x);
    skips.push_back(x);
  }
  std::vector<Var> outputs;
  const std::size_t decoder_stages = decoder_.size();
  for (std::size_t j = 0; j < decoder_stages; ++j) {
    Var up = upsample_[j]->forward(tape, x);
    x = autograd::concat_channels(tape, up, skips[decoder_stages - 1 - j]);
    up = Var();
    for (ConvNormAct* conv : decoder_[j]) x = conv->forward(tape, x);
    if (config_.deep_supervision || j + 1 == decoder_stages) outputs.push_back(heads_[j]->forward(tape, x));
  }
  std::reverse(outputs.begin(), outputs.end());
  return outputs;
}

std::int64_t unet_parameter_count(const UNetConfig& config) {
  config.validate();
  auto conv = [](std::int64_t in, std::int64_t out, const Triple& k, bool bias) {
    return in * out * volume(k) + (bias ? out : 0);
  };
  auto conv_norm = [&](std::int64_t in, std::int64_t out, const Triple& k, bool bias = true) {
    return conv(in, out, k, bias) + 2 * out;
  };
  std::int64_t total = 0;
  std::int64_t previous = config.input_channels;
  const auto stages = static_cast<std::size_t>(config.stages());
  if (config.encoder == EncoderKind::Residual) {
    total += conv_norm(previous, config.features_per_stage[0], config.kernel_sizes[0]);
    previous = config.features_per_stage[0];
  }
  for (std::size_t s = 0; s < stages; ++s) {
    const std::int64_t features = config.features_per_stage[s];
    for (int b = 0; b < config.n_conv_per_stage[s]; ++b) {
      if (config.encoder == EncoderKind::Plain) {
        total += conv_norm(previous, features, config.kernel_sizes[s]);
      } else {
        total += conv_norm(previous, features, config.kernel_sizes[s]) +
                 conv_norm(features, features, config.kernel_sizes[s]);
        if (previous != features) total += conv_norm(previous, features, Triple{1, 1, 1}, false);
      }
      previous = features;
    }
  }
  for (std::size_t j = 0; j + 1 < stages; ++j) {
    const std::size_t s = stages - 2 - j;
    const std::int64_t below = config.features_per_stage[s + 1], features = config.features_per_stage[s];
    total += below * features * volume(config.strides[s + 1]) + features;  // transposed conv
    for (int c = 0; c < config.n_conv_per_stage_decoder[j]; ++c)
      total += conv_norm(c == 0 ? 2 * features : features, features, config.kernel_sizes[s]);
    total += conv(features, config.num_classes, Triple{1, 1, 1}, true);
  }
  return total;
}

}  // namespace nnuc::nn
