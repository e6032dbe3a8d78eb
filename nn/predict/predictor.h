// The embeddable predictor (spec §8): a model loaded once (PredictorModel: the folds' networks on one
// device, the configuration's preprocessing and export) and sessions that predict volumes with it.
//
//   auto model = std::make_shared<const nn::PredictorModel>(planner::read_model_folder(folder), Device::CUDA);
//   nn::PredictorSession session(model);                 // one per thread
//   nn::Prediction p = session.predict(loaded_case);     // image f32 (C, a0, a1, a2) + spacing + geometry
//
// Threads: a PredictorModel is immutable after construction and is shared by any number of sessions
// (std::shared_ptr<const PredictorModel>); each session owns its Context (CUDA stream, cuDNN handle,
// workspace, convolution plans), so sessions in different threads never share mutable state. A
// session's network calls (predict, predict_preprocessed, logits) serve one thread at a time: a call
// while another thread is inside one throws InvalidInput (nested calls on the same thread are fine),
// on the CPU too, where sharing would go unnoticed, so that code moved to a GPU does not race on its
// stream. preprocess touches no session state and may run on another thread beside them (nnuc predict
// reads ahead that way). A call can be cancelled from another thread through a CancelFlag
// (nn/predict/cancel.h). tests/nn/predictor_threads_test.cpp runs 1-8 threads with
// random cancellations against the single-thread results, bit for bit.
//
// Per case: preprocessing exactly as in training (§4.1: transpose, crop to nonzero, normalize,
// resample; a cascade stage appends the previous stage's prediction as one-hot channels), the sliding
// window over every fold with mirroring (§8.3, nn/predict/sliding_window.h), the logits averaged over
// the folds, then the export to the input's geometry (§8.4, data/export/export.h).
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "data/export/export.h"
#include "data/preprocess/case_source.h"
#include "data/preprocess/preprocess_case.h"
#include "nn/predict/cancel.h"
#include "nn/predict/sliding_window.h"
#include "nn/unet.h"

namespace nnuc::nn {

// Everything a model folder holds that prediction needs, read and checked (planner/model_folder.h).
struct PredictorModelSpec {
  std::string folder;         // for messages
  std::string configuration;  // "3d_fullres", ...
  std::string trainer_name = "nnUNetTrainer";
  UNetConfig network;                                                     // deep supervision is turned off
  std::vector<std::string> folds;                                         // "0" ... "4" or "all"
  std::vector<std::vector<std::pair<std::string, Tensor>>> fold_weights;  // nnuc parameter names, host f32
  data::PreprocessingPlan preprocessing;
  data::ExportPlan export_plan;
  std::array<std::int64_t, 3> patch{};  // 2d configurations: (1, p1, p2)
  bool is_2d = false;
  std::vector<int> mirror_axes;  // inference_allowed_mirroring_axes of the checkpoint
  std::string file_ending = ".nii.gz";
  int image_channels = 1;                  // channels of the input images (without the cascade's one-hot channels)
  std::string previous_stage;              // cascade: the configuration whose predictions feed this one
  std::vector<int> previous_stage_labels;  // cascade: one one-hot input channel per foreground label
  std::vector<int> all_labels;             // the dataset's labels (for messages and evaluation)
};

// The folds' networks on one device; immutable, shareable between threads.
class PredictorModel {
 public:
  // Builds one network per fold on `device` (CPU or CUDA device `cuda_index`) and loads its weights.
  // requires: spec.fold_weights has one entry per fold with every parameter of spec.network.
  PredictorModel(PredictorModelSpec spec, Device device, int cuda_index = 0);
  ~PredictorModel();
  PredictorModel(const PredictorModel&) = delete;
  PredictorModel& operator=(const PredictorModel&) = delete;

  const PredictorModelSpec& spec() const { return spec_; }
  Device device() const { return device_; }
  int cuda_index() const { return cuda_index_; }
  // The networks, in fold order. Their forward pass reads the weights only, so sessions in several
  // threads may run them at once (each with its own Context).
  std::vector<UNet*> networks() const;

 private:
  PredictorModelSpec spec_;
  Device device_;
  int cuda_index_;
  std::unique_ptr<Context> owned_context_;  // CUDA: the context that owns the weights' memory
  std::vector<std::unique_ptr<UNet>> networks_;
};

struct PredictOptions {
  double step_size = 0.5;
  bool use_mirroring = true;         // test-time mirroring over the model's mirror axes
  bool save_probabilities = false;   // also return the probabilities (f32 (K, a0, a1, a2))
  bool mixed_precision = true;       // CUDA: bf16 activations (f32 with false); the CPU computes in f32
  int tile_batch = 0;                // tiles per network call; 0 = automatic
  bool accumulate_on_device = true;  // false: accumulate the logits on the host
  // CUDA: only cuDNN algorithms that cuDNN reports deterministic, chosen by heuristics (no timing
  // runs), so every session gives the same bits for the same case and tile batch; with a fixed
  // tile_batch, sessions and processes agree bit for bit. (The CPU is deterministic for a fixed
  // OMP_NUM_THREADS in any case.)
  bool deterministic = false;
};

struct Prediction {
  Tensor segmentation;   // label map in the input's axis order and shape (u8, or u16 beyond 254 labels)
  Tensor probabilities;  // f32 (K, a0, a1, a2) when asked for
  data::CaseProperties properties;
  SlidingWindowStats stats;
  double preprocess_seconds = 0, network_seconds = 0, export_seconds = 0;
};

class PredictorSession {
 public:
  explicit PredictorSession(std::shared_ptr<const PredictorModel> model, PredictOptions options = {});
  ~PredictorSession();
  PredictorSession(const PredictorSession&) = delete;
  PredictorSession& operator=(const PredictorSession&) = delete;

  const PredictorModel& model() const { return *model_; }
  const PredictOptions& options() const { return options_; }
  const Context& context() const { return *context_; }

  // requires: input.image f32 (C, a0, a1, a2) on the host with C = the model's image channels, the
  //   spacing in the same axis order, reader_properties holding the NIfTI geometry when the result is
  //   to be written with write_segmentation; a cascade stage also needs input.seg: the previous
  //   stage's label map (i16, same shape).
  // `cancel`: raised from another thread, the call throws PredictionCancelled at its next check
  // (nn/predict/cancel.h); the session stays usable.
  Prediction predict(const data::LoadedCase& input, const CancelFlag* cancel = nullptr) const;

  // The preprocessing step alone (what predict runs first), for callers that overlap it with the
  // network of another case, also from another thread: data f32 (C', b0, b1, b2) with the cascade
  // channels appended.
  data::PreprocessedCase preprocess(const data::LoadedCase& input) const;
  // The network and export steps on a preprocessed case (final validation predicts from the
  // preprocessed store this way).
  Prediction predict_preprocessed(const Tensor& data, const data::CaseProperties& properties,
                                  const CancelFlag* cancel = nullptr) const;
  // The logits alone: f32 (K, b0, b1, b2), averaged over the folds.
  Tensor logits(const Tensor& data, SlidingWindowStats* stats = nullptr,
                const std::function<void(std::int64_t, std::int64_t)>& progress = nullptr,
                const CancelFlag* cancel = nullptr) const;

 private:
  class InUse;  // marks a network call: the session's thread while one runs, with its nesting depth

  std::shared_ptr<const PredictorModel> model_;
  PredictOptions options_;
  std::unique_ptr<Context> owned_context_;  // CUDA: this session's stream and handles
  const Context* context_ = nullptr;
  mutable std::atomic<std::thread::id> user_{};  // no thread while idle
  mutable int user_depth_ = 0;                   // touched by user_ only
};

// The cascade's extra input channels: one channel per label in `labels`, 1 where seg equals it (seg
// i16 (b0, b1, b2), -1 outside the nonzero mask matches none), appended to data f32 (C, b0, b1, b2).
Tensor append_one_hot(const Tensor& data, const Tensor& seg, const std::vector<int>& labels);

}  // namespace nnuc::nn
