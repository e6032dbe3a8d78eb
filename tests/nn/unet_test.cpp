// The U-Nets: structure, parameter counts, output shapes, gradients of a whole network.
#include "nn/unet.h"

#include "autograd/gradcheck.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

UNetConfig small_config(EncoderKind kind) {
  UNetConfig config;
  config.encoder = kind;
  config.input_channels = 2;
  config.num_classes = 3;
  config.features_per_stage = {4, 6, 8};
  config.kernel_sizes = {Triple{1, 3, 3}, Triple{3, 3, 3}, Triple{3, 3, 3}};
  config.strides = {Triple{1, 1, 1}, Triple{1, 2, 2}, Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {1, 2};
  return config;
}

// Counts from PyTorch (bench/baselines/torch_unet_step.py's PlainConvUNet, which mirrors
// dynamic_network_architectures), 1 input channel, 3 classes (3-D) / 3 classes (2-D).
TEST(UNet, ParameterCountsOfTheDefaultNetworks) {
  auto meta = Context::meta(Device::CPU);
  UNet net3d(*meta, default_3d_config(1, 3), DType::f32, 0);
  EXPECT_EQ(net3d.parameter_count(), 31196399);
  EXPECT_EQ(unet_parameter_count(default_3d_config(1, 3)), 31196399);
  UNet net2d(*meta, default_2d_config(1, 3), DType::f32, 0);
  EXPECT_EQ(net2d.parameter_count(), 46326581);
  EXPECT_EQ(unet_parameter_count(default_2d_config(1, 3)), 46326581);
}

TEST(UNet, ClosedFormCountMatchesBothEncoders) {
  auto meta = Context::meta(Device::CPU);
  for (EncoderKind kind : {EncoderKind::Plain, EncoderKind::Residual}) {
    UNet net(*meta, small_config(kind), DType::f32, 0);
    EXPECT_EQ(net.parameter_count(), unet_parameter_count(small_config(kind)));
  }
}

TEST(UNet, OutputsHighestResolutionFirst) {
  UNet net(Context::cpu(), small_config(EncoderKind::Plain), DType::f32, 7);
  Tape tape(Context::cpu());
  tape.set_recording(false);
  Var x(testing::random_uniform(Shape{2, 4, 8, 8, 2}, DType::f32), false);
  std::vector<Var> outputs = net.forward(tape, x);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].shape(), (Shape{2, 4, 8, 8, 3}));
  EXPECT_EQ(outputs[1].shape(), (Shape{2, 4, 4, 4, 3}));
  net.set_deep_supervision(false);
  outputs = net.forward(tape, x);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].shape(), (Shape{2, 4, 8, 8, 3}));
}

TEST(UNet, InitializationIsSeededAndKaiming) {
  UNet a(Context::cpu(), default_3d_config(1, 3), DType::f32, 42),
      b(Context::cpu(), default_3d_config(1, 3), DType::f32, 42);
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  EXPECT_EQ(pa[0].name, "encoder.0.0.conv.weight");
  EXPECT_EQ(pa[0].var->value().to_vector<float>(), pb[0].var->value().to_vector<float>());
  // The 32 -> 32 3x3x3 conv of stage 0: sigma = sqrt(2 / (1 + 0.01^2)) / sqrt(32 * 27).
  const std::vector<float> w = pa[4].var->value().to_vector<float>();
  ASSERT_EQ(pa[4].name, "encoder.0.1.conv.weight");
  double sum = 0, sum_sq = 0;
  for (float v : w) sum += v, sum_sq += double(v) * v;
  const double mean = sum / w.size(), std = std::sqrt(sum_sq / w.size() - mean * mean);
  EXPECT_NEAR(std, std::sqrt(2 / (1 + 1e-4)) / std::sqrt(32.0 * 27), 0.01 * std);
  EXPECT_NEAR(mean, 0, 4 * std / std::sqrt(double(w.size())));
  EXPECT_EQ(pa[1].var->value().to_vector<float>(), std::vector<float>(32, 0.0f));  // conv bias
  EXPECT_EQ(pa[2].var->value().to_vector<float>(), std::vector<float>(32, 1.0f));  // norm weight
}

TEST(UNet, ConfigErrorsNameTheField) {
  UNetConfig config = small_config(EncoderKind::Plain);
  config.strides.pop_back();
  try {
    config.validate();
    FAIL();
  } catch (const InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("UNetConfig.strides"), std::string::npos) << error.what();
  }
}

// Random-direction gradient check of a whole small network (both encoders) with the loss, in f64.
TEST(UNet, WholeNetworkDirectionalGradcheck) {
  for (EncoderKind kind : {EncoderKind::Plain, EncoderKind::Residual}) {
    UNet net(Context::cpu(), small_config(kind), DType::f64, testing::test_seed());
    std::vector<Tensor> inputs;
    std::vector<bool>
    requires;
    for (const NamedParameter& p : net.parameters()) {
      // Residual-branch norms start at zero (spec §5.5); perturb them so every path carries gradient.
      Tensor value = p.var->value().copy_to(Context::cpu());
      inputs.push_back(value);
      requires.push_back(true);
    }
    if (kind == EncoderKind::Residual) {
      for (std::size_t i = 0; i < inputs.size(); ++i)
        inputs[i] = testing::random_uniform(inputs[i].shape(), DType::f64, -0.5, 0.5);
    }
    inputs.push_back(testing::random_uniform(Shape{2, 4, 8, 8, 2}, DType::f64));
    requires.push_back(true);
    const Tensor labels = testing::random_labels(Shape{2, 4, 8, 8, 1}, DType::i16, 3);
    auto graph = [&](Tape& tape, const std::vector<Var>& in) {
      auto params = net.parameters();
      for (std::size_t i = 0; i < params.size(); ++i) *params[i].var = in[i];
      std::vector<Var> outputs = net.forward(tape, in.back());
      return autograd::dice_ce_loss(tape, outputs[0], labels, -1, false);
    };
    autograd::GradcheckOptions options;
    // Leaky ReLU makes the loss piecewise smooth: a pre-activation within step * |dz/dt| of zero
    // turns the central difference into the mean of the two one-sided slopes. Perturbing every
    // parameter at once moves each pre-activation by ~100x the step, so the step must be small:
    // 1e-5 and 1e-6 met a kink in 10-20 % of seeds, 1e-8 in none of 30, and f64 round-off at
    // 1e-8 stays near 1e-8, below atol.
    options.step = 1e-8;
    options.atol = 1e-7;
    options.rtol = 1e-5;
    options.seed = testing::test_seed();
    const auto result = autograd::directional_gradcheck(graph, inputs, requires, options);
    EXPECT_TRUE(result.ok) << (kind == EncoderKind::Plain ? "plain: " : "residual: ") << result.failure;
  }
}

}  // namespace
}  // namespace nnuc::nn
