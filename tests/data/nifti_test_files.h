// Test-side NIfTI file builder: writes NIfTI-1/2 headers byte by byte at the offsets of the
// standard (nifti1.h / nifti2.h tables), in either byte order, independently of the reader under
// test and of nifticlib. Header-only so that tests and fuzz/ seed generation can share it.
#pragma once

#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace nnuc::testing::nifti {

using Bytes = std::vector<unsigned char>;

// NIfTI datatype codes (nifti1.h).
enum Datatype : int {
  kBinary = 1,
  kUint8 = 2,
  kInt16 = 4,
  kInt32 = 8,
  kFloat32 = 16,
  kComplex64 = 32,
  kFloat64 = 64,
  kRgb24 = 128,
  kInt8 = 256,
  kUint16 = 512,
  kUint32 = 768,
  kInt64 = 1024,
  kUint64 = 1280,
  kFloat128 = 1536,
  kComplex128 = 1792,
  kComplex256 = 2048,
  kRgba32 = 2304
};
inline const std::vector<int>& allowed_datatypes() {
  static const std::vector<int> all = {kUint8,  kInt8,  kInt16,  kUint16,  kInt32,
                                       kUint32, kInt64, kUint64, kFloat32, kFloat64};
  return all;
}
inline int datatype_bytes(int datatype) {
  switch (datatype) {
    case kUint8:
    case kInt8: return 1;
    case kInt16:
    case kUint16: return 2;
    case kInt32:
    case kUint32:
    case kFloat32: return 4;
    case kInt64:
    case kUint64:
    case kFloat64: return 8;
    default: return 1;
  }
}

// Every header field a test may want to set. Defaults describe a valid little-endian NIfTI-1
// int16 image of 7 x 5 x 3 voxels (i, j, k) with qform and sform (codes 1) that agree.
struct FileSpec {
  int version = 1;
  bool big_endian = false;
  std::int32_t sizeof_hdr = 0;  // 0: 348 or 540 by version
  std::string magic;            // empty: "n+1\0" / "n+2\0\r\n\032\n"; else the bytes as given (padded with \0)
  std::array<std::int64_t, 8> dim{3, 7, 5, 3, 1, 1, 1, 1};
  int datatype = kInt16;
  int bitpix = -1;  // -1: 8 * bytes of the datatype
  std::array<double, 8> pixdim{1, 1.5, 2.0, 3.25, 1, 1, 1, 1};
  std::optional<double> vox_offset;  // unset: header + 4 + extension bytes
  double scl_slope = 1, scl_inter = 0;
  int qform_code = 1, sform_code = 1;
  double quatern_b = 0, quatern_c = 0, quatern_d = 0;
  double qoffset_x = -10.5, qoffset_y = 20.25, qoffset_z = 3.0;
  std::array<std::array<double, 4>, 3> srow{{{1.5, 0, 0, -10.5}, {0, 2.0, 0, 20.25}, {0, 0, 3.25, 3.0}}};
  int xyzt_units = 2;  // mm
  int intent_code = 0;
  std::array<unsigned char, 4> extender{0, 0, 0, 0};
  Bytes extensions;  // raw bytes after the extender (esize/ecode in the file's byte order: see extension())
  Bytes data;        // raw voxel bytes, already in the file's byte order (see encode())
  Bytes trailing;    // bytes after the data
  bool pad_to_vox_offset = true;  // zero bytes between the extensions and a larger vox_offset
};

inline bool host_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

template <typename T>
void put(Bytes& out, std::size_t offset, T value, bool big_endian) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  if (big_endian == host_little_endian())
    for (std::size_t a = 0, b = sizeof(T) - 1; a < b; ++a, --b) std::swap(bytes[a], bytes[b]);
  if (offset + sizeof(T) > out.size()) throw std::logic_error("put past the header");
  std::memcpy(out.data() + offset, bytes, sizeof(T));
}

// Raw bytes of `values` as NIfTI `datatype` T in the given byte order.
template <typename T>
Bytes encode(const std::vector<T>& values, bool big_endian) {
  Bytes out(values.size() * sizeof(T));
  for (std::size_t index = 0; index < values.size(); ++index) put<T>(out, index * sizeof(T), values[index], big_endian);
  return out;
}

// One extension: esize (a multiple of 16 unless forced), ecode, payload padded with zeros.
inline Bytes extension(std::int32_t esize, std::int32_t ecode, const std::string& payload, bool big_endian) {
  Bytes out(static_cast<std::size_t>(esize > 8 ? esize : 8), 0);
  put<std::int32_t>(out, 0, esize, big_endian);
  put<std::int32_t>(out, 4, ecode, big_endian);
  std::memcpy(out.data() + 8, payload.data(), std::min(payload.size(), out.size() - 8));
  return out;
}

inline Bytes build(const FileSpec& s) {
  const bool v1 = s.version == 1;
  const std::size_t header_bytes = v1 ? 348 : 540;
  Bytes out(header_bytes, 0);
  const bool be = s.big_endian;
  const int bitpix = s.bitpix >= 0 ? s.bitpix : 8 * datatype_bytes(s.datatype);
  const double vox_offset = s.vox_offset ? *s.vox_offset : static_cast<double>(header_bytes + 4 + s.extensions.size());
  put<std::int32_t>(out, 0, s.sizeof_hdr != 0 ? s.sizeof_hdr : static_cast<std::int32_t>(header_bytes), be);
  if (v1) {
    for (int i = 0; i < 8; ++i) put<std::int16_t>(out, 40 + 2 * i, static_cast<std::int16_t>(s.dim[i]), be);
    put<std::int16_t>(out, 68, static_cast<std::int16_t>(s.intent_code), be);
    put<std::int16_t>(out, 70, static_cast<std::int16_t>(s.datatype), be);
    put<std::int16_t>(out, 72, static_cast<std::int16_t>(bitpix), be);
    for (int i = 0; i < 8; ++i) put<float>(out, 76 + 4 * i, static_cast<float>(s.pixdim[i]), be);
    put<float>(out, 108, static_cast<float>(vox_offset), be);
    put<float>(out, 112, static_cast<float>(s.scl_slope), be);
    put<float>(out, 116, static_cast<float>(s.scl_inter), be);
    out[123] = static_cast<unsigned char>(s.xyzt_units);
    put<std::int16_t>(out, 252, static_cast<std::int16_t>(s.qform_code), be);
    put<std::int16_t>(out, 254, static_cast<std::int16_t>(s.sform_code), be);
    const double q[6] = {s.quatern_b, s.quatern_c, s.quatern_d, s.qoffset_x, s.qoffset_y, s.qoffset_z};
    for (int i = 0; i < 6; ++i) put<float>(out, 256 + 4 * i, static_cast<float>(q[i]), be);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) put<float>(out, 280 + 16 * r + 4 * c, static_cast<float>(s.srow[r][c]), be);
    const std::string magic = s.magic.empty() ? std::string("n+1\0", 4) : s.magic;
    std::memcpy(out.data() + 344, magic.data(), std::min<std::size_t>(magic.size(), 4));
  } else {
    const std::string magic = s.magic.empty() ? std::string("n+2\0\r\n\032\n", 8) : s.magic;
    std::memcpy(out.data() + 4, magic.data(), std::min<std::size_t>(magic.size(), 8));
    put<std::int16_t>(out, 12, static_cast<std::int16_t>(s.datatype), be);
    put<std::int16_t>(out, 14, static_cast<std::int16_t>(bitpix), be);
    for (int i = 0; i < 8; ++i) put<std::int64_t>(out, 16 + 8 * i, s.dim[i], be);
    for (int i = 0; i < 8; ++i) put<double>(out, 104 + 8 * i, s.pixdim[i], be);
    const bool integral = std::isfinite(vox_offset) && std::fabs(vox_offset) < 9e18;
    put<std::int64_t>(out, 168, integral ? static_cast<std::int64_t>(vox_offset) : INT64_MIN, be);
    put<double>(out, 176, s.scl_slope, be);
    put<double>(out, 184, s.scl_inter, be);
    put<std::int32_t>(out, 344, s.qform_code, be);
    put<std::int32_t>(out, 348, s.sform_code, be);
    const double q[6] = {s.quatern_b, s.quatern_c, s.quatern_d, s.qoffset_x, s.qoffset_y, s.qoffset_z};
    for (int i = 0; i < 6; ++i) put<double>(out, 352 + 8 * i, q[i], be);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) put<double>(out, 400 + 32 * r + 8 * c, s.srow[r][c], be);
    put<std::int32_t>(out, 500, s.xyzt_units, be);
    put<std::int32_t>(out, 504, s.intent_code, be);
  }
  out.insert(out.end(), s.extender.begin(), s.extender.end());
  out.insert(out.end(), s.extensions.begin(), s.extensions.end());
  // Pad (or not) up to vox_offset when it is a sane number beyond what is written.
  if (s.pad_to_vox_offset && vox_offset == vox_offset && vox_offset > static_cast<double>(out.size()) &&
      vox_offset < 1e8)
    out.resize(static_cast<std::size_t>(vox_offset), 0);
  out.insert(out.end(), s.data.begin(), s.data.end());
  out.insert(out.end(), s.trailing.begin(), s.trailing.end());
  return out;
}

// gzip (one member) of `data` at `level`.
inline Bytes gzip(const Bytes& data, int level = 6) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  Bytes out(deflateBound(&z, static_cast<uLong>(data.size())) + 64);
  z.next_in = const_cast<unsigned char*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (status != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  return out;
}

// gzip of `data` split into members at the given byte positions.
inline Bytes gzip_members(const Bytes& data, const std::vector<std::size_t>& cuts) {
  Bytes out;
  std::size_t start = 0;
  for (std::size_t index = 0; index <= cuts.size(); ++index) {
    const std::size_t end = index < cuts.size() ? cuts[index] : data.size();
    const Bytes member =
        gzip(Bytes(data.begin() + static_cast<std::ptrdiff_t>(start), data.begin() + static_cast<std::ptrdiff_t>(end)));
    out.insert(out.end(), member.begin(), member.end());
    start = end;
  }
  return out;
}

// Voxel count of a spec's dims (dim[1..dim[0]]).
inline std::size_t voxel_count(const FileSpec& s) {
  std::size_t count = 1;
  for (int axis = 1; axis <= s.dim[0]; ++axis) count *= static_cast<std::size_t>(s.dim[axis]);
  return count;
}

}  // namespace nnuc::testing::nifti
