// CPU concat_channels / split_channels: one memcpy per row of channels.
#include <cstring>

#include "kernels/layout/concat_impl.h"

namespace nnuc::cpu {

void concat_channels(const Tensor& a, const Tensor& b, Tensor& out) {
  const std::size_t bytes_a = static_cast<std::size_t>(a.dim(a.rank() - 1)) * dtype_size(a.dtype());
  const std::size_t bytes_b = static_cast<std::size_t>(b.dim(b.rank() - 1)) * dtype_size(b.dtype());
  const std::int64_t rows = a.numel() / a.dim(a.rank() - 1);
  const char* src_a = static_cast<const char*>(a.raw());
  const char* src_b = static_cast<const char*>(b.raw());
  char* dst = static_cast<char*>(out.raw());
#pragma omp parallel for schedule(static) if (rows * (bytes_a + bytes_b) >= (1 << 18))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::size_t r = static_cast<std::size_t>(row);
    std::memcpy(dst + r * (bytes_a + bytes_b), src_a + r * bytes_a, bytes_a);
    std::memcpy(dst + r * (bytes_a + bytes_b) + bytes_a, src_b + r * bytes_b, bytes_b);
  }
}

void split_channels(const Tensor& x, Tensor& first, Tensor& second) {
  const std::size_t bytes_a = static_cast<std::size_t>(first.dim(first.rank() - 1)) * dtype_size(x.dtype());
  const std::size_t bytes_b = static_cast<std::size_t>(second.dim(second.rank() - 1)) * dtype_size(x.dtype());
  const std::int64_t rows = x.numel() / x.dim(x.rank() - 1);
  const char* src = static_cast<const char*>(x.raw());
  char* dst_a = static_cast<char*>(first.raw());
  char* dst_b = static_cast<char*>(second.raw());
#pragma omp parallel for schedule(static) if (rows * (bytes_a + bytes_b) >= (1 << 18))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::size_t r = static_cast<std::size_t>(row);
    std::memcpy(dst_a + r * bytes_a, src + r * (bytes_a + bytes_b), bytes_a);
    std::memcpy(dst_b + r * bytes_b, src + r * (bytes_a + bytes_b) + bytes_a, bytes_b);
  }
}

}  // namespace nnuc::cpu
