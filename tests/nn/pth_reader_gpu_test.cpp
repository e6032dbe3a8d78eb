// nnU-Net's own checkpoints (nn/pth/) loaded into a U-Net on the GPU: load_nnunet_weights writes the
// device parameters, and the network's logits match torch's (tests/nn/fixtures/gen_nnunet_pth.py).
// Tolerances: f32 reference mode |cuda - torch| <= 1e-4·max|torch| + 1e-4·|torch|; bf16 activations
// 6e-2·max|torch| + 6e-2·|torch| (kSlidingWindowToleranceBf16: the same network, bf16 rounding).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "nn/pth/nnunet_weights.h"
#include "tests/nn/nnunet_pth_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

// The fixtures' networks, as their plans.json + dataset.json describe them (nnuc_gpu_tests does not
// link the planner that reads plans).
UNetConfig fixture_config(EncoderKind encoder) {
  UNetConfig config;
  config.encoder = encoder;
  config.input_channels = 2;
  config.num_classes = 3;
  config.features_per_stage = {4, 8, 16};
  config.kernel_sizes = {Triple{1, 3, 3}, Triple{3, 3, 3}, Triple{3, 3, 3}};
  config.strides = {Triple{1, 1, 1}, Triple{1, 2, 2}, Triple{2, 2, 2}};
  config.n_conv_per_stage = encoder == EncoderKind::Plain ? std::vector<int>{2, 2, 2} : std::vector<int>{1, 2, 2};
  config.n_conv_per_stage_decoder = encoder == EncoderKind::Plain ? std::vector<int>{2, 2} : std::vector<int>{1, 1};
  config.deep_supervision = false;
  return config;
}

void expect_gpu_logits_match(const std::string& name, EncoderKind encoder, DType activations, double tolerance) {
  SCOPED_TRACE(name + " with " + dtype_name(activations) + " activations");
  Context& gpu = *testing::gpu();
  const nlohmann::json& entry = testing::nnunet_pth_network(name);
  const NnunetCheckpoint checkpoint = read_nnunet_checkpoint(testing::nnunet_pth_checkpoint(entry));
  UNet network(gpu, fixture_config(encoder), DType::f32, testing::test_seed());
  load_nnunet_weights(network, checkpoint, testing::nnunet_pth_checkpoint(entry));
  const Tensor input = testing::to_device(testing::nnunet_pth_array(entry, "input"), activations);
  const Tensor expected = testing::nnunet_pth_array(entry, "logits");
  Tape tape(gpu);
  tape.set_recording(false);
  const std::vector<Var> outputs = network.forward(tape, Var(input, false));
  ASSERT_EQ(outputs.size(), 1u);
  const Tensor actual = testing::to_host_f32(outputs[0].value());
  ASSERT_EQ(actual.shape(), expected.shape());
  double largest = 0;
  for (float v : expected.to_vector<float>()) largest = std::max(largest, static_cast<double>(std::abs(v)));
  const testing::Difference difference = testing::compare(actual, expected);
  std::printf("[ pth-gpu ] %s %s: max |cuda - torch| %.3g (max |torch| %.3g)\n", name.c_str(), dtype_name(activations),
              difference.max_abs, largest);
  EXPECT_TRUE(testing::all_close(actual, expected, tolerance * largest, tolerance));
}

TEST(NnunetWeightsGpu, LogitsMatchTorchInF32) {
  NNUC_REQUIRE_GPU();
  expect_gpu_logits_match("plain_3d", EncoderKind::Plain, DType::f32, 1e-4);
  expect_gpu_logits_match("resenc_3d", EncoderKind::Residual, DType::f32, 1e-4);
}

TEST(NnunetWeightsGpu, LogitsMatchTorchInBf16) {
  NNUC_REQUIRE_GPU();
  expect_gpu_logits_match("plain_3d", EncoderKind::Plain, DType::bf16, 6e-2);
  expect_gpu_logits_match("resenc_3d", EncoderKind::Residual, DType::bf16, 6e-2);
}

}  // namespace
}  // namespace nnuc::nn
