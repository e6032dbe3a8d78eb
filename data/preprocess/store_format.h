// Internal to the preprocessed store (store_write.cpp, store_read.cpp): the pieces of the file layout
// that the writer and the reader share. Layout documented in data/README.md.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "data/preprocess/store.h"
#include "kernels/core/error.h"

namespace nnuc::data::store_format {

inline bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  std::uint8_t first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

inline std::size_t align_up(std::size_t value) {
  return (value + kStoreAlignment - 1) / kStoreAlignment * kStoreAlignment;
}

inline DType dtype_from_name(const std::string& name, const std::string& where) {
  for (DType dtype : {DType::f32, DType::f64, DType::i16, DType::i32, DType::i64, DType::u8}) {
    if (name == dtype_name(dtype)) return dtype;
  }
  NNUC_THROW(IoError, where, ": unknown dtype '", name, "'");
}

inline std::string hex32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// One array as laid out in the file.
struct ArrayLayout {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  const void* source = nullptr;  // writer only
  std::size_t offset = 0;
  std::size_t bytes = 0;
  std::uint32_t crc = 0;
};

// Little-endian fields of the 32-byte prefix (the store refuses big-endian hosts).
inline void put_u32(unsigned char* at, std::uint32_t value) { std::memcpy(at, &value, 4); }
inline void put_u64(unsigned char* at, std::uint64_t value) { std::memcpy(at, &value, 8); }
inline std::uint32_t get_u32(const unsigned char* at) {
  std::uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}
inline std::uint64_t get_u64(const unsigned char* at) {
  std::uint64_t value;
  std::memcpy(&value, at, 8);
  return value;
}

}  // namespace nnuc::data::store_format
