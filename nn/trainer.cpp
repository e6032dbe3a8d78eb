// The epoch loop of nn/trainer.h. Checkpoints, resume and the test hook are in trainer_state.cpp.
#include "nn/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "data/dataset/atomic_file.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/reduce.h"
#include "nn/progress_plot.h"
#include "nn/training_step.h"

namespace nnuc::nn {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The first parameter (in module order) whose gradient, or else whose value, holds a NaN or Inf:
// the search runs only when training is about to stop.
std::string first_nonfinite_tensor(const Context& ctx, UNet& network) {
  for (const char* what : {"gradient", "value"}) {
    for (const NamedParameter& parameter : network.parameters()) {
      const Tensor& tensor = std::string(what) == "gradient" ? parameter.var->grad() : parameter.var->value();
      if (!tensor.defined()) continue;
      if (any_nonfinite(ctx, {tensor}).to_vector<double>()[0] != 0.0)
        return std::string("the ") + what + " of '" + parameter.name + "' (" + tensor.describe() + ")";
    }
  }
  return "no parameter or gradient: the loss itself";
}

}  // namespace

struct Trainer::EpochResult {
  int epoch = 0;
  double lr = 0;
  double start_timestamp = 0;
  double train_loss_sum = 0;
  int train_losses = 0;
  std::int64_t skipped = 0;
  double val_loss_sum = 0;
  int val_losses = 0;
  PseudoDiceCounts counts;
};

Trainer::Trainer(const Context& ctx, TrainerConfig config, TrainerDataFactory data, TrainerCallbacks callbacks)
    : ctx_(ctx), config_(std::move(config)), data_factory_(std::move(data)), callbacks_(std::move(callbacks)) {
  NNUC_CHECK(ctx_.device() == Device::CPU || ctx_.device() == Device::CUDA, "Trainer: trains on the CPU or CUDA, not ",
             device_name(ctx_.device()));
  NNUC_CHECK(config_.epochs >= 1, "Trainer: epochs = ", config_.epochs, ", expected >= 1");
  NNUC_CHECK(config_.iterations_per_epoch >= 1, "Trainer: iterations per epoch = ", config_.iterations_per_epoch,
             ", expected >= 1");
  NNUC_CHECK(config_.validation_iterations >= 0, "Trainer: validation iterations = ", config_.validation_iterations,
             ", expected >= 0");
  NNUC_CHECK(config_.max_nonfinite_steps >= 1, "Trainer: max non-finite steps = ", config_.max_nonfinite_steps,
             ", expected >= 1");
  NNUC_CHECK(!config_.output_folder.empty(), "Trainer: no output folder");
  NNUC_CHECK(data_factory_ != nullptr, "Trainer: no data");
  const bool cuda = ctx_.device() == Device::CUDA;
  NNUC_CHECK(config_.activations == DType::f32 || (cuda && config_.activations == DType::bf16) ||
                 (!cuda && config_.activations == DType::f64),
             "Trainer: activations in ", dtype_name(config_.activations), " on ", device_name(ctx_.device()),
             "; expected f32 (CPU, CUDA) or bf16 (CUDA)");
  config_.network.deep_supervision = true;
  config_.network.validate();
  config_.optimizer.epochs = config_.epochs;
  // Deterministic mode on CUDA belongs to the Context (Context::set_deterministic: only deterministic
  // cuDNN algorithms, chosen by heuristics); `nnuc train --deterministic` sets it. A Context not in
  // that mode still gets the heuristic choice, so the algorithms at least stay the same across runs.
  if (config_.deterministic && cuda && !ctx_.deterministic()) ctx_.conv_plans().benchmark = false;
  std::filesystem::create_directories(config_.output_folder);
  const DType parameters = config_.activations == DType::f64 ? DType::f64 : DType::f32;
  network_ = std::make_unique<UNet>(ctx_, config_.network, parameters, config_.seed);
  optimizer_ = std::make_unique<SGD>(ctx_, network_->parameters(), config_.optimizer);
}

Trainer::~Trainer() = default;

std::string Trainer::log_line(const std::string& text) {
  if (text_log_.path().empty()) text_log_.open(config_.output_folder, std::time(nullptr));
  const std::string line = text_log_.write(text);
  if (callbacks_.log) callbacks_.log(line);
  return line;
}

void Trainer::progress(TrainerProgress::Phase phase, int iteration, int iterations, double seconds) {
  if (!callbacks_.progress) return;
  TrainerProgress report;
  report.phase = phase;
  report.epoch = epoch_;
  report.epochs = config_.epochs;
  report.iteration = iteration;
  report.iterations = iterations;
  report.phase_seconds = seconds;
  callbacks_.progress(report);
}

// Data parallelism: the one place where gradients would be all-reduced (averaged) across ranks,
// after backward and before clipping and the update. One rank: nothing to do.
void Trainer::reduce_gradients() {}

void Trainer::note_nonfinite_step(double loss, std::uint64_t iteration, EpochResult& result) {
  ++nonfinite_streak_;
  ++result.skipped;
  const std::string reason = std::isfinite(loss) ? "non-finite gradients (loss " + python_round(loss, 4) + ")"
                                                 : "non-finite loss (" + python_round(loss, 4) + ")";
  log_line("Training iteration " + std::to_string(iteration) + " skipped: " + reason + "; " +
           std::to_string(nonfinite_streak_) + " in a row (training stops at " +
           std::to_string(config_.max_nonfinite_steps) + ")");
  if (nonfinite_streak_ < config_.max_nonfinite_steps) return;
  const std::string message =
      "training stopped in epoch " + std::to_string(result.epoch) + ": " + std::to_string(nonfinite_streak_) +
      " training steps in a row had a non-finite loss or gradient (iterations " +
      std::to_string(iteration + 1 - static_cast<std::uint64_t>(nonfinite_streak_)) + " to " +
      std::to_string(iteration) + "); first non-finite tensor: " + first_nonfinite_tensor(ctx_, *network_);
  log_line(message);
  NNUC_THROW(TrainingDiverged, message);
}

void Trainer::train_epoch(TrainerData& data, EpochResult& result) {
  NNUC_RANGE("train_epoch");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < config_.iterations_per_epoch; ++i) {
    const TrainerBatch batch = data.next_training_batch();
    NNUC_CHECK(batch.iteration == next_training_iteration_, "Trainer: the training data gave batch ", batch.iteration,
               ", expected ", next_training_iteration_);
    const StepOutcome outcome = training_step(ctx_, *network_, *optimizer_, batch.input, batch.target, config_.loss,
                                              result.lr, [&](const char* phase) {
                                                if (std::string(phase) == "backward") reduce_gradients();
                                              });
    // One host sync per step: the loss, and the optimizer's on-device count of skipped steps. A
    // non-finite loss makes the gradients non-finite too, so the optimizer skipped that step.
    const double loss = outcome.loss.value().to_vector<double>()[0];
    const std::int64_t skipped = optimizer_->skipped_steps();
    const bool step_skipped = skipped > skipped_seen_;
    skipped_seen_ = skipped;
    if (step_skipped || !std::isfinite(loss)) {
      note_nonfinite_step(loss, next_training_iteration_, result);
    } else {
      nonfinite_streak_ = 0;
      result.train_loss_sum += loss;
      ++result.train_losses;
    }
    const std::uint64_t done = next_training_iteration_++;
    test_kill("iteration:" + std::to_string(done));
    progress(TrainerProgress::Phase::training, i + 1, config_.iterations_per_epoch, seconds_since(start));
  }
}

void Trainer::validate_epoch(TrainerData& data, EpochResult& result) {
  NNUC_RANGE("validate_epoch");
  const auto start = std::chrono::steady_clock::now();
  Tape tape(ctx_);
  autograd::NoGradGuard no_grad(tape);
  for (int j = 0; j < config_.validation_iterations; ++j) {
    const TrainerBatch batch = data.next_validation_batch();
    NNUC_CHECK(batch.iteration == next_validation_iteration_, "Trainer: the validation data gave batch ",
               batch.iteration, ", expected ", next_validation_iteration_);
    const std::vector<Var> outputs = network_->forward(tape, Var(batch.input, false));
    std::vector<Shape> shapes;
    for (const Var& output : outputs) shapes.push_back(output.shape());
    const std::vector<Tensor> targets = deep_supervision_targets(ctx_, batch.target, shapes);
    const Var loss = deep_supervision_loss(tape, outputs, targets, config_.loss);
    result.val_loss_sum += loss.value().to_vector<double>()[0];
    ++result.val_losses;
    result.counts.add(pseudo_dice_counts(ctx_, outputs.front().value(), batch.target, config_.loss));
    ++next_validation_iteration_;
    progress(TrainerProgress::Phase::validation, j + 1, config_.validation_iterations, seconds_since(start));
  }
}

void Trainer::finish_epoch(const EpochResult& result) {
  const double nan = std::nan("");
  const std::vector<double> dice = dice_per_class(result.counts);
  const double mean = nanmean(dice);
  const double ema = ema_pseudo_dice(log_.last_ema(), mean);
  const double train_loss = result.train_losses ? result.train_loss_sum / result.train_losses : nan;
  const double val_loss = result.val_losses ? result.val_loss_sum / result.val_losses : nan;
  log_.train_losses.push_back(train_loss);
  log_.val_losses.push_back(val_loss);
  log_.lrs.push_back(result.lr);
  log_.dice_per_class_or_region.push_back(dice);
  log_.mean_fg_dice.push_back(mean);
  log_.ema_fg_dice.push_back(ema);
  log_.skipped_steps.push_back(result.skipped);
  log_.epoch_start_timestamps.push_back(result.start_timestamp);
  log_.epoch_end_timestamps.push_back(now_seconds());
  log_line("train_loss " + python_round(train_loss, 4));
  log_line("val_loss " + python_round(val_loss, 4));
  log_line("Pseudo dice " + python_round_list(dice, 4));
  log_line("Epoch time: " + python_round(log_.epoch_end_timestamps.back() - result.start_timestamp, 2) + " s");
  if (result.skipped > 0) log_line("Skipped training steps (non-finite): " + std::to_string(result.skipped));
  epoch_ = result.epoch + 1;
  test_kill("epoch_end:" + std::to_string(result.epoch));
  // best before latest: a crash between the two leaves latest one epoch behind, and the epoch that
  // is trained again finds the same new best and writes it again.
  if (!best_ema_ || ema > *best_ema_) {
    best_ema_ = ema;
    log_line("Yayy! New best EMA pseudo Dice: " + python_round(ema, 4));
    save("best");
  }
  save("latest");
  write_logs();
}

void Trainer::write_logs() {
  data::write_file_atomic((std::filesystem::path(config_.output_folder) / "training_log.json").string(),
                          to_json(log_).dump(2) + "\n");
  draw_progress_png(log_, (std::filesystem::path(config_.output_folder) / "progress.png").string());
}

void Trainer::run() {
  NNUC_RANGE("Trainer::run");
  write_debug_json();
  if (epoch_ >= config_.epochs) {
    log_line("Training already finished (" + std::to_string(epoch_) + " of " + std::to_string(config_.epochs) +
             " epochs)");
  } else {
    log_line("Training " + std::to_string(config_.epochs) + " epochs of " +
             std::to_string(config_.iterations_per_epoch) + " iterations (" +
             std::to_string(config_.validation_iterations) + " validation iterations) from epoch " +
             std::to_string(epoch_) + " on " + device_name(ctx_.device()) + " with " + dtype_name(config_.activations) +
             " activations, seed " + std::to_string(config_.seed));
    std::unique_ptr<TrainerData> data =
        data_factory_(config_.seed, next_training_iteration_, next_validation_iteration_);
    NNUC_CHECK(data != nullptr, "Trainer: the data factory returned no data");
    skipped_seen_ = optimizer_->skipped_steps();
    while (epoch_ < config_.epochs) {
      EpochResult result;
      result.epoch = epoch_;
      result.start_timestamp = now_seconds();
      result.lr = poly_lr(config_.optimizer.initial_lr, epoch_, config_.epochs, config_.optimizer.poly_exponent);
      log_line("");
      log_line("Epoch " + std::to_string(epoch_));
      log_line("Current learning rate: " + python_round(result.lr, 5));
      train_epoch(*data, result);
      validate_epoch(*data, result);
      finish_epoch(result);
    }
  }
  save("final");
  std::filesystem::remove(checkpoint_path(config_.output_folder, "latest"));
  write_logs();
  log_line("Training done.");
}

}  // namespace nnuc::nn
