// Final validation of a trained fold (spec §6.6): every validation case predicted from its
// preprocessed array with the sliding-window predictor (step 0.5, Gaussian, mirroring with the
// trainer's axes; cascade: the previous stage's one-hot channels appended), exported to the original
// geometry into fold_X/validation/CASE<file_ending> (+ CASE.npz / CASE.json with probabilities),
// evaluated against the preprocessed folder's gt_segmentations/ into fold_X/validation/summary.json.
// A configuration with a next stage (3d_lowres) also writes, for each validation case, its logits
// resampled to the next stage's preprocessed shape and argmaxed, as a store file
// <model folder>/predicted_next_stage/<next stage>/CASE.nnuc (the cascade's training input); a case
// the next stage has not preprocessed is skipped with a log line naming the file, as nnU-Net does.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "nn/predict/predictor.h"
#include "planner/model_folder.h"
#include "planner/plans_read_training.h"

namespace nnuc::planner {

struct FinalValidationOptions {
  std::string checkpoint = "checkpoint_final";  // --val_best: checkpoint_best
  // The trained weights in memory (nnuc train --disable_checkpointing): `checkpoint` is not read.
  std::optional<FoldWeights> weights;
  Device device = Device::CPU;
  bool save_probabilities = false;  // nnU-Net's --npz
  bool mixed_precision = true;      // CUDA: bf16 activations
  int threads = 2;                  // evaluation threads
};

struct FinalValidationResult {
  std::string validation_folder;
  std::string summary_file;
  double mean_foreground_dice = 0;
  int cases = 0;
  int next_stage_cases = 0;  // predicted_next_stage files written
};

// `log` (optional) receives one line per case and the summary line.
FinalValidationResult run_final_validation(const TrainingSetup& setup, const TrainingSetupOptions& training,
                                           const FinalValidationOptions& options,
                                           const std::function<void(const std::string&)>& log = nullptr);

}  // namespace nnuc::planner
