// The training state as a checkpoint: network configuration, weights, optimizer state (momentum
// buffers, step counters), epoch, RNG states and the training log (nn/checkpoint.h has the format).
#pragma once

#include <map>
#include <string>

#include "nn/checkpoint.h"
#include "nn/optimizer.h"
#include "nn/unet.h"

namespace nnuc::nn {

nlohmann::json to_json(const UNetConfig& config);
// Throws InvalidInput naming the field when `json` is not a valid configuration.
UNetConfig unet_config_from_json(const nlohmann::json& json);

struct TrainingState {
  int epoch = 0;
  std::map<std::string, std::string> rng_states;  // name -> engine state (operator<< text)
  nlohmann::json log = nlohmann::json::object();  // per-epoch losses, pseudo Dice, learning rates, timings
};

Checkpoint capture_checkpoint(UNet& network, SGD& optimizer, const TrainingState& state);

// Loads weights and optimizer state into `network` and `optimizer` (on their device) and returns
// the rest. Throws InvalidInput naming `path` and the problem when the checkpoint's configuration
// differs from the network's, or a tensor is missing or has another shape or dtype.
TrainingState restore_checkpoint(const Checkpoint& checkpoint, const std::string& path, const Context& ctx,
                                 UNet& network, SGD& optimizer);

}  // namespace nnuc::nn
