// .npz files as numpy writes them (np.savez / np.savez_compressed): a zip archive (libzip) holding
// one NAME.npy member per array. nnU-Net stores predicted probabilities this way (CASE.npz, key
// "probabilities", float32 (K, spatial...)); ensembling reads them back (nnunet_method.md §8.4, §9.4).
//
// .npy format (numpy.lib.format): the magic "\x93NUMPY", version (1, 0) with a 2-byte little-endian
// header length ((2, 0) and (3, 0): 4 bytes), then a Python dict literal
//     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a final '\n' so that the data starts at a multiple of 64 bytes, then the
// raw C-order values. write_npz writes version 1.0 headers byte for byte as numpy 2.x does
// (including its 21-character growth padding), members deflated at kNpzDeflateLevel (numpy:
// deflate, level 6; the level changes size and speed, not the content).
//
// Reading never trusts the file: the header is parsed by a strict small parser (no Python
// evaluation, no pickles: object arrays are refused), its length is capped (numpy's 10000 bytes),
// the declared shape times the item size must equal the member's uncompressed size exactly, a
// member may not claim more than deflate can expand its compressed bytes to (1032:1) and nothing is
// allocated before those checks; CRC-32 is checked at the end of each member (libzip). Every
// failure is an IoError naming the file and the member.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::data {

// Largest decoded array read_npz_array accepts unless told otherwise (bytes).
constexpr std::uint64_t kNpzMaxBytes = std::uint64_t{16} << 30;
// numpy's default max_header_size: longer .npy headers are refused.
constexpr std::size_t kNpyMaxHeaderBytes = 10000;
// zlib level of write_npz. Probabilities compress about equally at every level (a smooth 3-class
// softmax: 0.927 of the raw size at level 1, 0.925 at level 6) while level 1 is faster.
constexpr int kNpzDeflateLevel = 1;
// Every member is stamped 1980-01-01 00:00 (the first DOS date), so that the same arrays give the
// same bytes whenever and wherever they are written (numpy stamps the current local time).
constexpr std::uint16_t kNpzDosDate = (0 << 9) | (1 << 5) | 1;  // years since 1980, month, day
constexpr std::uint16_t kNpzDosTime = 0;

// Writes `arrays` as NAME.npy members (in the given order) of a new .npz at `path`, atomically
// (write_file_atomic: temp file in the same folder, fsync, rename); the bytes depend only on
// `arrays` (fixed member timestamps).
// requires: host tensors of dtype f32, f64, f16, u8, i16, i32 or i64 (numpy '<f4', '<f8', '<f2',
//   '|u1', '<i2', '<i4', '<i8'); names unique, non-empty, without '/' or NUL. InvalidInput otherwise;
//   IoError when the file cannot be written (no file is left behind).
void write_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays);

struct NpzReadOptions {
  bool as_f32 = false;                     // convert any numeric dtype to f32
  std::uint64_t max_bytes = kNpzMaxBytes;  // cap on the decoded bytes
};

// Reads member `member` (numpy's key: NAME for NAME.npy; a member's full name also works).
// Dtypes: '<f4' -> f32, '<f8' -> f64, '<f2' -> f16, '|u1' -> u8, '|b1' -> u8 (0/1), '<i2' -> i16,
// '<i4' -> i32, '<i8' -> i64; widened where nnuc has no such dtype: '|i1' -> i16, '<u2' -> i32,
// '<u4' -> i64. Big-endian ('>') variants are byte-swapped. Shapes of rank 0..5 (rank 0: a tensor of
// Shape{}). With options.as_f32 every one of them becomes f32.
// ensures: a host tensor holding exactly the stored values (C order); IoError naming the file and
//   member for a missing member, a damaged or truncated file, fortran_order True, an unsupported
//   dtype, a header that does not match the member's size, or a size above options.max_bytes.
Tensor read_npz_array(const std::string& path, const std::string& member, const NpzReadOptions& options = {});

// numpy's NpzFile.files: the member names, ".npy" stripped, in archive order. IoError for a file
// that is not a readable zip archive.
std::vector<std::string> npz_members(const std::string& path);

// The .npy version 1.0 header (magic through padding) numpy writes for a C-order array.
// requires: a dtype write_npz accepts.
std::string npy_header(DType dtype, const Shape& shape);

// A parsed .npy header. parse_npy_header reads it from the first `size` bytes of a member (at
// least the whole header) and validates the magic, version, length and dict syntax; IoError naming
// `name_for_errors` otherwise. The dtype and the sizes are checked by read_npz_array.
struct NpyHeader {
  int major_version = 1;
  std::size_t data_offset = 0;  // bytes before the values
  std::string descr;            // e.g. "<f4"
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};
// Bytes needed to know the header's full length: the magic, version and length field.
constexpr std::size_t kNpyPreambleBytes = 12;
NpyHeader parse_npy_header(const unsigned char* bytes, std::size_t size, const std::string& name_for_errors);

}  // namespace nnuc::data
