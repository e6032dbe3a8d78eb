// Shared by the pipeline tests (spatial, steps, augment_batch; CPU and GPU): random label maps.
#pragma once

#include <array>
#include <cstdint>

#include "tests/support/test_support.h"

namespace nnuc::augment::testing_pipeline {

constexpr double kPi = 3.14159265358979323846;
using Triple = std::array<std::int64_t, 3>;

// i16 labels uniform in [low, high] (low = −1 gives the padding / outside-mask value).
inline Tensor random_labels_in(const Shape& shape, int low, int high) {
  Tensor out = testing::random_labels(shape, DType::i16, high - low + 1);
  for (std::int64_t i = 0; i < out.numel(); ++i) out.data<std::int16_t>()[i] += static_cast<std::int16_t>(low);
  return out;
}

}  // namespace nnuc::augment::testing_pipeline
