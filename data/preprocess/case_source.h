// One raw training or test case as the fingerprint and the preprocessor take it. The dataset layer
// fills it from the image reader (data/nifti); the functions here never read files themselves.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/core/tensor.h"

namespace nnuc::data {

struct LoadedCase {
  std::string identifier;
  Tensor image;                                                 // f32 (C, a0, a1, a2), the reader's axis order
  Tensor seg;                                                   // i16 (a0, a1, a2); undefined for a case without labels
  std::array<double, 3> spacing{};                              // same axis order as the arrays
  nlohmann::json reader_properties = nlohmann::json::object();  // stored with the case (e.g. NIfTI geometry)
};

// Loads case `index` of a dataset; called from worker threads, so it must be thread safe.
using CaseLoader = std::function<LoadedCase(std::size_t index)>;

}  // namespace nnuc::data
