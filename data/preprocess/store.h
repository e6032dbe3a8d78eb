// The preprocessed store: one file per case (CASE.nnuc) holding the preprocessed arrays and the case
// properties. Format (data/README.md, "Preprocessed store"): a 32-byte prefix (magic, version, header
// length, file length, header CRC32), a JSON header, then 64-byte aligned raw little-endian arrays,
// each with its CRC32 in the header. Written atomically (temp file, fsync, rename, fsync folder); read
// through mmap with the checksums verified, so a damaged file is reported (IoError naming the file and
// what is wrong) and never handed out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "data/preprocess/preprocess_case.h"
#include "kernels/core/tensor.h"

namespace nnuc::data {

constexpr char kStoreMagic[8] = {'N', 'N', 'U', 'C', 'P', 'R', 'E', 'P'};
constexpr std::uint32_t kStoreVersion = 1;
constexpr std::size_t kStorePrefixBytes = 32;
constexpr std::size_t kStoreAlignment = 64;
constexpr const char* kStoreFileEnding = ".nnuc";

// CRC-32 (zlib's, polynomial 0xEDB88320), continuing from `crc` (0 to start).
std::uint32_t crc32(const void* bytes, std::size_t count, std::uint32_t crc = 0);

// Writes `preprocessed` to `path` atomically: the file appears complete under its name or not at all.
// requires: data f32 (C, b0, b1, b2), seg i16 (b0, b1, b2), both on the host.
void write_preprocessed_case(const std::string& path, const PreprocessedCase& preprocessed);

enum class StoreVerification {
  full,  // every array's checksum at open
  lazy,  // the header and the class locations at open, each other array when it is first accessed
};

// A read-only view of one array inside the mapped file; valid while its PreprocessedCaseFile lives.
struct StoredArray {
  DType dtype = DType::f32;
  Shape shape;
  const void* data = nullptr;
  std::size_t bytes = 0;
  template <typename T>
  const T* as() const {
    NNUC_CHECK(dtype_of<T>() == dtype, "stored array holds ", dtype_name(dtype), ", accessed as ",
               dtype_name(dtype_of<T>()));
    return static_cast<const T*>(data);
  }
};

// An opened, memory-mapped case file. Thread safe for concurrent reads (lazy checks run once).
class PreprocessedCaseFile {
 public:
  // Maps and checks the file; IoError naming the path for a missing, truncated, foreign or damaged
  // file (full verification) or a damaged header (lazy).
  static PreprocessedCaseFile open(const std::string& path, StoreVerification verification = StoreVerification::full);

  PreprocessedCaseFile(PreprocessedCaseFile&&) noexcept;
  PreprocessedCaseFile& operator=(PreprocessedCaseFile&&) noexcept;
  ~PreprocessedCaseFile();

  const std::string& path() const;
  const std::string& identifier() const;
  const CaseProperties& properties() const;  // includes the class locations

  // The arrays; with lazy verification the first access checks the checksum (IoError when damaged).
  StoredArray data() const;  // f32 (C, b0, b1, b2)
  StoredArray seg() const;   // i16 (b0, b1, b2)
  // Checks every checksum not checked yet.
  void verify() const;

  // Host copies.
  Tensor load_data() const;
  Tensor load_seg() const;
  PreprocessedCase load() const;

 private:
  struct State;
  explicit PreprocessedCaseFile(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

namespace testing_only {
// Makes the next store writes fail with IoError after `bytes` bytes of the temp file were written
// (negative: never). Lets tests check that an interrupted write leaves no file behind.
void fail_store_writes_after(std::int64_t bytes);
}  // namespace testing_only

}  // namespace nnuc::data
