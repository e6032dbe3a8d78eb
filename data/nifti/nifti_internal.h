// Internals of the NIfTI reader and writer shared by data/nifti/*.cpp (not a public API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/nifti/nifti_io.h"
#include "kernels/core/error.h"

// Throws IoError "<name>: <CODE>: <details...>". Codes are stable: tests and tools match on them.
#define NIFTI_FAIL(name, code, ...) NNUC_THROW(::nnuc::IoError, name, ": ", code, ": ", __VA_ARGS__)
// The same for violated contracts (label values, 4-D label maps, non-finite voxels by policy).
#define NIFTI_INVALID(name, code, ...) NNUC_THROW(::nnuc::InvalidInput, name, ": ", code, ": ", __VA_ARGS__)

namespace nnuc::data::nifti_detail {

constexpr std::uint32_t kNifti1HeaderBytes = 348;
constexpr std::uint32_t kNifti2HeaderBytes = 540;
constexpr int kMaxExtensions = 1024;                     // R7/R14: bound on the extension walk
constexpr std::uint64_t kGzipSlackBytes = 1ull << 20;    // R12: decompressed bytes tolerated after the data
constexpr std::uint64_t kDeflateMaxRatio = 1032;         // deflate never expands more than 1032:1
constexpr double kMinSpacing = 1e-4, kMaxSpacing = 1e4;  // R8 sanity range of pixdim[1..3]

// Random access to the bytes of an uncompressed NIfTI file: a span in memory or an open file.
class ByteSource {
 public:
  explicit ByteSource(std::string name) : name_(std::move(name)) {}
  virtual ~ByteSource() = default;
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  virtual std::uint64_t size() const = 0;
  // Copies [offset, offset + count) into dst. requires: offset + count <= size(). Throws IoError.
  virtual void read_at(std::uint64_t offset, void* dst, std::size_t count) const = 0;
  // The whole content when it is in memory, else nullptr (then read_at streams it).
  virtual const unsigned char* contiguous() const { return nullptr; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(const unsigned char* bytes, std::size_t size, std::string name)
      : ByteSource(std::move(name)), bytes_(bytes), size_(size) {}
  std::uint64_t size() const override { return size_; }
  void read_at(std::uint64_t offset, void* dst, std::size_t count) const override;
  const unsigned char* contiguous() const override { return bytes_; }

 private:
  const unsigned char* bytes_;
  std::size_t size_;
};

// A regular file opened read-only (FIFOs, devices and folders are refused: they could block).
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::string& path);
  ~FileSource() override;
  std::uint64_t size() const override { return size_; }
  void read_at(std::uint64_t offset, void* dst, std::size_t count) const override;

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// nifticlib prints diagnostics to stderr at its default debug level; library code never prints.
void quiet_nifticlib();

inline std::uint32_t byte_swap32(std::uint32_t value) {
  return ((value & 0xffu) << 24) | ((value & 0xff00u) << 8) | ((value >> 8) & 0xff00u) | (value >> 24);
}
inline bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}
// true for a name ending in .nii.gz, false for .nii (either case); InvalidInput for any other.
bool is_gzip_name(const std::string& path);

// ---- header (nifti_header.cpp) -------------------------------------------------------------
// R2-R6, R8-R10 on the fixed 348/540-byte header in `prefix`. `total_size` is the size of the
// whole uncompressed content when known (nullopt while a .gz is still being inflated).
NiftiHeaderInfo validate_fixed_header(const unsigned char* prefix, std::size_t prefix_size,
                                      std::optional<std::uint64_t> total_size, const std::string& name,
                                      const NiftiReadOptions& options);
// R7: walks the extensions between the header and vox_offset; problems become warnings.
void validate_extensions(const ByteSource& source, NiftiHeaderInfo& info);
// Both, on a whole uncompressed file.
NiftiHeaderInfo validate_source(const ByteSource& source, const NiftiReadOptions& options);

// ---- geometry (nifti_geometry.cpp) ----------------------------------------------------------
// R8/R9 checks on the original fields of info.geometry, then the derived spacing, affine, origin
// and direction by the documented precedence. Appends warnings.
void check_and_derive_geometry(NiftiHeaderInfo& info, const std::string& name, const NiftiReadOptions& options);

// ---- gzip (nifti_gzip.cpp) ----------------------------------------------------------------
// A std::allocator whose value-initialization leaves bytes uninitialized: buffers about to be
// overwritten are not zero-filled first, and pages never written stay unallocated.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* where) noexcept {
    ::new (static_cast<void*>(where)) U;
  }
  template <typename U, typename... Args>
  void construct(U* where, Args&&... args) {
    ::new (static_cast<void*>(where)) U(std::forward<Args>(args)...);
  }
};
using ByteBuffer = std::vector<unsigned char, UninitializedAllocator<unsigned char>>;

// R12: inflates the gzip stream of a .nii.gz (one or more members) and returns the NIfTI content
// [0, vox_offset + data_bytes). The fixed header is validated as soon as it is out, before any
// buffer is sized from it. A stream whose last member's trailer declares that content size (ISIZE) and
// that is whole members inflating to exactly that content goes through libdeflate in one call per
// member into a buffer of the full size; anything else (truncation, corruption, trailing bytes, a
// bomb) is read through zlib's streaming inflater, whose buffer grows with the data the stream really
// delivers (a truncated stream fails before the full allocation) and whose errors name what is wrong.
ByteBuffer inflate_nifti(const ByteSource& compressed, const NiftiReadOptions& options,
                         std::vector<std::string>& warnings);
// The libdeflate step of inflate_nifti alone: true when `compressed` is whole gzip members that
// inflate to exactly `content_bytes` bytes (then in `content`); false, with `content` unspecified, for
// anything else. Never throws for bad data.
bool inflate_whole_members(const unsigned char* compressed, std::size_t size, std::size_t content_bytes,
                           ByteBuffer& content);
bool has_gzip_magic(const unsigned char* bytes, std::size_t size);

// ---- voxels (nifti_decode.cpp) --------------------------------------------------------------
// Decodes the data of a validated file into f32 (scaling applied); returns the non-finite count.
std::int64_t decode_image(const ByteSource& source, const NiftiHeaderInfo& info, float* out);
// Decodes into int16; throws InvalidInput for a non-integer or out-of-range value.
void decode_label(const ByteSource& source, const NiftiHeaderInfo& info, std::int16_t* out);

// Name of a NIfTI datatype code ("uint8", "complex64", ... or "unknown").
const char* datatype_name(int datatype);
// Bytes per voxel of an allow-listed datatype, 0 for any other code.
int allowed_datatype_bytes(int datatype);

}  // namespace nnuc::data::nifti_detail
