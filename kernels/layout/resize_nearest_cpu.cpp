// CPU resize_nearest_exact: one memcpy per output voxel's channel vector.
#include <cstring>

#include "kernels/layout/resize_nearest_impl.h"

namespace nnuc::cpu {

void resize_nearest_exact(const Tensor& x, Tensor& out) {
  const std::int64_t D = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::int64_t N = out.dim(0), Do = out.dim(1), Ho = out.dim(2), Wo = out.dim(3);
  const std::size_t voxel_bytes = static_cast<std::size_t>(x.dim(4)) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  const std::int64_t rows = N * Do * Ho;
#pragma omp parallel for schedule(static) if (out.bytes() >= (1 << 18))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t n = row / (Do * Ho), d = row / Ho % Do, h = row % Ho;
    const std::int64_t source_row =
        (n * D + nearest_exact_source_index(d, D, Do)) * H + nearest_exact_source_index(h, H, Ho);
    for (std::int64_t w = 0; w < Wo; ++w) {
      const std::int64_t source_w = nearest_exact_source_index(w, W, Wo);
      std::memcpy(dst + static_cast<std::size_t>(row * Wo + w) * voxel_bytes,
                  src + static_cast<std::size_t>(source_row * W + source_w) * voxel_bytes, voxel_bytes);
    }
  }
}

}  // namespace nnuc::cpu
