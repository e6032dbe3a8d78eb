// Where a tensor lives. Meta tensors carry shape and dtype but no storage: ops on them compute
// nothing and allocate through the same accounting as a real device, which makes a shape-only run
// report the exact peak bytes of the real one.
#pragma once

#include <cstdint>

namespace nnuc {

enum class Device : std::uint8_t { CPU, CUDA, Meta };

const char* device_name(Device device);

// True when nnuc was built with CUDA and a CUDA device is usable. A missing driver or GPU is an
// answer ("no"), never an error.
bool cuda_available();

}  // namespace nnuc
