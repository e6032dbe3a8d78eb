// CUDA concat_channels / split_channels: one thread per copy unit of the concatenated row.
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/layout/concat_impl.h"
#include "kernels/layout/copy_units.cuh"

namespace nnuc::cuda {

namespace {

// out row r = [a row r (units_a), b row r (units_b)]; Index is 32-bit when the total allows.
template <typename Unit, typename Index>
__global__ void concat_kernel(const Unit* a, const Unit* b, Unit* out, Index total, Index units_a, Index units_b) {
  const Index row_units = units_a + units_b;
  for (Index i = blockIdx.x * Index{blockDim.x} + threadIdx.x; i < total; i += Index{gridDim.x} * blockDim.x) {
    const Index row = i / row_units, c = i - row * row_units;
    out[i] = c < units_a ? a[row * units_a + c] : b[row * units_b + (c - units_a)];
  }
}

template <typename Unit, typename Index>
__global__ void split_kernel(const Unit* x, Unit* first, Unit* second, Index total, Index units_a, Index units_b) {
  const Index row_units = units_a + units_b;
  for (Index i = blockIdx.x * Index{blockDim.x} + threadIdx.x; i < total; i += Index{gridDim.x} * blockDim.x) {
    const Index row = i / row_units, c = i - row * row_units;
    if (c < units_a)
      first[row * units_a + c] = x[i];
    else
      second[row * units_b + (c - units_a)] = x[i];
  }
}

// Runs kernel<Unit, Index> over the rows of the concatenated layout (rows x (bytes_a + bytes_b)).
template <bool Concat>
void launch_rows(const Context& ctx, const void* a_or_x, void* b_or_first, void* out_or_second, std::int64_t rows,
                 std::size_t bytes_a, std::size_t bytes_b) {
  with_copy_unit(copy_unit_bytes({bytes_a, bytes_b}), [&](auto unit) {
    using Unit = decltype(unit);
    const std::int64_t units_a = static_cast<std::int64_t>(bytes_a / sizeof(Unit));
    const std::int64_t units_b = static_cast<std::int64_t>(bytes_b / sizeof(Unit));
    const std::int64_t total = rows * (units_a + units_b);
    if (total == 0) return;
    const auto run = [&](auto index) {
      using Index = decltype(index);
      if constexpr (Concat)
        concat_kernel<Unit, Index><<<grid_for(total), kThreads, 0, stream_of(ctx)>>>(
            static_cast<const Unit*>(a_or_x), static_cast<const Unit*>(b_or_first), static_cast<Unit*>(out_or_second),
            static_cast<Index>(total), static_cast<Index>(units_a), static_cast<Index>(units_b));
      else
        split_kernel<Unit, Index><<<grid_for(total), kThreads, 0, stream_of(ctx)>>>(
            static_cast<const Unit*>(a_or_x), static_cast<Unit*>(b_or_first), static_cast<Unit*>(out_or_second),
            static_cast<Index>(total), static_cast<Index>(units_a), static_cast<Index>(units_b));
    };
    if (total < (std::int64_t{1} << 31))
      run(std::uint32_t{});
    else
      run(std::uint64_t{});
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void concat_channels(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  NNUC_RANGE("concat_channels");
  const std::size_t bytes_a = static_cast<std::size_t>(a.dim(a.rank() - 1)) * dtype_size(a.dtype());
  const std::size_t bytes_b = static_cast<std::size_t>(b.dim(b.rank() - 1)) * dtype_size(b.dtype());
  launch_rows<true>(ctx, a.raw(), b.raw(), out.raw(), a.numel() / a.dim(a.rank() - 1), bytes_a, bytes_b);
}

void split_channels(const Context& ctx, const Tensor& x, Tensor& first, Tensor& second) {
  NNUC_RANGE("split_channels");
  const std::size_t bytes_a = static_cast<std::size_t>(first.dim(first.rank() - 1)) * dtype_size(x.dtype());
  const std::size_t bytes_b = static_cast<std::size_t>(second.dim(second.rank() - 1)) * dtype_size(x.dtype());
  launch_rows<false>(ctx, x.raw(), first.raw(), second.raw(), x.numel() / x.dim(x.rank() - 1), bytes_a, bytes_b);
}

}  // namespace nnuc::cuda
