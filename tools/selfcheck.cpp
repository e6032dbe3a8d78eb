#include "tools/selfcheck.h"

#include <cstdio>

#include "kernels/core/allocator.h"
#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::tools {

int run_selfcheck(int, char**) {
  std::printf("nnuc selfcheck: CUDA device %s\n", cuda_available() ? "present" : "absent (CPU only)");
  Tensor probe = Tensor::empty_cpu(Shape{2, 4, 4, 4, 8}, DType::f32);
  std::printf("  allocator: %zu bytes held\n", allocator_for(Device::CPU).stats().current_bytes);
  (void)probe;
  return 0;
}

}  // namespace nnuc::tools
