// The allocator's out-of-memory path (kernels/core/allocator.h), driven on the CPU allocator with
// injected failures: one failure releases the cache and the retry succeeds; two raise OutOfMemory
// naming the request and the allocator's state; blocks served from the cache are no new allocations.
// The same code path runs for CUDA (tests/kernels/allocator_gpu_test.cpp checks it there).
#include <string>

#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

constexpr std::int64_t kFloats = 123457;  // 493828 bytes, 494080 rounded: a size no other test caches
constexpr std::size_t kRounded = 494080;

TEST(AllocatorRetry, OneFailureReleasesTheCacheAndTheRetrySucceeds) {
  Allocator& cpu = allocator_for(Device::CPU);
  cpu.release_cached();
  { const Tensor cached = Tensor::empty_cpu(Shape{1000}, DType::f32); }  // 4096 bytes back to the cache
  ASSERT_EQ(cpu.stats().cached_bytes, 4096u);
  const std::size_t held = cpu.stats().current_bytes;
  cpu.fail_next_allocations(1);
  Tensor tensor = Tensor::empty_cpu(Shape{kFloats}, DType::f32);
  EXPECT_EQ(cpu.stats().cached_bytes, 0u) << "the failure did not release the cache";
  EXPECT_EQ(cpu.stats().current_bytes, held + kRounded);
  tensor.data<float>()[kFloats - 1] = 1.5f;  // the memory is real
  EXPECT_EQ(tensor.to_vector<float>().back(), 1.5f);
}

TEST(AllocatorRetry, TwoFailuresRaiseOutOfMemoryNamingTheRequestAndTheState) {
  Allocator& cpu = allocator_for(Device::CPU);
  cpu.release_cached();
  { const Tensor cached = Tensor::empty_cpu(Shape{2000}, DType::f32); }  // 8192 bytes cached
  const std::size_t held = cpu.stats().current_bytes;
  cpu.fail_next_allocations(2);
  try {
    const Tensor tensor = Tensor::empty_cpu(Shape{kFloats}, DType::f32);
    ADD_FAILURE() << "no OutOfMemory";
  } catch (const OutOfMemory& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.requested_bytes(), kRounded);
    EXPECT_NE(message.find("CPU out of memory allocating 494080 bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("retrying once"), std::string::npos) << message;
    EXPECT_NE(message.find("bytes in live tensors, 0 bytes cached"), std::string::npos) << message;
  }
  EXPECT_EQ(cpu.stats().current_bytes, held) << "a failed allocation was counted";
  const Tensor after = Tensor::empty_cpu(Shape{kFloats}, DType::f32);  // the injected failures are spent
  EXPECT_EQ(after.numel(), kFloats);
}

TEST(AllocatorRetry, CacheHitsAreNotNewAllocations) {
  Allocator& cpu = allocator_for(Device::CPU);
  cpu.release_cached();
  { const Tensor cached = Tensor::empty_cpu(Shape{kFloats}, DType::f32); }
  cpu.fail_next_allocations(2);
  { const Tensor reused = Tensor::empty_cpu(Shape{kFloats}, DType::f32); }  // from the cache: no failure spent
  EXPECT_THROW(Tensor::empty_cpu(Shape{kFloats + 1000}, DType::f32), OutOfMemory);
  cpu.fail_next_allocations(0);
  // Meta never allocates, so it never fails.
  allocator_for(Device::Meta).fail_next_allocations(3);
  auto meta = Context::meta(Device::CUDA);
  EXPECT_NO_THROW(Tensor::empty(Shape{kFloats}, DType::f32, *meta));
  allocator_for(Device::Meta).fail_next_allocations(0);
}

}  // namespace
}  // namespace nnuc
