// `nnuc train`: nnU-Net's nnUNetv2_train. Reads the plans and the preprocessed cases
// (planner/plans_read_training.h), trains one fold with nn::Trainer and prints its log: log lines on
// stdout, a live progress line (iteration rate, ETA) on stderr when stderr is a terminal.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "kernels/core/context.h"
#include "nn/trainer.h"
#include "planner/final_validation.h"
#include "planner/plans_read_training.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

namespace {

// The live progress line: iterations per second of the running phase and the run's remaining time.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}

  void update(const nn::TrainerProgress& p, int iterations_per_epoch, int validation_iterations) {
    if (!enabled_) return;
    const bool training = p.phase == nn::TrainerProgress::Phase::training;
    const double rate = p.phase_seconds > 0 ? p.iteration / p.phase_seconds : 0;
    if (training) train_rate_ = rate;
    if (!training) validation_rate_ = rate;
    const double remaining_epochs = p.epochs - p.epoch - 1;
    double seconds = 0;
    if (train_rate_ > 0)
      seconds +=
          ((training ? iterations_per_epoch - p.iteration : 0) + remaining_epochs * iterations_per_epoch) / train_rate_;
    if (validation_rate_ > 0)
      seconds +=
          ((training ? validation_iterations : p.iterations - p.iteration) + remaining_epochs * validation_iterations) /
          validation_rate_;
    const auto s = static_cast<long long>(seconds);
    std::fprintf(stderr, "\r\033[Kepoch %d/%d %s %d/%d  %.2f it/s  ETA %lld:%02lld:%02lld", p.epoch, p.epochs,
                 training ? "train" : "val", p.iteration, p.iterations, rate, s / 3600, s / 60 % 60, s % 60);
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  double train_rate_ = 0, validation_rate_ = 0;
};

// -tr: nnUNetTrainer, or one of nnU-Net's epoch-count variants nnUNetTrainer_<N>epochs.
int epochs_of_trainer(const std::string& trainer) {
  if (trainer == "nnUNetTrainer") return 1000;
  std::smatch match;
  static const std::regex variant("nnUNetTrainer_([0-9]{1,6})epochs");
  NNUC_CHECK(std::regex_match(trainer, match, variant), "nnuc train: -tr ", trainer,
             ": nnuc has nnUNetTrainer and its epoch-count variants nnUNetTrainer_<N>epochs");
  const int epochs = std::stoi(match[1].str());
  NNUC_CHECK(epochs >= 1, "nnuc train: -tr ", trainer, ": at least one epoch");
  return epochs;
}

std::string command_line(int argc, char** argv) {
  std::string text = "nnuc train";
  for (int i = 0; i < argc; ++i) text += std::string(" ") + argv[i];
  return text;
}

}  // namespace

int run_train(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string preprocessed, plans_or_folder = "nnUNetPlans", configuration, fold, results, trainer = "nnUNetTrainer";
  std::string device = cuda_available() ? "cuda" : "cpu", activations, pretrained_weights;
  int epochs = 0, iterations = 250, validation_iterations = 50, workers = 2, num_gpus = 1;
  std::uint64_t seed = 0;
  bool resume = false, resume_nnunet = false, deterministic = false, quiet = false;
  bool validation_only = false, validation_best = false, npz = false, skip_validation = false;
  bool no_checkpoints = false, use_compressed = false;
  CommandLine cli("train",
                  "nnuc train -i PREPROCESSED_DIR -c CONFIGURATION -f FOLD -o RESULTS_DIR [options]\n"
                  "       nnuc train DATASET CONFIGURATION FOLD [options]   ($nnUNet_preprocessed, $nnUNet_results)",
                  "nnU-Net's nnUNetv2_train: trains one fold of a configuration from the plans and preprocessed\n"
                  "cases that nnuc plan wrote (1000 epochs of 250 iterations by default), with online validation\n"
                  "(pseudo Dice), checkpoints and logs in RESULTS_DIR/DatasetXXX_Name/<trainer>__<plans>__<config>/\n"
                  "fold_<FOLD>/: checkpoint_{final,best,latest}.nnuc, training_log_*.txt, training_log.json,\n"
                  "progress.png, debug.json.\n");
  cli.option("ARGS", positional, "DATASET CONFIGURATION FOLD (DATASET: 4, 004 or Dataset004_Name)")
      ->type_name("")
      ->expected(0, 3);
  cli.option("-i,--preprocessed", preprocessed, "the preprocessed dataset folder (PREPROCESSED/DatasetXXX_Name)")
      ->type_name("DIR");
  cli.option("-c", configuration, "configuration: 2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres or custom")
      ->type_name("CONFIG");
  cli.option("-f", fold, "fold: 0..4 (splits_final.json), all, or >= 5 (random 80:20 split)")->type_name("FOLD");
  cli.option("-o", results, "the results root (default: $nnUNet_results)")->type_name("DIR");
  cli.option("-p,--plans", plans_or_folder,
             "plans name (default nnUNetPlans); a folder holding dataset.json is taken as the\n"
             "preprocessed dataset folder (-i)")
      ->type_name("NAME");
  cli.option("-tr", trainer, "nnUNetTrainer (default) or nnUNetTrainer_<N>epochs")->type_name("TRAINER");
  cli.option("-device", device, "cpu or cuda (default: cuda when a device is present); --device works too")
      ->type_name("D")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cli.option("--activations", activations, "bf16 (default on CUDA: mixed precision) or f32 (CPU: f32 only)")
      ->type_name("T")
      ->check(CLI::IsMember({"bf16", "f32"}));
  cli.option("--epochs", epochs, "epochs (default 1000, or the -tr variant's)")
      ->type_name("N")
      ->check(in_range(1, 1000000));
  cli.option("--iters-per-epoch", iterations, "training iterations per epoch (default 250)")
      ->type_name("N")
      ->check(in_range(1, 1000000));
  cli.option("--val-iters", validation_iterations, "validation iterations per epoch (default 50)")
      ->type_name("N")
      ->check(in_range(0, 1000000));
  cli.flag("--continue", resume, "continue from checkpoint_final, else _latest, else _best of the fold");
  cli.flag("--c", resume_nnunet, "nnU-Net's spelling of --continue");
  cli.option("-pretrained_weights,--pretrained-weights", pretrained_weights,
             "fine-tuning: initialize the network from this checkpoint (nnuc's .nnuc or nnU-Net's .pth) except\n"
             "its segmentation heads; the plans must have the same topology (nnuc move-plans). Not with --continue")
      ->type_name("FILE");
  cli.option("--seed", seed, "seed of the network initialization and of every batch (default 0)")->type_name("N");
  cli.flag("--deterministic", deterministic,
           "CUDA: only cuDNN algorithms that cuDNN reports deterministic, chosen by its heuristics\n"
           "instead of timing runs (the CPU is deterministic for a fixed OMP_NUM_THREADS in any case)");
  cli.option("--workers", workers, "batch-loading threads per stream (default 2)")
      ->type_name("N")
      ->check(in_range(1, 64));
  cli.flag("--val", validation_only, "only the final validation, with the fold's checkpoint_final");
  cli.flag("--val_best", validation_best, "final validation with checkpoint_best instead of checkpoint_final");
  cli.flag("--npz", npz, "final validation also writes probabilities (validation/CASE.npz + CASE.json) for ensembling");
  cli.flag("--no-final-validation", skip_validation, "skip the final validation after training");
  cli.flag("--disable_checkpointing,--disable-checkpointing", no_checkpoints,
           "write no checkpoint (best, latest or final); the final validation uses the trained weights in\n"
           "memory. For trying things out; such a run can be neither continued nor used by nnuc predict");
  cli.option("-num_gpus", num_gpus, "GPUs for this fold (nnuc: 1; train folds in parallel on several GPUs instead)")
      ->type_name("N")
      ->check(in_range(1, 1024));
  cli.flag("--use_compressed", use_compressed,
           "accepted for nnU-Net's scripts: nnuc's preprocessed cases are never compressed (memory-mapped as stored)");
  cli.flag("-q,--quiet", quiet, "no log lines on stdout (the log files are written all the same)");
  cli.exit_codes("trained", "runtime failure (unreadable data, training diverged, ...)");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  NNUC_CHECK(num_gpus == 1, "nnuc train: -num_gpus ", num_gpus,
             ": nnuc trains a fold on one GPU (no distributed data parallel); to use several GPUs, train folds in "
             "parallel, one per GPU (CUDA_VISIBLE_DEVICES=K nnuc train ...)");
  NNUC_CHECK(!(no_checkpoints && validation_best && !validation_only),
             "nnuc train: --val_best validates with checkpoint_best, which --disable_checkpointing does not write");
  NNUC_CHECK(
      pretrained_weights.empty() || !(resume || resume_nnunet),
      "nnuc train: -pretrained_weights and --continue exclude each other (a continued run keeps its own weights)");
  planner::TrainingSetupOptions options;
  options.plans_name = plans_or_folder;
  if (std::filesystem::is_regular_file(std::filesystem::path(plans_or_folder) / "dataset.json")) {
    NNUC_CHECK(preprocessed.empty(), "nnuc train: -p ", plans_or_folder, " is a dataset folder and so is -i ",
               preprocessed, "; give one");
    preprocessed = plans_or_folder;
    options.plans_name = "nnUNetPlans";
  }
  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  if (!positional.empty()) {
    NNUC_CHECK(positional.size() == 3, "nnuc train: expected DATASET CONFIGURATION FOLD, got ", positional.size(),
               " positional arguments (see nnuc train --help)");
    NNUC_CHECK(preprocessed.empty() && configuration.empty() && fold.empty(),
               "nnuc train: give DATASET CONFIGURATION FOLD or -i/-c/-f, not both");
    NNUC_CHECK(!roots.preprocessed.empty(), "nnuc train: DATASET needs $nnUNet_preprocessed (or use -i DIR)");
    preprocessed =
        (std::filesystem::path(roots.preprocessed) / data::dataset_name_from_id_or_name(positional[0], roots)).string();
    configuration = positional[1];
    fold = positional[2];
  }
  NNUC_CHECK(!preprocessed.empty() && !configuration.empty() && !fold.empty(),
             "nnuc train: expected -i PREPROCESSED_DIR -c CONFIGURATION -f FOLD, or DATASET CONFIGURATION FOLD");
  if (results.empty()) results = roots.results;
  NNUC_CHECK(!results.empty(), "nnuc train: no results folder: give -o RESULTS_DIR or set $nnUNet_results");
  options.preprocessed_folder = preprocessed;
  options.configuration = configuration;
  options.fold = fold;
  options.results_root = results;
  options.trainer_name = trainer;
  const int trainer_epochs = epochs_of_trainer(trainer);

  std::unique_ptr<Context> cuda;
  if (device == "cuda") {
    NNUC_CHECK(cuda_available(), "nnuc train: --device cuda, but no CUDA device is present (use --device cpu)");
    cuda = Context::cuda(0);
    cuda->set_deterministic(deterministic);  // deterministic cuDNN algorithms only (kernels/core/context.h)
  }
  const Context& ctx = cuda ? *cuda : Context::cpu();
  if (activations.empty()) activations = cuda ? "bf16" : "f32";
  NNUC_CHECK(cuda || activations == "f32",
             "nnuc train: --activations bf16 needs --device cuda (the CPU computes in f32)");

  planner::TrainingSetup setup = planner::prepare_training(options);
  planner::write_results_folder_files(setup, options);
  setup.pipeline.activations = activations == "bf16" ? DType::bf16 : DType::f32;
  setup.pipeline.workers = workers;

  nn::TrainerConfig config;
  config.network = setup.network;
  config.loss = setup.loss;
  config.epochs = epochs > 0 ? epochs : trainer_epochs;
  config.iterations_per_epoch = iterations;
  config.validation_iterations = validation_iterations;
  config.seed = seed;
  config.deterministic = deterministic;
  config.activations = setup.pipeline.activations;
  config.output_folder = setup.fold_folder;
  config.trainer_name = trainer;
  config.init_args = setup.init_args;
  config.inference_allowed_mirroring_axes = setup.mirror_axes;
  config.checkpointing = !no_checkpoints;
  config.debug = {{"nnuc_version", "0.1.0"},
                  {"command_line", command_line(argc, argv)},
                  {"training_cases", setup.split.train.size()},
                  {"validation_cases", setup.split.val.size()},
                  {"omp_num_threads", std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "unset"},
                  {"loader_workers", workers},
                  {"patch_size", setup.pipeline.patch},
                  {"batch_size", setup.pipeline.batch_size},
                  {"configuration", configuration},
                  {"fold", fold}};
  if (!pretrained_weights.empty()) config.debug["pretrained_weights"] = pretrained_weights;
  if (const char* kill_at = std::getenv("NNUC_TEST_KILL_AT")) config.test_kill_at = kill_at;

  ProgressLine progress(isatty(STDERR_FILENO) != 0 && !quiet);
  nn::TrainerCallbacks callbacks;
  callbacks.log = [&](const std::string& line) {
    progress.clear();
    if (!quiet) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
  };
  callbacks.progress = [&](const nn::TrainerProgress& p) {
    progress.update(p, config.iterations_per_epoch, config.validation_iterations);
  };
  std::optional<planner::FoldWeights> trained;  // --disable_checkpointing: the weights to validate
  if (!validation_only) {
    nn::Trainer training(ctx, config, nn::pipeline_data(ctx, setup.pipeline), callbacks);
    if (resume || resume_nnunet) {
      if (!training.resume())
        callbacks.log("No checkpoint in " + setup.fold_folder + " to continue from: training starts at epoch 0");
    }
    if (!pretrained_weights.empty()) training.load_pretrained_weights(pretrained_weights);
    training.run();
    progress.clear();
    if (no_checkpoints) {
      trained.emplace();
      trained->weights = training.weights();
      trained->mirror_axes = setup.mirror_axes;
      trained->has_mirror_axes = true;
      trained->trainer_name = trainer;
    }
    if (!quiet) {
      if (!no_checkpoints)
        std::printf("final checkpoint: %s\n", nn::checkpoint_path(setup.fold_folder, "final").c_str());
      if (training.best_ema()) std::printf("best EMA pseudo Dice: %.4f\n", *training.best_ema());
    }
  }
  if (skip_validation && !validation_only) return kExitSuccess;
  planner::FinalValidationOptions validation;
  validation.checkpoint = validation_best ? "checkpoint_best" : "checkpoint_final";
  validation.weights = std::move(trained);
  validation.device = cuda ? Device::CUDA : Device::CPU;
  validation.save_probabilities = npz;
  validation.mixed_precision = activations == "bf16";
  validation.threads = workers;
  const planner::FinalValidationResult result =
      planner::run_final_validation(setup, options, validation, quiet ? nullptr : callbacks.log);
  if (!quiet) std::printf("validation: %s\n", result.summary_file.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
