// nnU-Net's trainer (spec §6.4–§6.8): the epoch loop with poly learning rate, training steps,
// validation with the online pseudo Dice and its EMA, checkpoints (best / latest / final), the logs
// and progress.png, and exact resume.
//
// Epoch e (e = current epoch .. epochs − 1):
//   lr = poly_lr(initial, e, epochs); "Epoch e", "Current learning rate: lr"
//   iterations_per_epoch × training_step on the next training batch (loss read once per step);
//     a step whose loss or gradients are not finite is skipped (the optimizer skips it on the
//     device) and logged; max_nonfinite_steps in a row stop training with TrainingDiverged
//   validation_iterations × (forward under no-grad, deep-supervision loss, pseudo-Dice counts)
//   train_loss, val_loss, Pseudo dice, Epoch time; EMA update
//   new best EMA -> "Yayy! New best EMA pseudo Dice: x", checkpoint_best.nnuc
//   checkpoint_latest.nnuc (every epoch: atomic writes keep it cheap and resume loses at most one
//     epoch; nnU-Net writes it every 50), training_log.json, progress.png
// End: checkpoint_final.nnuc, checkpoint_latest.nnuc removed (as nnU-Net does).
//
// Checkpoints hold weights, momentum buffers and optimizer counters, the epoch, the next training
// and validation iteration indices, the best EMA, the whole log, the seed and the run's init_args
// (nn/README.md, "Checkpoint format"). Batches are pure functions of (seed, iteration) (the loader
// and the augmentation are counter-based), so resuming = loading the state and starting the data
// at the saved iteration indices; a resumed run ends with the same weights as an uninterrupted one
// wherever the kernels are deterministic (the CPU for a fixed thread count).
//
// Data parallelism later: gradients pass one reduction point (reduce_gradients, between backward
// and the optimizer step; a no-op for one rank), and each rank would draw its own elements of the
// global batch (TrainerDataFactory gets the rank's share; the sampler and augmentation draw per
// global element index).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nn/loss.h"
#include "nn/optimizer.h"
#include "nn/trainer_log.h"
#include "nn/trainer_metrics.h"
#include "nn/unet.h"

namespace nnuc::nn {

// Training stopped because max_nonfinite_steps steps in a row had a non-finite loss or gradient.
class TrainingDiverged : public Error {
  using Error::Error;
};

// One batch as the network takes it.
struct TrainerBatch {
  std::uint64_t iteration = 0;  // the batch's index in its stream
  Tensor input;                 // (B, D, H, W, C_in) in the activation dtype, on the training device
  Tensor target;                // full resolution: i16 (B, D, H, W, 1) labels or u8 (B, D, H, W, R(+1)) regions
};

// The two batch streams of a run. Batch i of each stream must be a pure function of (seed, i).
class TrainerData {
 public:
  virtual ~TrainerData() = default;
  virtual TrainerBatch next_training_batch() = 0;
  virtual TrainerBatch next_validation_batch() = 0;
};

// Makes the streams of a run: training batches from `first_training_iteration`, validation batches
// from `first_validation_iteration`, drawn with `seed`.
using TrainerDataFactory = std::function<std::unique_ptr<TrainerData>(
    std::uint64_t seed, std::uint64_t first_training_iteration, std::uint64_t first_validation_iteration)>;

struct TrainerConfig {
  UNetConfig network;  // deep supervision on (the trainer turns it on)
  LossConfig loss;
  OptimizerConfig optimizer;  // SGD (lr0 1e-2, momentum 0.99, Nesterov, wd 3e-5, clip 12); epochs set from below
  int epochs = 1000;
  int iterations_per_epoch = 250;
  int validation_iterations = 50;
  std::uint64_t seed = 0;  // network initialization and every batch
  // CUDA: convolution algorithms from cuDNN's heuristics instead of timing runs (the same choice
  // every run); bit-exact runs also need a Context in deterministic mode (Context::set_deterministic,
  // which `nnuc train --deterministic` sets). The CPU kernels are deterministic for a given thread count.
  bool deterministic = false;
  DType activations = DType::f32;  // f32 on the CPU; bf16 (mixed precision) or f32 on CUDA
  std::string output_folder;       // the fold folder: RESULTS/DatasetXXX/Trainer__Plans__config/fold_k
  int max_nonfinite_steps = 5;
  std::string trainer_name = "nnUNetTrainer";
  nlohmann::json init_args = nlohmann::json::object();  // plans, configuration, fold, dataset_json, ...
  std::vector<int> inference_allowed_mirroring_axes;    // stored in checkpoints for the predictor
  nlohmann::json debug = nlohmann::json::object();      // more entries for debug.json (host, versions)
  // Test hook (tests/nn/kill_resume_test.sh): the process ends with _exit(kTestKillExitCode) at the
  // named point: "iteration:T" (after training iteration T), "epoch_end:E" (epoch E done, nothing of
  // it saved), "checkpoint_write:KIND:E" (while writing checkpoint KIND of epoch E: a truncated temp
  // file is left beside it, as a crash mid-write leaves), "after_checkpoint:KIND:E". Empty: none.
  std::string test_kill_at;
  // nnU-Net's --disable_checkpointing: no checkpoint file is written (best, latest or final); the
  // logs, progress.png and debug.json are. The trained weights stay in memory (Trainer::weights).
  bool checkpointing = true;
};

constexpr int kTestKillExitCode = 86;

struct TrainerProgress {
  enum class Phase { training, validation };
  Phase phase = Phase::training;
  int epoch = 0, epochs = 0;
  int iteration = 0, iterations = 0;  // iterations done in this phase of the epoch, of how many
  double phase_seconds = 0;           // since the phase started
};

struct TrainerCallbacks {
  std::function<void(const std::string& line)> log;  // each text-log line, timestamp included
  std::function<void(const TrainerProgress&)> progress;
};

// checkpoint_final.nnuc, checkpoint_latest.nnuc, checkpoint_best.nnuc: nnU-Net's names with nnuc's
// own file ending (the format is not a pickle).
std::string checkpoint_path(const std::string& folder, const std::string& kind);
// The checkpoint --continue loads: final, else latest, else best; nullopt when there is none.
std::optional<std::string> checkpoint_to_continue(const std::string& folder);

class Trainer {
 public:
  Trainer(const Context& ctx, TrainerConfig config, TrainerDataFactory data, TrainerCallbacks callbacks = {});
  ~Trainer();

  // Loads the full training state from a checkpoint of this run (same network). Returns the epoch
  // at which training continues.
  int load_state(const std::string& path);
  // --continue: load_state(checkpoint_to_continue(folder)) when there is one; returns its path.
  std::optional<std::string> resume();
  // Fine-tuning (nn/pretrained_weights.h): the network's weights but its segmentation heads from a
  // checkpoint of another training (nnuc's .nnuc or nnU-Net's .pth), before the first epoch. Training
  // then starts at epoch 0 with a fresh optimizer. requires: no epoch trained yet (not after a resume).
  void load_pretrained_weights(const std::string& path);

  // Trains the remaining epochs, then writes checkpoint_final and removes checkpoint_latest.
  void run();

  UNet& network() { return *network_; }
  // The network's parameters as host f32 copies, by nnuc parameter name (what a checkpoint holds):
  // for the final validation of a run without checkpoints.
  std::vector<std::pair<std::string, Tensor>> weights() const;
  SGD& optimizer() { return *optimizer_; }
  const TrainingLog& log() const { return log_; }
  int epoch() const { return epoch_; }  // epochs done
  std::optional<double> best_ema() const { return best_ema_; }
  const TrainerConfig& config() const { return config_; }

 private:
  struct EpochResult;
  void train_epoch(TrainerData& data, EpochResult& result);
  void validate_epoch(TrainerData& data, EpochResult& result);
  void finish_epoch(const EpochResult& result);
  void reduce_gradients();
  void note_nonfinite_step(double loss, std::uint64_t iteration, EpochResult& result);
  void save(const std::string& kind);
  void write_logs();
  void write_debug_json();
  std::string log_line(const std::string& text);
  void progress(TrainerProgress::Phase phase, int iteration, int iterations, double seconds);
  void test_kill(const std::string& point);

  const Context& ctx_;
  TrainerConfig config_;
  TrainerDataFactory data_factory_;
  TrainerCallbacks callbacks_;
  std::unique_ptr<UNet> network_;
  std::unique_ptr<SGD> optimizer_;
  TrainingLog log_;
  TextLog text_log_;
  int epoch_ = 0;                              // epochs done = the next epoch's index
  std::uint64_t next_training_iteration_ = 0;  // the training stream's next batch
  std::uint64_t next_validation_iteration_ = 0;
  std::optional<double> best_ema_;
  int nonfinite_streak_ = 0;
  std::int64_t skipped_seen_ = 0;  // the optimizer's skipped-step count at the last read
};

}  // namespace nnuc::nn
