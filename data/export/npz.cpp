// .npz writing and reading through libzip (npz.h).
#include "data/export/npz.h"

#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include "data/dataset/atomic_file.h"
#include "data/export/zip_error.h"
#include "kernels/core/error.h"
#include "kernels/core/nvtx.h"

namespace nnuc::data {

namespace {

// Deflate expands at most 1032:1 (258-byte matches coded in 2 bits); a member declaring more
// uncompressed bytes than that from its compressed size is lying.
constexpr std::uint64_t kDeflateMaxRatio = 1032;
constexpr std::size_t kReadChunkBytes = std::size_t{4} << 20;

bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  std::uint8_t first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

// ---- writing: a libzip archive source that writes straight into write_file_atomic's temp file ----

struct FdArchive {
  int fd = -1;
  zip_error_t error;
  zip_uint64_t offset = 0, length = 0;
};

zip_int64_t fd_archive_callback(void* user, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  auto* archive = static_cast<FdArchive*>(user);
  switch (cmd) {
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                            ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL,
                                            ZIP_SOURCE_SUPPORTS, ZIP_SOURCE_BEGIN_WRITE, ZIP_SOURCE_COMMIT_WRITE,
                                            ZIP_SOURCE_ROLLBACK_WRITE, ZIP_SOURCE_WRITE, ZIP_SOURCE_SEEK_WRITE,
                                            ZIP_SOURCE_TELL_WRITE, ZIP_SOURCE_REMOVE, -1);
    case ZIP_SOURCE_STAT:
      // No archive exists yet: libzip then creates a new one (ZIP_CREATE).
      zip_error_set(&archive->error, ZIP_ER_READ, ENOENT);
      return -1;
    case ZIP_SOURCE_OPEN:
    case ZIP_SOURCE_CLOSE:
    case ZIP_SOURCE_READ:
    case ZIP_SOURCE_TELL:
    case ZIP_SOURCE_ROLLBACK_WRITE:
    case ZIP_SOURCE_REMOVE:
    case ZIP_SOURCE_FREE: return 0;
    case ZIP_SOURCE_SEEK: return zip_source_seek_compute_offset(0, 0, data, len, &archive->error) < 0 ? -1 : 0;
    case ZIP_SOURCE_BEGIN_WRITE: archive->offset = archive->length = 0; return 0;
    case ZIP_SOURCE_WRITE: {
      const auto* bytes = static_cast<const unsigned char*>(data);
      zip_uint64_t done = 0;
      while (done < len) {
        const ssize_t n = ::pwrite(archive->fd, bytes + done, len - done, static_cast<off_t>(archive->offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          zip_error_set(&archive->error, ZIP_ER_WRITE, n < 0 ? errno : ENOSPC);
          return -1;
        }
        done += static_cast<zip_uint64_t>(n);
      }
      archive->offset += len;
      archive->length = std::max(archive->length, archive->offset);
      return static_cast<zip_int64_t>(len);
    }
    case ZIP_SOURCE_SEEK_WRITE: {
      const zip_int64_t offset =
          zip_source_seek_compute_offset(archive->offset, archive->length, data, len, &archive->error);
      if (offset < 0) return -1;
      archive->offset = static_cast<zip_uint64_t>(offset);
      return 0;
    }
    case ZIP_SOURCE_TELL_WRITE: return static_cast<zip_int64_t>(archive->offset);
    case ZIP_SOURCE_COMMIT_WRITE:
      if (::ftruncate(archive->fd, static_cast<off_t>(archive->length)) != 0) {
        zip_error_set(&archive->error, ZIP_ER_WRITE, errno);
        return -1;
      }
      return 0;
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&archive->error, data, len);
    default: zip_error_set(&archive->error, ZIP_ER_OPNOTSUPP, 0); return -1;
  }
}

std::string zip_message(zip_error_t* error) { return zip_error_strerror(error); }

void check_member_name(const std::string& name, const std::string& path) {
  NNUC_CHECK(!name.empty() && name.find('/') == std::string::npos && name.find('\0') == std::string::npos, "write_npz(",
             path, "): array name '", name, "' must be non-empty, without '/' or NUL");
}

// ---- reading ------------------------------------------------------------------------------------

// An archive opened for reading; closed (zip_discard) on every path.
struct ReadArchive {
  zip_t* zip = nullptr;
  std::string path;
  explicit ReadArchive(const std::string& file) : path(file) {
    int code = 0;
    zip = zip_open(file.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (zip == nullptr) {
      NNUC_THROW(IoError, "cannot read .npz '", file, "': ", zip_error_text(code));
    }
  }
  ~ReadArchive() {
    if (zip != nullptr) zip_discard(zip);
  }
  ReadArchive(const ReadArchive&) = delete;
  ReadArchive& operator=(const ReadArchive&) = delete;
};

struct FileHandle {
  zip_file_t* file = nullptr;
  ~FileHandle() {
    if (file != nullptr) zip_fclose(file);
  }
};

// A stored dtype and the DType read_npz_array gives it.
struct StoredType {
  char kind = 0;  // 'f', 'i', 'u', 'b'
  int bytes = 0;
  bool big_endian = false;
  bool native = false;       // the bytes are those of `dtype` (after byte swapping)
  DType dtype = DType::f32;  // as read (widened where nnuc has no such dtype)
};

StoredType stored_type(const std::string& descr, const std::string& where) {
  auto unsupported = [&]() {
    NNUC_THROW(IoError, where, ": dtype '", descr,
               "' is not supported (nnuc reads f2, f4, f8, b1, u1, u2, u4, i1, i2, i4, i8, little- or big-endian)");
  };
  if (descr.size() != 3 || descr[2] < '1' || descr[2] > '8') unsupported();
  StoredType type;
  type.kind = descr[1];
  type.bytes = descr[2] - '0';
  const char order = descr[0];
  if (order == '>') {
    type.big_endian = true;
  } else if (order == '|') {
    if (type.bytes != 1) unsupported();
  } else if (order != '<' && order != '=') {
    unsupported();
  }
  // numpy kind + item size -> the DType read, and whether its bytes are that DType's.
  struct Known {
    const char* code;
    DType dtype;
    bool native;
  };
  static const Known known[] = {{"f2", DType::f16, true},  {"f4", DType::f32, true}, {"f8", DType::f64, true},
                                {"u1", DType::u8, true},   {"i2", DType::i16, true}, {"i4", DType::i32, true},
                                {"i8", DType::i64, true},  {"b1", DType::u8, false}, {"i1", DType::i16, false},
                                {"u2", DType::i32, false}, {"u4", DType::i64, false}};
  const std::string code = descr.substr(1);
  const auto found =
      std::find_if(std::begin(known), std::end(known), [&](const Known& entry) { return code == entry.code; });
  if (found == std::end(known)) unsupported();
  type.dtype = found->dtype;
  type.native = found->native;
  return type;
}

template <typename T>
T load(const unsigned char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// A stored value (little-endian bytes) that is not 64 bits wide, exactly, as double.
double small_value(const StoredType& type, const unsigned char* bytes) {
  switch (type.kind) {
    case 'f': return type.bytes == 2 ? f16_to_float(f16{load<std::uint16_t>(bytes)}) : load<float>(bytes);
    case 'b': return bytes[0] != 0 ? 1.0 : 0.0;
    case 'u':
      return type.bytes == 1 ? bytes[0] : type.bytes == 2 ? load<std::uint16_t>(bytes) : load<std::uint32_t>(bytes);
    default:
      return type.bytes == 1   ? load<std::int8_t>(bytes)
             : type.bytes == 2 ? load<std::int16_t>(bytes)
                               : load<std::int32_t>(bytes);
  }
}

// Converts `count` stored values into elements [first, first + count) of `out` (dtype `to`).
void convert(const StoredType& type, unsigned char* bytes, std::size_t count, DType to, void* out, std::size_t first) {
  const auto width = static_cast<std::size_t>(type.bytes);
  if (type.big_endian && width > 1)
    for (std::size_t i = 0; i < count; ++i) std::reverse(bytes + i * width, bytes + (i + 1) * width);
  if (type.native && to == type.dtype) {
    std::memcpy(static_cast<unsigned char*>(out) + first * width, bytes, count * width);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const unsigned char* at = bytes + i * width;
    const std::size_t k = first + i;
    switch (to) {
      case DType::f32:
        static_cast<float*>(out)[k] = width < 8          ? static_cast<float>(small_value(type, at))
                                      : type.kind == 'f' ? static_cast<float>(load<double>(at))
                                                         : static_cast<float>(load<std::int64_t>(at));
        break;
      case DType::u8: static_cast<std::uint8_t*>(out)[k] = static_cast<std::uint8_t>(small_value(type, at)); break;
      case DType::i16: static_cast<std::int16_t*>(out)[k] = static_cast<std::int16_t>(small_value(type, at)); break;
      case DType::i32: static_cast<std::int32_t*>(out)[k] = static_cast<std::int32_t>(small_value(type, at)); break;
      case DType::i64: static_cast<std::int64_t*>(out)[k] = static_cast<std::int64_t>(small_value(type, at)); break;
      default: NNUC_INTERNAL_ASSERT(false, "no conversion to ", dtype_name(to));
    }
  }
}

}  // namespace

void write_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays) {
  NNUC_RANGE("write_npz");
  NNUC_CHECK(host_is_little_endian(), "write_npz: big-endian hosts are not supported");
  std::set<std::string> names;
  std::vector<std::string> headers;
  for (const auto& [name, tensor] : arrays) {
    check_member_name(name, path);
    NNUC_CHECK(names.insert(name).second, "write_npz(", path, "): array name '", name, "' appears twice");
    check_defined(tensor, name.c_str());
    NNUC_CHECK(tensor.device() == Device::CPU, "write_npz(", path, "): array '", name, "' is ", tensor.describe(),
               "; expected a host tensor");
    headers.push_back(npy_header(tensor.dtype(), tensor.shape()));
  }
  auto fill = [&](int fd, const std::string& temp) {
    FdArchive target;
    target.fd = fd;
    zip_error_init(&target.error);
    struct ErrorGuard {
      zip_error_t* error;
      ~ErrorGuard() { zip_error_fini(error); }
    } guard{&target.error};
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* source = zip_source_function_create(fd_archive_callback, &target, &error);
    zip_t* zip = source == nullptr ? nullptr : zip_open_from_source(source, ZIP_CREATE | ZIP_TRUNCATE, &error);
    if (zip == nullptr) {
      if (source != nullptr) zip_source_free(source);
      const std::string message = zip_message(&error);
      zip_error_fini(&error);
      NNUC_THROW(IoError, "cannot write .npz '", path, "' (", temp, "): ", message);
    }
    zip_error_fini(&error);
    auto fail = [&](const std::string& what) {
      const std::string message = zip_message(zip_get_error(zip));
      zip_discard(zip);
      NNUC_THROW(IoError, "cannot write .npz '", path, "': ", what, ": ", message);
    };
    for (std::size_t i = 0; i < arrays.size(); ++i) {
      const Tensor& tensor = arrays[i].second;
      zip_buffer_fragment_t fragments[2] = {{reinterpret_cast<zip_uint8_t*>(headers[i].data()), headers[i].size()},
                                            {static_cast<zip_uint8_t*>(tensor.raw()), tensor.bytes()}};
      zip_source_t* member = zip_source_buffer_fragment(zip, fragments, tensor.bytes() > 0 ? 2 : 1, 0);
      if (member == nullptr) fail("array '" + arrays[i].first + "'");
      const std::string member_name = arrays[i].first + ".npy";
      const zip_int64_t index = zip_file_add(zip, member_name.c_str(), member, ZIP_FL_ENC_UTF_8);
      if (index < 0) {
        zip_source_free(member);
        fail("array '" + arrays[i].first + "'");
      }
      if (zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_DEFLATE, kNpzDeflateLevel) != 0 ||
          zip_file_set_dostime(zip, static_cast<zip_uint64_t>(index), kNpzDosTime, kNpzDosDate, 0) != 0)
        fail("array '" + arrays[i].first + "'");
    }
    if (zip_close(zip) != 0) fail("writing the archive");
  };
  // The archive as written must list every member with its full size.
  auto verify = [&](const std::string& temp) {
    ReadArchive archive(temp);
    if (zip_get_num_entries(archive.zip, 0) != static_cast<zip_int64_t>(arrays.size()))
      NNUC_THROW(IoError, "write_npz(", path, "): the written archive lists ", zip_get_num_entries(archive.zip, 0),
                 " members, expected ", arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
      zip_stat_t stat;
      zip_stat_init(&stat);
      const bool found = zip_stat(archive.zip, (arrays[i].first + ".npy").c_str(), 0, &stat) == 0;
      if (!found || stat.size != headers[i].size() + arrays[i].second.bytes())
        NNUC_THROW(IoError, "write_npz(", path, "): member '", arrays[i].first, "' was not written completely");
    }
  };
  write_file_atomic(path, fill, verify);
}

std::vector<std::string> npz_members(const std::string& path) {
  ReadArchive archive(path);
  std::vector<std::string> names;
  const zip_int64_t count = zip_get_num_entries(archive.zip, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive.zip, static_cast<zip_uint64_t>(i), 0);
    if (name == nullptr) NNUC_THROW(IoError, "'", path, "': member ", i, " has no readable name");
    std::string text = name;
    if (text.size() > 4 && text.compare(text.size() - 4, 4, ".npy") == 0) text.resize(text.size() - 4);
    names.push_back(text);
  }
  return names;
}

Tensor read_npz_array(const std::string& path, const std::string& member, const NpzReadOptions& options) {
  NNUC_RANGE("read_npz_array");
  NNUC_CHECK(host_is_little_endian(), "read_npz_array: big-endian hosts are not supported");
  ReadArchive archive(path);
  const std::string where = "'" + path + "' member '" + member + "'";
  zip_int64_t index = zip_name_locate(archive.zip, (member + ".npy").c_str(), 0);
  if (index < 0) index = zip_name_locate(archive.zip, member.c_str(), 0);
  if (index < 0) {
    std::string listed;
    for (const std::string& name : npz_members(path)) listed += (listed.empty() ? "" : ", ") + name;
    NNUC_THROW(IoError, "'", path, "' has no member '", member, "' (members: ", listed, ")");
  }
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(archive.zip, static_cast<zip_uint64_t>(index), 0, &stat) != 0)
    NNUC_THROW(IoError, where, ": ", zip_message(zip_get_error(archive.zip)));
  const zip_uint64_t needed = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  if ((stat.valid & needed) != needed) NNUC_THROW(IoError, where, ": the archive does not record its sizes");
  if ((stat.valid & ZIP_STAT_ENCRYPTION_METHOD) && stat.encryption_method != ZIP_EM_NONE)
    NNUC_THROW(IoError, where, ": encrypted members are not supported");
  if (stat.comp_method == ZIP_CM_STORE) {
    if (stat.size != stat.comp_size)
      NNUC_THROW(IoError, where, ": stored member declares ", stat.size, " bytes but holds ", stat.comp_size);
  } else if (stat.comp_method == ZIP_CM_DEFLATE) {
    if (stat.size / kDeflateMaxRatio > stat.comp_size)
      NNUC_THROW(IoError, where, ": declares ", stat.size, " bytes from ", stat.comp_size,
                 " compressed bytes, more than deflate can expand to");
  } else {
    NNUC_THROW(IoError, where, ": compression method ", stat.comp_method, " is not supported (stored or deflate)");
  }

  FileHandle file;
  file.file = zip_fopen_index(archive.zip, static_cast<zip_uint64_t>(index), 0);
  if (file.file == nullptr) NNUC_THROW(IoError, where, ": ", zip_message(zip_get_error(archive.zip)));
  auto read_exactly = [&](void* into, std::uint64_t count, const char* what) {
    auto* bytes = static_cast<unsigned char*>(into);
    std::uint64_t done = 0;
    while (done < count) {
      const zip_int64_t n = zip_fread(file.file, bytes + done, std::min<std::uint64_t>(count - done, kReadChunkBytes));
      if (n < 0) NNUC_THROW(IoError, where, ": damaged ", what, ": ", zip_message(zip_file_get_error(file.file)));
      if (n == 0) NNUC_THROW(IoError, where, ": truncated ", what, " (", done, " of ", count, " bytes)");
      done += static_cast<std::uint64_t>(n);
    }
  };

  // The header: the preamble tells its length, then the whole of it (parse_npy_header reports a
  // bad preamble or a length above the cap).
  std::vector<unsigned char> header_bytes(std::min<std::uint64_t>(stat.size, kNpyPreambleBytes));
  read_exactly(header_bytes.data(), header_bytes.size(), "header");
  std::size_t declared = header_bytes.size();
  if (header_bytes.size() == kNpyPreambleBytes && header_bytes[7] == 0) {
    if (header_bytes[6] == 1) declared = 10 + (header_bytes[8] | (std::size_t{header_bytes[9]} << 8));
    if (header_bytes[6] == 2 || header_bytes[6] == 3)
      declared = 12 + (header_bytes[8] | (std::size_t{header_bytes[9]} << 8) | (std::size_t{header_bytes[10]} << 16) |
                       (std::size_t{header_bytes[11]} << 24));
  }
  if (declared > header_bytes.size() && declared <= kNpyPreambleBytes + kNpyMaxHeaderBytes && declared <= stat.size) {
    const std::size_t have = header_bytes.size();
    header_bytes.resize(declared);
    read_exactly(header_bytes.data() + have, declared - have, "header");
  }
  const NpyHeader header = parse_npy_header(header_bytes.data(), header_bytes.size(), where);
  if (header.fortran_order)
    NNUC_THROW(IoError, where, ": fortran_order True is not supported (save a C-order array: np.ascontiguousarray)");
  const StoredType type = stored_type(header.descr, where);
  if (header.shape.size() > static_cast<std::size_t>(Shape::kMaxRank))
    NNUC_THROW(IoError, where, ": rank ", header.shape.size(), " is above nnuc's ", Shape::kMaxRank);
  std::uint64_t count = 1;
  for (std::int64_t size : header.shape) {
    if (size != 0 && count > (std::uint64_t{1} << 62) / static_cast<std::uint64_t>(size))
      NNUC_THROW(IoError, where, ": shape overflows 64 bits");
    count *= static_cast<std::uint64_t>(size);
  }
  const std::uint64_t data_bytes = count * static_cast<std::uint64_t>(type.bytes);
  if (header.data_offset + data_bytes != stat.size)
    NNUC_THROW(IoError, where, ": header (", header.descr, ", ", header.shape.size(), "-d shape, ", count,
               " values) needs ", header.data_offset + data_bytes, " bytes but the member holds ", stat.size);
  const DType dtype = options.as_f32 ? DType::f32 : type.dtype;
  const std::uint64_t decoded = count * dtype_size(dtype);
  if (decoded > options.max_bytes || data_bytes > options.max_bytes)
    NNUC_THROW(IoError, where, ": ", decoded, " bytes exceed the limit of ", options.max_bytes);

  Shape shape;
  switch (header.shape.size()) {
    case 0: break;
    case 1: shape = Shape{header.shape[0]}; break;
    case 2: shape = Shape{header.shape[0], header.shape[1]}; break;
    case 3: shape = Shape{header.shape[0], header.shape[1], header.shape[2]}; break;
    case 4: shape = Shape{header.shape[0], header.shape[1], header.shape[2], header.shape[3]}; break;
    default: shape = Shape{header.shape[0], header.shape[1], header.shape[2], header.shape[3], header.shape[4]}; break;
  }
  Tensor result = Tensor::empty_cpu(shape, dtype);
  if (type.native && !type.big_endian && dtype == type.dtype) {
    read_exactly(result.raw(), data_bytes, "data");
  } else {
    const auto width = static_cast<std::size_t>(type.bytes);
    std::vector<unsigned char> chunk(kReadChunkBytes / 8 * width);
    const std::size_t per_chunk = chunk.size() / width;
    for (std::uint64_t first = 0; first < count; first += per_chunk) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(per_chunk, count - first));
      read_exactly(chunk.data(), n * width, "data");
      convert(type, chunk.data(), n, dtype, result.raw(), static_cast<std::size_t>(first));
    }
  }
  // Reading past the end lets libzip compare the CRC-32 (and the size) with the archive's record.
  unsigned char extra;
  const zip_int64_t tail = zip_fread(file.file, &extra, 1);
  if (tail < 0) NNUC_THROW(IoError, where, ": damaged data: ", zip_message(zip_file_get_error(file.file)));
  if (tail > 0) NNUC_THROW(IoError, where, ": more bytes than the header declares");
  return result;
}

}  // namespace nnuc::data
