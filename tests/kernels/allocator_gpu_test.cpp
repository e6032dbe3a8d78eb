// The CUDA allocator on a GPU (kernels/core/allocator.h): injected failures retry after trimming the
// pool, a request larger than the device is a typed OutOfMemory naming the pool state and leaves the
// device usable, release_cached really gives the cached blocks back to the driver, and a tensor that
// outlives its Context stays readable and is freed without touching the destroyed stream.
#include <string>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

constexpr std::int64_t kMiB = 1 << 20;

TEST(AllocatorGpu, ReleaseCachedTrimsThePool) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  { const Tensor block = Tensor::empty(Shape{64 * kMiB}, DType::u8, gpu); }
  gpu.synchronize();
  const std::optional<CudaMemoryState> cached = cuda_memory_state();
  ASSERT_TRUE(cached.has_value());
  EXPECT_GE(cached->pool_cached(), static_cast<std::uint64_t>(64 * kMiB)) << "freed blocks stay in the pool";
  allocator_for(Device::CUDA).release_cached();
  const std::optional<CudaMemoryState> trimmed = cuda_memory_state();
  ASSERT_TRUE(trimmed.has_value());
  EXPECT_EQ(trimmed->pool_cached(), 0u);
  EXPECT_GE(trimmed->device_free, cached->device_free + static_cast<std::uint64_t>(64 * kMiB));
}

TEST(AllocatorGpu, InjectedFailureRetriesAfterTrimmingThePool) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  Allocator& cuda = allocator_for(Device::CUDA);
  { const Tensor block = Tensor::empty(Shape{64 * kMiB}, DType::u8, gpu); }
  cuda.fail_next_allocations(1);
  const Tensor survivor = Tensor::empty(Shape{kMiB}, DType::u8, gpu);
  EXPECT_LT(cuda_memory_state()->pool_cached(), static_cast<std::uint64_t>(64 * kMiB)) << "no trim before the retry";

  const std::size_t held = cuda.stats().current_bytes;
  cuda.fail_next_allocations(2);
  try {
    const Tensor never = Tensor::empty(Shape{kMiB}, DType::u8, gpu);
    ADD_FAILURE() << "no OutOfMemory";
  } catch (const OutOfMemory& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.requested_bytes(), static_cast<std::size_t>(kMiB));
    for (const char* part :
         {"CUDA out of memory allocating 1048576 bytes", "memory pool reserved", "in use", "cached", "device free"})
      EXPECT_NE(message.find(part), std::string::npos) << part << " missing in: " << message;
  }
  EXPECT_EQ(cuda.stats().current_bytes, held);
}

TEST(AllocatorGpu, ARequestBeyondTheDeviceIsOutOfMemoryAndTheDeviceStaysUsable) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const std::optional<CudaMemoryState> state = cuda_memory_state();
  ASSERT_TRUE(state.has_value());
  EXPECT_THROW(Tensor::empty(Shape{static_cast<std::int64_t>(state->device_total * 2)}, DType::u8, gpu), OutOfMemory);
  const Tensor x = testing::random_uniform(Shape{1, 4, 5, 6, 3}, DType::f32);
  const Tensor w = testing::random_uniform(Shape{2, 3, 3, 3, 3}, DType::f32);
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const Tensor y = conv_forward(gpu, x.copy_to(gpu), w.copy_to(gpu), Tensor(), g);
  EXPECT_TRUE(testing::all_close(y.to_cpu(), conv_forward(Context::cpu(), x, w, Tensor(), g), 1e-3, 1e-4));
}

TEST(AllocatorGpu, ATensorOutlivesItsContext) {
  NNUC_REQUIRE_GPU();
  Allocator& cuda = allocator_for(Device::CUDA);
  const std::size_t base = cuda.stats().current_bytes;
  const Tensor x = testing::random_uniform(Shape{2, 6, 7, 5, 4}, DType::f32);
  const Tensor w = testing::random_uniform(Shape{3, 3, 3, 3, 4}, DType::f32);
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  Tensor survivor;
  {
    std::unique_ptr<Context> short_lived = Context::cuda(0);
    survivor = conv_forward(*short_lived, x.copy_to(*short_lived), w.copy_to(*short_lived), Tensor(), g);
  }  // the Context, its handles and its stream are gone; the tensor is not
  EXPECT_TRUE(testing::all_close(survivor.to_cpu(), conv_forward(Context::cpu(), x, w, Tensor(), g), 1e-3, 1e-4));
  const Tensor copy = survivor.copy_to(*testing::gpu());
  survivor = Tensor();  // freed on the legacy stream
  testing::gpu()->synchronize();
  EXPECT_EQ(cuda.stats().current_bytes, base + rounded_allocation_bytes(copy.bytes()));
  EXPECT_TRUE(testing::all_close(copy.to_cpu(), conv_forward(Context::cpu(), x, w, Tensor(), g), 1e-3, 1e-4));
}

}  // namespace
}  // namespace nnuc
