#include "kernels/core/dtype.h"

#include <cmath>

#include "kernels/core/error.h"

namespace nnuc {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  NNUC_THROW(InvalidInput, "unknown dtype ", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i16: return "i16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "unknown";
}

bool is_floating(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::bf16 || dtype == DType::f16;
}

float f16_to_float(f16 value) {
  const std::uint32_t sign = (value.bits >> 15) & 1u;
  const std::uint32_t exponent = (value.bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = value.bits & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

f16 float_to_f16(float value) {
  std::uint32_t word;
  std::memcpy(&word, &value, sizeof word);
  const std::uint16_t sign = static_cast<std::uint16_t>((word >> 16) & 0x8000u);
  const std::uint32_t abs_word = word & 0x7fffffffu;
  if (abs_word >= 0x7f800000u) {  // inf or NaN
    return f16{static_cast<std::uint16_t>(sign | 0x7c00u | (abs_word > 0x7f800000u ? 0x200u : 0u))};
  }
  if (abs_word >= 0x477ff000u) return f16{static_cast<std::uint16_t>(sign | 0x7c00u)};  // overflow
  if (abs_word < 0x38800000u) {  // subnormal half or zero: round to nearest even in units of 2^-24
    float magnitude;
    std::memcpy(&magnitude, &abs_word, sizeof magnitude);
    const float scaled = magnitude * 16777216.0f;  // exact: power of two
    const auto units = static_cast<std::uint16_t>(std::nearbyint(scaled));
    return f16{static_cast<std::uint16_t>(sign | units)};
  }
  // normal: rebias exponent 127 -> 15 and round the mantissa from 23 to 10 bits, nearest even
  std::uint32_t rebased = abs_word - 0x38000000u;
  const std::uint32_t rounding = 0xfffu + ((rebased >> 13) & 1u);
  rebased += rounding;
  return f16{static_cast<std::uint16_t>(sign | (rebased >> 13))};
}

}  // namespace nnuc
