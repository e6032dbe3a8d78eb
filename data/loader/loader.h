// BatchLoader: training and validation batches from memory-mapped preprocessed cases, made by a
// small pool of worker threads (nnunet_method.md §7.1; nnU-Net's nnUNetDataLoader behind its
// multi-threaded augmenter).
//
// Determinism. Batch i is a pure function of (seed, stream, i) and the case list: element j's case,
// corner and foreground choice come from PhiloxDraws(philox_key(seed, stream), i, j, 0) (patch.h).
// Workers claim iterations in order and the consumer receives them in order, so the sequence is the
// same with 1 or N workers, and a loader started at first_iteration = k yields exactly batches
// k, k+1, ... of an uninterrupted run: resuming needs no saved sampler state.
//
// Bounded. Workers claim iteration i only while i < (next iteration to be returned) + queue_depth,
// so at most queue_depth batches are in flight or waiting.
//
// Failures. An exception while making batch i (a damaged case file: IoError naming the file) is
// returned by next() when batch i is due, with the iteration and case identifier prefixed, keeping
// its type. A batch that takes longer than stall_timeout makes next() throw an Error naming the
// iteration and the cases being loaded. After either, every later next() throws the same error.
//
// Data parallelism (§6.11). With world_size W > 1 this loader makes rank r's share of each global
// batch of batch_size B: the global elements [first, first + b) of rank_batch(B, W, r), each drawn with
// its global element index, and forced by the global "last 33 %" rule. The W ranks' batches thus
// concatenate to exactly the batch a single rank would make; rank_batch shows that nnU-Net's per-rank
// oversampling fractions select the same elements.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/loader/crop.h"
#include "data/loader/patch.h"
#include "kernels/core/tensor.h"

namespace nnuc::data {

struct Batch {
  std::uint64_t iteration = 0;
  // Both in page-locked memory when BatchLoaderOptions::page_locked_for_device asks for it.
  Tensor data;  // f32 (B, C, L0, L1, L2) on the host, channel first; padding 0
  Tensor seg;   // i16 (B, S, L0, L1, L2) on the host; S = 1, or 2 with a previous stage; padding -1
  std::vector<std::string> case_identifiers;  // per element
  std::vector<Shape3> corners;                // per element: the crop's lower corner (may be negative)
  std::vector<bool> forced;                   // per element: foreground-forced
};

struct BatchLoaderOptions {
  std::vector<std::string> case_files;  // .nnuc store files (e.g. the fold's training cases)
  std::int64_t batch_size = 2;          // the global batch size B
  Shape3 patch_load{};                  // P_load: crop size (training: enlarged_patch_size; validation: the plan patch)
  Shape3 patch_final{};                 // P_final: the plan patch. 2-D configurations: (1, p1, p2) for both
  double oversample_foreground = kOversampleForeground;
  std::uint64_t seed = 0;
  PhiloxStream stream = PhiloxStream::sampler;  // PhiloxStream::validation for the validation loader
  std::uint64_t first_iteration = 0;            // the first batch next() returns (resume point)
  int workers = 2;
  int queue_depth = 4;  // batches made ahead of the consumer, at most
  std::chrono::milliseconds stall_timeout{300000};
  // Class locations: foreground-forced elements centre on the voxels stored in each case file. A case
  // stored without them, or where no class has a voxel, gets a random corner. false: every corner is
  // random (the "forced" flags are still reported).
  bool use_class_locations = true;
  // With an ignore label, non-forced elements centre on a random annotated voxel (the stored class
  // (-1, 0, 1, ...)). Only its presence matters here.
  std::optional<int> ignore_label;
  // Cascade: the previous stage's segmentation per case, cropped into seg channel 1 (padding -1).
  PreviousStageSource previous_stage;
  StoreVerification verification = StoreVerification::lazy;  // each array checked on first use
  int world_size = 1;
  int rank = 0;
  // A CUDA device index: batches are made in page-locked host memory for that device
  // (Tensor::empty_page_locked), so their copy to it runs at the bus's full speed without blocking the
  // host. nullopt: ordinary host memory (CPU training).
  std::optional<int> page_locked_for_device;
  // Test hook: called by the worker making batch `iteration` after its cases are chosen and before
  // they are read. Lets tests block a worker (stall detection) or watch how far ahead workers run.
  std::function<void(std::uint64_t iteration, const std::vector<std::string>& case_identifiers)> before_load;
};

class BatchLoader {
 public:
  // Opens every case file (IoError naming a missing or damaged file), calls previous_stage for each
  // case, reads case 0's channel count (all cases must match) and starts the workers.
  // requires: case_files not empty; batch_size >= world_size >= 1; 0 <= rank < world_size;
  // P_load >= P_final >= 1 per axis; workers >= 1; queue_depth >= 1; stall_timeout > 0;
  // 0 <= oversample_foreground <= 1.
  explicit BatchLoader(BatchLoaderOptions options);
  // Stops the workers: idle ones at once, busy ones after the element they are cropping. A worker
  // stuck in one batch beyond stall_timeout is detached; it owns the state it uses and frees it when
  // it returns. Never throws.
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Batch `first_iteration` on the first call, then +1. Blocks until it is ready; throws as described
  // above.
  Batch next();

  // This rank's batch size and the channel counts of its batches.
  std::int64_t batch_size() const;
  std::int64_t channels() const;      // C
  std::int64_t seg_channels() const;  // S

  struct State;

 private:
  void shutdown() noexcept;

  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace nnuc::data
