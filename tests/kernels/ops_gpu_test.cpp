// kernels/elementwise, kernels/layout and kernels/optim on a GPU: every op's CUDA result against
// the CPU result on the same inputs, f32 and bf16 (integer dtypes for the layout ops), at the
// tolerance declared next to the op. Outputs are poisoned (the block an op's output will get is
// filled with 0xFF first: NaN / -1, so an element the op skips shows) and guarded (the bytes after
// a tensor's end, inside its 512-byte allocation, must keep their canary). Meta(CUDA) accounts
// exactly as CUDA.
#include <cmath>
#include <cstring>
#include <string>

#ifdef NNUC_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "kernels/core/allocator.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/reduce.h"
#include "kernels/layout/avg_pool.h"
#include "kernels/layout/concat.h"
#include "kernels/layout/flip.h"
#include "kernels/layout/resize_nearest.h"
#include "kernels/optim/sgd.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("add");
NNUC_COVER_CUDA("scale");
NNUC_COVER_CUDA("axpy");
NNUC_COVER_CUDA("fill");
NNUC_COVER_CUDA("cast");
NNUC_COVER_CUDA("sum");
NNUC_COVER_CUDA("l2_norm");
NNUC_COVER_CUDA("any_nonfinite");
NNUC_COVER_CUDA("clip_coefficient");
NNUC_COVER_CUDA("clip_by_total_norm");
NNUC_COVER_CUDA("concat_channels");
NNUC_COVER_CUDA("split_channels");
NNUC_COVER_CUDA("flip");
NNUC_COVER_CUDA("resize_nearest_exact");
NNUC_COVER_CUDA("avg_pool_forward");
NNUC_COVER_CUDA("avg_pool_backward");
NNUC_COVER_CUDA("sgd_step");

namespace nnuc {
namespace {

const Context& cpu_ctx = Context::cpu();
const Context& gpu() { return *testing::gpu(); }

constexpr unsigned char kCanary = 0xA5;
int guarded_outputs = 0;  // outputs whose poisoned block the op did receive (checked at the end)

std::size_t slack(const Tensor& t) { return rounded_allocation_bytes(t.bytes()) - t.bytes(); }

// Poisons t once the GPU stream is idle (t's block may have been freed there by a kernel still
// running: the memset runs on the legacy stream, which does not wait for the op's stream).
void poison_now(Tensor& t) {
  gpu().synchronize();
  testing::poison(t);
}

// Fills the bytes after t's end inside its allocation with the canary (in-place ops).
void arm_canary(const Tensor& t) {
#ifdef NNUC_WITH_CUDA
  gpu().synchronize();
  if (slack(t) > 0) {
    ASSERT_EQ(cudaMemset(static_cast<char*>(t.raw()) + t.bytes(), kCanary, slack(t)), cudaSuccess);
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
#else
  (void)t;  // no GPU memory in a build without CUDA (the tests skip)
#endif
}

// True when the bytes after t's end still all hold `value`.
bool tail_holds(const Tensor& t, unsigned char value) {
  std::vector<unsigned char> tail(slack(t));
#ifdef NNUC_WITH_CUDA
  if (cudaDeviceSynchronize() != cudaSuccess) return false;
  if (!tail.empty() && cudaMemcpy(tail.data(), static_cast<char*>(t.raw()) + t.bytes(), tail.size(),
                                  cudaMemcpyDeviceToHost) != cudaSuccess)
    return false;
#endif
  for (unsigned char byte : tail)
    if (byte != value) return false;
  return true;
}

// Poisons the blocks the next allocations of these sizes on the GPU stream will receive (the
// stream-ordered pool hands a block freed on a stream to the next request of its size there).
std::vector<void*> prepoison(std::initializer_list<std::size_t> sizes) {
  std::vector<void*> blocks;
  std::vector<Tensor> held;
  for (std::size_t bytes : sizes) {
    Tensor block = Tensor::empty(Shape{static_cast<std::int64_t>(rounded_allocation_bytes(bytes))}, DType::u8, gpu());
    poison_now(block);
    blocks.push_back(block.raw());
    held.push_back(block);
  }
  return blocks;  // freed here, in allocation order
}

// Every output that landed in a poisoned block must have left the bytes after its end poisoned.
void expect_guarded(std::initializer_list<const Tensor*> outputs, const std::vector<void*>& blocks) {
  for (const Tensor* out : outputs)
    for (void* block : blocks)
      if (out->raw() == block) {
        EXPECT_TRUE(tail_holds(*out, 0xFF)) << "write past the end of " << out->describe();
        ++guarded_outputs;
      }
}

// Exact equality of values (NaN equals NaN, the sign of zero counts): CUDA's canonical NaN bits
// may differ from the host conversion's.
::testing::AssertionResult same_values(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << actual.describe() << " vs " << expected.describe();
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool same =
        (std::isnan(a[i]) && std::isnan(e[i])) || (a[i] == e[i] && std::signbit(a[i]) == std::signbit(e[i]));
    if (!same) return ::testing::AssertionFailure() << "index " << i << ": " << a[i] << " vs " << e[i];
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult close_to(const Tensor& cuda, const Tensor& cpu, const Tolerance& tolerance) {
  return testing::all_close(testing::to_host_f32(cuda), cpu, tolerance.atol, tolerance.rtol);
}

// A host input of `dtype`'s values as f32 (bf16: rounded), and its device copy in `dtype`.
struct Input {
  Tensor host, device;
};
Input input(const Shape& shape, DType dtype, double low = -1, double high = 1) {
  Tensor host = testing::random_uniform(shape, DType::f32, low, high);
  if (dtype == DType::bf16) host = testing::round_to_bf16(host);
  return {host, testing::to_device(host, dtype)};
}

// Host tensor of any dtype (labels for the integer ones) and its device copy.
Input any_input(const Shape& shape, DType dtype) {
  Tensor host = is_floating(dtype) ? cast(cpu_ctx, testing::random_uniform(shape, DType::f32), dtype)
                                   : testing::random_labels(shape, dtype, 120);
  return {host, host.copy_to(gpu())};
}

const Tolerance& elementwise_tolerance(DType dtype) {
  return dtype == DType::bf16 ? kElementwiseToleranceBf16 : kElementwiseToleranceF32;
}

const Shape kShapes[] = {Shape{3, 5, 7, 9, 2}, Shape{2, 1, 13, 11, 3}, Shape{1}, Shape{2, 17, 19, 23, 5}};

TEST(OpsGpu, AddScaleAxpyMatchCpu) {
  NNUC_REQUIRE_GPU();
  for (const Shape& shape : kShapes) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      const Input a = input(shape, dtype), b = input(shape, dtype);
      const std::size_t bytes = a.device.bytes();
      std::vector<void*> blocks = prepoison({bytes});
      const Tensor sum_out = add(gpu(), a.device, b.device);
      expect_guarded({&sum_out}, blocks);
      EXPECT_TRUE(close_to(sum_out, add(cpu_ctx, a.host, b.host), elementwise_tolerance(dtype))) << shape.str();
      blocks = prepoison({bytes});
      const Tensor scaled = scale(gpu(), a.device, -1.7);
      expect_guarded({&scaled}, blocks);
      EXPECT_TRUE(close_to(scaled, scale(cpu_ctx, a.host, -1.7), elementwise_tolerance(dtype))) << shape.str();
    }
    // axpy: (y, x) = (f32, f32), (f32, bf16), (bf16, bf16).
    for (auto [y_dtype, x_dtype] :
         {std::pair{DType::f32, DType::f32}, std::pair{DType::f32, DType::bf16}, std::pair{DType::bf16, DType::bf16}}) {
      Input y = input(shape, y_dtype);
      const Input x = input(shape, x_dtype);
      arm_canary(y.device);
      axpy(gpu(), y.device, 0.3, x.device);
      axpy(cpu_ctx, y.host, 0.3, x.host);
      EXPECT_TRUE(close_to(y.device, y.host, elementwise_tolerance(y_dtype))) << dtype_name(x_dtype) << shape.str();
      EXPECT_TRUE(tail_holds(y.device, kCanary));
    }
  }
}

TEST(OpsGpu, FillAndCastMatchCpuBitForBit) {
  NNUC_REQUIRE_GPU();
  const Shape shape{2, 3, 5, 7, 3};
  for (DType dtype : {DType::f32, DType::bf16, DType::f16, DType::f64, DType::i16, DType::i32, DType::i64, DType::u8}) {
    const double value = is_floating(dtype) ? -1.0 / 3 : 77;
    Tensor device = Tensor::empty(shape, dtype, gpu()), host = Tensor::empty_cpu(shape, dtype);
    poison_now(device);
    arm_canary(device);
    fill(gpu(), device, value);
    fill(cpu_ctx, host, value);
    EXPECT_EQ(std::memcmp(device.to_cpu().raw(), host.raw(), host.bytes()), 0) << dtype_name(dtype);
    EXPECT_TRUE(tail_holds(device, kCanary));
  }
  Tensor source = testing::random_uniform(shape, DType::f32, -70000, 70000);
  float* values = source.data<float>();
  values[0] = NAN, values[1] = INFINITY, values[2] = -0.0f, values[3] = 1e-30f, values[4] = 65520.0f, values[5] = 3e-6f;
  const DType floats[] = {DType::f32, DType::bf16, DType::f16};
  for (DType from : floats) {
    const Tensor host = cast(cpu_ctx, source, from);
    const Tensor device = host.copy_to(gpu());
    for (DType to : floats) {
      const std::vector<void*> blocks = prepoison({host.numel() * dtype_size(to)});
      const Tensor out = cast(gpu(), device, to);
      expect_guarded({&out}, blocks);
      EXPECT_TRUE(same_values(out.to_cpu(), cast(cpu_ctx, host, to))) << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
  for (DType from : {DType::i16, DType::i32, DType::i64, DType::u8}) {
    Tensor labels = testing::random_labels(shape, from, 250);
    if (from == DType::i32) labels.data<std::int32_t>()[0] = 16777217;  // rounds to nearest even in f32
    EXPECT_TRUE(same_values(cast(gpu(), labels.copy_to(gpu()), DType::f32).to_cpu(), cast(cpu_ctx, labels, DType::f32)))
        << dtype_name(from);
  }
}

TEST(OpsGpu, ReductionsMatchCpuAndAreDeterministic) {
  NNUC_REQUIRE_GPU();
  for (const Shape& shape :
       {Shape{1}, Shape{31}, Shape{3 * kReduceChunkCuda + 77}, Shape{1000003}, Shape{2, 1, 13, 11, 3}}) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      const Input x = input(shape, dtype, -1, 3);
      const std::vector<void*> blocks = prepoison({4});
      const Tensor result = sum(gpu(), x.device);
      expect_guarded({&result}, blocks);
      EXPECT_EQ(result.rank(), 0);
      EXPECT_TRUE(
          close_to(result, sum(cpu_ctx, x.host), dtype == DType::bf16 ? kReduceToleranceBf16 : kReduceToleranceF32))
          << shape.str() << " " << dtype_name(dtype);
      EXPECT_EQ(sum(gpu(), x.device).to_vector<float>(), result.to_vector<float>());  // same bits every run
    }
  }
  // 40 tensors: more than one multi-tensor launch; f32 and bf16 mixed; an empty one.
  std::vector<Tensor> device_list, host_list, f16_list;
  for (int i = 0; i < 40; ++i) {
    const Shape shape = i == 7 ? Shape{0} : i % 5 == 0 ? Shape{2, 3, 3, 3, 32} : Shape{1 + 37 * i};
    const Input x = input(shape, i % 3 == 0 ? DType::bf16 : DType::f32, -2, 2);
    device_list.push_back(x.device);
    host_list.push_back(x.host);
    f16_list.push_back(testing::to_device(x.host, i % 2 ? DType::f16 : DType::f32));
  }
  const Tensor norm = l2_norm(gpu(), device_list);
  EXPECT_TRUE(close_to(norm, l2_norm(cpu_ctx, host_list), kReduceToleranceF32));
  EXPECT_EQ(l2_norm(gpu(), device_list).to_vector<float>(), norm.to_vector<float>());
  EXPECT_EQ(l2_norm(gpu(), {}).to_vector<float>()[0], 0.0f);
  EXPECT_EQ(any_nonfinite(gpu(), device_list).to_vector<float>()[0], 0.0f);
  EXPECT_EQ(any_nonfinite(gpu(), f16_list).to_vector<float>()[0], 0.0f);
  for (int which : {3, 38, 39}) {  // 3: bf16, first launch; 38: f32, second launch; 39: f16 (of f16_list)
    for (double special : {static_cast<double>(NAN), static_cast<double>(-INFINITY)}) {
      std::vector<Tensor> list = which == 39 ? f16_list : device_list;
      Tensor poisoned = list[static_cast<std::size_t>(which)].copy_to(gpu());
      Tensor one = Tensor::empty(Shape{1}, poisoned.dtype(), gpu());
      fill(gpu(), one, special);
#ifdef NNUC_WITH_CUDA
      ASSERT_EQ(
          cudaMemcpyAsync(static_cast<char*>(poisoned.raw()) + (poisoned.numel() / 2) * dtype_size(poisoned.dtype()),
                          one.raw(), dtype_size(poisoned.dtype()), cudaMemcpyDeviceToDevice,
                          static_cast<cudaStream_t>(gpu().stream())),
          cudaSuccess);  // on the op's stream, after the fill
#endif
      list[static_cast<std::size_t>(which)] = poisoned;
      EXPECT_EQ(any_nonfinite(gpu(), list).to_vector<float>()[0], 1.0f) << which << " " << special;
      if (which != 39) {  // l2_norm takes f32 / bf16 only
        const float norm_with_special = l2_norm(gpu(), list).to_vector<float>()[0];
        EXPECT_TRUE(std::isnan(norm_with_special) || std::isinf(norm_with_special)) << norm_with_special;
      }
    }
  }
  // Clipping: the coefficient and the scaled tensors equal the CPU's bit for bit.
  for (double max_norm : {0.3 * norm.to_vector<double>()[0], 1e6}) {
    EXPECT_TRUE(close_to(clip_coefficient(gpu(), norm, max_norm), clip_coefficient(cpu_ctx, norm.to_cpu(), max_norm),
                         Tolerance{0, 0}));
    std::vector<Tensor> device_copies, host_copies;
    for (std::size_t i = 0; i < device_list.size(); ++i) {
      device_copies.push_back(device_list[i].copy_to(gpu()));
      host_copies.push_back(host_list[i].copy_to(cpu_ctx));
      arm_canary(device_copies.back());
    }
    clip_by_total_norm(gpu(), device_copies, norm, max_norm);
    clip_by_total_norm(cpu_ctx, host_copies, norm.to_cpu(), max_norm);
    for (std::size_t i = 0; i < device_list.size(); ++i) {
      const bool bf = device_copies[i].dtype() == DType::bf16;
      EXPECT_TRUE(close_to(device_copies[i], bf ? testing::round_to_bf16(host_copies[i]) : host_copies[i],
                           bf ? kClipToleranceBf16 : kClipToleranceF32))
          << i;
      EXPECT_TRUE(tail_holds(device_copies[i], kCanary)) << i;
    }
  }
}

TEST(OpsGpu, ConcatSplitFlipResizeMatchCpuBitForBit) {
  NNUC_REQUIRE_GPU();
  struct Pair {
    Shape a, b;
  };
  for (DType dtype : {DType::f32, DType::bf16, DType::i16, DType::u8, DType::f64}) {
    for (const Pair& p :
         {Pair{Shape{2, 3, 5, 7, 3}, Shape{2, 3, 5, 7, 5}}, Pair{Shape{2, 4, 4, 4, 32}, Shape{2, 4, 4, 4, 32}},
          Pair{Shape{1, 1, 9, 11, 1}, Shape{1, 1, 9, 11, 2}}}) {
      const Input a = any_input(p.a, dtype), b = any_input(p.b, dtype);
      const std::size_t out_bytes = (a.host.bytes() + b.host.bytes());
      std::vector<void*> blocks = prepoison({out_bytes});
      const Tensor out = concat_channels(gpu(), a.device, b.device);
      expect_guarded({&out}, blocks);
      const Tensor expected = concat_channels(cpu_ctx, a.host, b.host);
      ASSERT_EQ(std::memcmp(out.to_cpu().raw(), expected.raw(), expected.bytes()), 0) << dtype_name(dtype) << p.a.str();
      blocks = prepoison({a.host.bytes(), b.host.bytes()});
      const auto [first, second] = split_channels(gpu(), out, p.a[4]);
      expect_guarded({&first, &second}, blocks);
      EXPECT_EQ(std::memcmp(first.to_cpu().raw(), a.host.raw(), a.host.bytes()), 0);
      EXPECT_EQ(std::memcmp(second.to_cpu().raw(), b.host.raw(), b.host.bytes()), 0);
    }
    for (const Shape& shape : {Shape{2, 3, 5, 7, 3}, Shape{3, 1, 4, 9, 1}, Shape{1, 6, 5, 4, 32}}) {
      const Input x = any_input(shape, dtype);
      for (unsigned axes = 0; axes < 8; ++axes) {
        const std::vector<void*> blocks = prepoison({x.host.bytes()});
        const Tensor out = flip(gpu(), x.device, axes);
        expect_guarded({&out}, blocks);
        ASSERT_EQ(std::memcmp(out.to_cpu().raw(), flip(cpu_ctx, x.host, axes).raw(), x.host.bytes()), 0)
            << dtype_name(dtype) << shape.str() << " axes " << axes;
      }
    }
    struct Resize {
      Shape in;
      std::array<std::int64_t, 3> out;
    };
    for (const Resize& r : {Resize{Shape{2, 5, 7, 9, 1}, {3, 4, 5}}, Resize{Shape{2, 8, 10, 12, 1}, {4, 5, 6}},
                            Resize{Shape{1, 1, 26, 13, 2}, {1, 11, 13}}, Resize{Shape{3, 3, 4, 5, 3}, {7, 4, 9}}}) {
      const Input x = any_input(r.in, dtype);
      const Tensor expected = resize_nearest_exact(cpu_ctx, x.host, r.out);
      const std::vector<void*> blocks = prepoison({expected.bytes()});
      const Tensor out = resize_nearest_exact(gpu(), x.device, r.out);
      expect_guarded({&out}, blocks);
      ASSERT_EQ(std::memcmp(out.to_cpu().raw(), expected.raw(), expected.bytes()), 0)
          << dtype_name(dtype) << r.in.str();
    }
  }
}

TEST(OpsGpu, AvgPoolMatchesCpu) {
  NNUC_REQUIRE_GPU();
  struct Case {
    Shape input;
    std::array<std::int64_t, 3> kernel;
  };
  for (const Case& c : {Case{Shape{2, 4, 6, 8, 3}, {2, 2, 2}}, Case{Shape{2, 1, 6, 10, 5}, {1, 2, 2}},
                        Case{Shape{1, 5, 7, 9, 2}, {2, 2, 2}}, Case{Shape{3, 6, 4, 9, 1}, {3, 1, 3}},
                        Case{Shape{2, 16, 16, 16, 32}, {2, 2, 2}}}) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      const Tolerance& tolerance = dtype == DType::bf16 ? kAvgPoolToleranceBf16 : kAvgPoolToleranceF32;
      const Input x = input(c.input, dtype);
      const Tensor expected = avg_pool_forward(cpu_ctx, x.host, c.kernel);
      std::vector<void*> blocks = prepoison({expected.numel() * dtype_size(dtype)});
      const Tensor y = avg_pool_forward(gpu(), x.device, c.kernel);
      expect_guarded({&y}, blocks);
      EXPECT_TRUE(close_to(y, expected, tolerance)) << c.input.str() << dtype_name(dtype);
      const Input dy = input(expected.shape(), dtype);
      blocks = prepoison({x.device.bytes()});
      const Tensor dx = avg_pool_backward(gpu(), dy.device, c.input, c.kernel);
      expect_guarded({&dx}, blocks);
      EXPECT_TRUE(close_to(dx, avg_pool_backward(cpu_ctx, dy.host, c.input, c.kernel), tolerance))
          << c.input.str() << dtype_name(dtype);
    }
  }
}

TEST(OpsGpu, SgdStepMatchesCpuBitForBit) {
  NNUC_REQUIRE_GPU();
  const SgdOptions options;
  std::vector<Tensor> params, buffers, host_params, host_buffers;
  for (int i = 0; i < 40; ++i) {
    const Shape shape = i % 4 == 0 ? Shape{16, 3, 3, 3, 8} : Shape{1 + 29 * i};
    const Input p = input(shape, DType::f32);
    params.push_back(p.device);
    host_params.push_back(p.host);
    buffers.push_back(Tensor::empty(shape, DType::f32, gpu()));
    poison_now(buffers.back());  // not read on the first step
    host_buffers.push_back(Tensor::empty_cpu(shape, DType::f32));
    arm_canary(params.back());
    arm_canary(buffers.back());
  }
  for (int step = 0; step < 4; ++step) {
    std::vector<Tensor> grads, host_grads;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Input g = input(params[i].shape(), i % 2 ? DType::bf16 : DType::f32, -3, 3);
      grads.push_back(g.device);
      host_grads.push_back(g.host);
    }
    Tensor scale_device, scale_host, skip_device, skip_host;
    if (step == 2) {  // unscale / clip through a device scalar
      scale_host = Tensor::from_vector(Shape{}, std::vector<float>{0.37f});
      scale_device = scale_host.copy_to(gpu());
    }
    if (step == 3) {  // a skipped step changes nothing
      skip_host = Tensor::from_vector(Shape{}, std::vector<float>{1.0f});
      skip_device = skip_host.copy_to(gpu());
    }
    sgd_step(gpu(), params, grads, buffers, options, step == 0, scale_device, skip_device);
    sgd_step(cpu_ctx, host_params, host_grads, host_buffers, options, step == 0, scale_host, skip_host);
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(close_to(params[i], host_params[i], i % 2 ? kSgdToleranceBf16Grad : kSgdToleranceF32))
          << step << " " << i;
      EXPECT_TRUE(close_to(buffers[i], host_buffers[i], i % 2 ? kSgdToleranceBf16Grad : kSgdToleranceF32))
          << step << " " << i;
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(tail_holds(params[i], kCanary)) << i;
    EXPECT_TRUE(tail_holds(buffers[i], kCanary)) << i;
  }
}

TEST(OpsGpu, MetaAccountsExactlyAsCuda) {
  NNUC_REQUIRE_GPU();
  auto meta = Context::meta(Device::CUDA);
  auto run_all = [&](const Context& ctx) {
    const Tensor a = Tensor::empty(Shape{2, 4, 6, 8, 3}, DType::bf16, ctx),
                 b = Tensor::empty(Shape{2, 4, 6, 8, 5}, DType::bf16, ctx);
    const Tensor big = Tensor::empty(Shape{5 * kReduceChunkCuda + 3}, DType::f32, ctx);
    const Tensor labels = Tensor::empty(Shape{2, 5, 7, 9, 1}, DType::i16, ctx);
    const Tensor pooled = Tensor::empty(Shape{2, 2, 3, 4, 3}, DType::bf16, ctx);
    if (ctx.device() == Device::CUDA)
      for (Tensor t : {a, b, big, pooled}) fill(ctx, t, 0.5);
    std::vector<std::size_t> peaks;
    Allocator& allocator = allocator_for(ctx.device());
    auto peak = [&](auto&& run) {
      const std::size_t base = allocator.stats().current_bytes;
      allocator.reset_peak();
      run();
      ctx.synchronize();
      peaks.push_back(allocator.stats().peak_bytes - base);
    };
    peak([&] { add(ctx, a, a); });
    peak([&] { cast(ctx, a, DType::f32); });
    peak([&] { sum(ctx, big); });
    peak([&] { l2_norm(ctx, {big, a, b}); });
    peak([&] { any_nonfinite(ctx, {big, a}); });
    peak([&] { concat_channels(ctx, a, b); });
    peak([&] { split_channels(ctx, b, 2); });
    peak([&] { flip(ctx, a, kFlipH); });
    peak([&] { resize_nearest_exact(ctx, labels, {3, 4, 5}); });
    peak([&] { avg_pool_forward(ctx, a, {2, 2, 2}); });
    peak([&] { avg_pool_backward(ctx, pooled, a.shape(), {2, 2, 2}); });
    return peaks;
  };
  const std::vector<std::size_t> on_cuda = run_all(gpu());
  EXPECT_EQ(on_cuda, run_all(*meta));
  EXPECT_EQ(on_cuda[2], 512 + rounded_allocation_bytes(6 * sizeof(double)));  // scalar + 6 chunk partials
}

// Runs last (gtest keeps declaration order): the poisoning above must have reached real outputs.
TEST(OpsGpu, PoisonedBlocksReachedTheOutputs) {
  NNUC_REQUIRE_GPU();
  EXPECT_GT(guarded_outputs, 0) << "the pool never handed a poisoned block to an op's output";
}

}  // namespace
}  // namespace nnuc
