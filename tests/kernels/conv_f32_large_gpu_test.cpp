// The f32 (reference mode, FMA math) convolution of the default 3d_fullres network's first stage at a
// whole 128^3 tile pair: x (2, 128, 128, 128, 32), w (32, 3, 3, 3, 32). cuDNN offered no FMA algorithm
// within the 256 MiB workspace cap for it on an H200, so such a call runs the allowed algorithm with the
// smallest workspace beyond the cap (conv_plan.h: smallest_workspace_plan). All three passes are checked
// at sampled elements against a double-precision sum on the host, at conv.h's f32 tolerance (the full
// CPU convolution, 7 GFLOP per pass, would dominate the suite).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/conv/conv.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

constexpr std::int64_t kN = 2, kS = 128, kC = 32, kK = 3;

struct Sampled {
  std::vector<double> reference;
  std::vector<double> actual;
};

::testing::AssertionResult within_f32_tolerance(const Sampled& sampled) {
  double scale = 0;
  for (double value : sampled.reference) scale = std::max(scale, std::fabs(value));
  for (std::size_t i = 0; i < sampled.reference.size(); ++i) {
    const double expected = sampled.reference[i], actual = sampled.actual[i];
    if (!(std::fabs(actual - expected) <=
          kConvToleranceF32.atol * scale + kConvToleranceF32.rtol * std::fabs(expected)))
      return ::testing::AssertionFailure()
             << "sample " << i << ": " << actual << " vs " << expected << " (scale " << scale << ")";
  }
  return ::testing::AssertionSuccess();
}

// Index of (n, d, h, w, c) in a (kN, kS, kS, kS, channels) channels-last tensor.
std::int64_t at(std::int64_t n, std::int64_t d, std::int64_t h, std::int64_t w, std::int64_t c,
                std::int64_t channels = kC) {
  return (((n * kS + d) * kS + h) * kS + w) * channels + c;
}

bool inside(std::int64_t i) { return i >= 0 && i < kS; }

TEST(ConvF32LargeGpu, AllPassesRunAndMatchSampledDoubleSums) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *testing::gpu();
  const ConvGeometry geometry = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const Shape x_shape{kN, kS, kS, kS, kC}, w_shape{kC, kK, kK, kK, kC};
  const Tensor x = testing::random_uniform(x_shape, DType::f32);
  const Tensor w = testing::random_uniform(w_shape, DType::f32, -0.2, 0.2);
  const Tensor dy = testing::random_uniform(x_shape, DType::f32);
  const float* xs = x.data<float>();
  const float* ws = w.data<float>();
  const float* dys = dy.data<float>();
  const Tensor x_gpu = testing::to_device(x, DType::f32), w_gpu = testing::to_device(w, DType::f32),
               dy_gpu = testing::to_device(dy, DType::f32);

  Tensor y, dx, dw;
  ASSERT_NO_THROW(y = testing::to_host_f32(conv_forward(gpu, x_gpu, w_gpu, Tensor(), geometry)));
  ASSERT_NO_THROW(dx = testing::to_host_f32(conv_backward_data(gpu, dy_gpu, w_gpu, geometry, x_shape)));
  ASSERT_NO_THROW(dw = testing::to_host_f32(conv_backward_weight(gpu, x_gpu, dy_gpu, geometry, w_shape)));

  std::mt19937_64& rng = testing::rng();
  std::uniform_int_distribution<std::int64_t> n_of(0, kN - 1), s_of(0, kS - 1), c_of(0, kC - 1), k_of(0, kK - 1);
  Sampled forward, data, weight;
  for (int sample = 0; sample < 300; ++sample) {  // borders are hit often: 1/64 of draws per face
    const std::int64_t n = n_of(rng), d = sample % 5 == 0 ? 0 : s_of(rng), h = s_of(rng),
                       v = sample % 7 == 0 ? kS - 1 : s_of(rng), c = c_of(rng);
    double y_sum = 0, dx_sum = 0;
    for (std::int64_t kd = 0; kd < kK; ++kd)
      for (std::int64_t kh = 0; kh < kK; ++kh)
        for (std::int64_t kw = 0; kw < kK; ++kw) {
          // forward: y[n, o, c] = sum x[n, o - 1 + k, ci] w[c, k, ci]
          const std::int64_t id = d - 1 + kd, ih = h - 1 + kh, iw = v - 1 + kw;
          if (inside(id) && inside(ih) && inside(iw))
            for (std::int64_t ci = 0; ci < kC; ++ci)
              y_sum += double(xs[at(n, id, ih, iw, ci)]) * ws[(((c * kK + kd) * kK + kh) * kK + kw) * kC + ci];
          // backward data: dx[n, i, c] = sum dy[n, i + 1 - k, co] w[co, k, c]
          const std::int64_t od = d + 1 - kd, oh = h + 1 - kh, ow = v + 1 - kw;
          if (inside(od) && inside(oh) && inside(ow))
            for (std::int64_t co = 0; co < kC; ++co)
              dx_sum += double(dys[at(n, od, oh, ow, co)]) * ws[(((co * kK + kd) * kK + kh) * kK + kw) * kC + c];
        }
    forward.reference.push_back(y_sum);
    forward.actual.push_back(y.data<float>()[at(n, d, h, v, c)]);
    data.reference.push_back(dx_sum);
    data.actual.push_back(dx.data<float>()[at(n, d, h, v, c)]);
  }
  for (int sample = 0; sample < 6; ++sample) {  // each dw element sums 2 x 128^3 products
    const std::int64_t co = c_of(rng), kd = k_of(rng), kh = k_of(rng), kw = k_of(rng), ci = c_of(rng);
    double sum = 0;
    for (std::int64_t n = 0; n < kN; ++n)
      for (std::int64_t d = 0; d < kS; ++d)
        for (std::int64_t h = 0; h < kS; ++h)
          for (std::int64_t v = 0; v < kS; ++v) {
            const std::int64_t id = d - 1 + kd, ih = h - 1 + kh, iw = v - 1 + kw;
            if (inside(id) && inside(ih) && inside(iw))
              sum += double(dys[at(n, d, h, v, co)]) * xs[at(n, id, ih, iw, ci)];
          }
    weight.reference.push_back(sum);
    weight.actual.push_back(dw.data<float>()[(((co * kK + kd) * kK + kh) * kK + kw) * kC + ci]);
  }
  EXPECT_TRUE(within_f32_tolerance(forward)) << "forward";
  EXPECT_TRUE(within_f32_tolerance(data)) << "backward data";
  EXPECT_TRUE(within_f32_tolerance(weight)) << "backward weight";
}

}  // namespace
}  // namespace nnuc
