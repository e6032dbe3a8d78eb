// kernels/core: dtypes, shapes, allocator accounting (CPU vs Meta), tensors, errors.
#include <cmath>

#include "kernels/core/allocator.h"
#include "kernels/core/context.h"
#include "kernels/core/stream_mark.h"
#include "kernels/core/tensor.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::f32), 4u);
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::i64), 8u);
  EXPECT_STREQ(dtype_name(DType::u8), "u8");
  EXPECT_TRUE(is_floating(DType::f16));
  EXPECT_FALSE(is_floating(DType::i16));
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  // 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even mantissa (1).
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(INFINITY))));
  for (int trial = 0; trial < 1000; ++trial) {
    const float value = std::uniform_real_distribution<float>(-100, 100)(testing::rng());
    const float back = bf16_to_float(float_to_bf16(value));
    EXPECT_LE(std::fabs(back - value), std::fabs(value) * std::ldexp(1.0f, -8));
  }
}

TEST(DType, F16RoundTripAndSpecials) {
  for (int trial = 0; trial < 1000; ++trial) {
    const float value = std::uniform_real_distribution<float>(-60000, 60000)(testing::rng());
    const float back = f16_to_float(float_to_f16(value));
    EXPECT_LE(std::fabs(back - value), std::fabs(value) * std::ldexp(1.0f, -11)) << value;
  }
  EXPECT_EQ(f16_to_float(float_to_f16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_float(float_to_f16(70000.0f))));
  EXPECT_EQ(f16_to_float(float_to_f16(std::ldexp(1.0f, -24))), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_float(float_to_f16(-0.0f)), 0.0f);
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(NAN))));
}

TEST(Shape, NumelStrAndErrors) {
  Shape shape{2, 3, 4, 5, 6};
  EXPECT_EQ(shape.numel(), 720);
  EXPECT_EQ(shape.str(), "(2, 3, 4, 5, 6)");
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6}), InvalidInput);
  EXPECT_THROW((Shape{2, -1}), InvalidInput);
  EXPECT_THROW((Shape{INT64_MAX, 4}.numel()), InvalidInput);
}

TEST(Allocator, RoundsTo512AndTracksPeak) {
  EXPECT_EQ(rounded_allocation_bytes(0), 0u);
  EXPECT_EQ(rounded_allocation_bytes(1), 512u);
  EXPECT_EQ(rounded_allocation_bytes(512), 512u);
  EXPECT_EQ(rounded_allocation_bytes(513), 1024u);
  Allocator& cpu = allocator_for(Device::CPU);
  const std::size_t before = cpu.stats().current_bytes;
  cpu.reset_peak();
  {
    Tensor a = Tensor::empty_cpu(Shape{100}, DType::f32);  // 400 -> 512
    Tensor b = Tensor::empty_cpu(Shape{300}, DType::f32);  // 1200 -> 1536
    EXPECT_EQ(cpu.stats().current_bytes, before + 2048);
  }
  EXPECT_EQ(cpu.stats().current_bytes, before);
  EXPECT_EQ(cpu.stats().peak_bytes, before + 2048);
  EXPECT_GE(cpu.stats().cached_bytes, 2048u);  // freed blocks are kept for reuse
}

// The same sequence of tensor lifetimes on CPU and Meta gives identical current and peak bytes.
TEST(Allocator, MetaAccountsExactlyAsCpu) {
  auto meta = Context::meta(Device::CPU);
  auto run = [](const Context& ctx) {
    Allocator& allocator = allocator_for(ctx.device());
    const std::size_t base = allocator.stats().current_bytes;
    allocator.reset_peak();
    std::vector<Tensor> live;
    std::uniform_int_distribution<int> size(1, 5000);
    std::mt19937_64 local(testing::test_seed());
    for (int step = 0; step < 200; ++step) {
      live.push_back(Tensor::empty(Shape{size(local)}, step % 3 ? DType::f32 : DType::bf16, ctx));
      if (step % 4 == 3) live.erase(live.begin() + static_cast<long>(local() % live.size()));
    }
    const std::size_t held = allocator.stats().current_bytes - base;
    live.clear();
    return std::make_pair(held, allocator.stats().peak_bytes - base);
  };
  const auto on_cpu = run(Context::cpu());
  const auto on_meta = run(*meta);
  EXPECT_GT(on_cpu.second, 0u);
  EXPECT_EQ(on_cpu.first, on_meta.first);
  EXPECT_EQ(on_cpu.second, on_meta.second);
  EXPECT_EQ(meta->models(), Device::CPU);
  EXPECT_EQ(Tensor::empty(Shape{4}, DType::f32, *meta).raw(), nullptr);
}

TEST(Tensor, FromVectorCopyReshape) {
  Tensor a = testing::random_uniform(Shape{2, 3, 4}, DType::f32);
  Tensor b = a.copy_to(Context::cpu());
  EXPECT_NE(a.raw(), b.raw());
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  Tensor c = a.reshape(Shape{6, 4});
  EXPECT_EQ(c.raw(), a.raw());
  EXPECT_THROW(a.reshape(Shape{5}), InvalidInput);
  EXPECT_THROW(a.data<double>(), InvalidInput);
  EXPECT_EQ(a.describe(), "f32 (2, 3, 4) on CPU");
}

TEST(Tensor, ChecksNameTheArgument) {
  Tensor a = Tensor::empty_cpu(Shape{2, 2}, DType::f32);
  try {
    check_dtype(a, DType::bf16, "weight");
    FAIL() << "no throw";
  } catch (const InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("weight must be bf16"), std::string::npos) << error.what();
    EXPECT_GT(error.line(), 0);
  }
  EXPECT_THROW(check_shape(a, Shape{2, 3}, "x"), InvalidInput);
  EXPECT_THROW(check_defined(Tensor(), "y"), InvalidInput);
}

TEST(Tensor, PageLockedTensorsAreHostTensorsAndOrdinaryWithoutCuda) {
  // Page-locked exactly when a CUDA device is present (PageLockedGpu checks the pinning itself).
  Allocator& page_locked = page_locked_host_allocator();
  EXPECT_TRUE(page_locked.page_locked());
  EXPECT_FALSE(allocator_for(Device::CPU).page_locked());
  const AllocatorStats before = page_locked.stats();
  const Tensor values = testing::random_uniform(Shape{3, 17, 5}, DType::f32);
  Tensor host = Tensor::empty_page_locked(values.shape(), DType::f32, 0);
  EXPECT_EQ(host.page_locked(), cuda_available());
  EXPECT_EQ(host.device(), Device::CPU);
  host.copy_from_async(values, Context::cpu());  // host to host: copy_from
  EXPECT_EQ(host.to_vector<float>(), values.to_vector<float>());
  EXPECT_EQ(values.copy_to_async(Context::cpu()).to_vector<float>(), values.to_vector<float>());
  if (cuda_available()) return;
  EXPECT_EQ(page_locked.stats().allocations, before.allocations) << "nothing asked of the page-locked allocator";
  // Without CUDA, asked directly, it fails like exhausted memory, saying which allocator it is.
  try {
    page_locked.allocate(1000);
    FAIL() << "no OutOfMemory";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("(page-locked)"), std::string::npos) << e.what();
    EXPECT_EQ(e.requested_bytes(), 1024u);
  }
  EXPECT_EQ(page_locked.stats().current_bytes, before.current_bytes);
}

TEST(StreamMark, OffCudaEveryMarkHasPassed) {
  const StreamMark empty;
  EXPECT_TRUE(empty.passed());
  empty.wait();
  const StreamMark cpu = StreamMark::record(Context::cpu());
  EXPECT_TRUE(cpu.passed());
  cpu.wait();
  auto meta = Context::meta(Device::CUDA);
  EXPECT_TRUE(StreamMark::record(*meta).passed());
}

TEST(Context, CudaAbsenceIsAnAnswer) {
  // Must not crash on a machine without a driver; on a GPU machine it is simply true.
  const bool available = cuda_available();
  if (!available) {
    EXPECT_THROW(Context::cuda(0), CudaError);
  }
  EXPECT_EQ(Context::cpu().device(), Device::CPU);
  EXPECT_THROW(Context::meta(Device::Meta), InvalidInput);
}

}  // namespace
}  // namespace nnuc
