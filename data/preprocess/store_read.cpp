#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/preprocess/store.h"
#include "data/preprocess/store_format.h"
#include "kernels/core/error.h"
#include "kernels/core/nvtx.h"

namespace nnuc::data {

using store_format::ArrayLayout;
using store_format::dtype_from_name;
using store_format::get_u32;
using store_format::get_u64;
using store_format::hex32;
using store_format::host_is_little_endian;

// ---- reading ---------------------------------------------------------------------------------

struct PreprocessedCaseFile::State {
  struct Entry {
    ArrayLayout layout;
    // The CRC is checked once, on the first read of the array; a failed check throws again on every
    // read. Not std::call_once: after a callable that throws, the next caller may block forever where
    // call_once rests on an intercepted pthread_once (ThreadSanitizer) or one that does not survive an
    // exception (libstdc++ on some targets, GCC bug 66146).
    std::mutex check_mutex;
    std::atomic<bool> checked{false};
  };
  std::string path;
  std::string identifier;
  CaseProperties properties;
  void* base = nullptr;
  std::size_t size = 0;
  std::map<std::string, std::unique_ptr<Entry>> arrays;

  ~State() {
    if (base != nullptr) ::munmap(base, size);
  }

  [[noreturn]] void damaged(const std::string& what) const { NNUC_THROW(IoError, "'", path, "': ", what); }

  const unsigned char* bytes() const { return static_cast<const unsigned char*>(base); }

  void check_array(Entry& entry) const {
    if (entry.checked.load(std::memory_order_acquire)) return;
    const std::lock_guard<std::mutex> lock(entry.check_mutex);
    if (entry.checked.load(std::memory_order_relaxed)) return;
    const ArrayLayout& layout = entry.layout;
    const std::uint32_t actual = crc32(bytes() + layout.offset, layout.bytes);
    if (actual != layout.crc) {
      damaged("array '" + layout.name + "' is damaged: CRC32 " + hex32(actual) + " where the header records " +
              hex32(layout.crc) + " (bytes " + std::to_string(layout.offset) + " .. " +
              std::to_string(layout.offset + layout.bytes) + ")");
    }
    entry.checked.store(true, std::memory_order_release);
  }

  Entry& entry(const std::string& name) const {
    const auto found = arrays.find(name);
    if (found == arrays.end()) damaged("the header lists no array '" + name + "'");
    return *found->second;
  }
};

namespace {

template <typename T>
T json_get(const nlohmann::json& object, const char* key, const std::string& path) {
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    NNUC_THROW(IoError, "'", path, "': header field '", key, "' is missing or malformed (", e.what(), ")");
  }
}

}  // namespace

PreprocessedCaseFile::PreprocessedCaseFile(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreprocessedCaseFile::PreprocessedCaseFile(PreprocessedCaseFile&&) noexcept = default;
PreprocessedCaseFile& PreprocessedCaseFile::operator=(PreprocessedCaseFile&&) noexcept = default;
PreprocessedCaseFile::~PreprocessedCaseFile() = default;

PreprocessedCaseFile PreprocessedCaseFile::open(const std::string& path, StoreVerification verification) {
  NNUC_RANGE("open_preprocessed_case");
  NNUC_CHECK(host_is_little_endian(), "the preprocessed store is little-endian; big-endian hosts are not supported");
  auto state = std::make_unique<State>();
  state->path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) NNUC_THROW(IoError, "cannot open preprocessed case '", path, "': ", std::strerror(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    NNUC_THROW(IoError, "cannot stat '", path, "': ", reason);
  }
  const auto size = static_cast<std::size_t>(info.st_size);
  if (size < kStorePrefixBytes) {
    ::close(fd);
    state->damaged("truncated: " + std::to_string(size) + " bytes, shorter than the " +
                   std::to_string(kStorePrefixBytes) + "-byte prefix of a preprocessed case");
  }
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (base == MAP_FAILED) NNUC_THROW(IoError, "cannot map '", path, "': ", std::strerror(map_errno));
  state->base = base;
  state->size = size;
  const unsigned char* bytes = state->bytes();

  if (std::memcmp(bytes, kStoreMagic, 8) != 0) state->damaged("not an nnuc preprocessed case (wrong magic bytes)");
  const std::uint32_t version = get_u32(bytes + 8);
  if (version != kStoreVersion)
    state->damaged("format version " + std::to_string(version) + " is not supported (this build reads version " +
                   std::to_string(kStoreVersion) + ")");
  const std::uint32_t header_bytes = get_u32(bytes + 12);
  const std::uint64_t file_bytes = get_u64(bytes + 16);
  if (file_bytes != size)
    state->damaged((size < file_bytes ? "truncated: " : "has trailing bytes: ") + std::to_string(size) +
                   " bytes, the header records " + std::to_string(file_bytes));
  if (kStorePrefixBytes + header_bytes > size)
    state->damaged("the header length " + std::to_string(header_bytes) + " runs past the end of the file");
  const std::uint32_t header_crc = crc32(bytes + kStorePrefixBytes, header_bytes, crc32(bytes, 24));
  if (header_crc != get_u32(bytes + 24))
    state->damaged("the header is damaged: CRC32 " + hex32(header_crc) + " where the prefix records " +
                   hex32(get_u32(bytes + 24)));

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + kStorePrefixBytes, bytes + kStorePrefixBytes + header_bytes);
  } catch (const nlohmann::json::exception& e) {
    state->damaged(std::string("the header is not valid JSON: ") + e.what());
  }
  if (json_get<std::string>(header, "format", path) != "nnuc-preprocessed-case")
    state->damaged("the header's format is not 'nnuc-preprocessed-case'");
  state->identifier = json_get<std::string>(header, "identifier", path);
  const auto arrays = json_get<nlohmann::json>(header, "arrays", path);
  if (!arrays.is_array()) state->damaged("the header's 'arrays' is not a list");
  std::size_t previous_end = kStorePrefixBytes + header_bytes;
  for (const nlohmann::json& item : arrays) {
    auto entry = std::make_unique<State::Entry>();
    ArrayLayout& layout = entry->layout;
    layout.name = json_get<std::string>(item, "name", path);
    const std::string where = "'" + path + "' array '" + layout.name + "'";
    layout.dtype = dtype_from_name(json_get<std::string>(item, "dtype", path), where);
    const auto dims = json_get<std::vector<std::int64_t>>(item, "shape", path);
    if (dims.empty() || dims.size() > static_cast<std::size_t>(Shape::kMaxRank))
      state->damaged("array '" + layout.name + "' has rank " + std::to_string(dims.size()));
    std::int64_t count = 1;
    for (std::size_t axis = 0; axis < dims.size(); ++axis) {
      if (dims[axis] < 0) state->damaged("array '" + layout.name + "' has a negative size");
      count *= dims[axis];
    }
    switch (dims.size()) {
      case 1: layout.shape = Shape{dims[0]}; break;
      case 2: layout.shape = Shape{dims[0], dims[1]}; break;
      case 3: layout.shape = Shape{dims[0], dims[1], dims[2]}; break;
      case 4: layout.shape = Shape{dims[0], dims[1], dims[2], dims[3]}; break;
      default: layout.shape = Shape{dims[0], dims[1], dims[2], dims[3], dims[4]}; break;
    }
    layout.offset = json_get<std::size_t>(item, "offset", path);
    layout.bytes = json_get<std::size_t>(item, "bytes", path);
    layout.crc = json_get<std::uint32_t>(item, "crc32", path);
    if (layout.bytes != static_cast<std::size_t>(count) * dtype_size(layout.dtype))
      state->damaged("array '" + layout.name + "' records " + std::to_string(layout.bytes) + " bytes for shape " +
                     layout.shape.str());
    if (layout.offset % kStoreAlignment != 0 || layout.offset < previous_end || layout.offset > size ||
        layout.bytes > size - layout.offset)
      state->damaged("array '" + layout.name + "' at bytes " + std::to_string(layout.offset) + " .. " +
                     std::to_string(layout.offset + layout.bytes) + " does not fit the file (" + std::to_string(size) +
                     " bytes) or overlaps what precedes it");
    // The gap before an array is zero padding; anything else there means damage.
    for (std::size_t at = previous_end; at < layout.offset; ++at)
      if (bytes[at] != 0)
        state->damaged("padding byte " + std::to_string(at) + " before array '" + layout.name + "' is not zero");
    previous_end = layout.offset + layout.bytes;
    state->arrays[layout.name] = std::move(entry);
  }
  State::Entry& data = state->entry("data");
  State::Entry& seg = state->entry("seg");
  State::Entry& locations = state->entry("class_locations");
  if (data.layout.dtype != DType::f32 || data.layout.shape.rank() != 4 || seg.layout.dtype != DType::i16 ||
      seg.layout.shape != Shape{data.layout.shape[1], data.layout.shape[2], data.layout.shape[3]} ||
      locations.layout.dtype != DType::i32 || locations.layout.shape.rank() != 2 || locations.layout.shape[1] != 3)
    state->damaged("arrays data " + data.layout.shape.str() + ", seg " + seg.layout.shape.str() + ", class_locations " +
                   locations.layout.shape.str() + " do not have the expected dtypes (f32, i16, i32) and shapes");

  const auto properties_json = json_get<nlohmann::json>(header, "properties", path);
  state->properties = case_properties_from_json(properties_json, path);
  state->check_array(locations);
  const nlohmann::json classes = json_get<nlohmann::json>(properties_json, "class_locations", path);
  if (!classes.is_null()) {
    state->properties.has_class_locations = true;
    const auto* voxels = reinterpret_cast<const std::int32_t*>(bytes + locations.layout.offset);
    const std::int64_t rows = locations.layout.shape[0];
    std::int64_t row = 0;
    for (const nlohmann::json& item : classes) {
      ClassLocations entry;
      entry.key.labels = json_get<std::vector<int>>(item, "labels", path);
      entry.key.is_region = json_get<bool>(item, "is_region", path);
      const auto n = json_get<std::int64_t>(item, "count", path);
      if (n < 0 || row + n > rows) state->damaged("class_locations counts exceed the stored locations");
      entry.voxels.resize(static_cast<std::size_t>(n));
      for (std::int64_t k = 0; k < n; ++k, ++row)
        for (int axis = 0; axis < 3; ++axis) entry.voxels[static_cast<std::size_t>(k)][axis] = voxels[row * 3 + axis];
      state->properties.class_locations.push_back(std::move(entry));
    }
    if (row != rows) state->damaged("class_locations counts do not add up to the stored locations");
  }
  PreprocessedCaseFile file(std::move(state));
  if (verification == StoreVerification::full) file.verify();
  return file;
}

const std::string& PreprocessedCaseFile::path() const { return state_->path; }
const std::string& PreprocessedCaseFile::identifier() const { return state_->identifier; }
const CaseProperties& PreprocessedCaseFile::properties() const { return state_->properties; }

StoredArray PreprocessedCaseFile::data() const {
  State::Entry& entry = state_->entry("data");
  state_->check_array(entry);
  return {entry.layout.dtype, entry.layout.shape, state_->bytes() + entry.layout.offset, entry.layout.bytes};
}

StoredArray PreprocessedCaseFile::seg() const {
  State::Entry& entry = state_->entry("seg");
  state_->check_array(entry);
  return {entry.layout.dtype, entry.layout.shape, state_->bytes() + entry.layout.offset, entry.layout.bytes};
}

void PreprocessedCaseFile::verify() const {
  for (auto& item : state_->arrays) state_->check_array(*item.second);
}

namespace {
Tensor copy_out(const StoredArray& array) {
  Tensor out = Tensor::empty_cpu(array.shape, array.dtype);
  if (array.bytes > 0) std::memcpy(out.raw(), array.data, array.bytes);
  return out;
}
}  // namespace

Tensor PreprocessedCaseFile::load_data() const { return copy_out(data()); }
Tensor PreprocessedCaseFile::load_seg() const { return copy_out(seg()); }

PreprocessedCase PreprocessedCaseFile::load() const {
  PreprocessedCase result;
  result.identifier = identifier();
  result.data = load_data();
  result.seg = load_seg();
  result.properties = properties();
  return result;
}

}  // namespace nnuc::data
