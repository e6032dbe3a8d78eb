// Synthetic batches for the trainer's tests (tests/nn/trainer_test.cpp, trainer_gpu_test.cpp): batch i
// of a stream is a pure function of (seed, stream, i) — an image uniform in [-1, 1) and the labels
// a learnable rule gives it (1 above 0.3, 2 below −0.3, else 0) — optionally NaN at chosen training
// iterations, or an exception instead of one batch (a crash).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "nn/trainer.h"

namespace nnuc::nn::testing_fixture {

// Host tensors: the image f32 `shape` and its labels i16 (shape with one channel).
inline std::pair<Tensor, Tensor> synthetic_batch(const Shape& shape, std::uint64_t seed, std::uint64_t stream,
                                                 std::uint64_t iteration, bool nan) {
  std::mt19937_64 engine(seed * 1000003u + stream * 7919u + iteration);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> image(static_cast<std::size_t>(shape.numel()));
  std::vector<std::int16_t> labels(image.size());
  for (std::size_t v = 0; v < image.size(); ++v) {
    image[v] = nan ? std::nanf("") : uniform(engine);
    labels[v] = static_cast<std::int16_t>(image[v] > 0.3f ? 1 : image[v] < -0.3f ? 2 : 0);
  }
  return {Tensor::from_vector(shape, image), Tensor::from_vector(shape, labels)};
}

class SyntheticData : public TrainerData {
 public:
  // to_device: moves a host batch to the training device (identity on the CPU).
  SyntheticData(Shape shape, std::uint64_t seed, std::uint64_t training, std::uint64_t validation,
                std::set<std::uint64_t> nan, std::uint64_t interrupt_at,
                std::function<TrainerBatch(TrainerBatch)> to_device)
      : shape_(shape),
        seed_(seed),
        training_(training),
        validation_(validation),
        nan_(std::move(nan)),
        interrupt_at_(interrupt_at),
        to_device_(std::move(to_device)) {}
  TrainerBatch next_training_batch() override {
    if (training_ == interrupt_at_) throw std::runtime_error("interrupted");
    const bool nan = nan_.count(training_) > 0;
    return make(training_++, 1, nan);
  }
  TrainerBatch next_validation_batch() override { return make(validation_++, 2, false); }

 private:
  TrainerBatch make(std::uint64_t iteration, std::uint64_t stream, bool nan) const {
    auto [image, labels] = synthetic_batch(shape_, seed_, stream, iteration, nan);
    TrainerBatch batch{iteration, image, labels};
    return to_device_ ? to_device_(batch) : batch;
  }
  Shape shape_;
  std::uint64_t seed_, training_, validation_;
  std::set<std::uint64_t> nan_;
  std::uint64_t interrupt_at_;
  std::function<TrainerBatch(TrainerBatch)> to_device_;
};

// A factory for Trainer over SyntheticData.
inline TrainerDataFactory synthetic_data(Shape shape, std::set<std::uint64_t> nan = {},
                                         std::uint64_t interrupt_at = UINT64_MAX,
                                         std::function<TrainerBatch(TrainerBatch)> to_device = nullptr) {
  return [=](std::uint64_t seed, std::uint64_t training, std::uint64_t validation) {
    return std::make_unique<SyntheticData>(shape, seed, training, validation, nan, interrupt_at, to_device);
  };
}

// A tiny network: 3 stages of 4/8/8 (2-D: kernels 1×3×3) or 8/16/32 (3-D) features, 3 classes.
inline UNetConfig tiny_network(bool three_d) {
  UNetConfig c;
  c.input_channels = 1;
  c.num_classes = 3;
  c.features_per_stage = three_d ? std::vector<int>{8, 16, 32} : std::vector<int>{4, 8, 8};
  c.kernel_sizes.assign(3, three_d ? Triple{3, 3, 3} : Triple{1, 3, 3});
  const Triple pool = three_d ? Triple{2, 2, 2} : Triple{1, 2, 2};
  c.strides = {Triple{1, 1, 1}, pool, pool};
  c.n_conv_per_stage = three_d ? std::vector<int>{2, 2, 2} : std::vector<int>{1, 1, 1};
  c.n_conv_per_stage_decoder = three_d ? std::vector<int>{2, 2} : std::vector<int>{1, 1};
  return c;
}

}  // namespace nnuc::nn::testing_fixture
