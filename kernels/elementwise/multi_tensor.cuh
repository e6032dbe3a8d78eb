// Multi-tensor launches: one kernel launch covers a list of tensors (parameters, gradients), each
// cut into fixed chunks of `chunk_elements`; block b of a launch handles one chunk of one tensor.
// The tensors' pointers travel in the kernel's parameters (no host -> device copy), up to
// kMaxTensorsPerLaunch per launch. Used by the reductions (kernels/elementwise/reduce_cuda.cu) and
// the optimizer step (kernels/optim/sgd_cuda.cu).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::cuda {

constexpr int kMaxTensorsPerLaunch = 36;

// One launch's share of the lists. Lists are parallel: list l's tensor i pairs with every other
// list's tensor i (e.g. parameter, gradient, momentum buffer) and has the same element count.
template <int Lists>
struct TensorChunks {
  void* data[Lists][kMaxTensorsPerLaunch];
  DType dtype[Lists][kMaxTensorsPerLaunch];
  std::int64_t numel[kMaxTensorsPerLaunch];
  int chunk_begin[kMaxTensorsPerLaunch + 1];  // tensor i owns blocks [chunk_begin[i], chunk_begin[i+1])
  int count = 0;                              // tensors in this launch
  std::int64_t first_chunk = 0;               // index of block 0 among all chunks of the lists
};

// Splits parallel lists into launches. Empty tensors own no chunk and are left out.
template <int Lists>
std::vector<TensorChunks<Lists>> pack_tensor_chunks(const std::array<const std::vector<Tensor>*, Lists>& lists,
                                                    std::int64_t chunk_elements) {
  std::vector<TensorChunks<Lists>> packs;
  TensorChunks<Lists> pack;
  pack.chunk_begin[0] = 0;
  std::int64_t chunks_so_far = 0;
  const std::vector<Tensor>& first = *lists[0];
  for (std::size_t t = 0; t < first.size(); ++t) {
    const std::int64_t count = first[t].numel();
    if (count == 0) continue;
    const std::int64_t chunks = (count + chunk_elements - 1) / chunk_elements;
    NNUC_CHECK(chunks < (std::int64_t{1} << 30), "multi-tensor launch: tensor of ", count, " elements is too large");
    if (pack.count == kMaxTensorsPerLaunch || pack.chunk_begin[pack.count] + chunks >= (std::int64_t{1} << 30)) {
      packs.push_back(pack);
      pack = TensorChunks<Lists>{};
      pack.chunk_begin[0] = 0;
      pack.first_chunk = chunks_so_far;
    }
    for (int l = 0; l < Lists; ++l) {
      pack.data[l][pack.count] = (*lists[static_cast<std::size_t>(l)])[t].raw();
      pack.dtype[l][pack.count] = (*lists[static_cast<std::size_t>(l)])[t].dtype();
    }
    pack.numel[pack.count] = count;
    pack.chunk_begin[pack.count + 1] = pack.chunk_begin[pack.count] + static_cast<int>(chunks);
    ++pack.count;
    chunks_so_far += chunks;
  }
  if (pack.count > 0) packs.push_back(pack);
  return packs;
}

// Blocks of a launch.
template <int Lists>
unsigned pack_blocks(const TensorChunks<Lists>& pack) {
  return static_cast<unsigned>(pack.chunk_begin[pack.count]);
}

// The tensor and element range [begin, end) that block `block` of the launch handles.
template <int Lists>
__device__ __forceinline__ int locate_chunk(const TensorChunks<Lists>& pack, int block, std::int64_t chunk_elements,
                                            std::int64_t& begin, std::int64_t& end) {
  int low = 0, high = pack.count - 1;  // find the last tensor whose chunk_begin <= block
  while (low < high) {
    const int middle = (low + high + 1) / 2;
    if (pack.chunk_begin[middle] <= block)
      low = middle;
    else
      high = middle - 1;
  }
  begin = static_cast<std::int64_t>(block - pack.chunk_begin[low]) * chunk_elements;
  end = begin + chunk_elements < pack.numel[low] ? begin + chunk_elements : pack.numel[low];
  return low;
}

}  // namespace nnuc::cuda
