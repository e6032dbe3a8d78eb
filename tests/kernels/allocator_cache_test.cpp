// The CPU allocator's bounded cache (kernels/core/allocator.h): freed blocks are reused by size; the
// cache keeps at most host_cache_limit() bytes, evicting the least recently freed blocks first; a block
// larger than a quarter of the limit is not cached; lowering the limit evicts at once. The sizes used here are
// odd multiples of 512 bytes that no other test allocates, and each test restores the limit.
#include <cstdint>

#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

// A tensor of exactly `blocks` x 512 bytes (rounded size equals the request).
Tensor block_of(std::int64_t blocks) { return Tensor::empty_cpu(Shape{blocks * 128}, DType::f32); }

class AllocatorHostCache : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_limit_ = cpu_.host_cache_limit();
    cpu_.release_cached();
  }
  void TearDown() override { cpu_.set_host_cache_limit(saved_limit_); }

  Allocator& cpu_ = allocator_for(Device::CPU);
  std::size_t saved_limit_ = 0;
};

TEST_F(AllocatorHostCache, DefaultLimitIsAnEighthOfMemoryAtMostTwoGiB) {
  EXPECT_GT(saved_limit_, std::size_t{0});
  EXPECT_LE(saved_limit_, std::size_t{2} << 30);
}

TEST_F(AllocatorHostCache, ReusesAFreedBlockOfTheSameSize) {
  cpu_.set_host_cache_limit(std::size_t{1} << 20);
  void* first = nullptr;
  {
    const Tensor a = block_of(301);
    first = a.raw();
  }
  EXPECT_EQ(cpu_.stats().cached_bytes, 301u * 512);
  const Tensor again = block_of(301);
  EXPECT_EQ(again.raw(), first);
  EXPECT_EQ(cpu_.stats().cached_bytes, 0u);
}

TEST_F(AllocatorHostCache, EvictsTheLeastRecentlyFreedBeyondTheLimit) {
  cpu_.set_host_cache_limit(1000 * 512);  // blocks up to 250 x 512 bytes are cached
  void* c_pointer = nullptr;
  {
    Tensor a = block_of(203), b = block_of(205), c = block_of(207), e = block_of(209);
    c_pointer = c.raw();
    a = Tensor();  // freed first
    b = Tensor();
    c = Tensor();
    e = Tensor();
  }
  EXPECT_EQ(cpu_.stats().cached_bytes, 824u * 512);
  {
    const Tensor d = block_of(211);  // a miss: new memory
    EXPECT_EQ(cpu_.stats().cached_bytes, 824u * 512);
  }  // d freed: 1035 > 1000, so a (the least recently freed) goes: 832
  EXPECT_EQ(cpu_.stats().cached_bytes, (205u + 207u + 209u + 211u) * 512);
  const Tensor c_again = block_of(207);
  EXPECT_EQ(c_again.raw(), c_pointer);  // still cached
  EXPECT_EQ(cpu_.stats().cached_bytes, (205u + 209u + 211u) * 512);
  const Tensor a_again = block_of(203);  // evicted: a miss, the cache unchanged
  EXPECT_EQ(cpu_.stats().cached_bytes, (205u + 209u + 211u) * 512);
}

TEST_F(AllocatorHostCache, ABlockLargerThanAQuarterOfTheLimitIsNotCached) {
  cpu_.set_host_cache_limit(800 * 512);
  { const Tensor small = block_of(113); }
  EXPECT_EQ(cpu_.stats().cached_bytes, 113u * 512);
  { const Tensor large = block_of(201); }
  EXPECT_EQ(cpu_.stats().cached_bytes, 113u * 512);  // the large one went back to the system
}

TEST_F(AllocatorHostCache, LoweringTheLimitEvictsAtOnce) {
  cpu_.set_host_cache_limit(std::size_t{1} << 20);
  { const Tensor a = block_of(127), b = block_of(131), c = block_of(137); }
  EXPECT_EQ(cpu_.stats().cached_bytes, (127u + 131u + 137u) * 512);
  cpu_.set_host_cache_limit(140 * 512);  // (caching stops at 35 x 512: nothing is freed below)
  // Destruction order of a, b, c is c, b, a: a is the most recent and the only one kept.
  EXPECT_EQ(cpu_.stats().cached_bytes, 127u * 512);
  cpu_.set_host_cache_limit(0);
  EXPECT_EQ(cpu_.stats().cached_bytes, 0u);
}

TEST_F(AllocatorHostCache, ReleasesBeforeBuffersTheCacheWouldNotKeep) {
  cpu_.set_host_cache_limit(1000 * 512);  // blocks up to 250 x 512 bytes are cached
  { const Tensor a = block_of(213), b = block_of(215); }
  EXPECT_EQ(cpu_.stats().cached_bytes, 428u * 512);
  cpu_.release_cached_before(250 * 512);  // the cache would keep this size: nothing is released
  EXPECT_EQ(cpu_.stats().cached_bytes, 428u * 512);
  cpu_.release_cached_before(250 * 512 + 1);  // rounded to 251 x 512: beyond a quarter of the limit
  EXPECT_EQ(cpu_.stats().cached_bytes, 0u);
  { const Tensor c = block_of(217); }
  allocator_for(Device::Meta).release_cached_before(std::size_t{1} << 40);  // other devices: nothing
  EXPECT_EQ(cpu_.stats().cached_bytes, 217u * 512);
}

}  // namespace
}  // namespace nnuc
