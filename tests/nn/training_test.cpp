// Training: the loss weights, one step's exact memory (Meta prediction == CPU allocator peak), and
// proof that the network learns a synthetic 3-D and 2-D volume.
#include <cmath>

#include "kernels/core/allocator.h"
#include "kernels/loss/loss.h"
#include "nn/training_step.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

TEST(DeepSupervision, WeightsOfAppendixA7) {
  const std::vector<std::vector<double>> expected = {{0.6667, 0.3333, 0},
                                                     {0.5714, 0.2857, 0.1429, 0},
                                                     {0.5333, 0.2667, 0.1333, 0.0667, 0},
                                                     {0.5161, 0.2581, 0.1290, 0.0645, 0.0323, 0}};
  for (const auto& row : expected) {
    const auto weights = deep_supervision_weights(static_cast<int>(row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) EXPECT_NEAR(weights[i], row[i], 5e-5);
  }
  EXPECT_EQ(deep_supervision_weights(1), std::vector<double>{1.0});
}

TEST(Optimizer, PolyLearningRate) {
  EXPECT_DOUBLE_EQ(poly_lr(0.01, 0, 1000), 0.01);
  EXPECT_NEAR(poly_lr(0.01, 500, 1000), 0.01 * std::pow(0.5, 0.9), 1e-15);
  EXPECT_DOUBLE_EQ(poly_lr(0.01, 1000, 1000), 0.0);
  EXPECT_THROW(poly_lr(0.01, 1001, 1000), InvalidInput);
}

UNetConfig tiny_config(bool two_d) {
  UNetConfig config;
  config.input_channels = 1;
  config.num_classes = 3;
  config.features_per_stage = {8, 16, 32};
  config.kernel_sizes.assign(3, two_d ? Triple{1, 3, 3} : Triple{3, 3, 3});
  config.strides = {Triple{1, 1, 1}, two_d ? Triple{1, 2, 2} : Triple{2, 2, 2},
                    two_d ? Triple{1, 2, 2} : Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {2, 2};
  return config;
}

// The prediction of measure mode equals the CPU allocator's peak for the real step, byte for byte.
TEST(StepMemory, MetaPredictionEqualsCpuPeakExactly) {
  for (bool two_d : {false, true}) {
    TrainingStepSpec spec;
    spec.network = tiny_config(two_d);
    spec.batch_size = 2;
    spec.patch_size = two_d ? Triple{1, 16, 24} : Triple{8, 16, 12};
    spec.activations = DType::f32;
    spec.device = Device::CPU;
    const TrainingStepMemory predicted = predict_training_step_memory(spec);

    Allocator& cpu = allocator_for(Device::CPU);
    const std::uint64_t base = cpu.stats().current_bytes;
    {
      UNet network(Context::cpu(), spec.network, DType::f32, 3);
      SGD optimizer(Context::cpu(), network.parameters(), OptimizerConfig{});
      const Triple& p = spec.patch_size;
      const Tensor input = testing::random_uniform(Shape{2, p[0], p[1], p[2], 1}, DType::f32);
      const Tensor labels = testing::random_labels(Shape{2, p[0], p[1], p[2], 1}, DType::i16, 3);
      cpu.reset_peak();
      training_step(Context::cpu(), network, optimizer, input, labels, spec.loss, 0.01);
      const std::uint64_t measured = cpu.stats().peak_bytes - base;
      EXPECT_EQ(predicted.peak_bytes, measured) << (two_d ? "2-D" : "3-D");
      // One f32 gradient per parameter that reaches the loss: the lowest-resolution head has
      // deep-supervision weight 0 (Appendix A.7), is left out of the loss and gets none.
      std::uint64_t parameter_bytes = 0, gradient_bytes = 0;
      for (const NamedParameter& parameter : network.parameters()) {
        parameter_bytes += rounded_allocation_bytes(parameter.var->value().bytes());
        if (parameter.var->grad().defined()) gradient_bytes += rounded_allocation_bytes(parameter.var->grad().bytes());
      }
      EXPECT_EQ(predicted.parameters, parameter_bytes);
      EXPECT_EQ(predicted.gradients, gradient_bytes);
      EXPECT_LT(predicted.gradients, predicted.parameters);
    }
    EXPECT_GT(predicted.saved_activations, 0u);
    EXPECT_GT(predicted.gradients, 0u);
    EXPECT_EQ(predicted.peak_bytes, predicted.parameters + predicted.optimizer_state + predicted.batch +
                                        predicted.saved_activations + predicted.transient_at_peak);
  }
}

double dice_of_class(const std::vector<std::int16_t>& prediction, const std::vector<std::int16_t>& truth, int c) {
  double inter = 0, p = 0, t = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    inter += (prediction[i] == c) && (truth[i] == c);
    p += prediction[i] == c;
    t += truth[i] == c;
  }
  return 2 * inter / std::max(p + t, 1.0);
}

// A volume with two foreground structures (a sphere of class 1, a slab-shaped box of class 2) whose
// intensities overlap the background's noise: the network must use shape and context.
void make_volume(const Triple& shape, std::vector<float>& image, std::vector<std::int16_t>& labels) {
  Rng rng(5);
  image.clear();
  labels.clear();
  for (int z = 0; z < shape[0]; ++z)
    for (int y = 0; y < shape[1]; ++y)
      for (int x = 0; x < shape[2]; ++x) {
        const double dz = shape[0] == 1 ? 0 : (z - shape[0] * 0.35), dy = y - shape[1] * 0.35, dx = x - shape[2] * 0.35;
        int label = 0;
        if (dz * dz + dy * dy + dx * dx < 0.06 * shape[1] * shape[1]) label = 1;
        if (y > shape[1] * 0.6 && y < shape[1] * 0.85 && x > shape[2] * 0.5) label = 2;
        labels.push_back(static_cast<std::int16_t>(label));
        image.push_back(static_cast<float>((label == 1 ? 1.0 : label == 2 ? -1.0 : 0.0) + 0.3 * rng.normal()));
      }
}

void train_until_dice(bool two_d) {
  const Triple shape = two_d ? Triple{1, 32, 32} : Triple{16, 16, 16};
  std::vector<float> image;
  std::vector<std::int16_t> truth;
  make_volume(shape, image, truth);
  const Shape batch_shape{1, shape[0], shape[1], shape[2], 1};
  const Tensor input = Tensor::from_vector(batch_shape, image);
  const Tensor labels = Tensor::from_vector(batch_shape, truth);
  UNet network(Context::cpu(), tiny_config(two_d), DType::f32, 11);
  SGD optimizer(Context::cpu(), network.parameters(), OptimizerConfig{});
  LossConfig loss;
  double dice1 = 0, dice2 = 0;
  int step = 0;
  for (; step < 300; ++step) {
    training_step(Context::cpu(), network, optimizer, input, labels, loss, 0.01);
    if (step % 10 != 9) continue;
    Tape tape(Context::cpu());
    tape.set_recording(false);
    network.set_deep_supervision(false);
    const Tensor prediction = argmax_channels(Context::cpu(), network.forward(tape, Var(input))[0].value());
    network.set_deep_supervision(true);
    const auto predicted = prediction.to_vector<std::int16_t>();
    dice1 = dice_of_class(predicted, truth, 1);
    dice2 = dice_of_class(predicted, truth, 2);
    if (dice1 > 0.95 && dice2 > 0.95) break;
  }
  EXPECT_GT(dice1, 0.95) << "after " << step + 1 << " steps";
  EXPECT_GT(dice2, 0.95) << "after " << step + 1 << " steps";
  EXPECT_EQ(optimizer.skipped_steps(), 0);
}

TEST(Learning, ReachesDiceAbove095On3dVolume) { train_until_dice(false); }
TEST(Learning, ReachesDiceAbove095On2dImage) { train_until_dice(true); }

}  // namespace
}  // namespace nnuc::nn
