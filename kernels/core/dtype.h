// Element types of nnuc tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace nnuc {

// f32: activations (CPU, CUDA reference mode), master weights, optimizer state, statistics.
// f64: CPU only; gradchecks and double-precision references.
// bf16 / f16: CUDA activations in mixed mode. i16/i32/i64/u8: images, label maps, indices.
enum class DType : std::uint8_t { f32, f64, bf16, f16, i16, i32, i64, u8 };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
bool is_floating(DType dtype);

// bfloat16 and float16 storage types with host conversions (round to nearest even).
struct bf16 {
  std::uint16_t bits;
};
struct f16 {
  std::uint16_t bits;
};

inline float bf16_to_float(bf16 value) {
  std::uint32_t word = static_cast<std::uint32_t>(value.bits) << 16;
  float out;
  std::memcpy(&out, &word, sizeof out);
  return out;
}

inline bf16 float_to_bf16(float value) {
  std::uint32_t word;
  std::memcpy(&word, &value, sizeof word);
  if ((word & 0x7f800000u) == 0x7f800000u && (word & 0x007fffffu) != 0) {
    return bf16{static_cast<std::uint16_t>((word >> 16) | 0x0040u)};  // quiet NaN stays NaN
  }
  std::uint32_t rounding = 0x7fffu + ((word >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>((word + rounding) >> 16)};
}

float f16_to_float(f16 value);
f16 float_to_f16(float value);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<bf16>() {
  return DType::bf16;
}
template <>
constexpr DType dtype_of<f16>() {
  return DType::f16;
}
template <>
constexpr DType dtype_of<std::int16_t>() {
  return DType::i16;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::i64;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::u8;
}

}  // namespace nnuc
