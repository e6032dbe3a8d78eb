// Convolutions on CUDA against the CPU: f32 (reference mode) and bf16 (mixed mode) at the tolerances
// declared in kernels/conv/conv.h, on odd sizes, D = 1, 1x3x3 kernels, stride 2 with odd extents,
// batch > 1, odd and tensor-core-friendly channel counts. Outputs land in memory poisoned with NaN,
// so an element the device skips fails the comparison. Also: CUDA allocator peaks equal
// conv_workspace_bytes + output once a plan is cached, and a Meta context that imported the plans
// accounts the same bytes.
#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/core/allocator.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

NNUC_COVER_CUDA("conv_forward");
NNUC_COVER_CUDA("conv_backward_data");
NNUC_COVER_CUDA("conv_backward_weight");
NNUC_COVER_CUDA("conv_backward_bias");
NNUC_COVER_CUDA("conv_transpose_forward");
NNUC_COVER_CUDA("conv_transpose_backward_data");
NNUC_COVER_CUDA("conv_transpose_backward_weight");

// Leaves `bytes` of NaN in the CUDA pool: the op's next allocation of that size reuses the block, so
// an output element the op does not write stays NaN and fails the comparison.
void poison_next_allocation(std::size_t bytes) {
  Tensor block = Tensor::empty(Shape{static_cast<std::int64_t>(bytes)}, DType::u8, *testing::gpu());
  testing::poison(block);
}

// The host f32 value a device tensor of `dtype` holds for the host tensor `host`.
Tensor as_stored(const Tensor& host, DType dtype) { return dtype == DType::bf16 ? testing::round_to_bf16(host) : host; }

// The operands of the passes: input, weight, bias and output gradient.
struct Operands {
  Tensor x, w, bias, dy;
};
// Random f32 operands on the host.
Operands random_operands(const Shape& x_shape, const Shape& w_shape, std::int64_t co, const Shape& y_shape) {
  return {testing::random_uniform(x_shape, DType::f32), testing::random_uniform(w_shape, DType::f32),
          testing::random_uniform(Shape{co}, DType::f32), testing::random_uniform(y_shape, DType::f32)};
}
// The host values that device tensors of `dtype` hold (the CPU reference's inputs; the bias stays f32).
Operands as_stored(const Operands& host, DType dtype) {
  return {as_stored(host.x, dtype), as_stored(host.w, dtype), host.bias, as_stored(host.dy, dtype)};
}
// The operands on the device in `dtype` (the bias in f32).
Operands on_device(const Operands& host, DType dtype) {
  return {testing::to_device(host.x, dtype), testing::to_device(host.w, dtype),
          testing::to_device(host.bias, DType::f32), testing::to_device(host.dy, dtype)};
}

::testing::AssertionResult within_tolerance(const Tensor& device_result, const Tensor& cpu_reference, DType dtype) {
  const Tolerance tolerance = dtype == DType::bf16 ? kConvToleranceBF16 : kConvToleranceF32;
  double scale = 0;
  for (double value : cpu_reference.to_vector<double>()) scale = std::max(scale, std::fabs(value));
  if (device_result.device() != Device::CUDA)
    return ::testing::AssertionFailure() << "result is on " << device_name(device_result.device());
  if (device_result.shape() != cpu_reference.shape())
    return ::testing::AssertionFailure() << device_result.describe() << " vs " << cpu_reference.describe();
  return testing::all_close(testing::to_host_f32(device_result), cpu_reference, tolerance.atol * scale, tolerance.rtol);
}

struct Case {
  const char* name;
  Shape x;  // (N, D, H, W, Ci)
  int co;
  ConvGeometry geometry;
};
// Test names in CTest's list and in failures: the case's name, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  return {
      {"3x3x3_s1_odd_batch2", Shape{2, 5, 6, 7, 3}, 4, ConvGeometry{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}}},
      {"3x3x3_s2_odd", Shape{1, 7, 9, 5, 4}, 6, ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}},
      {"1x3x3_anisotropic", Shape{2, 3, 8, 7, 5}, 3, ConvGeometry{{1, 3, 3}, {1, 1, 1}, {0, 1, 1}}},
      {"2d_3x3_D1", Shape{3, 1, 11, 9, 6}, 5, ConvGeometry{{1, 3, 3}, {1, 1, 1}, {0, 1, 1}}},
      {"2d_3x3_s2_D1_tc", Shape{2, 1, 13, 15, 8}, 16, ConvGeometry{{1, 3, 3}, {1, 2, 2}, {0, 1, 1}}},
      {"1x1x1_pointwise", Shape{2, 3, 4, 5, 8}, 2, ConvGeometry{{1, 1, 1}, {1, 1, 1}, {0, 0, 0}}},
      {"3x3x3_s1_tc_batch2", Shape{2, 9, 10, 11, 16}, 32, ConvGeometry{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}}},
      {"3x3x3_s2_tc_odd", Shape{2, 9, 11, 13, 32}, 64, ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}},
      {"1x3x3_s122_tc", Shape{1, 5, 9, 11, 32}, 32, ConvGeometry{{1, 3, 3}, {1, 2, 2}, {0, 1, 1}}},
  };
}

class ConvGpuCase : public ::testing::TestWithParam<Case> {};

Shape weight_shape(const Case& c) {
  return Shape{c.co, c.geometry.kernel[0], c.geometry.kernel[1], c.geometry.kernel[2], c.x[4]};
}

TEST_P(ConvGpuCase, MatchesCpu) {
  NNUC_REQUIRE_GPU();
  const Case& c = GetParam();
  const Context& gpu = *testing::gpu();
  const Shape w_shape = weight_shape(c);
  const Shape y_shape = conv_output_shape(c.x, w_shape, c.geometry);
  const Operands host = random_operands(c.x, w_shape, c.co, y_shape);
  for (DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Operands s = as_stored(host, dtype), d = on_device(host, dtype);
    const std::size_t y_bytes = static_cast<std::size_t>(y_shape.numel()) * dtype_size(dtype);

    poison_next_allocation(y_bytes);
    const Tensor y = conv_forward(gpu, d.x, d.w, d.bias, c.geometry);
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_TRUE(within_tolerance(y, conv_forward(Context::cpu(), s.x, s.w, s.bias, c.geometry), dtype));

    poison_next_allocation(y_bytes);
    const Tensor y_plain = conv_forward(gpu, d.x, d.w, Tensor(), c.geometry);
    EXPECT_TRUE(within_tolerance(y_plain, conv_forward(Context::cpu(), s.x, s.w, Tensor(), c.geometry), dtype));

    poison_next_allocation(static_cast<std::size_t>(c.x.numel()) * dtype_size(dtype));
    const Tensor dx = conv_backward_data(gpu, d.dy, d.w, c.geometry, c.x);
    EXPECT_TRUE(within_tolerance(dx, conv_backward_data(Context::cpu(), s.dy, s.w, c.geometry, c.x), dtype));

    poison_next_allocation(static_cast<std::size_t>(w_shape.numel()) * dtype_size(dtype));
    const Tensor dw = conv_backward_weight(gpu, d.x, d.dy, c.geometry, w_shape);
    EXPECT_TRUE(within_tolerance(dw, conv_backward_weight(Context::cpu(), s.x, s.dy, c.geometry, w_shape), dtype));

    poison_next_allocation(static_cast<std::size_t>(c.co) * sizeof(float));
    const Tensor db = conv_backward_bias(gpu, d.dy);
    EXPECT_EQ(db.dtype(), DType::f32);
    EXPECT_TRUE(within_tolerance(db, conv_backward_bias(Context::cpu(), s.dy), dtype));
  }
}

// Once a pass's plan is cached, the CUDA allocator peak of the op is its output plus
// conv_workspace_bytes, and a Meta context that imported the plans (same cap) accounts the same.
TEST_P(ConvGpuCase, CudaAccountsAsMetaWithImportedPlans) {
  NNUC_REQUIRE_GPU();
  const Case& c = GetParam();
  const Context& gpu = *testing::gpu();
  const Shape w_shape = weight_shape(c);
  const Shape y_shape = conv_output_shape(c.x, w_shape, c.geometry);
  const DType dtype = DType::bf16;
  const Tensor xd = testing::to_device(testing::random_uniform(c.x, DType::f32), dtype);
  const Tensor wd = testing::to_device(testing::random_uniform(w_shape, DType::f32), dtype);
  const Tensor dyd = testing::to_device(testing::random_uniform(y_shape, DType::f32), dtype);
  auto meta = Context::meta(Device::CUDA);
  meta->set_workspace_cap(gpu.workspace_cap());
  const Tensor mx = Tensor::empty(c.x, dtype, *meta), mw = Tensor::empty(w_shape, dtype, *meta);
  const Tensor mdy = Tensor::empty(y_shape, dtype, *meta);
  struct Op {
    ConvPass pass;
    std::function<Tensor(const Context&, const Tensor&, const Tensor&, const Tensor&)> run;
  };
  const std::vector<Op> ops = {
      {ConvPass::forward, [&](const Context& ctx, const Tensor& xx, const Tensor& ww,
                              const Tensor&) { return conv_forward(ctx, xx, ww, Tensor(), c.geometry); }},
      {ConvPass::backward_data, [&](const Context& ctx, const Tensor&, const Tensor& ww,
                                    const Tensor& gg) { return conv_backward_data(ctx, gg, ww, c.geometry, c.x); }},
      {ConvPass::backward_weight,
       [&](const Context& ctx, const Tensor& xx, const Tensor&, const Tensor& gg) {
         return conv_backward_weight(ctx, xx, gg, c.geometry, w_shape);
       }},
      {ConvPass::backward_bias,
       [&](const Context& ctx, const Tensor&, const Tensor&, const Tensor& gg) { return conv_backward_bias(ctx, gg); }},
  };
  for (const Op& op : ops) {
    SCOPED_TRACE(conv_pass_name(op.pass));
    op.run(gpu, xd, wd, dyd);  // chooses and caches the plan (cudnnFind may borrow up to the cap)
    gpu.synchronize();
    meta->conv_plans().import_from(gpu.conv_plans());
    const testing::PeakAndOutput on_gpu =
        testing::peak_and_output_of(gpu.device(), [&] { return op.run(gpu, xd, wd, dyd); });
    const testing::PeakAndOutput on_meta =
        testing::peak_and_output_of(meta->device(), [&] { return op.run(*meta, mx, mw, mdy); });
    EXPECT_EQ(on_gpu.peak, on_meta.peak);
    EXPECT_EQ(on_gpu.peak, on_meta.output + conv_workspace_bytes(op.pass, c.x, w_shape, c.geometry, dtype, gpu));
    EXPECT_LE(
        conv_workspace_bytes(op.pass, c.x, w_shape, c.geometry, dtype, gpu),
        op.pass == ConvPass::backward_bias ? std::size_t{1} << 30 : rounded_allocation_bytes(gpu.workspace_cap()));
  }
}

INSTANTIATE_TEST_SUITE_P(ConvGpu, ConvGpuCase, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.name);
                         });

// Heuristic plans (no timing runs) and a small cap give the same results within tolerance.
TEST(ConvGpu, HeuristicPlansUnderSmallCap) {
  NNUC_REQUIRE_GPU();
  std::unique_ptr<Context> gpu = Context::cuda(0);
  gpu->conv_plans().benchmark = false;
  gpu->set_workspace_cap(std::size_t{1} << 20);
  const Shape x_shape{2, 6, 7, 9, 16};
  const ConvGeometry g{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}};
  const Tensor x = testing::random_uniform(x_shape, DType::f32);
  const Tensor w = testing::random_uniform(Shape{24, 3, 3, 3, 16}, DType::f32);
  for (DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor xd = testing::to_device(x, dtype).copy_to(*gpu);
    const Tensor wd = testing::to_device(w, dtype).copy_to(*gpu);
    const Tensor y = conv_forward(*gpu, xd, wd, Tensor(), g);
    gpu->synchronize();
    EXPECT_TRUE(within_tolerance(y, conv_forward(Context::cpu(), as_stored(x, dtype), as_stored(w, dtype), Tensor(), g),
                                 dtype));
    EXPECT_LE(conv_workspace_bytes(ConvPass::forward, x_shape, w.shape(), g, dtype, *gpu),
              rounded_allocation_bytes(std::size_t{1} << 20));
  }
}

// ---- Transposed convolution ------------------------------------------------------------------

struct TransposeCase {
  const char* name;
  Shape x;  // (N, D, H, W, Ci)
  int co;
  std::array<int, 3> stride;
};
// Test names in CTest's list and in failures: the case's name, not its bytes.
void PrintTo(const TransposeCase& c, std::ostream* os) { *os << c.name; }

class ConvTransposeGpuCase : public ::testing::TestWithParam<TransposeCase> {};

TEST_P(ConvTransposeGpuCase, MatchesCpu) {
  NNUC_REQUIRE_GPU();
  const TransposeCase& c = GetParam();
  const Context& gpu = *testing::gpu();
  const Shape w_shape{c.x[4], c.stride[0], c.stride[1], c.stride[2], c.co};
  const Shape y_shape = conv_transpose_output_shape(c.x, w_shape, c.stride);
  const Operands host = random_operands(c.x, w_shape, c.co, y_shape);
  for (DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Operands s = as_stored(host, dtype), d = on_device(host, dtype);

    poison_next_allocation(static_cast<std::size_t>(y_shape.numel()) * dtype_size(dtype));
    const Tensor y = conv_transpose_forward(gpu, d.x, d.w, d.bias, c.stride);
    EXPECT_TRUE(within_tolerance(y, conv_transpose_forward(Context::cpu(), s.x, s.w, s.bias, c.stride), dtype));

    poison_next_allocation(static_cast<std::size_t>(c.x.numel()) * dtype_size(dtype));
    const Tensor dx = conv_transpose_backward_data(gpu, d.dy, d.w, c.stride);
    EXPECT_TRUE(within_tolerance(dx, conv_transpose_backward_data(Context::cpu(), s.dy, s.w, c.stride), dtype));

    poison_next_allocation(static_cast<std::size_t>(w_shape.numel()) * dtype_size(dtype));
    const Tensor dw = conv_transpose_backward_weight(gpu, d.x, d.dy, c.stride);
    EXPECT_TRUE(within_tolerance(dw, conv_transpose_backward_weight(Context::cpu(), s.x, s.dy, c.stride), dtype));

    // Allocator: output + conv_transpose_workspace_bytes, now that the plans are cached.
    const testing::PeakAndOutput again = testing::peak_and_output_of(
        Device::CUDA, [&] { return conv_transpose_forward(gpu, d.x, d.w, d.bias, c.stride); });
    EXPECT_EQ(again.peak,
              again.output + conv_transpose_workspace_bytes(ConvPass::forward, c.x, w_shape, c.stride, dtype, gpu));
  }
}

INSTANTIATE_TEST_SUITE_P(ConvTransposeGpu, ConvTransposeGpuCase,
                         ::testing::Values(TransposeCase{"2x2x2_batch2_odd", Shape{2, 3, 5, 4, 16}, 8, {2, 2, 2}},
                                           TransposeCase{"1x2x2_odd_channels", Shape{1, 3, 4, 5, 6}, 5, {1, 2, 2}},
                                           TransposeCase{"2d_D1", Shape{3, 1, 7, 6, 8}, 4, {1, 2, 2}},
                                           TransposeCase{"2x2x2_tc", Shape{2, 4, 6, 5, 64}, 32, {2, 2, 2}}),
                         [](const ::testing::TestParamInfo<TransposeCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace nnuc
