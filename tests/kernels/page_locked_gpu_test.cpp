// Page-locked host tensors and asynchronous copies on a GPU (kernels/core/tensor.h, stream_mark.h):
// page-locked blocks are pinned host memory that the allocator's cache hands out again; an
// asynchronous copy from one, waited for through a StreamMark, gives the device the source's values
// even when the host overwrites the source right after the wait; exhausted page-locked memory falls
// back to ordinary host memory with the same values.
#ifdef NNUC_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/core/allocator.h"
#include "kernels/core/stream_mark.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

bool is_pinned(const void* pointer) {
#ifdef NNUC_WITH_CUDA
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, pointer) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
#else
  (void)pointer;
  return false;  // built without CUDA: NNUC_REQUIRE_GPU has skipped every test before this is asked
#endif
}

TEST(PageLockedGpu, BlocksArePinnedAndComeBackFromTheCache) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *testing::gpu();
  Allocator& page_locked = page_locked_host_allocator();
  const Shape shape{5, 1 << 20};  // 20 MiB of f32
  void* first = nullptr;
  {
    const Tensor host = Tensor::empty_page_locked(shape, DType::f32, gpu.cuda_index());
    ASSERT_TRUE(host.page_locked());
    EXPECT_TRUE(is_pinned(host.raw()));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(host.raw()) % 64, 0u);
    first = host.raw();
  }
  EXPECT_GE(page_locked.stats().cached_bytes, shape.numel() * 4u);
  const Tensor again = Tensor::empty_page_locked(shape, DType::f32, gpu.cuda_index());
  EXPECT_EQ(again.raw(), first) << "the freed block is handed out again (cudaHostAlloc is slow, cudaFreeHost syncs)";
}

TEST(PageLockedGpu, AsyncCopyGivesTheSourceValuesAfterTheMark) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *testing::gpu();
  const Tensor values = testing::random_uniform(Shape{8, 1 << 20}, DType::f32, -3, 3);
  for (const bool pinned : {true, false}) {
    Tensor source = pinned ? Tensor::empty_page_locked(values.shape(), DType::f32, gpu.cuda_index())
                           : Tensor::empty_cpu(values.shape(), DType::f32);
    ASSERT_EQ(source.page_locked(), pinned);
    source.copy_from(values, Context::cpu());
    // 1 GiB of copies queued ahead, so that the copy is still pending when its call returns.
    Tensor filler = Tensor::empty_page_locked(Shape{64 << 20}, DType::f32, gpu.cuda_index());
    std::memset(filler.raw(), 0x3f, filler.bytes());
    std::vector<Tensor> ahead;
    for (int i = 0; i < 4; ++i) ahead.push_back(filler.copy_to_async(gpu));
    const Tensor device = source.copy_to_async(gpu);
    EXPECT_EQ(device.device(), Device::CUDA);
    const StreamMark copied = StreamMark::record(gpu);
    copied.wait();
    EXPECT_TRUE(copied.passed());
    std::vector<float> scribble(static_cast<std::size_t>(values.numel()), -7.0f);
    std::memcpy(source.raw(), scribble.data(), source.bytes());  // allowed after the wait
    EXPECT_EQ(device.to_vector<float>(), values.to_vector<float>()) << (pinned ? "page-locked" : "pageable");
  }
}

TEST(PageLockedGpu, StreamMarkWaitsForTheWorkBeforeIt) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *testing::gpu();
  const Tensor values = testing::random_uniform(Shape{16, 1 << 20}, DType::f32);
  Tensor host = Tensor::empty_page_locked(values.shape(), DType::f32, gpu.cuda_index());
  host.copy_from(values, Context::cpu());
  Tensor device = Tensor::empty(values.shape(), DType::f32, gpu);
  device.copy_from_async(host, gpu);
  const StreamMark mark = StreamMark::record(gpu);
  const StreamMark copy_of_mark = mark;  // copies share the event
  copy_of_mark.wait();
  EXPECT_TRUE(mark.passed());
  Tensor back = Tensor::empty_page_locked(values.shape(), DType::f32, gpu.cuda_index());
  back.copy_from(device, Context::cpu());
  EXPECT_EQ(back.to_vector<float>(), values.to_vector<float>());
}

TEST(PageLockedGpu, ExhaustedPageLockedMemoryFallsBackToOrdinaryHostMemory) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *testing::gpu();
  page_locked_host_allocator().fail_next_allocations(2);  // the first try and the retry
  const Tensor values = testing::random_uniform(Shape{3, 1 << 18}, DType::f32);
  Tensor host = Tensor::empty_page_locked(Shape{3, 1 << 18}, DType::f32, gpu.cuda_index());
  EXPECT_FALSE(host.page_locked());
  host.copy_from(values, Context::cpu());
  const Tensor device = host.copy_to_async(gpu);
  StreamMark::record(gpu).wait();
  EXPECT_EQ(device.to_vector<float>(), values.to_vector<float>());
  EXPECT_THROW(Tensor::empty_page_locked(Shape{4}, DType::f32, 1 << 20), InvalidInput) << "no such device";
}

}  // namespace
}  // namespace nnuc
