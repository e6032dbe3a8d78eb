// NIfTI header validation from bytes (rules R1-R7, R10, R13, R14 of shared/spec/reliability.md;
// R8/R9 live in nifti_geometry.cpp). Nothing here allocates from a header value.
#include <nifti2_io.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <mutex>

#include "data/nifti/nifti_internal.h"

namespace nnuc::data::nifti_detail {

void quiet_nifticlib() {
  static std::once_flag once;
  std::call_once(once, [] { nifti_set_debug_level(0); });
}

const char* datatype_name(int datatype) {
  switch (datatype) {
    case DT_UINT8: return "uint8";
    case DT_INT16: return "int16";
    case DT_INT32: return "int32";
    case DT_FLOAT32: return "float32";
    case DT_FLOAT64: return "float64";
    case DT_INT8: return "int8";
    case DT_UINT16: return "uint16";
    case DT_UINT32: return "uint32";
    case DT_INT64: return "int64";
    case DT_UINT64: return "uint64";
    case DT_BINARY: return "binary (1 bit)";
    case DT_COMPLEX64: return "complex64";
    case DT_COMPLEX128: return "complex128";
    case DT_COMPLEX256: return "complex256";
    case DT_RGB24: return "RGB24";
    case DT_RGBA32: return "RGBA32";
    case DT_FLOAT128: return "float128";
    default: return "unknown";
  }
}

int allowed_datatype_bytes(int datatype) {
  switch (datatype) {
    case DT_UINT8:
    case DT_INT8: return 1;
    case DT_INT16:
    case DT_UINT16: return 2;
    case DT_INT32:
    case DT_UINT32:
    case DT_FLOAT32: return 4;
    case DT_FLOAT64:
    case DT_INT64:
    case DT_UINT64: return 8;
    default: return 0;
  }
}

namespace {

// Printable form of up to `count` magic bytes ("n+1\0" -> "n+1\\0").
std::string escaped(const unsigned char* bytes, std::size_t count) {
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (std::size_t index = 0; index < count; ++index) {
    const unsigned char c = bytes[index];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The fields of either header version, widened, in host byte order.
struct RawHeader {
  std::int64_t dim[8];
  int datatype, bitpix;
  double pixdim[8];
  double vox_offset;            // NIfTI-1 stores a float: checked before any integer conversion (R6)
  std::int64_t vox_offset_i64;  // NIfTI-2
  double scl_slope, scl_inter;
  int qform_code, sform_code;
  double quatern[3], qoffset[3], srow[3][4];
  int xyzt_units, intent_code;
};

RawHeader widen(const nifti_1_header& h) {
  RawHeader r{};
  for (int i = 0; i < 8; ++i) r.dim[i] = h.dim[i], r.pixdim[i] = h.pixdim[i];
  r.datatype = h.datatype, r.bitpix = h.bitpix;
  r.vox_offset = h.vox_offset;
  r.scl_slope = h.scl_slope, r.scl_inter = h.scl_inter;
  r.qform_code = h.qform_code, r.sform_code = h.sform_code;
  r.quatern[0] = h.quatern_b, r.quatern[1] = h.quatern_c, r.quatern[2] = h.quatern_d;
  r.qoffset[0] = h.qoffset_x, r.qoffset[1] = h.qoffset_y, r.qoffset[2] = h.qoffset_z;
  for (int c = 0; c < 4; ++c) r.srow[0][c] = h.srow_x[c], r.srow[1][c] = h.srow_y[c], r.srow[2][c] = h.srow_z[c];
  r.xyzt_units = static_cast<unsigned char>(h.xyzt_units);
  r.intent_code = h.intent_code;
  return r;
}

RawHeader widen(const nifti_2_header& h) {
  RawHeader r{};
  for (int i = 0; i < 8; ++i) r.dim[i] = h.dim[i], r.pixdim[i] = h.pixdim[i];
  r.datatype = h.datatype, r.bitpix = h.bitpix;
  r.vox_offset_i64 = h.vox_offset;
  r.scl_slope = h.scl_slope, r.scl_inter = h.scl_inter;
  r.qform_code = h.qform_code, r.sform_code = h.sform_code;
  r.quatern[0] = h.quatern_b, r.quatern[1] = h.quatern_c, r.quatern[2] = h.quatern_d;
  r.qoffset[0] = h.qoffset_x, r.qoffset[1] = h.qoffset_y, r.qoffset[2] = h.qoffset_z;
  for (int c = 0; c < 4; ++c) r.srow[0][c] = h.srow_x[c], r.srow[1][c] = h.srow_y[c], r.srow[2][c] = h.srow_z[c];
  r.xyzt_units = h.xyzt_units;
  r.intent_code = h.intent_code;
  return r;
}

// Byte offsets of the fields named in messages, per version.
struct Offsets {
  std::size_t dim, datatype, bitpix, pixdim, vox_offset, scl_slope, scl_inter, qform_code, sform_code, magic;
  std::size_t dim_size;  // bytes per dim[] entry
};
constexpr Offsets kOffsets1{offsetof(nifti_1_header, dim),
                            offsetof(nifti_1_header, datatype),
                            offsetof(nifti_1_header, bitpix),
                            offsetof(nifti_1_header, pixdim),
                            offsetof(nifti_1_header, vox_offset),
                            offsetof(nifti_1_header, scl_slope),
                            offsetof(nifti_1_header, scl_inter),
                            offsetof(nifti_1_header, qform_code),
                            offsetof(nifti_1_header, sform_code),
                            offsetof(nifti_1_header, magic),
                            2};
constexpr Offsets kOffsets2{offsetof(nifti_2_header, dim),
                            offsetof(nifti_2_header, datatype),
                            offsetof(nifti_2_header, bitpix),
                            offsetof(nifti_2_header, pixdim),
                            offsetof(nifti_2_header, vox_offset),
                            offsetof(nifti_2_header, scl_slope),
                            offsetof(nifti_2_header, scl_inter),
                            offsetof(nifti_2_header, qform_code),
                            offsetof(nifti_2_header, sform_code),
                            offsetof(nifti_2_header, magic),
                            8};

// Checked a * b for unsigned 64-bit values.
bool multiply_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& product) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return true;
  product = a * b;
  return false;
}

void check_magic(const unsigned char* prefix, int version, const std::string& name) {
  if (version == 1) {
    const unsigned char* magic = prefix + kOffsets1.magic;
    if (std::memcmp(magic, "n+1\0", 4) == 0) return;
    if (std::memcmp(magic, "ni1\0", 4) == 0)
      NIFTI_FAIL(name, "NIFTI_MAGIC",
                 "magic (byte 344) is 'ni1': a .hdr/.img pair header, which nnuc does not read; "
                 "expected 'n+1' (single .nii file)");
    if (magic[0] == 0 && magic[1] == 0 && magic[2] == 0 && magic[3] == 0)
      NIFTI_FAIL(name, "NIFTI_MAGIC",
                 "magic (byte 344) is empty: an Analyze 7.5 header, which nnuc does not read; "
                 "expected 'n+1'");
    NIFTI_FAIL(name, "NIFTI_MAGIC", "magic (byte 344) is '", escaped(magic, 4), "'; expected 'n+1\\x00'");
  }
  const unsigned char* magic = prefix + kOffsets2.magic;
  if (std::memcmp(magic, "n+2\0\r\n\032\n", 8) == 0) return;
  if (std::memcmp(magic, "ni2\0\r\n\032\n", 8) == 0)
    NIFTI_FAIL(name, "NIFTI_MAGIC",
               "magic (byte 4) is 'ni2': a .hdr/.img pair header, which nnuc does not read; "
               "expected 'n+2'");
  NIFTI_FAIL(name, "NIFTI_MAGIC", "magic (byte 4) is '", escaped(magic, 8), "'; expected 'n+2\\x00\\r\\n\\x1a\\n'");
}

void check_datatype(int datatype, const Offsets& at, const std::string& name) {
  if (allowed_datatype_bytes(datatype) != 0) return;
  const char* why = "";
  switch (datatype) {
    case DT_BINARY: why = " (1-bit data is not supported)"; break;
    case DT_COMPLEX64:
    case DT_COMPLEX128:
    case DT_COMPLEX256: why = " (complex data is not an image intensity)"; break;
    case DT_RGB24:
    case DT_RGBA32: why = " (colour data: convert to one channel per file)"; break;
    case DT_FLOAT128: why = " (128-bit float is not supported)"; break;
    default: break;
  }
  NIFTI_FAIL(name, "NIFTI_DATATYPE", "datatype (byte ", at.datatype, ") is ", datatype, " = ", datatype_name(datatype),
             why, "; expected one of uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64");
}

}  // namespace

NiftiHeaderInfo validate_fixed_header(const unsigned char* prefix, std::size_t prefix_size,
                                      std::optional<std::uint64_t> total_size, const std::string& name,
                                      const NiftiReadOptions& options) {
  // R2: identity. sizeof_hdr decides the version and the byte order.
  if (prefix_size < 4)
    NIFTI_FAIL(name, "NIFTI_TRUNCATED", "file is ", prefix_size,
               " bytes; a NIfTI header needs 348 (NIfTI-1) or 540 "
               "(NIfTI-2)");
  if (has_gzip_magic(prefix, prefix_size))
    NIFTI_FAIL(name, "NIFTI_SIZEOF_HDR",
               "bytes start with the gzip magic 1f 8b; a gzip-compressed file must be named "
               ".nii.gz");
  std::uint32_t native;
  std::memcpy(&native, prefix, 4);
  const std::uint32_t swapped = byte_swap32(native);
  NiftiHeaderInfo info;
  bool swap = false;
  if (native == kNifti1HeaderBytes || native == kNifti2HeaderBytes) {
    info.header_bytes = native;
  } else if (swapped == kNifti1HeaderBytes || swapped == kNifti2HeaderBytes) {
    info.header_bytes = swapped;
    swap = true;
  } else {
    std::uint32_t little = host_is_little_endian() ? native : swapped;
    NIFTI_FAIL(name, "NIFTI_SIZEOF_HDR", "sizeof_hdr (byte 0) is ", static_cast<std::int32_t>(little),
               " read little-endian and ", static_cast<std::int32_t>(byte_swap32(little)),
               " read big-endian; expected 348 (NIfTI-1) or 540 (NIfTI-2) in exactly one byte order");
  }
  info.version = info.header_bytes == kNifti1HeaderBytes ? 1 : 2;
  info.big_endian = host_is_little_endian() == swap;
  if (prefix_size < info.header_bytes)
    NIFTI_FAIL(name, "NIFTI_TRUNCATED", "file ends after ", prefix_size, " bytes, inside the ", info.header_bytes,
               "-byte NIfTI-", info.version, " header");
  check_magic(prefix, info.version, name);

  // nifticlib's structs and byte swapping; read by value (nifti_2_header is packed).
  RawHeader raw;
  if (info.version == 1) {
    nifti_1_header header;
    std::memcpy(&header, prefix, sizeof header);
    if (swap) nifti_swap_as_nifti1(&header);
    raw = widen(header);
  } else {
    nifti_2_header header;
    std::memcpy(&header, prefix, sizeof header);
    if (swap) nifti_swap_as_nifti2(&header);
    raw = widen(header);
  }
  const Offsets& at = info.version == 1 ? kOffsets1 : kOffsets2;

  // R3: dim[0] before anything loops over it; dim[1..dim[0]] >= 1; dim[i > dim[0]] ignored.
  if (raw.dim[0] < 1 || raw.dim[0] > 7)
    NIFTI_FAIL(name, "NIFTI_DIM0", "dim[0] (byte ", at.dim, ") is ", raw.dim[0], "; expected 1..7 dimensions");
  info.ndim = static_cast<int>(raw.dim[0]);
  for (int axis = 1; axis <= info.ndim; ++axis) {
    if (raw.dim[axis] < 1)
      NIFTI_FAIL(name, "NIFTI_DIM", "dim[", axis, "] (byte ", at.dim + axis * at.dim_size, ") is ", raw.dim[axis],
                 "; expected >= 1 for every axis up to dim[0] = ", info.ndim);
  }

  // R5: datatype on the allow-list; bitpix is only advisory.
  check_datatype(raw.datatype, at, name);
  info.datatype = raw.datatype;
  info.bytes_per_voxel = allowed_datatype_bytes(raw.datatype);
  if (raw.bitpix != 8 * info.bytes_per_voxel)
    info.warnings.push_back(detail::concat("NIFTI_W_BITPIX: bitpix (byte ", at.bitpix, ") is ", raw.bitpix, " but ",
                                           datatype_name(raw.datatype), " has ", 8 * info.bytes_per_voxel,
                                           " bits; using the datatype"));

  // R4: checked 64-bit sizes, then the cap, before anything is sized from them.
  std::uint64_t voxels = 1;
  for (int axis = 1; axis <= info.ndim; ++axis) {
    if (multiply_overflows(voxels, static_cast<std::uint64_t>(raw.dim[axis]), voxels))
      NIFTI_FAIL(name, "NIFTI_SIZE_OVERFLOW", "the product of dim[1..", info.ndim, "] overflows 64 bits at dim[", axis,
                 "] = ", raw.dim[axis]);
  }
  std::uint64_t data_bytes = 0, decoded_bytes = 0;
  if (multiply_overflows(voxels, static_cast<std::uint64_t>(info.bytes_per_voxel), data_bytes) ||
      multiply_overflows(voxels, sizeof(float), decoded_bytes) ||
      voxels > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    NIFTI_FAIL(name, "NIFTI_SIZE_OVERFLOW", voxels, " voxels of ", datatype_name(raw.datatype),
               " overflow a 64-bit byte count");
  if (data_bytes > options.max_bytes || decoded_bytes > options.max_bytes)
    NIFTI_FAIL(name, "NIFTI_SIZE_CAP", "dim[1..", info.ndim, "] give ", voxels, " voxels = ", data_bytes,
               " bytes on disk and ", decoded_bytes, " bytes as float32; the cap (max_bytes) is ", options.max_bytes);
  info.voxel_count = voxels;
  info.data_bytes = data_bytes;

  // R6: vox_offset finite, whole, >= header + extender, within the file; range before conversion.
  const std::uint64_t minimum_offset = info.header_bytes + 4u;
  if (info.version == 1) {
    const double offset = raw.vox_offset;
    if (!std::isfinite(offset) || offset < static_cast<double>(minimum_offset) || offset != std::floor(offset) ||
        offset > static_cast<double>(options.max_bytes))
      NIFTI_FAIL(name, "NIFTI_VOX_OFFSET", "vox_offset (byte ", at.vox_offset, ") is ", offset,
                 "; expected a whole number >= ", minimum_offset, " and <= the cap ", options.max_bytes);
    info.vox_offset = static_cast<std::uint64_t>(offset);
  } else {
    const std::int64_t offset = raw.vox_offset_i64;
    if (offset < static_cast<std::int64_t>(minimum_offset) || static_cast<std::uint64_t>(offset) > options.max_bytes)
      NIFTI_FAIL(name, "NIFTI_VOX_OFFSET", "vox_offset (byte ", at.vox_offset, ") is ", offset,
                 "; expected >= ", minimum_offset, " and <= the cap ", options.max_bytes);
    info.vox_offset = static_cast<std::uint64_t>(offset);
  }
  if (total_size) {
    if (info.vox_offset > *total_size)
      NIFTI_FAIL(name, "NIFTI_VOX_OFFSET", "vox_offset (byte ", at.vox_offset, ") is ", info.vox_offset,
                 ", beyond the end of the ", *total_size, "-byte file");
    if (data_bytes > *total_size - info.vox_offset)
      NIFTI_FAIL(name, "NIFTI_TRUNCATED_DATA", "the header declares ", data_bytes, " data bytes at vox_offset ",
                 info.vox_offset, " but the file has ", *total_size, " bytes (", *total_size - info.vox_offset,
                 " after vox_offset)");
    const std::uint64_t end = info.vox_offset + data_bytes;
    if (end < *total_size)
      info.warnings.push_back(
          detail::concat("NIFTI_W_TRAILING_BYTES: ", *total_size - end, " bytes after the image data are ignored"));
  }
  if (info.vox_offset % 16 != 0)
    info.warnings.push_back(
        detail::concat("NIFTI_W_VOX_OFFSET_ALIGN: vox_offset ", info.vox_offset, " is not a multiple of 16"));

  // R10: scaling. slope 0 or non-finite means no scaling; a usable slope needs a finite intercept.
  info.scl_slope = raw.scl_slope;
  info.scl_inter = raw.scl_inter;
  info.scaled = std::isfinite(raw.scl_slope) && raw.scl_slope != 0.0;
  if (info.scaled && !std::isfinite(raw.scl_inter))
    NIFTI_FAIL(name, "NIFTI_SCL_INTER", "scl_inter (byte ", at.scl_inter, ") is ", raw.scl_inter, " with scl_slope ",
               raw.scl_slope, "; expected a finite intercept");
  info.intent_code = raw.intent_code;

  // R9 (codes in range); the remaining geometry checks are in check_and_derive_geometry.
  if (raw.qform_code < 0 || raw.qform_code > 5)
    NIFTI_FAIL(name, "NIFTI_QFORM_CODE", "qform_code (byte ", at.qform_code, ") is ", raw.qform_code,
               "; expected 0..5");
  if (raw.sform_code < 0 || raw.sform_code > 5)
    NIFTI_FAIL(name, "NIFTI_SFORM_CODE", "sform_code (byte ", at.sform_code, ") is ", raw.sform_code,
               "; expected 0..5");
  NiftiGeometry& geometry = info.geometry;
  geometry.nifti_version = info.version;
  for (int index = 0; index < 8; ++index) {
    geometry.dim[index] = raw.dim[index];
    geometry.pixdim[index] = raw.pixdim[index];
  }
  geometry.qform_code = raw.qform_code;
  geometry.sform_code = raw.sform_code;
  geometry.quatern_b = raw.quatern[0], geometry.quatern_c = raw.quatern[1], geometry.quatern_d = raw.quatern[2];
  geometry.qoffset_x = raw.qoffset[0], geometry.qoffset_y = raw.qoffset[1], geometry.qoffset_z = raw.qoffset[2];
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col) geometry.srow[row][col] = raw.srow[row][col];
  geometry.xyzt_units = raw.xyzt_units;
  check_and_derive_geometry(info, name, options);
  return info;
}

void validate_extensions(const ByteSource& source, NiftiHeaderInfo& info) {
  // R7: the 4-byte extender follows the header; extensions are parsed only if its first byte is
  // set, each must be >= 16 bytes, a multiple of 16 and end by vox_offset. Problems are warnings:
  // nnuc does not use extension contents and never reads past vox_offset.
  unsigned char extender[4];
  source.read_at(info.header_bytes, extender, 4);
  if (extender[0] == 0) return;
  const bool swap = info.big_endian == host_is_little_endian();
  std::uint64_t position = info.header_bytes + 4u;
  int count = 0;
  std::string problem;
  while (position < info.vox_offset) {
    if (count == kMaxExtensions) {
      problem =
          detail::concat("more than ", kMaxExtensions, " extensions; the rest (from byte ", position, ") are ignored");
      break;
    }
    if (info.vox_offset - position < 8) {
      problem = detail::concat("extension ", count, " at byte ", position, " is cut by vox_offset ", info.vox_offset);
      break;
    }
    unsigned char head[8];
    source.read_at(position, head, 8);
    std::uint32_t size_bits;
    std::memcpy(&size_bits, head, 4);
    if (swap) size_bits = byte_swap32(size_bits);
    const std::int64_t esize = static_cast<std::int32_t>(size_bits);
    if (esize < 16 || esize % 16 != 0 || static_cast<std::uint64_t>(esize) > info.vox_offset - position) {
      problem = detail::concat("extension ", count, " at byte ", position, " has esize ", esize,
                               "; expected >= 16, a multiple of 16 and ending by vox_offset ", info.vox_offset);
      break;
    }
    ++count;
    position += static_cast<std::uint64_t>(esize);
  }
  if (problem.empty() && count == 0)
    problem = detail::concat("the extension flag (byte ", info.header_bytes,
                             ") is set but no extension fits before "
                             "vox_offset ",
                             info.vox_offset);
  if (!problem.empty()) info.warnings.push_back("NIFTI_W_EXTENSIONS: " + problem);
  info.extension_count = count;
}

NiftiHeaderInfo validate_source(const ByteSource& source, const NiftiReadOptions& options) {
  unsigned char prefix[kNifti2HeaderBytes];
  const std::size_t prefix_size = static_cast<std::size_t>(std::min<std::uint64_t>(source.size(), sizeof prefix));
  if (prefix_size > 0) source.read_at(0, prefix, prefix_size);
  NiftiHeaderInfo info = validate_fixed_header(prefix, prefix_size, source.size(), source.name(), options);
  validate_extensions(source, info);
  return info;
}

}  // namespace nnuc::data::nifti_detail

namespace nnuc::data {

NiftiHeaderInfo validate_nifti_header(const unsigned char* bytes, std::size_t size, const std::string& name_for_errors,
                                      const NiftiReadOptions& options) {
  NNUC_CHECK(bytes != nullptr || size == 0, "validate_nifti_header: bytes is null with size ", size);
  nifti_detail::quiet_nifticlib();
  const nifti_detail::MemorySource source(bytes, size, name_for_errors);
  return nifti_detail::validate_source(source, options);
}

}  // namespace nnuc::data
