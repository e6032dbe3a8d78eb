// NIfTI-1/2 reading and writing (.nii, .nii.gz) behind our own header validation.
//
// Reading: the header is parsed and checked from a bounded byte span (rules R1-R14 of
// shared/spec/reliability.md) before anything is allocated from a header value. Only then is the
// voxel data decoded (both byte orders, every datatype on the allow-list) and scl_slope/scl_inter
// applied. A .nii.gz is inflated with zlib into a buffer that grows with what the stream really
// delivers, capped at the size the validated header promises; truncation, CRC/ISIZE mismatch,
// trailing garbage and decompression bombs are errors.
//
// nifticlib (libnifti2) is used for what it does well: the NIfTI-1/2 header structs and their byte
// swapping (nifti_swap_as_nifti1/2), the quaternion <-> matrix math (nifti_quatern_to_dmat44,
// nifti_dmat44_to_quatern) and building output headers (nifti_make_new_nim +
// nifti_convert_nim2n1hdr/n2hdr). The bytes themselves are read and written here: nifticlib's own
// file readers allocate from unvalidated header values and its writer reports failures only on
// stderr, so neither is used.
//
// Axis order. NIfTI stores voxel (i, j, k) with i fastest. nnuc keeps that memory order and names
// the array axes (a0, a1, a2) = (k, j, i), the same order SimpleITK gives nnU-Net, so a row-major
// (a0, a1, a2) tensor is the file's data unchanged. Spacing is reported in array-axis order.
//
// Geometry precedence (nibabel's rule, which the conformance test checks file by file):
//   sform   when sform_code > 0;
//   qform   when sform_code == 0 and qform_code > 0 (quaternion math of nifticlib);
//   pixdim  when both codes are 0: nibabel's fallback diag(-dx, dy, dz) centred on the volume
//           (translation -((n - 1) / 2) * zoom per axis), with a warning.
// The original header geometry fields are kept unchanged so that outputs carry exactly the
// input's geometry, whatever the precedence picked for spacing/origin/direction.
//
// Errors (R13): every message is "<file>: <CODE>: <field> (byte <offset>) is <value>; expected ...",
// with stable codes:
//   IoError       NIFTI_OPEN NIFTI_READ NIFTI_TRUNCATED NIFTI_TRUNCATED_DATA NIFTI_SIZEOF_HDR
//                 NIFTI_MAGIC NIFTI_DIM0 NIFTI_DIM NIFTI_SIZE_OVERFLOW NIFTI_SIZE_CAP NIFTI_DATATYPE
//                 NIFTI_VOX_OFFSET NIFTI_SCL_INTER NIFTI_QFORM_CODE NIFTI_SFORM_CODE NIFTI_PIXDIM
//                 NIFTI_QUATERN NIFTI_SFORM NIFTI_GZ_MAGIC NIFTI_GZ_TRUNCATED NIFTI_GZ_CORRUPT
//                 NIFTI_GZ_TRAILING NIFTI_GZ_OVERSIZE NIFTI_WRITE NIFTI_VERIFY
//   InvalidInput  NIFTI_FILE_NAME NIFTI_LABEL_SCALING NIFTI_LABEL_VALUE NIFTI_LABEL_VOLUMES NIFTI_NON_FINITE
// Accepted oddities are reported as warnings starting with NIFTI_W_BITPIX, NIFTI_W_TRAILING_BYTES,
// NIFTI_W_VOX_OFFSET_ALIGN, NIFTI_W_EXTENSIONS, NIFTI_W_PIXDIM_NEGATIVE, NIFTI_W_QFAC,
// NIFTI_W_NO_TRANSFORM, NIFTI_W_QFORM_SFORM_DIFFER, NIFTI_W_SFORM_PIXDIM, NIFTI_W_NON_ORTHONORMAL.
// tests/data/nifti_corpus.h holds one or more files for each.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::data {

// Where the world transform (affine, origin, direction) came from.
enum class NiftiTransformSource : std::uint8_t { sform, qform, pixdim };
const char* nifti_transform_source_name(NiftiTransformSource source);

struct NiftiGeometry {  // exactly what is needed to write outputs with the input's geometry
  // Derived, in nnuc's conventions:
  std::array<double, 3> spacing{1, 1,
                                1};       // array-axis order (a0, a1, a2) = (pixdim[3], pixdim[2], pixdim[1]), absolute
  std::array<double, 3> origin{0, 0, 0};  // world (x, y, z) of voxel (0,0,0), from the chosen transform
  std::array<std::array<double, 3>, 3> direction{
      {{1, 0, 0},
       {0, 1, 0},
       {0, 0, 1}}};  // direction[row][col]; column c = unit world direction of axis i, j, k (c = 0, 1, 2)
  std::array<std::array<double, 4>, 3>
      affine{};  // world = affine * (i, j, k, 1): the chosen transform (nibabel's img.affine)
  NiftiTransformSource source = NiftiTransformSource::pixdim;

  // The original header fields, carried unchanged to outputs (values as double; NIfTI-1 stores
  // them as float32, NIfTI-2 as float64, and both round-trip exactly through double):
  int nifti_version = 1;                                    // 1 or 2: outputs are written in the reference's version
  std::array<std::int64_t, 8> dim{3, 1, 1, 1, 1, 1, 1, 1};  // dim[0] = number of dimensions
  std::array<double, 8> pixdim{1, 1, 1, 1, 0, 0, 0, 0};     // pixdim[0] = qfac
  int qform_code = 0;
  int sform_code = 0;
  double quatern_b = 0, quatern_c = 0, quatern_d = 0;
  double qoffset_x = 0, qoffset_y = 0, qoffset_z = 0;
  std::array<std::array<double, 4>, 3> srow{};  // srow_x, srow_y, srow_z
  int xyzt_units = 0;

  double qfac() const { return pixdim[0]; }
  // Spatial shape (a0, a1, a2) = (dim[3], dim[2], dim[1]); axes beyond dim[0] count as 1.
  std::array<std::int64_t, 3> shape() const;
};

// True when every original header field that outputs carry is bitwise equal (dim[0..3] up to
// the 3 spatial axes, pixdim[0..3], codes, quaternion, offsets, srow, xyzt_units).
bool same_header_geometry(const NiftiGeometry& a, const NiftiGeometry& b);

// A geometry for a new image of spatial shape (a0, a1, a2): sform and qform (codes 1) describe
// world = origin + direction * diag(spacing reversed) * (i, j, k). Used for synthetic data.
// requires: spacing > 0 and finite; direction orthonormal (columns = world directions of i, j, k).
NiftiGeometry make_nifti_geometry(const std::array<std::int64_t, 3>& shape, const std::array<double, 3>& spacing,
                                  const std::array<double, 3>& origin,
                                  const std::array<std::array<double, 3>, 3>& direction);

struct NiftiReadOptions {
  std::uint64_t max_bytes = 16ull << 30;  // cap on the raw data bytes and on the decoded f32 bytes
  bool reject_negative_pixdim = false;    // R8: false = use |pixdim| with a warning (nibabel's fix)
  bool reject_non_finite = false;         // R11: false = keep NaN/Inf voxels and count them (never zeroed)
};

// What validation found. Warnings start with a stable code (NIFTI_W_...).
struct NiftiHeaderInfo {
  int version = 1;                 // 1 or 2
  bool big_endian = false;         // byte order of the file
  std::uint32_t header_bytes = 0;  // 348 or 540
  int ndim = 0;                    // dim[0], 1..7
  int datatype = 0;                // NIfTI DT_* code, on the allow-list
  int bytes_per_voxel = 0;
  int intent_code = 0;
  std::uint64_t voxel_count = 0;        // product of dim[1..ndim]
  std::uint64_t data_bytes = 0;         // voxel_count * bytes_per_voxel
  std::uint64_t vox_offset = 0;         // where the data starts
  double scl_slope = 0, scl_inter = 0;  // as stored
  bool scaled = false;                  // true when slope is finite and non-zero (R10): value = slope * raw + inter
  int extension_count = 0;              // well-formed extensions found before vox_offset
  NiftiGeometry geometry;
  std::vector<std::string> warnings;
};

// Validates a NIfTI-1/2 header from raw bytes: `bytes[0, size)` is the whole uncompressed file
// (header, extensions, data). Allocates nothing whose size comes from a header value; every loop
// is bounded by a constant (8 dims, 1024 extensions). Throws IoError whose message names
// `name_for_errors`, a stable code (NIFTI_...), the field, its byte offset, the value and what
// was expected.
NiftiHeaderInfo validate_nifti_header(const unsigned char* bytes, std::size_t size, const std::string& name_for_errors,
                                      const NiftiReadOptions& options = {});

struct NiftiImage {
  Tensor voxels;  // f32 host tensor (T, a0, a1, a2): T = product of dim[4..7] (1 for 3-D), 2-D files give a0 = 1;
                  // row-major = file order (i fastest); scl_slope/scl_inter applied
  NiftiGeometry geometry;
  std::int64_t non_finite_voxels = 0;  // NaN/Inf after scaling (kept as they are, never zeroed)
  std::vector<std::string> warnings;   // NIFTI_W_... codes with details
};

// Reads a .nii or .nii.gz file (chosen by the name's ending; the bytes must agree).
// requires: the header passes validate_nifti_header; data fits options.max_bytes.
// ensures: voxels = slope * raw + inter in double, rounded once to f32 (raw when unscaled).
NiftiImage read_nifti(const std::string& path, const NiftiReadOptions& options = {});
// The same from a whole file already in memory (gzip is recognised by its magic bytes).
NiftiImage read_nifti_from_memory(const unsigned char* bytes, std::size_t size, const std::string& name_for_errors,
                                  const NiftiReadOptions& options = {});

struct NiftiLabel {
  Tensor labels;  // i16 host tensor (a0, a1, a2)
  NiftiGeometry geometry;
  std::vector<std::string> warnings;
};

// Reads a label map. requires: identity scaling (slope 0/non-finite, or slope 1 and inter 0);
// a single volume (T = 1); every value an integer in int16 range. Otherwise InvalidInput naming
// the file, the voxel and the value.
NiftiLabel read_nifti_label(const std::string& path, const NiftiReadOptions& options = {});
NiftiLabel read_nifti_label_from_memory(const unsigned char* bytes, std::size_t size,
                                        const std::string& name_for_errors, const NiftiReadOptions& options = {});

// Writes a label map with `reference`'s geometry: uint8 when max < 255, else uint16 (nnU-Net's
// rule). The file is written to a temp file in the same folder, flushed and fsynced, re-read and
// verified (header geometry equal to the reference's, voxels equal to `labels`), then renamed
// over `path`; on any failure no file is left at `path` or beside it.
// requires: labels i16 or u8, shape (a0, a1, a2) == reference.shape(), values >= 0.
// `path` ends in .nii or .nii.gz (gzip level 1, as nibabel's default).
void write_nifti_label(const std::string& path, const Tensor& labels, const NiftiGeometry& reference);
// Writes a float32 image the same way. requires: voxels f32 (a0, a1, a2) == reference.shape().
void write_nifti_image(const std::string& path, const Tensor& voxels, const NiftiGeometry& reference);

}  // namespace nnuc::data
