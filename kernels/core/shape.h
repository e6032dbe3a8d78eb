// Shape: up to 5 dimensions, row-major (the last dimension is contiguous).
//
// Activations are 5-D and channels-last: (N, D, H, W, C); 2-D data has D = 1. See kernels/README.md.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace nnuc {

class Shape {
 public:
  static constexpr int kMaxRank = 5;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const { return dims_[static_cast<std::size_t>(axis)]; }
  std::int64_t& operator[](int axis) { return dims_[static_cast<std::size_t>(axis)]; }
  std::int64_t numel() const;
  std::string str() const;  // "(2, 32, 64, 64, 16)"

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }

 private:
  int rank_ = 0;
  std::array<std::int64_t, kMaxRank> dims_{};
};

// Named axes of a channels-last activation (N, D, H, W, C).
struct Activation {
  static constexpr int N = 0, D = 1, H = 2, W = 3, C = 4;
};

}  // namespace nnuc
