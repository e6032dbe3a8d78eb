// Voxel decoding of validated NIfTI data: both byte orders, every allow-listed datatype, scaling
// (R10), non-finite counting (R11) and label checks.
#include <nifti2_io.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "data/nifti/nifti_internal.h"

namespace nnuc::data::nifti_detail {

namespace {

constexpr std::size_t kChunkBytes = 1u << 20;  // data read at a time from a file (a multiple of 8)

bool needs_swap(const NiftiHeaderInfo& info) { return info.big_endian == host_is_little_endian(); }

template <typename Raw>
Raw load(const unsigned char* bytes, bool swap) {
  Raw value;
  if (!swap) {
    std::memcpy(&value, bytes, sizeof(Raw));
  } else {
    unsigned char reversed[sizeof(Raw)];
    for (std::size_t index = 0; index < sizeof(Raw); ++index) reversed[index] = bytes[sizeof(Raw) - 1 - index];
    std::memcpy(&value, reversed, sizeof(Raw));
  }
  return value;
}

// Calls fn(data, count, first_index) for consecutive pieces of the data region, whole voxels each.
template <typename Fn>
void for_each_chunk(const ByteSource& source, const NiftiHeaderInfo& info, Fn&& fn) {
  if (const unsigned char* whole = source.contiguous()) {
    fn(whole + info.vox_offset, static_cast<std::size_t>(info.voxel_count), std::uint64_t{0});
    return;
  }
  std::vector<unsigned char> chunk(kChunkBytes);
  const std::uint64_t voxels_per_chunk = kChunkBytes / static_cast<std::uint64_t>(info.bytes_per_voxel);
  for (std::uint64_t first = 0; first < info.voxel_count; first += voxels_per_chunk) {
    const std::uint64_t count = std::min(voxels_per_chunk, info.voxel_count - first);
    source.read_at(info.vox_offset + first * info.bytes_per_voxel, chunk.data(),
                   static_cast<std::size_t>(count * info.bytes_per_voxel));
    fn(chunk.data(), static_cast<std::size_t>(count), first);
  }
}

// Calls fn(Raw-type tag) with the C++ type of the datatype.
template <typename Fn>
void dispatch_datatype(int datatype, Fn&& fn) {
  switch (datatype) {
    case DT_UINT8: fn(std::uint8_t{}); break;
    case DT_INT8: fn(std::int8_t{}); break;
    case DT_INT16: fn(std::int16_t{}); break;
    case DT_UINT16: fn(std::uint16_t{}); break;
    case DT_INT32: fn(std::int32_t{}); break;
    case DT_UINT32: fn(std::uint32_t{}); break;
    case DT_INT64: fn(std::int64_t{}); break;
    case DT_UINT64: fn(std::uint64_t{}); break;
    case DT_FLOAT32: fn(float{}); break;
    case DT_FLOAT64: fn(double{}); break;
    default: NNUC_THROW(Error, "unvalidated NIfTI datatype ", datatype);
  }
}

bool identity_scaling(const NiftiHeaderInfo& info) {
  return !info.scaled || (info.scl_slope == 1.0 && info.scl_inter == 0.0);
}

std::string voxel_position(const NiftiHeaderInfo& info, std::uint64_t index) {
  const auto& dim = info.geometry.dim;
  const std::uint64_t nx = static_cast<std::uint64_t>(dim[1]);
  const std::uint64_t ny = info.ndim >= 2 ? static_cast<std::uint64_t>(dim[2]) : 1;
  const std::uint64_t nz = info.ndim >= 3 ? static_cast<std::uint64_t>(dim[3]) : 1;
  return detail::concat("(i, j, k) = (", index % nx, ", ", (index / nx) % ny, ", ", (index / nx / ny) % nz, ")");
}

}  // namespace

std::int64_t decode_image(const ByteSource& source, const NiftiHeaderInfo& info, float* out) {
  const bool swap = needs_swap(info);
  const bool identity = identity_scaling(info);
  const double slope = info.scl_slope, inter = info.scl_inter;
  std::int64_t non_finite = 0;
  dispatch_datatype(info.datatype, [&](auto tag) {
    using Raw = decltype(tag);
    for_each_chunk(source, info, [&](const unsigned char* bytes, std::size_t count, std::uint64_t first) {
      float* destination = out + first;
      for (std::size_t index = 0; index < count; ++index) {
        const Raw raw = load<Raw>(bytes + index * sizeof(Raw), swap);
        float value;
        if (identity) {
          value = static_cast<float>(raw);
        } else {
          value = static_cast<float>(static_cast<double>(raw) * slope + inter);
        }
        destination[index] = value;
        if (!std::isfinite(value)) ++non_finite;
      }
    });
  });
  return non_finite;
}

void decode_label(const ByteSource& source, const NiftiHeaderInfo& info, std::int16_t* out) {
  if (!identity_scaling(info))
    NIFTI_INVALID(source.name(), "NIFTI_LABEL_SCALING", "scl_slope ", info.scl_slope, " and scl_inter ", info.scl_inter,
                  " scale the values; a label map needs identity scaling (slope 0, 1 or non-finite, intercept 0)");
  const bool swap = needs_swap(info);
  constexpr double kLow = std::numeric_limits<std::int16_t>::min(), kHigh = std::numeric_limits<std::int16_t>::max();
  dispatch_datatype(info.datatype, [&](auto tag) {
    using Raw = decltype(tag);
    for_each_chunk(source, info, [&](const unsigned char* bytes, std::size_t count, std::uint64_t first) {
      for (std::size_t index = 0; index < count; ++index) {
        const Raw raw = load<Raw>(bytes + index * sizeof(Raw), swap);
        bool valid;
        if constexpr (std::is_floating_point_v<Raw>) {
          valid = std::isfinite(raw) && raw == std::floor(raw) && raw >= kLow && raw <= kHigh;
        } else if constexpr (std::is_signed_v<Raw>) {
          valid = static_cast<std::int64_t>(raw) >= -32768 && static_cast<std::int64_t>(raw) <= 32767;
        } else {
          valid = static_cast<std::uint64_t>(raw) <= 32767u;
        }
        if (!valid)
          NIFTI_INVALID(source.name(), "NIFTI_LABEL_VALUE", "label value ", +raw, " at voxel ",
                        voxel_position(info, first + index), " (", datatype_name(info.datatype),
                        ") is not an integer in [-32768, 32767]");
        out[first + index] = static_cast<std::int16_t>(raw);
      }
    });
  });
}

}  // namespace nnuc::data::nifti_detail
