#include "nn/checkpoint.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "data/dataset/atomic_file.h"
#include "kernels/core/context.h"

namespace nnuc::nn {

namespace {

constexpr char kMagic[8] = {'N', 'N', 'U', 'C', 'C', 'K', 'P', 'T'};
constexpr std::size_t kPreamble = 20;  // magic + version + header length
constexpr std::size_t kAlignment = 64;

std::size_t align_up(std::size_t value) { return (value + kAlignment - 1) / kAlignment * kAlignment; }

template <typename T>
void put_le(std::string& out, T value) {
  for (std::size_t byte = 0; byte < sizeof(T); ++byte) out.push_back(static_cast<char>((value >> (8 * byte)) & 0xff));
}

template <typename T>
T get_le(const unsigned char* bytes) {
  T value = 0;
  for (std::size_t byte = 0; byte < sizeof(T); ++byte) value |= static_cast<T>(bytes[byte]) << (8 * byte);
  return value;
}

std::uint64_t checksum(const unsigned char* bytes, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = crc32(crc, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return static_cast<std::uint64_t>(crc);
}

DType dtype_from_name(const std::string& name, const std::string& path) {
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i16, DType::i32, DType::i64, DType::u8})
    if (name == dtype_name(dtype)) return dtype;
  NNUC_THROW(IoError, path, ": tensor dtype '", name, "' is not one of f32, f64, bf16, f16, i16, i32, i64, u8");
}

}  // namespace

const Tensor* Checkpoint::find(const std::string& name) const {
  for (const auto& [tensor_name, tensor] : tensors)
    if (tensor_name == name) return &tensor;
  return nullptr;
}

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  nlohmann::json header;
  header["metadata"] = checkpoint.metadata;
  header["tensors"] = nlohmann::json::array();
  std::vector<Tensor> host;
  std::size_t offset = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    NNUC_CHECK(tensor.defined() && tensor.device() != Device::Meta, "save_checkpoint ", path, ": tensor '", name,
               "' has no values");
    host.push_back(tensor.device() == Device::CPU ? tensor : tensor.to_cpu());
    std::vector<std::int64_t> dims;
    for (int axis = 0; axis < tensor.rank(); ++axis) dims.push_back(tensor.dim(axis));
    header["tensors"].push_back({{"name", name},
                                 {"dtype", dtype_name(tensor.dtype())},
                                 {"shape", dims},
                                 {"offset", offset},
                                 {"bytes", tensor.bytes()}});
    offset = align_up(offset + tensor.bytes());
  }
  const std::string header_text = header.dump();
  std::string bytes(kMagic, sizeof kMagic);
  put_le<std::uint32_t>(bytes, kCheckpointVersion);
  put_le<std::uint64_t>(bytes, header_text.size());
  bytes += header_text;
  bytes.resize(align_up(bytes.size()), '\0');
  const std::size_t data_start = bytes.size();
  bytes.resize(data_start + offset, '\0');
  for (std::size_t index = 0; index < host.size(); ++index) {
    const auto tensor_offset = header["tensors"][index]["offset"].get<std::size_t>();
    if (host[index].bytes()) std::memcpy(&bytes[data_start + tensor_offset], host[index].raw(), host[index].bytes());
  }
  put_le<std::uint64_t>(bytes, checksum(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
  data::write_file_atomic(path, bytes);
}

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) NNUC_THROW(IoError, "cannot open checkpoint ", path, ": ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  if (size < kPreamble + 8) NNUC_THROW(IoError, path, ": truncated checkpoint (", size, " bytes)");
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0)
    NNUC_THROW(IoError, path, ": not an nnuc checkpoint (magic bytes are not \"NNUCCKPT\")");
  const auto version = get_le<std::uint32_t>(data + 8);
  if (version != kCheckpointVersion)
    NNUC_THROW(IoError, path, ": checkpoint format version ", version, ", this nnuc reads version ",
               kCheckpointVersion);
  const auto header_length = get_le<std::uint64_t>(data + 12);
  if (header_length > size - kPreamble - 8)
    NNUC_THROW(IoError, path, ": header length ", header_length, " exceeds the file (", size, " bytes): truncated");
  const auto stored = get_le<std::uint64_t>(data + size - 8);
  const std::uint64_t computed = checksum(data, size - 8);
  if (stored != computed)
    NNUC_THROW(IoError, path, ": checksum mismatch (stored ", stored, ", computed ", computed,
               "): the file is corrupted or truncated");
  nlohmann::json header;
  try {
    header =
        nlohmann::json::parse(bytes.begin() + kPreamble, bytes.begin() + static_cast<long>(kPreamble + header_length));
  } catch (const nlohmann::json::exception& error) {
    NNUC_THROW(IoError, path, ": malformed header JSON: ", error.what());
  }
  if (!header.is_object() || !header.contains("tensors") || !header["tensors"].is_array())
    NNUC_THROW(IoError, path, ": header has no \"tensors\" array");
  const std::size_t data_start = align_up(kPreamble + header_length);
  const std::size_t data_end = size - 8;
  Checkpoint checkpoint;
  checkpoint.metadata = header.value("metadata", nlohmann::json::object());
  try {
    for (const auto& entry : header["tensors"]) {
      const auto name = entry.at("name").get<std::string>();
      const DType dtype = dtype_from_name(entry.at("dtype").get<std::string>(), path);
      const auto dims = entry.at("shape").get<std::vector<std::int64_t>>();
      if (dims.size() > static_cast<std::size_t>(Shape::kMaxRank))
        NNUC_THROW(IoError, path, ": tensor '", name, "' has rank ", dims.size(), " (at most 5)");
      Shape shape;
      std::uint64_t count = 1;
      for (std::int64_t dim : dims) {
        if (dim < 0 || (dim > 0 && count > (std::uint64_t{1} << 48) / static_cast<std::uint64_t>(dim)))
          NNUC_THROW(IoError, path, ": tensor '", name, "' has an invalid dimension ", dim);
        count *= static_cast<std::uint64_t>(dim);
      }
      switch (dims.size()) {
        case 0: shape = Shape{}; break;
        case 1: shape = Shape{dims[0]}; break;
        case 2: shape = Shape{dims[0], dims[1]}; break;
        case 3: shape = Shape{dims[0], dims[1], dims[2]}; break;
        case 4: shape = Shape{dims[0], dims[1], dims[2], dims[3]}; break;
        default: shape = Shape{dims[0], dims[1], dims[2], dims[3], dims[4]}; break;
      }
      const auto offset = entry.at("offset").get<std::uint64_t>();
      const auto tensor_bytes = entry.at("bytes").get<std::uint64_t>();
      if (tensor_bytes != count * dtype_size(dtype))
        NNUC_THROW(IoError, path, ": tensor '", name, "' declares ", tensor_bytes, " bytes, its shape needs ",
                   count * dtype_size(dtype));
      if (offset > data_end - data_start || tensor_bytes > data_end - data_start - offset)
        NNUC_THROW(IoError, path, ": tensor '", name, "' lies outside the file (offset ", offset, ", ", tensor_bytes,
                   " bytes)");
      Tensor tensor = Tensor::empty_cpu(shape, dtype);
      if (tensor_bytes) std::memcpy(tensor.raw(), data + data_start + offset, tensor_bytes);
      checkpoint.tensors.emplace_back(name, std::move(tensor));
    }
  } catch (const nlohmann::json::exception& error) {
    NNUC_THROW(IoError, path, ": malformed tensor entry in the header: ", error.what());
  }
  return checkpoint;
}

}  // namespace nnuc::nn
