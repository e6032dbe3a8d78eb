#include "nn/pth/pth_reader.h"

#include <zip.h>

#include <climits>
#include <cstring>
#include <limits>
#include <map>

#include "data/export/zip_error.h"

namespace nnuc::nn {

namespace {

zip_t* as_zip(void* archive) { return static_cast<zip_t*>(archive); }

Shape shape_of(const std::vector<std::int64_t>& size) {
  switch (size.size()) {
    case 0: return Shape{};
    case 1: return Shape{size[0]};
    case 2: return Shape{size[0], size[1]};
    case 3: return Shape{size[0], size[1], size[2]};
    case 4: return Shape{size[0], size[1], size[2], size[3]};
    default: return Shape{size[0], size[1], size[2], size[3], size[4]};
  }
}

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string out = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + (dims.size() == 1 ? ",)" : ")");
}

template <typename Raw>
Raw load_raw(const std::uint8_t* bytes) {
  Raw value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// Element `index` of little-endian storage bytes as a float.
float element(const std::uint8_t* base, pickle::StorageType type, std::size_t index) {
  using pickle::StorageType;
  const std::uint8_t* at = base + index * pickle::storage_element_size(type);
  switch (type) {
    case StorageType::f32: return load_raw<float>(at);
    case StorageType::f16: return f16_to_float(f16{load_raw<std::uint16_t>(at)});
    case StorageType::bf16: return bf16_to_float(bf16{load_raw<std::uint16_t>(at)});
    case StorageType::f64: return static_cast<float>(load_raw<double>(at));
    case StorageType::i64: return static_cast<float>(load_raw<std::int64_t>(at));
    case StorageType::i32: return static_cast<float>(load_raw<std::int32_t>(at));
    case StorageType::i16: return static_cast<float>(load_raw<std::int16_t>(at));
    case StorageType::i8: return static_cast<float>(load_raw<std::int8_t>(at));
    case StorageType::u8: return static_cast<float>(*at);
    case StorageType::boolean: return *at != 0 ? 1.0f : 0.0f;
  }
  return 0.0f;
}

// "a str", "an object built by posix.system": what a field holds, for messages.
std::string describe(const pickle::Value& value) {
  if (value.kind == pickle::Kind::Opaque) return "an object built by " + value.text + " (nnuc does not run it)";
  const std::string kind = pickle::kind_name(value.kind);
  return (kind == "int" ? "an " : "a ") + kind;
}

}  // namespace

// --- ZipArchive ------------------------------------------------------------------------------------

ZipArchive::ZipArchive(const std::string& path) : path_(path) {
  int code = 0;
  archive_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (archive_ == nullptr) {
    NNUC_THROW(IoError, path, ": cannot be read as a zip archive (torch.save's format): ", data::zip_error_text(code),
               code == ZIP_ER_NOZIP
                   ? " (files written by PyTorch before 1.6 are not zip archives and are not supported)"
                   : "");
  }
}

ZipArchive::~ZipArchive() {
  if (archive_ != nullptr) zip_discard(as_zip(archive_));
}

std::vector<std::string> ZipArchive::names() const {
  std::vector<std::string> out;
  const zip_int64_t count = zip_get_num_entries(as_zip(archive_), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(as_zip(archive_), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (name != nullptr) out.emplace_back(name);
  }
  return out;
}

bool ZipArchive::contains(const std::string& name) const {
  return zip_name_locate(as_zip(archive_), name.c_str(), ZIP_FL_ENC_RAW) >= 0;
}

std::uint64_t ZipArchive::size_of(const std::string& name) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(as_zip(archive_), name.c_str(), ZIP_FL_ENC_RAW, &stat) != 0 || (stat.valid & ZIP_STAT_SIZE) == 0) {
    NNUC_THROW(IoError, path_, ": the archive has no member '", name, "'");
  }
  return stat.size;
}

std::vector<std::uint8_t> ZipArchive::read(const std::string& name, std::uint64_t max_bytes) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  const zip_int64_t index = zip_name_locate(as_zip(archive_), name.c_str(), ZIP_FL_ENC_RAW);
  if (index < 0 || zip_stat_index(as_zip(archive_), static_cast<zip_uint64_t>(index), 0, &stat) != 0 ||
      (stat.valid & ZIP_STAT_SIZE) == 0) {
    NNUC_THROW(IoError, path_, ": the archive has no member '", name, "'");
  }
  if (stat.size > max_bytes) {
    NNUC_THROW(IoError, path_, ": member '", name, "' holds ", stat.size, " bytes, more than the ", max_bytes,
               " expected");
  }
  const bool compressed = (stat.valid & ZIP_STAT_COMP_METHOD) != 0 && stat.comp_method != ZIP_CM_STORE;
  if (compressed && (stat.valid & ZIP_STAT_COMP_SIZE) != 0 && stat.size / 1100 > stat.comp_size) {
    NNUC_THROW(IoError, path_, ": member '", name, "' claims ", stat.size, " bytes from ", stat.comp_size,
               " compressed bytes");
  }
  zip_file_t* file = zip_fopen_index(as_zip(archive_), static_cast<zip_uint64_t>(index), 0);
  if (file == nullptr) {
    NNUC_THROW(IoError, path_, ": cannot open member '", name, "': ", zip_strerror(as_zip(archive_)));
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(stat.size));
  std::uint64_t done = 0;
  while (done < stat.size) {
    const zip_int64_t got = zip_fread(file, bytes.data() + done, stat.size - done);
    if (got <= 0) {
      const std::string why = got < 0 ? zip_file_strerror(file) : "unexpected end of data";
      zip_fclose(file);
      NNUC_THROW(IoError, path_, ": member '", name, "' is damaged after ", done, " of ", stat.size, " bytes: ", why);
    }
    done += static_cast<std::uint64_t>(got);
  }
  // One more read lets libzip reach the member's end and verify its CRC.
  std::uint8_t extra = 0;
  const zip_int64_t tail = zip_fread(file, &extra, 1);
  const std::string why = tail < 0 ? zip_file_strerror(file) : "";
  zip_fclose(file);
  if (tail != 0)
    NNUC_THROW(IoError, path_, ": member '", name, "' is damaged: ", tail < 0 ? why : "longer than stated");
  return bytes;
}

// --- TorchArchive ----------------------------------------------------------------------------------

TorchArchive::TorchArchive(const std::string& path) : zip_(path) {
  // torch's reader takes the folder of the archive's first member as the top folder.
  const std::vector<std::string> names = zip_.names();
  const std::size_t slash = names.empty() ? std::string::npos : names.front().find('/');
  if (slash == std::string::npos || !zip_.contains(names.front().substr(0, slash + 1) + "data.pkl")) {
    std::string listing;
    for (std::size_t i = 0; i < names.size() && i < 5; ++i) listing += (i ? ", " : "") + names[i];
    NNUC_THROW(IoError, path,
               ": not a torch.save archive: no '<folder>/data.pkl' member (members: ", names.empty() ? "none" : listing,
               names.size() > 5 ? ", ..." : "", ")");
  }
  top_ = names.front().substr(0, slash + 1);
  if (zip_.contains(top_ + "byteorder")) {
    const std::vector<std::uint8_t> order = zip_.read(top_ + "byteorder", 16);
    const std::string text(order.begin(), order.end());
    if (text != "little") {
      NNUC_THROW(IoError, path, ": storages are stored with byte order '", text, "'; nnuc reads 'little' only");
    }
  }
  const std::vector<std::uint8_t> bytes = zip_.read(top_ + "data.pkl", kMaxPickleBytes);
  pickle_ = pickle::parse_pickle(bytes.data(), bytes.size(), path + ": " + top_ + "data.pkl");
}

Tensor TorchArchive::load_tensor(const pickle::TensorRef& ref, const std::string& name) const {
  const pickle::StorageRef& storage = pickle_.storages.at(ref.storage);
  const std::string where = path() + ": tensor '" + name + "' " + dims_text(ref.size);
  const auto element_size = static_cast<std::int64_t>(pickle::storage_element_size(storage.type));
  if (ref.size.size() > static_cast<std::size_t>(Shape::kMaxRank)) {
    NNUC_THROW(IoError, where, " has ", ref.size.size(), " dimensions; nnuc reads at most ", Shape::kMaxRank);
  }
  std::int64_t numel = 1;
  for (std::int64_t extent : ref.size) {
    if (extent != 0 && numel > std::numeric_limits<std::int64_t>::max() / element_size / extent) {
      NNUC_THROW(IoError, where, " declares more elements than any file can hold");
    }
    numel *= extent;
  }
  std::int64_t expected_stride = 1;  // partial products of a non-empty tensor's sizes: no overflow
  for (std::size_t axis = ref.size.size(); numel > 0 && axis-- > 0;) {
    if (ref.size[axis] > 1 && ref.stride[axis] != expected_stride) {
      NNUC_THROW(IoError, where, " has strides ", dims_text(ref.stride),
                 ", not a contiguous row-major layout (nnuc reads contiguous tensors only)");
    }
    expected_stride *= ref.size[axis];
  }
  if (storage.numel > static_cast<std::int64_t>(kMaxStorageBytes) / element_size) {
    NNUC_THROW(IoError, where, ": its storage '", storage.key, "' declares ", storage.numel, " elements, more than ",
               kMaxStorageBytes, " bytes");
  }
  if (ref.offset > storage.numel || numel > storage.numel - ref.offset) {
    NNUC_THROW(IoError, where, " needs ", numel, " elements from offset ", ref.offset, " of storage '", storage.key,
               "', which holds ", storage.numel);
  }
  const std::string member = top_ + "data/" + storage.key;
  if (!zip_.contains(member)) {
    NNUC_THROW(IoError, where, ": its storage '", storage.key, "' is missing (no member '", member, "')");
  }
  const std::uint64_t declared = static_cast<std::uint64_t>(storage.numel * element_size);
  const std::uint64_t actual = zip_.size_of(member);
  if (actual != declared) {
    NNUC_THROW(IoError, where, ": storage member '", member, "' holds ", actual, " bytes but the storage declares ",
               storage.numel, " ", pickle::storage_type_name(storage.type), " elements (", declared, " bytes)");
  }
  const std::vector<std::uint8_t> bytes = zip_.read(member, declared);
  Tensor out = Tensor::empty_cpu(shape_of(ref.size), DType::f32);
  float* values = out.data<float>();
  for (std::int64_t i = 0; i < numel; ++i) {
    values[i] = element(bytes.data(), storage.type, static_cast<std::size_t>(ref.offset + i));
  }
  return out;
}

// --- nnU-Net's checkpoint dict ---------------------------------------------------------------------

NnunetCheckpoint read_nnunet_checkpoint(const std::string& path) {
  using pickle::Kind;
  const TorchArchive archive(path);
  const pickle::Pickle& pickle = archive.pickle();
  const pickle::Value& root = archive.root();
  if (root.kind != Kind::Dict) {
    NNUC_THROW(IoError, path, ": not an nnU-Net checkpoint: the pickled object is ", describe(root), ", not a dict");
  }
  const auto field_error = [&](const std::string& field, const pickle::Value& value, const char* expected) {
    NNUC_THROW(IoError, path, ": field '", field, "' is ", describe(value), ", expected ", expected);
  };

  NnunetCheckpoint out;
  const pickle::Value* weights = pickle.find(root, "network_weights");
  if (weights == nullptr) NNUC_THROW(IoError, path, ": not an nnU-Net checkpoint: no field 'network_weights'");
  if (weights->kind != Kind::Dict) field_error("network_weights", *weights, "a dict of tensors (a state_dict)");
  // Names that share one view of one storage (nnU-Net's aliases) share one host tensor.
  std::map<std::size_t, std::vector<std::pair<const pickle::TensorRef*, Tensor>>> loaded;
  for (std::size_t i = 0; i + 1 < weights->items.size(); i += 2) {
    const pickle::Value& key = pickle.at(weights->items[i]);
    const pickle::Value& value = pickle.at(weights->items[i + 1]);
    if (key.kind != Kind::String) field_error("network_weights", key, "str keys");
    if (value.kind != Kind::Tensor) field_error("network_weights." + key.text, value, "a tensor");
    const pickle::TensorRef& ref = pickle.tensors[static_cast<std::size_t>(value.integer)];
    Tensor tensor;
    for (const auto& [other, other_tensor] : loaded[ref.storage]) {
      if (other->offset == ref.offset && other->size == ref.size && other->stride == ref.stride) tensor = other_tensor;
    }
    if (!tensor.defined()) {
      tensor = archive.load_tensor(ref, key.text);
      loaded[ref.storage].emplace_back(&ref, tensor);
    }
    out.network_weights.emplace_back(key.text, tensor);
  }

  if (const pickle::Value* name = pickle.find(root, "trainer_name")) {
    if (name->kind != Kind::String) field_error("trainer_name", *name, "a str");
    out.trainer_name = name->text;
  }
  if (const pickle::Value* axes = pickle.find(root, "inference_allowed_mirroring_axes")) {
    if (axes->kind != Kind::None) {
      if (axes->kind != Kind::Tuple && axes->kind != Kind::List) {
        field_error("inference_allowed_mirroring_axes", *axes, "a tuple of ints or None");
      }
      for (pickle::ValueId id : axes->items) {
        const pickle::Value& axis = pickle.at(id);
        if (axis.kind != Kind::Int) field_error("inference_allowed_mirroring_axes", axis, "a tuple of ints");
        if (axis.integer < 0 || axis.integer > 2) {
          NNUC_THROW(IoError, path, ": field 'inference_allowed_mirroring_axes' holds axis ", axis.integer,
                     ", expected 0, 1 or 2");
        }
        out.inference_allowed_mirroring_axes.push_back(static_cast<int>(axis.integer));
      }
    }
  }
  if (const pickle::Value* init_args = pickle.find(root, "init_args")) {
    if (init_args->kind != Kind::Dict) field_error("init_args", *init_args, "a dict");
    if (const pickle::Value* configuration = pickle.find(*init_args, "configuration")) {
      if (configuration->kind != Kind::String) field_error("init_args.configuration", *configuration, "a str");
      out.configuration = configuration->text;
    }
  }
  if (const pickle::Value* epoch = pickle.find(root, "current_epoch")) {
    if (epoch->kind != Kind::Int || epoch->integer < 0 || epoch->integer > INT_MAX) {
      field_error("current_epoch", *epoch, "an int >= 0");
    }
    out.current_epoch = static_cast<int>(epoch->integer);
  }
  return out;
}

}  // namespace nnuc::nn
