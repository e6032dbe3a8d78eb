#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/dataset/atomic_file.h"
#include "data/preprocess/store.h"
#include "data/preprocess/store_format.h"
#include "kernels/core/error.h"
#include "kernels/core/nvtx.h"

namespace nnuc::data {

using store_format::align_up;
using store_format::ArrayLayout;
using store_format::host_is_little_endian;
using store_format::put_u32;
using store_format::put_u64;

namespace {

std::atomic<std::int64_t> g_fail_after_bytes{-1};

nlohmann::json shape_json(const Shape& shape) {
  nlohmann::json dims = nlohmann::json::array();
  for (int axis = 0; axis < shape.rank(); ++axis) dims.push_back(shape[axis]);
  return dims;
}

// The header's properties: case_properties_to_json plus a summary of the class locations (the
// voxels themselves are the class_locations array).
nlohmann::json properties_json(const CaseProperties& properties) {
  nlohmann::json json = case_properties_to_json(properties);
  if (properties.has_class_locations) {
    nlohmann::json classes = nlohmann::json::array();
    for (const ClassLocations& locations : properties.class_locations)
      classes.push_back({{"labels", locations.key.labels},
                         {"is_region", locations.key.is_region},
                         {"count", locations.voxels.size()}});
    json["class_locations"] = classes;
  } else {
    json["class_locations"] = nullptr;
  }
  return json;
}

std::string header_text(const std::string& identifier, const std::vector<ArrayLayout>& arrays,
                        const CaseProperties& properties) {
  nlohmann::json header = nlohmann::json::object();
  header["format"] = "nnuc-preprocessed-case";
  header["version"] = kStoreVersion;
  header["identifier"] = identifier;
  nlohmann::json list = nlohmann::json::array();
  for (const ArrayLayout& array : arrays) {
    list.push_back({{"name", array.name},
                    {"dtype", dtype_name(array.dtype)},
                    {"shape", shape_json(array.shape)},
                    {"offset", array.offset},
                    {"bytes", array.bytes},
                    {"crc32", array.crc}});
  }
  header["arrays"] = list;
  header["properties"] = properties_json(properties);
  return header.dump();
}

// Streams the file into the temp file of write_file_atomic, counting bytes (for alignment padding and
// the test hook that fails writes after a number of bytes).
class CountingWriter {
 public:
  CountingWriter(int fd, const std::string& path) : fd_(fd), path_(path) {}

  void write(const void* bytes, std::size_t count) {
    const std::int64_t limit = g_fail_after_bytes.load();
    if (limit >= 0 && written_ + static_cast<std::int64_t>(count) > limit) {
      const auto allowed = static_cast<std::size_t>(limit - written_);
      write_all(fd_, bytes, allowed, path_);
      written_ += static_cast<std::int64_t>(allowed);
      NNUC_THROW(IoError, "cannot write '", path_, "': injected failure after ", written_, " bytes");
    }
    write_all(fd_, bytes, count, path_);
    written_ += static_cast<std::int64_t>(count);
  }

  void zeros(std::size_t count) {
    static const char kZeros[kStoreAlignment] = {};
    while (count > 0) {
      const std::size_t chunk = std::min(count, sizeof kZeros);
      write(kZeros, chunk);
      count -= chunk;
    }
  }

  std::int64_t written() const { return written_; }

 private:
  int fd_;
  const std::string& path_;
  std::int64_t written_ = 0;
};

}  // namespace

std::uint32_t crc32(const void* bytes, std::size_t count, std::uint32_t crc) {
  auto value = static_cast<uLong>(crc);
  const auto* at = static_cast<const Bytef*>(bytes);
  while (count > 0) {
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(count, std::size_t{1} << 30));
    value = ::crc32(value, at, chunk);
    at += chunk;
    count -= chunk;
  }
  return static_cast<std::uint32_t>(value);
}

void write_preprocessed_case(const std::string& path, const PreprocessedCase& preprocessed) {
  NNUC_RANGE("write_preprocessed_case");
  NNUC_CHECK(host_is_little_endian(), "the preprocessed store is little-endian; big-endian hosts are not supported");
  check_dtype(preprocessed.data, DType::f32, "data");
  check_dtype(preprocessed.seg, DType::i16, "seg");
  NNUC_CHECK(preprocessed.data.device() == Device::CPU && preprocessed.seg.device() == Device::CPU,
             "write_preprocessed_case: host tensors required");
  NNUC_CHECK(preprocessed.data.rank() == 4, "data must be (C, b0, b1, b2), got ", preprocessed.data.describe());
  check_shape(preprocessed.seg, Shape{preprocessed.data.dim(1), preprocessed.data.dim(2), preprocessed.data.dim(3)},
              "seg");

  std::vector<std::int32_t> locations;
  for (const ClassLocations& entry : preprocessed.properties.class_locations)
    for (const auto& voxel : entry.voxels) locations.insert(locations.end(), voxel.begin(), voxel.end());

  std::vector<ArrayLayout> arrays(3);
  arrays[0] = {"data", DType::f32, preprocessed.data.shape(), preprocessed.data.raw(), 0, preprocessed.data.bytes(), 0};
  arrays[1] = {"seg", DType::i16, preprocessed.seg.shape(), preprocessed.seg.raw(), 0, preprocessed.seg.bytes(), 0};
  arrays[2] = {"class_locations",
               DType::i32,
               Shape{static_cast<std::int64_t>(locations.size() / 3), 3},
               locations.data(),
               0,
               locations.size() * sizeof(std::int32_t),
               0};
  for (ArrayLayout& array : arrays) array.crc = crc32(array.source, array.bytes);

  // The header holds the offsets, which depend on the header's length: iterate to a fixed point.
  std::string header;
  std::size_t data_start = align_up(kStorePrefixBytes);
  for (;;) {
    std::size_t offset = data_start;
    for (ArrayLayout& array : arrays) {
      array.offset = offset;
      offset = align_up(offset + array.bytes);
    }
    header = header_text(preprocessed.identifier, arrays, preprocessed.properties);
    const std::size_t needed = align_up(kStorePrefixBytes + header.size());
    if (needed <= data_start) break;
    data_start = needed;
  }
  const std::size_t file_bytes = arrays.back().offset + arrays.back().bytes;

  unsigned char prefix[kStorePrefixBytes] = {};
  std::memcpy(prefix, kStoreMagic, 8);
  put_u32(prefix + 8, kStoreVersion);
  put_u32(prefix + 12, static_cast<std::uint32_t>(header.size()));
  put_u64(prefix + 16, file_bytes);
  put_u32(prefix + 24, crc32(header.data(), header.size(), crc32(prefix, 24)));

  write_file_atomic(path, [&](int fd, const std::string&) {
    CountingWriter out(fd, path);
    out.write(prefix, sizeof prefix);
    out.write(header.data(), header.size());
    for (const ArrayLayout& array : arrays) {
      out.zeros(array.offset - static_cast<std::size_t>(out.written()));
      out.write(array.source, array.bytes);
    }
  });
}

namespace testing_only {
void fail_store_writes_after(std::int64_t bytes) { g_fail_after_bytes.store(bytes); }
}  // namespace testing_only

}  // namespace nnuc::data
