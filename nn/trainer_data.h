// The trainer's batches from preprocessed cases (spec §7): two data::BatchLoader streams (training
// crops of the enlarged patch P_load, validation crops of the plan patch), each batch copied to the
// training device and put through augment::augment_batch there (training transforms, or the
// validation pipeline), ending channels-last in the activation dtype.
//
// On a GPU the loader's workers crop into page-locked host buffers and the copy is queued on the
// training stream without waiting: it runs at the bus's speed (3d_fullres 128³ batch 2: 2 × 205³ ×
// (4 + 2) B = 103 MB, about 2 ms at ~50 GB/s instead of about 9 ms from pageable memory, napkin math
// in bench/nn/training_iteration_bench.cpp) while the host goes on queueing the augmentation and the
// step. The host buffers go back to the loader once the stream has passed the copy.
//
// The augmentation is asked for the full-resolution target alone: nn::training_step and the
// validation loss make the deep-supervision targets themselves (nearest-exact resize to each
// output's shape, which is round(P · scale) for the planner's divisible patches: the same maps).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/loader/crop.h"
#include "nn/trainer.h"

namespace nnuc::nn {

struct PipelineSpec {
  std::vector<std::string> training_cases;    // .nnuc store files of the fold's training cases
  std::vector<std::string> validation_cases;  // ... and of its validation cases
  std::vector<std::int64_t> patch;            // the plan's patch size (2 or 3 values)
  std::int64_t batch_size = 2;                // the global batch size
  int input_channels = 1;                     // image channels of the cases
  std::vector<bool> use_mask_for_norm;        // per image channel
  std::vector<int> foreground_labels;         // cascade: the previous stage's labels; empty = no cascade
  data::PreviousStageSource previous_stage_training, previous_stage_validation;  // cascade only
  std::vector<std::vector<int>> regions;  // region training: the foreground regions; empty = labels
  std::optional<int> ignore_label;        // the dataset's ignore label
  DType activations = DType::f32;         // out dtype of the augmentation (bf16 on CUDA in mixed mode)
  int workers = 2;                        // loader threads per stream
  int world_size = 1, rank = 0;           // data parallelism: this rank's share of each batch
  // CUDA: the loader's batches in page-locked host memory (see above). false: ordinary host memory,
  // copied from pageable memory (the benchmark's comparison). Ignored off CUDA.
  bool page_locked_batches = true;
};

// The mirror axes of the configuration's augmentation in the network's spatial axes, which the
// predictor may use for test-time mirroring (checkpoint "inference_allowed_mirroring_axes"):
// 3-D (0, 1, 2), 2-D (0, 1).
std::vector<int> inference_mirror_axes(const std::vector<std::int64_t>& patch);

// A factory for Trainer: on each call it opens the cases and starts both loaders at the given
// iterations with the given seed. Batches live on ctx's device. The cases are checked when the
// factory runs (IoError naming a missing or damaged file).
// requires: both case lists non-empty; patch of 2 or 3 positive values; ctx outlives the data.
TrainerDataFactory pipeline_data(const Context& ctx, PipelineSpec spec);

}  // namespace nnuc::nn
