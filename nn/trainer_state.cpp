// The trainer's state on disk: checkpoints (save, load, which one --continue takes), debug.json and
// the kill-point test hook.
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <thread>

#include "data/dataset/atomic_file.h"
#include "nn/checkpoint.h"
#include "nn/pretrained_weights.h"
#include "nn/trainer.h"
#include "nn/training_state.h"

namespace nnuc::nn {

namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& folder, const std::string& kind) {
  NNUC_CHECK(kind == "final" || kind == "latest" || kind == "best", "checkpoint kind '", kind,
             "': expected final, latest or best");
  return (fs::path(folder) / ("checkpoint_" + kind + ".nnuc")).string();
}

std::optional<std::string> checkpoint_to_continue(const std::string& folder) {
  for (const char* kind : {"final", "latest", "best"}) {
    const std::string path = checkpoint_path(folder, kind);
    if (fs::is_regular_file(path)) return path;
  }
  return std::nullopt;
}

namespace {

nlohmann::json loss_to_json(const LossConfig& loss) {
  return {{"regions", loss.regions},
          {"ignore_label", loss.ignore_label},
          {"region_ignore", loss.region_ignore == RegionIgnore::last_target_channel ? "last_target_channel" : "none"},
          {"batch_dice", loss.batch_dice}};
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

template <typename T>
T metadata_field(const nlohmann::json& object, const char* key, const std::string& path) {
  NNUC_CHECK(object.contains(key), path, ": checkpoint metadata has no trainer field '", key, "'");
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception& error) {
    NNUC_THROW(InvalidInput, path, ": checkpoint trainer field '", key, "' has the wrong type: ", error.what());
  }
}

}  // namespace

void Trainer::test_kill(const std::string& point) {
  if (config_.test_kill_at.empty() || config_.test_kill_at != point) return;
  ::_exit(kTestKillExitCode);  // a test hook: end like a killed process, no unwinding, no flushing
}

std::vector<std::pair<std::string, Tensor>> Trainer::weights() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const NamedParameter& parameter : network_->parameters()) {
    out.emplace_back(parameter.name, parameter.var->value().to_cpu());
  }
  return out;
}

void Trainer::save(const std::string& kind) {
  if (!config_.checkpointing) {
    log_line("No checkpoint written, checkpointing is disabled");
    return;
  }
  const std::string path = checkpoint_path(config_.output_folder, kind);
  TrainingState state;
  state.epoch = epoch_;
  state.log = to_json(log_);
  Checkpoint checkpoint = capture_checkpoint(*network_, *optimizer_, state);
  checkpoint.metadata["trainer_name"] = config_.trainer_name;
  checkpoint.metadata["init_args"] = config_.init_args;
  checkpoint.metadata["inference_allowed_mirroring_axes"] = config_.inference_allowed_mirroring_axes;
  checkpoint.metadata["trainer"] = {
      {"current_epoch", epoch_},
      {"next_training_iteration", next_training_iteration_},
      {"next_validation_iteration", next_validation_iteration_},
      {"has_best_ema", best_ema_.has_value()},
      {"best_ema", best_ema_ && !std::isnan(*best_ema_) ? nlohmann::json(*best_ema_) : nlohmann::json(nullptr)},
      {"seed", config_.seed},
      {"nonfinite_streak", nonfinite_streak_},
      {"epochs", config_.epochs},
      {"iterations_per_epoch", config_.iterations_per_epoch},
      {"validation_iterations", config_.validation_iterations},
      {"activations", dtype_name(config_.activations)},
      {"loss", loss_to_json(config_.loss)}};
  const std::string epoch = std::to_string(epoch_ - 1);
  if (config_.test_kill_at == "checkpoint_write:" + kind + ":" + epoch) {
    // A crash in the middle of the write: the real atomic write of the checkpoint's bytes, ended
    // after half of them.
    const std::string scratch = (fs::path(config_.output_folder) / ".kill_test_scratch.nnuc").string();
    save_checkpoint(scratch, checkpoint);
    const std::string bytes = data::read_file_text(scratch);
    fs::remove(scratch);
    data::write_file_atomic(path, [&](int fd, const std::string&) {
      data::write_all(fd, bytes.data(), bytes.size() / 2, path);
      test_kill(config_.test_kill_at);
    });
  }
  save_checkpoint(path, checkpoint);
  test_kill("after_checkpoint:" + kind + ":" + epoch);
}

int Trainer::load_state(const std::string& path) {
  const Checkpoint checkpoint = load_checkpoint(path);
  const TrainingState state = restore_checkpoint(checkpoint, path, ctx_, *network_, *optimizer_);
  NNUC_CHECK(checkpoint.metadata.contains("trainer") && checkpoint.metadata.at("trainer").is_object(), path,
             ": the checkpoint has no trainer state (was it written by nnuc train?)");
  const nlohmann::json& trainer = checkpoint.metadata.at("trainer");
  log_ = training_log_from_json(state.log, path);
  epoch_ = state.epoch;
  NNUC_CHECK(epoch_ >= 0 && log_.epochs() == static_cast<std::size_t>(epoch_), path, ": the checkpoint is at epoch ",
             epoch_, " but its log holds ", log_.epochs(), " epochs");
  next_training_iteration_ = metadata_field<std::uint64_t>(trainer, "next_training_iteration", path);
  next_validation_iteration_ = metadata_field<std::uint64_t>(trainer, "next_validation_iteration", path);
  nonfinite_streak_ = metadata_field<int>(trainer, "nonfinite_streak", path);
  best_ema_.reset();
  if (metadata_field<bool>(trainer, "has_best_ema", path)) {
    const nlohmann::json& best = trainer.at("best_ema");
    best_ema_ = best.is_null() ? std::nan("") : best.get<double>();
  }
  const auto seed = metadata_field<std::uint64_t>(trainer, "seed", path);
  const auto activations = metadata_field<std::string>(trainer, "activations", path);
  NNUC_CHECK(trainer.contains("loss") && trainer.at("loss") == loss_to_json(config_.loss), path,
             ": the checkpoint was trained with loss ", trainer.value("loss", nlohmann::json()).dump(),
             ", this run's is ", loss_to_json(config_.loss).dump());
  config_.seed = seed;  // batches continue the checkpoint's streams
  skipped_seen_ = optimizer_->skipped_steps();
  log_line("Continuing from " + path + ": epoch " + std::to_string(epoch_) + ", training iteration " +
           std::to_string(next_training_iteration_) + ", validation iteration " +
           std::to_string(next_validation_iteration_) + ", seed " + std::to_string(seed));
  if (activations != dtype_name(config_.activations))
    log_line("Note: the checkpoint was trained with " + activations + " activations, training continues with " +
             dtype_name(config_.activations) + " (weights and optimizer state are f32 in both)");
  return epoch_;
}

void Trainer::load_pretrained_weights(const std::string& path) {
  NNUC_CHECK(epoch_ == 0, path,
             ": pretrained weights initialize a training that has not started; this one is at epoch ", epoch_,
             " (a run continued from a checkpoint keeps its own weights)");
  const int copied = nn::load_pretrained_weights(*network_, path);
  log_line("Pretrained weights from " + path + ": " + std::to_string(copied) +
           " parameter tensors copied; the segmentation heads keep their initialization");
}

std::optional<std::string> Trainer::resume() {
  std::optional<std::string> path = checkpoint_to_continue(config_.output_folder);
  if (path) load_state(*path);
  return path;
}

void Trainer::write_debug_json() {
  nlohmann::json debug = {
      {"trainer_name", config_.trainer_name},
      {"network", to_json(config_.network)},
      {"loss", loss_to_json(config_.loss)},
      {"optimizer",
       {{"initial_lr", config_.optimizer.initial_lr},
        {"momentum", config_.optimizer.momentum},
        {"weight_decay", config_.optimizer.weight_decay},
        {"nesterov", config_.optimizer.nesterov},
        {"max_grad_norm", config_.optimizer.max_grad_norm},
        {"poly_exponent", config_.optimizer.poly_exponent}}},
      {"epochs", config_.epochs},
      {"iterations_per_epoch", config_.iterations_per_epoch},
      {"validation_iterations", config_.validation_iterations},
      {"seed", config_.seed},
      {"deterministic", config_.deterministic},
      {"device", device_name(ctx_.device())},
      {"activations", dtype_name(config_.activations)},
      {"mixed_precision",
       config_.activations == DType::bf16 ? "bf16 activations, f32 master weights, no loss scaler" : "off"},
      {"max_nonfinite_steps", config_.max_nonfinite_steps},
      {"parameters", network_->parameter_count()},
      {"inference_allowed_mirroring_axes", config_.inference_allowed_mirroring_axes},
      {"init_args", config_.init_args},
      {"hostname", host_name()},
      {"hardware_threads", std::thread::hardware_concurrency()},
      {"output_folder", config_.output_folder},
      {"started", static_cast<std::int64_t>(std::time(nullptr))}};
  for (const auto& [key, value] : config_.debug.items()) debug[key] = value;
  data::write_file_atomic((fs::path(config_.output_folder) / "debug.json").string(), debug.dump(2) + "\n");
}

}  // namespace nnuc::nn
