// CPU flip: one memcpy per voxel's channel vector.
#include <cstring>

#include "kernels/layout/flip_impl.h"

namespace nnuc::cpu {

void flip(const Tensor& x, unsigned axes, Tensor& out) {
  const std::int64_t N = x.dim(0), D = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::size_t voxel_bytes = static_cast<std::size_t>(x.dim(4)) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  const std::int64_t rows = N * D * H;
#pragma omp parallel for schedule(static) if (x.bytes() >= (1 << 18))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t n = row / (D * H), d = row / H % D, h = row % H;
    const std::int64_t source_d = (axes & kFlipD) ? D - 1 - d : d;
    const std::int64_t source_h = (axes & kFlipH) ? H - 1 - h : h;
    const std::int64_t source_row = (n * D + source_d) * H + source_h;
    for (std::int64_t w = 0; w < W; ++w) {
      const std::int64_t source_w = (axes & kFlipW) ? W - 1 - w : w;
      std::memcpy(dst + static_cast<std::size_t>(row * W + w) * voxel_bytes,
                  src + static_cast<std::size_t>(source_row * W + source_w) * voxel_bytes, voxel_bytes);
    }
  }
}

}  // namespace nnuc::cpu
