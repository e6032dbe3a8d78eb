// Split convolutions on a GPU (kernels/conv/conv_chunk.h): under small element limits, every pass and
// the transposed convolution against the CPU in f32 and bf16, the allocator peak equal to Meta's once
// plans are cached; a single sample of more than 2^31 elements (bf16, > 8 GB; skipped when the
// device has too little free memory) against the CPU on rows at the splits and ends and against a
// run split at other rows; and the fallback to a smaller cuDNN workspace when the chosen one cannot
// be allocated.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_chunk.h"
#include "kernels/conv/conv_internal.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

Tensor as_stored(const Tensor& host, DType dtype) { return dtype == DType::bf16 ? testing::round_to_bf16(host) : host; }

::testing::AssertionResult within_tolerance(const Tensor& device_result, const Tensor& cpu_reference, DType dtype) {
  const Tolerance tolerance = dtype == DType::bf16 ? kConvToleranceBF16 : kConvToleranceF32;
  double scale = 0;
  for (double value : cpu_reference.to_vector<double>()) scale = std::max(scale, std::fabs(value));
  return testing::all_close(testing::to_host_f32(device_result), cpu_reference, tolerance.atol * scale, tolerance.rtol);
}

struct SplitCase {
  const char* name;
  Shape x;
  int co;
  ConvGeometry geometry;
  std::int64_t limit;
};

std::vector<SplitCase> split_cases() {
  return {
      // two samples, then one (batch split)
      {"batch_split", Shape{3, 6, 7, 5, 8}, 16, ConvGeometry{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}}, 2 * 6 * 7 * 5 * 16},
      // rows of 3 (window 5) with staged first and last rows
      {"rows_k3_s1", Shape{2, 11, 9, 7, 8}, 16, ConvGeometry{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}}, 5 * 9 * 7 * 16},
      // stride 2, odd depth, odd channel counts
      {"rows_k3_s2_odd", Shape{1, 13, 8, 9, 3}, 5, ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}, 7 * 8 * 9 * 3},
      // 1x3x3 kernels: no D halo
      {"rows_k1x3x3", Shape{1, 7, 10, 6, 8}, 8, ConvGeometry{{1, 3, 3}, {1, 1, 1}, {0, 1, 1}}, 2 * 10 * 6 * 8},
  };
}

TEST(ConvChunkGpu, SplitPassesMatchCpu) {
  NNUC_REQUIRE_GPU();
  std::unique_ptr<Context> gpu = Context::cuda(0);
  for (const SplitCase& c : split_cases()) {
    SCOPED_TRACE(c.name);
    gpu->set_conv_element_limit(c.limit);
    const Shape w_shape{c.co, c.geometry.kernel[0], c.geometry.kernel[1], c.geometry.kernel[2], c.x[4]};
    ASSERT_GT(plan_conv_chunks(c.x, w_shape, c.geometry, c.limit).chunks.size(), 1u) << "the case does not split";
    const Shape y_shape = conv_output_shape(c.x, w_shape, c.geometry);
    const Tensor x = testing::random_uniform(c.x, DType::f32), w = testing::random_uniform(w_shape, DType::f32);
    const Tensor dy = testing::random_uniform(y_shape, DType::f32),
                 bias = testing::random_uniform(Shape{c.co}, DType::f32);
    for (DType dtype : {DType::f32, DType::bf16}) {
      SCOPED_TRACE(dtype_name(dtype));
      const Tensor xs = as_stored(x, dtype), ws = as_stored(w, dtype), dys = as_stored(dy, dtype);
      const Tensor xd = testing::to_device(x, dtype), wd = testing::to_device(w, dtype);
      const Tensor dyd = testing::to_device(dy, dtype), bias_d = testing::to_device(bias, DType::f32);
      EXPECT_TRUE(within_tolerance(conv_forward(*gpu, xd, wd, bias_d, c.geometry),
                                   conv_forward(Context::cpu(), xs, ws, bias, c.geometry), dtype));
      EXPECT_TRUE(within_tolerance(conv_backward_data(*gpu, dyd, wd, c.geometry, c.x),
                                   conv_backward_data(Context::cpu(), dys, ws, c.geometry, c.x), dtype));
      EXPECT_TRUE(within_tolerance(conv_backward_weight(*gpu, xd, dyd, c.geometry, w_shape),
                                   conv_backward_weight(Context::cpu(), xs, dys, c.geometry, w_shape), dtype));

      // Plans cached: the allocator peak is the output plus conv_workspace_bytes (staging included),
      // and a Meta context with the same limit and the imported plans accounts the same.
      auto meta = Context::meta(Device::CUDA);
      meta->set_workspace_cap(gpu->workspace_cap());
      meta->set_conv_element_limit(c.limit);
      meta->conv_plans().import_from(gpu->conv_plans());
      const Tensor mx = Tensor::empty(c.x, dtype, *meta), mw = Tensor::empty(w_shape, dtype, *meta);
      std::size_t peaks[2] = {0, 0};
      for (int run = 0; run < 2; ++run) {
        const Context& ctx = run == 0 ? *gpu : *meta;
        Allocator& allocator = allocator_for(ctx.device());
        gpu->synchronize();
        const std::size_t base = allocator.stats().current_bytes;
        allocator.reset_peak();
        const Tensor y = run == 0 ? conv_forward(ctx, xd, wd, Tensor(), c.geometry)
                                  : conv_forward(ctx, mx, mw, Tensor(), c.geometry);
        peaks[run] = allocator.stats().peak_bytes - base;
        EXPECT_EQ(peaks[run], rounded_allocation_bytes(y.bytes()) +
                                  conv_workspace_bytes(ConvPass::forward, c.x, w_shape, c.geometry, dtype, ctx));
      }
      EXPECT_EQ(peaks[0], peaks[1]);
    }
  }
}

TEST(ConvChunkGpu, SplitTransposedConvolutionMatchesCpu) {
  NNUC_REQUIRE_GPU();
  std::unique_ptr<Context> gpu = Context::cuda(0);
  const std::array<int, 3> stride{2, 2, 2};
  const Shape x_shape{2, 6, 5, 4, 16}, w_shape{16, 2, 2, 2, 8};
  const Shape y_shape = conv_transpose_output_shape(x_shape, w_shape, stride);
  gpu->set_conv_element_limit(3 * 10 * 8 * 8);  // windows of 2 upsampled rows: one row of x per call
  const Tensor x = testing::random_uniform(x_shape, DType::f32), w = testing::random_uniform(w_shape, DType::f32);
  const Tensor dy = testing::random_uniform(y_shape, DType::f32), bias = testing::random_uniform(Shape{8}, DType::f32);
  for (DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor xs = as_stored(x, dtype), ws = as_stored(w, dtype), dys = as_stored(dy, dtype);
    const Tensor xd = testing::to_device(x, dtype), wd = testing::to_device(w, dtype);
    const Tensor dyd = testing::to_device(dy, dtype), bias_d = testing::to_device(bias, DType::f32);
    EXPECT_TRUE(within_tolerance(conv_transpose_forward(*gpu, xd, wd, bias_d, stride),
                                 conv_transpose_forward(Context::cpu(), xs, ws, bias, stride), dtype));
    EXPECT_TRUE(within_tolerance(conv_transpose_backward_data(*gpu, dyd, wd, stride),
                                 conv_transpose_backward_data(Context::cpu(), dys, ws, stride), dtype));
    EXPECT_TRUE(within_tolerance(conv_transpose_backward_weight(*gpu, xd, dyd, stride),
                                 conv_transpose_backward_weight(Context::cpu(), xs, dys, stride), dtype));
  }
}

// When the chosen algorithm's workspace cannot be had, the call runs with a smaller one: the two
// injected failures make the workspace allocation and its retry fail.
TEST(ConvChunkGpu, WorkspaceOutOfMemoryFallsBackToASmallerWorkspace) {
  NNUC_REQUIRE_GPU();
#ifdef NNUC_WITH_CUDA  // cuda::conv_forward: the output is allocated here, so the workspace is the first allocation
  std::unique_ptr<Context> gpu = Context::cuda(0);
  const Shape x_shape{2, 16, 24, 24, 32}, w_shape{32, 3, 3, 3, 32};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const Tensor x = testing::random_uniform(x_shape, DType::f32), w = testing::random_uniform(w_shape, DType::f32);
  const Tensor xd = testing::to_device(x, DType::bf16), wd = testing::to_device(w, DType::bf16);
  const Tensor expected =
      conv_forward(Context::cpu(), testing::round_to_bf16(x), testing::round_to_bf16(w), Tensor(), g);
  Tensor y = Tensor::empty(conv_output_shape(x_shape, w_shape, g), DType::bf16, *gpu);
  cuda::conv_forward(*gpu, xd, wd, g, y);  // chooses and caches a plan
  const std::size_t chosen = conv_workspace_bytes(ConvPass::forward, x_shape, w_shape, g, DType::bf16, *gpu);
  if (chosen == 0) GTEST_SKIP() << "cuDNN chose an algorithm without workspace: nothing to fall back from";
  allocator_for(Device::CUDA).fail_next_allocations(2);
  cuda::conv_forward(*gpu, xd, wd, g, y);
  allocator_for(Device::CUDA).fail_next_allocations(0);
  EXPECT_LT(conv_workspace_bytes(ConvPass::forward, x_shape, w_shape, g, DType::bf16, *gpu), chosen);
  EXPECT_TRUE(within_tolerance(y, expected, DType::bf16));
#endif
}

// ---- One sample of more than 2^31 elements -----------------------------------------------------

// A host bf16 tensor of uniform values in [-1, 1) from a counter hash (fast for billions of values).
Tensor hashed_bf16(const Shape& shape, std::uint64_t seed) {
  Tensor host = Tensor::empty_cpu(shape, DType::bf16);
  bf16* data = host.data<bf16>();
  const std::int64_t count = shape.numel();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint64_t z = seed + static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    data[i] = float_to_bf16(static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-53 * 2.0 - 1.0));
  }
  return host;
}

// Rows [first, first + count) along D of a host tensor (N = 1) as f32, zero rows outside [0, D).
Tensor rows_f32(const Tensor& host_bf16, std::int64_t first, std::int64_t count) {
  const Shape& s = host_bf16.shape();
  const std::int64_t row = s[2] * s[3] * s[4];
  Tensor out = Tensor::empty_cpu(Shape{1, count, s[2], s[3], s[4]}, DType::f32);
  const bf16* in = host_bf16.data<bf16>();
  float* o = out.data<float>();
  for (std::int64_t r = 0; r < count; ++r) {
    const std::int64_t source = first + r;
    for (std::int64_t i = 0; i < row; ++i)
      o[r * row + i] = source >= 0 && source < s[1] ? bf16_to_float(in[source * row + i]) : 0.0f;
  }
  return out;
}

// bf16 tolerance against an f32 CPU reference on the same (bf16) inputs.
::testing::AssertionResult close_to_reference(const Tensor& actual, const Tensor& expected) {
  double scale = 0;
  for (double value : expected.to_vector<double>()) scale = std::max(scale, std::fabs(value));
  return testing::all_close(actual, expected, kConvToleranceBF16.atol * scale, kConvToleranceBF16.rtol);
}

Tensor to_host(const Tensor& device, const Context& ctx) {
  Tensor host = Tensor::empty_cpu(device.shape(), device.dtype());
  host.copy_from(device, ctx);
  return host;
}

// |a - b| <= atol * max|b| + rtol * |b| over two host bf16 tensors of the same shape.
::testing::AssertionResult bf16_close(const Tensor& a, const Tensor& b) {
  const bf16* pa = a.data<bf16>();
  const bf16* pb = b.data<bf16>();
  const std::int64_t count = a.numel();
  float scale = 0;
#pragma omp parallel for reduction(max : scale)
  for (std::int64_t i = 0; i < count; ++i) scale = std::max(scale, std::fabs(bf16_to_float(pb[i])));
  std::int64_t failures = 0;
#pragma omp parallel for reduction(+ : failures)
  for (std::int64_t i = 0; i < count; ++i) {
    const float va = bf16_to_float(pa[i]), vb = bf16_to_float(pb[i]);
    if (!(std::fabs(va - vb) <= kConvToleranceBF16.atol * scale + kConvToleranceBF16.rtol * std::fabs(vb))) ++failures;
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << failures << " of " << count << " elements differ";
}

TEST(ConvHugeGpu, OneSampleOfMoreThan2To31ElementsMatchesCpuRowsAndAnotherSplit) {
  NNUC_REQUIRE_GPU();
  const Shape x_shape{1, 1040, 512, 512, 8};  // 2.18e9 elements: 4.4 GB in bf16
  const Shape w_shape{8, 3, 3, 3, 8};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  ASSERT_GT(x_shape.numel(), std::int64_t{1} << 31);
  const std::optional<CudaMemoryState> memory = cuda_memory_state();
  constexpr std::uint64_t kNeeded = std::uint64_t{28} << 30;  // x, dy and two results, plus slack
  if (!memory || memory->device_free < kNeeded) GTEST_SKIP() << "needs 28 GiB of free device memory";
  std::unique_ptr<Context> gpu = Context::cuda(0);
  gpu->conv_plans().benchmark = false;  // heuristics: no timing runs on 4 GB tensors
  const ConvChunking plan = plan_conv_chunks(x_shape, w_shape, g, gpu->conv_element_limit());
  ASSERT_TRUE(plan.split_rows);
  std::vector<std::int64_t> rows = {0, 1, x_shape[1] - 2, x_shape[1] - 1};  // the padded ends ...
  for (const ConvChunk& chunk : plan.chunks)                                // ... and both sides of every split
    if (chunk.out_begin > 0) rows.insert(rows.end(), {chunk.out_begin - 1, chunk.out_begin});
  const Tensor x_host = hashed_bf16(x_shape, 1), dy_host = hashed_bf16(x_shape, 2);
  const Tensor w_host = testing::round_to_bf16(testing::random_uniform(w_shape, DType::f32));
  const Tensor xd = x_host.copy_to(*gpu), dyd = dy_host.copy_to(*gpu);
  const Tensor wd = testing::to_device(w_host, DType::bf16);
  const ConvGeometry no_d_padding{g.kernel, g.stride, {0, g.padding[1], g.padding[2]}};
  const std::int64_t other_limit = std::int64_t{1} << 28;
  {
    const Tensor y = to_host(conv_forward(*gpu, xd, wd, Tensor(), g), *gpu);
    for (std::int64_t o : rows) {  // output row o reads x rows o - 1 .. o + 1
      SCOPED_TRACE("forward row " + std::to_string(o));
      const Tensor expected = conv_forward(Context::cpu(), rows_f32(x_host, o - 1, 3), w_host, Tensor(), no_d_padding);
      EXPECT_TRUE(close_to_reference(rows_f32(y, o, 1), expected));
    }
    gpu->set_conv_element_limit(other_limit);
    const Tensor y_other = to_host(conv_forward(*gpu, xd, wd, Tensor(), g), *gpu);
    gpu->set_conv_element_limit(kDefaultConvElementLimit);
    EXPECT_TRUE(bf16_close(y_other, y));
  }
  {
    const Tensor dx = to_host(conv_backward_data(*gpu, dyd, wd, g, x_shape), *gpu);
    for (std::int64_t i : rows) {  // dx row i receives from dy rows i - 1 .. i + 1: row 2 of a 5-row window
      SCOPED_TRACE("backward data row " + std::to_string(i));
      const Tensor window = conv_backward_data(Context::cpu(), rows_f32(dy_host, i - 1, 3), w_host, no_d_padding,
                                               Shape{1, 5, x_shape[2], x_shape[3], x_shape[4]});
      const std::vector<float> all = window.to_vector<float>();
      const std::int64_t row = x_shape[2] * x_shape[3] * x_shape[4];
      const Tensor expected = Tensor::from_vector(Shape{1, 1, x_shape[2], x_shape[3], x_shape[4]},
                                                  std::vector<float>(all.begin() + 2 * row, all.begin() + 3 * row));
      EXPECT_TRUE(close_to_reference(rows_f32(dx, i, 1), expected));
    }
    gpu->set_conv_element_limit(other_limit);
    const Tensor dx_other = to_host(conv_backward_data(*gpu, dyd, wd, g, x_shape), *gpu);
    gpu->set_conv_element_limit(kDefaultConvElementLimit);
    EXPECT_TRUE(bf16_close(dx_other, dx));
  }
  {
    const Tensor dw = testing::to_host_f32(conv_backward_weight(*gpu, xd, dyd, g, w_shape));
    gpu->set_conv_element_limit(other_limit);
    const Tensor dw_other = testing::to_host_f32(conv_backward_weight(*gpu, xd, dyd, g, w_shape));
    double scale = 0;
    for (double value : dw.to_vector<double>()) scale = std::max(scale, std::fabs(value));
    EXPECT_TRUE(testing::all_close(dw_other, dw, kConvToleranceBF16.atol * scale, 2 * kConvToleranceBF16.rtol));
  }
}

}  // namespace
}  // namespace nnuc
