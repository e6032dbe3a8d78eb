// Copy units for the CUDA data-movement kernels of kernels/layout: a row of channels is moved in
// the widest unit (16, 8, 4, 2 or 1 bytes) that divides every row length involved, so f32 rows of
// 32 channels move as 16-byte vectors and a one-channel i16 label map as 2-byte elements. Tensor
// storage starts 256-byte aligned (cudaMallocAsync) and tensors are never views, so every row
// offset that is a multiple of the unit is aligned to it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace nnuc::cuda {

// The widest unit in bytes dividing every length in `row_bytes`.
inline int copy_unit_bytes(std::initializer_list<std::size_t> row_bytes) {
  for (int unit : {16, 8, 4, 2}) {
    bool divides = true;
    for (std::size_t bytes : row_bytes) divides = divides && bytes % static_cast<std::size_t>(unit) == 0;
    if (divides) return unit;
  }
  return 1;
}

// Calls launch(Unit{}) with the unsigned type (or vector of them) of `unit_bytes` bytes.
template <typename Launch>
void with_copy_unit(int unit_bytes, Launch&& launch) {
  switch (unit_bytes) {
    case 16: launch(uint4{}); break;
    case 8: launch(uint2{}); break;
    case 4: launch(std::uint32_t{}); break;
    case 2: launch(std::uint16_t{}); break;
    default: launch(std::uint8_t{}); break;
  }
}

}  // namespace nnuc::cuda
