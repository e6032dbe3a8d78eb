// Host value conversions between nnuc's element types, the rules of cast() on the CPU:
// floating values round to nearest even (bf16 and f16 through f32, as PyTorch converts f64);
// integers convert with one rounding (static_cast); an integer target from a same-typed source is
// the identity.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/core/dtype.h"

namespace nnuc::cpu {

// Exact widening to f32 of the 16-bit floats; one rounding from f64 and wide integers.
inline float to_f32(float value) { return value; }
inline float to_f32(double value) { return static_cast<float>(value); }
inline float to_f32(bf16 value) { return bf16_to_float(value); }
inline float to_f32(f16 value) { return f16_to_float(value); }
template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int>>>
float to_f32(Int value) {
  return static_cast<float>(value);
}

inline double to_f64(double value) { return value; }
inline double to_f64(float value) { return value; }
inline double to_f64(bf16 value) { return bf16_to_float(value); }
inline double to_f64(f16 value) { return f16_to_float(value); }
template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int>>>
double to_f64(Int value) {
  return static_cast<double>(value);
}

// `value` as an Out.
template <typename Out, typename In>
Out convert_value(In value) {
  if constexpr (std::is_same_v<Out, In>) {
    return value;
  } else if constexpr (std::is_same_v<Out, double>) {
    return to_f64(value);
  } else if constexpr (std::is_same_v<Out, float>) {
    return to_f32(value);
  } else if constexpr (std::is_same_v<Out, bf16>) {
    return float_to_bf16(to_f32(value));
  } else if constexpr (std::is_same_v<Out, f16>) {
    return float_to_f16(to_f32(value));
  } else if constexpr (std::is_same_v<In, bf16> || std::is_same_v<In, f16>) {
    return static_cast<Out>(to_f32(value));  // integer target (cast() only allows the identity)
  } else {
    return static_cast<Out>(value);
  }
}

// The bytes of `value` stored as one element of `dtype` (in the low bytes of the result): what
// fill() writes on either device. Integer dtypes take an integral value within range (fill checks).
inline std::uint64_t element_bits(DType dtype, double value) {
  std::uint64_t bits = 0;
  const auto store = [&bits](auto element) { std::memcpy(&bits, &element, sizeof element); };
  switch (dtype) {
    case DType::f32: store(convert_value<float>(value)); break;
    case DType::f64: store(value); break;
    case DType::bf16: store(convert_value<bf16>(value)); break;
    case DType::f16: store(convert_value<f16>(value)); break;
    case DType::i16: store(static_cast<std::int16_t>(value)); break;
    case DType::i32: store(static_cast<std::int32_t>(value)); break;
    case DType::i64: store(static_cast<std::int64_t>(value)); break;
    case DType::u8: store(static_cast<std::uint8_t>(value)); break;
  }
  return bits;
}

}  // namespace nnuc::cpu
