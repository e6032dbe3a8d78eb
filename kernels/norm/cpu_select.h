// The leaky-ReLU select for the CPU loops of kernels/norm, written so that GCC vectorizes it.
//
// Under GCC's default -ftrapping-math, `z > 0 ? a : a * slope` stays a scalar branch: the compiler sinks
// the multiply into one arm and will not if-convert a possibly trapping float operation. Computing both
// arms first and blending their bits with a mask from the comparison has no control flow, so the loop
// vectorizes. The result is the same value, bit for bit, as the conditional expression.
#pragma once

#include <cstdint>
#include <cstring>

namespace nnuc::cpu {

template <typename T>
struct SameSizeInt;
template <>
struct SameSizeInt<float> {
  using type = std::int32_t;
};
template <>
struct SameSizeInt<double> {
  using type = std::int64_t;
};

// z > 0 ? if_positive : otherwise (z NaN: otherwise).
template <typename T>
inline T select_if_positive(T z, T if_positive, T otherwise) {
  using Int = typename SameSizeInt<T>::type;
  Int positive_bits, otherwise_bits;
  std::memcpy(&positive_bits, &if_positive, sizeof positive_bits);
  std::memcpy(&otherwise_bits, &otherwise, sizeof otherwise_bits);
  const Int mask = -static_cast<Int>(z > T(0));  // all ones where z > 0
  const Int blended = (positive_bits & mask) | (otherwise_bits & ~mask);
  T result;
  std::memcpy(&result, &blended, sizeof result);
  return result;
}

}  // namespace nnuc::cpu
