// kernels/core on a GPU: host <-> device copies, allocator accounting on CUDA equals Meta.
#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

TEST(CoreGpu, CopyRoundTrip) {
  NNUC_REQUIRE_GPU();
  Tensor host = testing::random_uniform(Shape{3, 5, 7, 9, 2}, DType::f32);
  Tensor device = host.copy_to(*testing::gpu());
  EXPECT_EQ(device.device(), Device::CUDA);
  EXPECT_EQ(device.to_cpu().to_vector<float>(), host.to_vector<float>());
  Tensor bf = testing::to_device(host, DType::bf16);
  EXPECT_TRUE(testing::all_close(testing::to_host_f32(bf), testing::round_to_bf16(host), 0, 0));
}

TEST(CoreGpu, CudaAccountsAsMeta) {
  NNUC_REQUIRE_GPU();
  auto meta = Context::meta(Device::CUDA);
  for (const Context* ctx : {static_cast<const Context*>(testing::gpu()), static_cast<const Context*>(meta.get())}) {
    Allocator& allocator = allocator_for(ctx->device());
    const std::size_t base = allocator.stats().current_bytes;
    allocator.reset_peak();
    {
      Tensor a = Tensor::empty(Shape{1000}, DType::bf16, *ctx);
      Tensor b = Tensor::empty(Shape{3, 333}, DType::f32, *ctx);
    }
    EXPECT_EQ(allocator.stats().peak_bytes - base, 2048u + 4096u);
  }
}

}  // namespace
}  // namespace nnuc
