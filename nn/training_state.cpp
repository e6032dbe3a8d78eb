#include "nn/training_state.h"

namespace nnuc::nn {

namespace {

nlohmann::json triples(const std::vector<Triple>& values) {
  nlohmann::json out = nlohmann::json::array();
  for (const Triple& t : values) out.push_back({t[0], t[1], t[2]});
  return out;
}

template <typename T>
T field(const nlohmann::json& json, const char* name) {
  NNUC_CHECK(json.contains(name), "network configuration: missing field '", name, "'");
  try {
    return json.at(name).get<T>();
  } catch (const nlohmann::json::exception& error) {
    NNUC_THROW(InvalidInput, "network configuration: field '", name, "' has the wrong type: ", error.what());
  }
}

void load_tensor(const Checkpoint& checkpoint, const std::string& path, const std::string& name, Tensor& target,
                 const Context& ctx) {
  const Tensor* stored = checkpoint.find(name);
  NNUC_CHECK(stored != nullptr, path, ": checkpoint has no tensor '", name, "'");
  NNUC_CHECK(stored->shape() == target.shape() && stored->dtype() == target.dtype(), path, ": tensor '", name, "' is ",
             stored->describe(), " but the network expects ", target.describe());
  target.copy_from(*stored, ctx);
}

}  // namespace

nlohmann::json to_json(const UNetConfig& config) {
  return {{"encoder", config.encoder == EncoderKind::Plain ? "PlainConvUNet" : "ResidualEncoderUNet"},
          {"input_channels", config.input_channels},
          {"num_classes", config.num_classes},
          {"features_per_stage", config.features_per_stage},
          {"kernel_sizes", triples(config.kernel_sizes)},
          {"strides", triples(config.strides)},
          {"n_conv_per_stage", config.n_conv_per_stage},
          {"n_conv_per_stage_decoder", config.n_conv_per_stage_decoder},
          {"deep_supervision", config.deep_supervision}};
}

UNetConfig unet_config_from_json(const nlohmann::json& json) {
  NNUC_CHECK(json.is_object(), "network configuration must be a JSON object");
  UNetConfig config;
  const auto encoder = field<std::string>(json, "encoder");
  NNUC_CHECK(encoder == "PlainConvUNet" || encoder == "ResidualEncoderUNet", "network configuration: encoder '",
             encoder, "' is not PlainConvUNet or ResidualEncoderUNet");
  config.encoder = encoder == "PlainConvUNet" ? EncoderKind::Plain : EncoderKind::Residual;
  config.input_channels = field<int>(json, "input_channels");
  config.num_classes = field<int>(json, "num_classes");
  config.features_per_stage = field<std::vector<int>>(json, "features_per_stage");
  for (const auto& k : field<std::vector<std::vector<int>>>(json, "kernel_sizes")) {
    NNUC_CHECK(k.size() == 3, "network configuration: kernel_sizes entries have 3 values, got ", k.size());
    config.kernel_sizes.push_back({k[0], k[1], k[2]});
  }
  for (const auto& s : field<std::vector<std::vector<int>>>(json, "strides")) {
    NNUC_CHECK(s.size() == 3, "network configuration: strides entries have 3 values, got ", s.size());
    config.strides.push_back({s[0], s[1], s[2]});
  }
  config.n_conv_per_stage = field<std::vector<int>>(json, "n_conv_per_stage");
  config.n_conv_per_stage_decoder = field<std::vector<int>>(json, "n_conv_per_stage_decoder");
  config.deep_supervision = field<bool>(json, "deep_supervision");
  config.validate();
  return config;
}

Checkpoint capture_checkpoint(UNet& network, SGD& optimizer, const TrainingState& state) {
  Checkpoint checkpoint;
  checkpoint.metadata["network"] = to_json(network.config());
  checkpoint.metadata["epoch"] = state.epoch;
  checkpoint.metadata["rng_states"] = state.rng_states;
  checkpoint.metadata["log"] = state.log;
  checkpoint.metadata["optimizer"] = {{"steps", optimizer.steps()},
                                      {"skipped_steps", optimizer.skipped_steps()},
                                      {"initial_lr", optimizer.config().initial_lr},
                                      {"momentum", optimizer.config().momentum},
                                      {"weight_decay", optimizer.config().weight_decay},
                                      {"nesterov", optimizer.config().nesterov}};
  for (const NamedParameter& parameter : network.parameters())
    checkpoint.tensors.emplace_back(parameter.name, parameter.var->value());
  for (const auto& [name, buffer] : optimizer.state()) checkpoint.tensors.emplace_back(name, *buffer);
  return checkpoint;
}

TrainingState restore_checkpoint(const Checkpoint& checkpoint, const std::string& path, const Context& ctx,
                                 UNet& network, SGD& optimizer) {
  NNUC_CHECK(checkpoint.metadata.contains("network"), path, ": checkpoint has no network configuration");
  UNetConfig stored;
  try {
    stored = unet_config_from_json(checkpoint.metadata["network"]);
  } catch (const InvalidInput& error) {
    NNUC_THROW(InvalidInput, path, ": ", error.what());
  }
  nlohmann::json expected = to_json(network.config()), found = to_json(stored);
  expected.erase("deep_supervision");
  found.erase("deep_supervision");
  NNUC_CHECK(expected == found, path, ": checkpoint was trained for network ", found.dump(), " but the plans give ",
             expected.dump());
  for (const NamedParameter& parameter : network.parameters()) {
    Tensor value = parameter.var->value();
    load_tensor(checkpoint, path, parameter.name, value, ctx);
  }
  for (const auto& [name, buffer] : optimizer.state()) load_tensor(checkpoint, path, name, *buffer, ctx);
  TrainingState state;
  try {
    state.epoch = checkpoint.metadata.at("epoch").get<int>();
    state.rng_states = checkpoint.metadata.value("rng_states", std::map<std::string, std::string>{});
    state.log = checkpoint.metadata.value("log", nlohmann::json::object());
    const auto& opt = checkpoint.metadata.at("optimizer");
    optimizer.set_counters(opt.at("steps").get<std::int64_t>(), opt.at("skipped_steps").get<std::int64_t>());
  } catch (const nlohmann::json::exception& error) {
    NNUC_THROW(InvalidInput, path, ": malformed checkpoint metadata: ", error.what());
  }
  return state;
}

}  // namespace nnuc::nn
