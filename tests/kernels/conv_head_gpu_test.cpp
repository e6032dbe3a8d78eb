// The ends of a segmentation network in bf16 on a GPU: a CT input of 1 channel into the first
// convolution (1 -> 32; cuDNN's NHWC tensor-core engines want channel counts that are multiples of 8,
// so 1 channel takes another path), and a 1x1x1 head producing 2 or 3 classes into the Dice + CE
// loss and back. Each op runs on the device's bf16 inputs and is compared with the CPU on the same
// values at the op's declared tolerance.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/conv/conv.h"
#include "kernels/loss/loss.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

::testing::AssertionResult conv_close(const Tensor& device_result, const Tensor& cpu_reference) {
  double scale = 0;
  for (double value : cpu_reference.to_vector<double>()) scale = std::max(scale, std::fabs(value));
  return testing::all_close(testing::to_host_f32(device_result), cpu_reference, kConvToleranceBF16.atol * scale,
                            kConvToleranceBF16.rtol);
}

::testing::AssertionResult sums_close(const Tensor& device_sum, const Tensor& cpu_sum) {
  return testing::all_close(testing::to_host_f32(device_sum), cpu_sum, kLossSumToleranceBf16.atol,
                            kLossSumToleranceBf16.rtol);
}

TEST(ConvHeadGpu, OneChannelInputAndTwoOrThreeClassHeadsInBf16) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const ConvGeometry conv3 = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const ConvGeometry pointwise = same_padding_geometry({1, 1, 1}, {1, 1, 1});
  const Shape ct{2, 12, 14, 10, 1};
  for (int classes : {2, 3}) {
    SCOPED_TRACE(std::to_string(classes) + " classes");
    // First convolution of a CT network: 1 -> 32 channels.
    const Tensor x = testing::round_to_bf16(testing::random_uniform(ct, DType::f32));
    const Tensor w1 = testing::round_to_bf16(testing::random_uniform(Shape{32, 3, 3, 3, 1}, DType::f32));
    const Tensor b1 = testing::random_uniform(Shape{32}, DType::f32);
    const Tensor xd = testing::to_device(x, DType::bf16), w1d = testing::to_device(w1, DType::bf16);
    const Tensor hd = conv_forward(gpu, xd, w1d, testing::to_device(b1, DType::f32), conv3);
    EXPECT_TRUE(conv_close(hd, conv_forward(Context::cpu(), x, w1, b1, conv3)));

    // Segmentation head: 32 -> classes, 1x1x1, with bias.
    const Tensor h = testing::to_host_f32(hd);
    const Tensor w2 = testing::round_to_bf16(testing::random_uniform(Shape{classes, 1, 1, 1, 32}, DType::f32));
    const Tensor b2 = testing::random_uniform(Shape{classes}, DType::f32);
    const Tensor w2d = testing::to_device(w2, DType::bf16);
    const Tensor logits_d = conv_forward(gpu, hd, w2d, testing::to_device(b2, DType::f32), pointwise);
    EXPECT_TRUE(conv_close(logits_d, conv_forward(Context::cpu(), h, w2, b2, pointwise)));

    // Dice + CE on the device's logits.
    const Tensor logits = testing::to_host_f32(logits_d);
    const Tensor labels = testing::random_labels(Shape{2, 12, 14, 10, 1}, DType::i16, classes);
    const Tensor labels_d = labels.copy_to(gpu);
    const DiceCrossEntropySums sums = dice_ce_forward(gpu, logits_d, labels_d, kNoIgnoreLabel);
    const DiceCrossEntropySums expected = dice_ce_forward(Context::cpu(), logits, labels, kNoIgnoreLabel);
    EXPECT_TRUE(sums_close(sums.cross_entropy.loss_sum, expected.cross_entropy.loss_sum));
    EXPECT_TRUE(sums_close(sums.cross_entropy.counted, expected.cross_entropy.counted));
    EXPECT_TRUE(sums_close(sums.dice.intersection, expected.dice.intersection));
    EXPECT_TRUE(sums_close(sums.dice.prediction, expected.dice.prediction));
    EXPECT_TRUE(sums_close(sums.dice.target, expected.dice.target));

    const Tensor g_i = testing::random_uniform(Shape{2, classes}, DType::f32);
    const Tensor g_p = testing::random_uniform(Shape{2, classes}, DType::f32);
    const Tensor dlogits_d =
        dice_ce_backward(gpu, logits_d, labels_d, kNoIgnoreLabel, 1e-3, g_i.copy_to(gpu), g_p.copy_to(gpu));
    const Tensor dlogits_expected = dice_ce_backward(Context::cpu(), logits, labels, kNoIgnoreLabel, 1e-3, g_i, g_p);
    double scale = 0;
    for (double value : dlogits_expected.to_vector<double>()) scale = std::max(scale, std::fabs(value));
    EXPECT_TRUE(testing::all_close(testing::to_host_f32(dlogits_d), dlogits_expected,
                                   kLossValueToleranceBf16.atol * scale, kLossValueToleranceBf16.rtol));

    // Back through the head and the first convolution, on the device's gradients.
    const Tensor dlogits = testing::to_host_f32(dlogits_d);
    EXPECT_TRUE(conv_close(conv_backward_weight(gpu, hd, dlogits_d, pointwise, w2.shape()),
                           conv_backward_weight(Context::cpu(), h, dlogits, pointwise, w2.shape())));
    EXPECT_TRUE(conv_close(conv_backward_bias(gpu, dlogits_d), conv_backward_bias(Context::cpu(), dlogits)));
    const Tensor dh_d = conv_backward_data(gpu, dlogits_d, w2d, pointwise, h.shape());
    EXPECT_TRUE(conv_close(dh_d, conv_backward_data(Context::cpu(), dlogits, w2, pointwise, h.shape())));
    const Tensor dh = testing::to_host_f32(dh_d);
    EXPECT_TRUE(conv_close(conv_backward_weight(gpu, xd, dh_d, conv3, w1.shape()),
                           conv_backward_weight(Context::cpu(), x, dh, conv3, w1.shape())));
    EXPECT_TRUE(conv_close(conv_backward_data(gpu, dh_d, w1d, conv3, ct),
                           conv_backward_data(Context::cpu(), dh, w1, conv3, ct)));
  }
}

}  // namespace
}  // namespace nnuc
