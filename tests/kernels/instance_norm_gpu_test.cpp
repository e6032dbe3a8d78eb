// kernels/norm on a GPU: instance_norm_leaky_relu_{forward,backward} and leaky_relu_{forward,backward},
// CUDA vs CPU in f32 and bf16 at the tolerances their headers declare, repeatability, and CUDA vs Meta
// allocator peaks.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/core/allocator.h"
#include "kernels/norm/instance_norm.h"
#include "kernels/norm/leaky_relu.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("instance_norm_leaky_relu_forward");
NNUC_COVER_CUDA("instance_norm_leaky_relu_backward");
NNUC_COVER_CUDA("leaky_relu_forward");
NNUC_COVER_CUDA("leaky_relu_backward");

namespace nnuc {
namespace {

// (N, D, H, W, C). The CUDA plan changes with C: vector widths 16, 8, 4, 2 bytes (C = 32, 12, 6, 3/33),
// several channel tiles with a partial last one (C = 1000), block_x = 40 (C = 320 in bf16), many
// chunks with a partial last chunk and rows left after the unrolled loop (17·19·23 rows), 2-D.
const std::vector<Shape> kShapes = {
    Shape{1, 3, 5, 7, 3},    Shape{2, 1, 9, 11, 5},   Shape{2, 4, 3, 5, 1},     Shape{1, 2, 3, 4, 33},
    Shape{2, 5, 6, 7, 12},   Shape{2, 3, 4, 5, 6},    Shape{2, 17, 19, 23, 32}, Shape{3, 6, 7, 9, 320},
    Shape{1, 3, 4, 5, 1000}, Shape{2, 1, 64, 64, 64},
};

struct Case {
  DType dtype;
  double slope;
  Shape shape;
  std::string str() const {
    return std::string(dtype_name(dtype)) + " " + shape.str() + " slope " + std::to_string(slope);
  }
};

std::vector<Case> cases() {
  std::vector<Case> all;
  for (DType dtype : {DType::f32, DType::bf16})
    for (double slope : {kLeakyReluSlope, 1.0})
      for (const Shape& shape : kShapes) all.push_back(Case{dtype, slope, shape});
  return all;
}

Tolerance tolerance(DType dtype) {
  return dtype == DType::bf16 ? kInstanceNormToleranceBF16 : kInstanceNormToleranceF32;
}

// What a device copy in `dtype` holds, as an f32 host tensor: the CPU runs on exactly these values.
Tensor as_stored(const Tensor& host_f32, DType dtype) {
  return dtype == DType::bf16 ? testing::round_to_bf16(host_f32) : host_f32;
}

// The op allocates its outputs from the stream-ordered pool: fill blocks of the outputs' sizes with NaN
// and hand them back, so that the op most likely receives poisoned memory and an unwritten element fails.
void poison_pool(const std::vector<std::pair<Shape, DType>>& outputs) {
  std::vector<Tensor> blocks;
  for (const auto& [shape, dtype] : outputs) {
    blocks.push_back(Tensor::empty(shape, dtype, *testing::gpu()));
    testing::poison(blocks.back());
  }
}

struct HostInputs {
  Tensor x, gamma, beta, dy;  // f32 host tensors
};

HostInputs random_inputs(const Shape& shape, double low, double high) {
  const Shape per_channel{shape[Activation::C]};
  return HostInputs{
      testing::random_uniform(shape, DType::f32, low, high), testing::random_uniform(per_channel, DType::f32, 0.5, 1.5),
      testing::random_uniform(per_channel, DType::f32, -0.5, 0.5), testing::random_uniform(shape, DType::f32)};
}

TEST(InstanceNormGpu, ForwardMatchesCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  for (const Case& c : cases())
    for (const auto& [low, high] : {std::pair{-1.0, 1.0}, std::pair{3.0, 7.0}}) {
      SCOPED_TRACE(c.str() + " x in [" + std::to_string(low) + ", " + std::to_string(high) + ")");
      const HostInputs in = random_inputs(c.shape, low, high);
      const Tensor x = as_stored(in.x, c.dtype);
      InstanceNormStats cpu_stats, gpu_stats;
      const Tensor expected =
          instance_norm_leaky_relu_forward(Context::cpu(), x, in.gamma, in.beta, kInstanceNormEps, c.slope, &cpu_stats);
      const Shape stats_shape{c.shape[0], c.shape[4]};
      poison_pool({{c.shape, c.dtype}, {stats_shape, DType::f32}, {stats_shape, DType::f32}});
      const Tensor y = instance_norm_leaky_relu_forward(gpu, testing::to_device(in.x, c.dtype), in.gamma.copy_to(gpu),
                                                        in.beta.copy_to(gpu), kInstanceNormEps, c.slope, &gpu_stats);
      ASSERT_EQ(y.device(), Device::CUDA);
      ASSERT_EQ(y.dtype(), c.dtype);
      const Tolerance tol = tolerance(c.dtype);
      EXPECT_TRUE(testing::all_close(testing::to_host_f32(y), expected, tol.atol, tol.rtol));
      // Statistics are f32 in both modes, from the same (rounded) inputs.
      const Tolerance stats_tol = kInstanceNormToleranceF32;
      EXPECT_TRUE(testing::all_close(gpu_stats.mean.to_cpu(), cpu_stats.mean, stats_tol.atol, stats_tol.rtol));
      EXPECT_TRUE(testing::all_close(gpu_stats.inv_std.to_cpu(), cpu_stats.inv_std, stats_tol.atol, stats_tol.rtol));
    }
}

// The CPU backward runs with the CUDA forward's statistics: both then compute z = x · scale + shift to
// the same bits and agree on the leaky-ReLU mask, so no element straddles the kink between them.
TEST(InstanceNormGpu, BackwardMatchesCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.str());
    const HostInputs in = random_inputs(c.shape, -1, 1);
    const Tensor x = testing::to_device(in.x, c.dtype), dy = testing::to_device(in.dy, c.dtype);
    const Tensor gamma = in.gamma.copy_to(gpu), beta = in.beta.copy_to(gpu);
    InstanceNormStats gpu_stats;
    instance_norm_leaky_relu_forward(gpu, x, gamma, beta, kInstanceNormEps, c.slope, &gpu_stats);
    const InstanceNormStats host_stats{gpu_stats.mean.to_cpu(), gpu_stats.inv_std.to_cpu()};
    const InstanceNormGrads expected = instance_norm_leaky_relu_backward(
        Context::cpu(), as_stored(in.dy, c.dtype), as_stored(in.x, c.dtype), in.gamma, in.beta, host_stats, c.slope);
    poison_pool({{c.shape, c.dtype}, {Shape{c.shape[4]}, DType::f32}, {Shape{c.shape[4]}, DType::f32}});
    const InstanceNormGrads grads = instance_norm_leaky_relu_backward(gpu, dy, x, gamma, beta, gpu_stats, c.slope);
    ASSERT_EQ(grads.dx.dtype(), c.dtype);
    const Tolerance tol = tolerance(c.dtype);
    EXPECT_TRUE(testing::all_close(testing::to_host_f32(grads.dx), expected.dx, tol.atol, tol.rtol)) << "dx";
    const Tolerance param_tol = kInstanceNormParamGradTolerance;
    const double sum_atol = param_tol.atol * std::sqrt(static_cast<double>(c.shape.numel() / c.shape[4]));
    EXPECT_TRUE(testing::all_close(grads.dgamma.to_cpu(), expected.dgamma, sum_atol, param_tol.rtol)) << "dgamma";
    EXPECT_TRUE(testing::all_close(grads.dbeta.to_cpu(), expected.dbeta, sum_atol, param_tol.rtol)) << "dbeta";
  }
}

// Partials are merged in a fixed order without atomics: two runs give the same bits.
TEST(InstanceNormGpu, Repeatable) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const Shape shape{2, 17, 19, 23, 32};
  const HostInputs in = random_inputs(shape, -1, 1);
  const Tensor x = testing::to_device(in.x, DType::bf16), dy = testing::to_device(in.dy, DType::bf16);
  const Tensor gamma = in.gamma.copy_to(gpu), beta = in.beta.copy_to(gpu);
  auto run = [&] {
    InstanceNormStats stats;
    const Tensor y = instance_norm_leaky_relu_forward(gpu, x, gamma, beta, kInstanceNormEps, kLeakyReluSlope, &stats);
    const InstanceNormGrads grads = instance_norm_leaky_relu_backward(gpu, dy, x, gamma, beta, stats, kLeakyReluSlope);
    return std::vector<std::vector<float>>{
        y.to_vector<float>(),        stats.mean.to_vector<float>(),   stats.inv_std.to_vector<float>(),
        grads.dx.to_vector<float>(), grads.dgamma.to_vector<float>(), grads.dbeta.to_vector<float>()};
  };
  EXPECT_EQ(run(), run());
}

using testing::peak_bytes_of;

TEST(InstanceNormGpu, MetaPeakEqualsCudaPeak) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  auto meta = Context::meta(Device::CUDA);
  for (DType dtype : {DType::f32, DType::bf16})
    for (const Shape& shape : {Shape{2, 17, 19, 23, 32}, Shape{1, 3, 4, 5, 1000}}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str());
      const HostInputs in = random_inputs(shape, -1, 1);
      const Tensor x = testing::to_device(in.x, dtype), dy = testing::to_device(in.dy, dtype);
      const Tensor gamma = in.gamma.copy_to(gpu), beta = in.beta.copy_to(gpu);
      const Shape per_channel{shape[4]};
      const Tensor meta_x = Tensor::empty(shape, dtype, *meta), meta_dy = Tensor::empty(shape, dtype, *meta);
      const Tensor meta_gamma = Tensor::empty(per_channel, DType::f32, *meta);
      const Tensor meta_beta = Tensor::empty(per_channel, DType::f32, *meta);
      InstanceNormStats stats, meta_stats;
      const std::size_t cuda_forward = peak_bytes_of(gpu, [&] {
        instance_norm_leaky_relu_forward(gpu, x, gamma, beta, kInstanceNormEps, kLeakyReluSlope, &stats);
      });
      const std::size_t meta_forward = peak_bytes_of(*meta, [&] {
        instance_norm_leaky_relu_forward(*meta, meta_x, meta_gamma, meta_beta, kInstanceNormEps, kLeakyReluSlope,
                                         &meta_stats);
      });
      EXPECT_EQ(cuda_forward, meta_forward);
      EXPECT_GE(cuda_forward,
                rounded_allocation_bytes(instance_norm_forward_workspace_bytes(Device::CUDA, shape, dtype)));
      const std::size_t cuda_backward = peak_bytes_of(
          gpu, [&] { instance_norm_leaky_relu_backward(gpu, dy, x, gamma, beta, stats, kLeakyReluSlope); });
      const std::size_t meta_backward = peak_bytes_of(*meta, [&] {
        instance_norm_leaky_relu_backward(*meta, meta_dy, meta_x, meta_gamma, meta_beta, meta_stats, kLeakyReluSlope);
      });
      EXPECT_EQ(cuda_backward, meta_backward);
      const std::size_t cuda_leaky = peak_bytes_of(gpu, [&] { leaky_relu_forward(gpu, x, kLeakyReluSlope); });
      const std::size_t meta_leaky = peak_bytes_of(*meta, [&] { leaky_relu_forward(*meta, meta_x, kLeakyReluSlope); });
      EXPECT_EQ(cuda_leaky, meta_leaky);
    }
}

TEST(InstanceNormGpu, RejectsCpuOnlyDtype) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const Tensor x = testing::random_uniform(Shape{1, 2, 3, 4, 5}, DType::f64).copy_to(gpu);
  const Tensor gamma = testing::random_uniform(Shape{5}, DType::f64).copy_to(gpu);
  EXPECT_THROW(instance_norm_leaky_relu_forward(gpu, x, gamma, gamma, kInstanceNormEps, kLeakyReluSlope, nullptr),
               InvalidInput);
  EXPECT_THROW(leaky_relu_forward(gpu, x, kLeakyReluSlope), InvalidInput);
}

// ---- leaky ReLU ------------------------------------------------------------------------------------

TEST(LeakyReluGpu, MatchesCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  // 1155 and 13 leave a tail after the 16-byte packs; the large one spans many blocks.
  for (const Shape& shape : {Shape{1, 3, 5, 7, 11}, Shape{13}, Shape{2, 8, 16, 16, 32}, Shape{2, 1, 37, 41, 64}})
    for (DType dtype : {DType::f32, DType::bf16})
      for (double slope : {kLeakyReluSlope, 0.0, 1.0}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str() + " slope " + std::to_string(slope));
        const Tensor x_host = testing::random_uniform(shape, DType::f32);
        const Tensor dy_host = testing::random_uniform(shape, DType::f32);
        const Tensor x = testing::to_device(x_host, dtype), dy = testing::to_device(dy_host, dtype);
        const Tolerance tol = dtype == DType::bf16 ? kLeakyReluToleranceBF16 : kLeakyReluToleranceF32;

        const Tensor expected_y = leaky_relu_forward(Context::cpu(), as_stored(x_host, dtype), slope);
        poison_pool({{shape, dtype}});
        const Tensor y = leaky_relu_forward(gpu, x, slope);
        EXPECT_TRUE(testing::all_close(testing::to_host_f32(y), expected_y, tol.atol, tol.rtol)) << "forward";

        // Backward from the device's y, as the tape would run it.
        const Tensor y_host = testing::to_host_f32(y);
        const Tensor expected_dx = leaky_relu_backward(Context::cpu(), as_stored(dy_host, dtype), y_host, slope);
        poison_pool({{shape, dtype}});
        const Tensor dx = leaky_relu_backward(gpu, dy, y, slope);
        EXPECT_TRUE(testing::all_close(testing::to_host_f32(dx), expected_dx, tol.atol, tol.rtol)) << "backward";
      }
}

}  // namespace
}  // namespace nnuc
