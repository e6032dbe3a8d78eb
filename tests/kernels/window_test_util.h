// Helpers shared by the tests of kernels/window and of the sliding-window predictor
// (tests/kernels/window_test.cpp, tests/nn/sliding_window_gpu_test.cpp).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/window/window.h"
#include "tests/support/test_support.h"

namespace nnuc::window_test {

// Random origins for tiles over a case of `spatial`, some reaching before the start or past the end.
inline std::vector<TileOrigin> random_origins(int count, const Shape& spatial, const TileSize& tile) {
  std::vector<TileOrigin> origins;
  for (int n = 0; n < count; ++n) {
    TileOrigin o{};
    for (int a = 0; a < 3; ++a) {
      std::uniform_int_distribution<std::int64_t> draw(-tile[a] / 2, spatial[a] - tile[a] / 2);
      o[a] = draw(testing::rng());
    }
    origins.push_back(o);
  }
  return origins;
}

}  // namespace nnuc::window_test
