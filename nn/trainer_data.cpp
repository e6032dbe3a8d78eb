#include "nn/trainer_data.h"

#include <limits>

#include "data/augment/augment.h"
#include "data/loader/loader.h"
#include "kernels/core/nvtx.h"
#include "kernels/core/stream_mark.h"

namespace nnuc::nn {

namespace {

class PipelineData : public TrainerData {
 public:
  PipelineData(const Context& ctx, const PipelineSpec& spec, const augment::AugmentConfig& augment,
               data::BatchLoaderOptions training, data::BatchLoaderOptions validation, std::uint64_t seed)
      : ctx_(ctx),
        augment_(augment),
        activations_(spec.activations),
        seed_(seed),
        first_element_(
            static_cast<std::uint32_t>(data::rank_batch(spec.batch_size, spec.world_size, spec.rank).first_element)),
        training_(std::move(training)),
        validation_(std::move(validation)) {}

  ~PipelineData() override {
    try {
      release_copied_batch();
    } catch (const std::exception& e) {
      // A failed stream: the copy will not run, so its source may go. Say why; never throw here.
      detail::print_error(__FILE__, __LINE__, e.what());
    }
  }
  PipelineData(const PipelineData&) = delete;
  PipelineData& operator=(const PipelineData&) = delete;

  TrainerBatch next_training_batch() override { return next(training_, true); }
  TrainerBatch next_validation_batch() override { return next(validation_, false); }

 private:
  TrainerBatch next(data::BatchLoader& loader, bool training) {
    NNUC_RANGE(training ? "training_batch" : "validation_batch");
    release_copied_batch();
    data::Batch batch = loader.next();
    NNUC_CHECK(batch.iteration <= std::numeric_limits<std::uint32_t>::max(), "training data: iteration ",
               batch.iteration, " exceeds the augmentation's 32-bit counter");
    const std::uint64_t iteration = batch.iteration;
    // The loader's crops are host tensors; the augmentation runs where the network does. On a GPU the
    // copies are queued on the training stream without waiting (from page-locked memory they run at
    // the bus's speed and the host goes on queueing the augmentation and the step); the host batch
    // is kept until the stream has passed them.
    Tensor data = batch.data, seg = batch.seg;  // (B, C, L0, L1, L2), (B, S, L0, L1, L2)
    if (ctx_.device() != Device::CPU) {
      copied_ = std::move(batch);
      try {
        data = copied_.data.copy_to_async(ctx_);
        seg = copied_.seg.copy_to_async(ctx_);
        copied_mark_ = StreamMark::record(ctx_);
      } catch (...) {
        ctx_.synchronize();  // what was queued has run before the host buffers can go
        throw;
      }
    }
    augment::AugmentedBatch augmented =
        augment::augment_batch(ctx_, data, seg, augment_, seed_, static_cast<std::uint32_t>(iteration), training,
                               activations_, first_element_);
    TrainerBatch out;
    out.iteration = iteration;
    out.input = std::move(augmented.data);
    out.target = std::move(augmented.targets.front());
    return out;
  }

  // The host batch of the last copy, once the stream has passed the copy (long before the next call,
  // in the trainer, which waits for each step's loss). Its buffers then go back to the loader.
  void release_copied_batch() {
    copied_mark_.wait();
    copied_ = data::Batch{};
    copied_mark_ = StreamMark{};
  }

  const Context& ctx_;
  augment::AugmentConfig augment_;
  DType activations_;
  std::uint64_t seed_;
  std::uint32_t first_element_;
  data::BatchLoader training_;
  data::BatchLoader validation_;
  data::Batch copied_;      // host buffers an asynchronous copy may still read
  StreamMark copied_mark_;  // ... until the training stream passes this mark
};

}  // namespace

std::vector<int> inference_mirror_axes(const std::vector<std::int64_t>& patch) {
  return data::rotation_and_dummy_2d(patch).mirror_axes;
}

TrainerDataFactory pipeline_data(const Context& ctx, PipelineSpec spec) {
  NNUC_CHECK(!spec.training_cases.empty(), "training data: no training cases");
  NNUC_CHECK(!spec.validation_cases.empty(), "training data: no validation cases");
  NNUC_CHECK(spec.patch.size() == 2 || spec.patch.size() == 3, "training data: the patch has ", spec.patch.size(),
             " values, expected 2 or 3");
  const data::AugmentationGeometry geometry = data::rotation_and_dummy_2d(spec.patch);
  const std::vector<std::int64_t> patch_load =
      data::enlarged_patch_size(spec.patch, geometry.rotation_range, geometry.dummy_2d);
  // No deep-supervision strides: one target at full resolution (see the header).
  augment::AugmentConfig augment =
      augment::make_augment_config(spec.patch, spec.input_channels, spec.use_mask_for_norm, {}, spec.foreground_labels,
                                   spec.regions, spec.ignore_label);
  augment::validate_config(augment);

  data::BatchLoaderOptions common;
  common.batch_size = spec.batch_size;
  common.patch_final = data::sampling_patch(spec.patch);
  common.workers = spec.workers;
  common.ignore_label = spec.ignore_label;
  common.world_size = spec.world_size;
  common.rank = spec.rank;
  if (ctx.device() == Device::CUDA && spec.page_locked_batches) common.page_locked_for_device = ctx.cuda_index();
  data::BatchLoaderOptions training = common;
  training.case_files = spec.training_cases;
  training.patch_load = data::sampling_patch(patch_load);
  training.stream = PhiloxStream::sampler;
  training.previous_stage = spec.previous_stage_training;
  data::BatchLoaderOptions validation = common;
  validation.case_files = spec.validation_cases;
  validation.patch_load = common.patch_final;
  validation.stream = PhiloxStream::validation;
  validation.previous_stage = spec.previous_stage_validation;
  NNUC_CHECK(spec.foreground_labels.empty() == !static_cast<bool>(spec.previous_stage_training) &&
                 spec.foreground_labels.empty() == !static_cast<bool>(spec.previous_stage_validation),
             "training data: a cascade needs both the foreground labels and the previous stage's segmentations");

  return [&ctx, spec, augment, training, validation](std::uint64_t seed, std::uint64_t first_training,
                                                     std::uint64_t first_validation) -> std::unique_ptr<TrainerData> {
    data::BatchLoaderOptions train_options = training, validation_options = validation;
    train_options.seed = validation_options.seed = seed;
    train_options.first_iteration = first_training;
    validation_options.first_iteration = first_validation;
    return std::make_unique<PipelineData>(ctx, spec, augment, std::move(train_options), std::move(validation_options),
                                          seed);
  };
}

}  // namespace nnuc::nn
