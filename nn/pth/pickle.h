// A reader for the subset of Python's pickle format that torch.save writes (data.pkl inside a .pth
// archive), made for nnU-Net's checkpoint dict (spec §6.7). It never runs code: GLOBAL names a class
// or function, and only a short list of names is given a meaning (below); every other name, and
// anything built from it by REDUCE / NEWOBJ / BUILD, becomes an Opaque value that records the name.
// Whoever reads a field decides whether an Opaque there is an error (a field nnuc needs) or is
// skipped (optimizer state, logging).
//
// Names with a meaning:
//   collections.OrderedDict()                 -> Dict
//   torch._utils._rebuild_tensor_v2(...)      -> Tensor (a reference to a storage; no bytes read here)
//   torch._utils._rebuild_parameter(t, ...)   -> t
//   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage, in a persistent id
//                                             -> the storage's element type
//   torch.device(type[, index])               -> String "type" or "type:index"
//   _codecs.encode(text, "latin1")            -> Bytes (how protocol 2 writes bytes objects)
//   numpy.dtype(code, ...), numpy[._]core.multiarray.scalar(dtype, bytes)
//                                             -> Float / Int / Bool (numpy scalars in the training log)
//   builtins.set / frozenset(list)            -> List
//
// Every read is bounded: lengths against the remaining bytes, memo indices against the memo, pops
// against the stack and the innermost MARK, the number of values against ParseLimits. Values live in
// one arena and refer to each other by index, so shared and cyclic structures (BINGET) cost nothing
// and nothing is walked recursively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nnuc::nn::pickle {

using ValueId = std::uint32_t;

enum class Kind : std::uint8_t {
  None,
  Bool,
  Int,
  Float,
  String,   // text: UTF-8
  Bytes,    // text: raw bytes
  List,     // items
  Tuple,    // items
  Dict,     // items: key, value, key, value, ... (in insertion order; a repeated key: the last wins)
  Global,   // text: "module.name" named by GLOBAL, not yet called
  Storage,  // index into Pickle::storages
  Tensor,   // index into Pickle::tensors
  Opaque,   // text: the class or function it was built from ("posix.system"); nothing was run
};
const char* kind_name(Kind kind);

struct Value {
  Kind kind = Kind::None;
  std::int64_t integer = 0;  // Bool, Int; Storage / Tensor: the index
  double real = 0;           // Float
  std::string text;
  std::vector<ValueId> items;
};

// Element type of a torch storage.
enum class StorageType : std::uint8_t { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };
const char* storage_type_name(StorageType type);
std::size_t storage_element_size(StorageType type);

// torch's persistent id ('storage', torch.XStorage, key, location, numel): the bytes are the archive
// member "data/<key>".
struct StorageRef {
  StorageType type = StorageType::f32;
  std::string key;
  std::string location;  // "cpu", "cuda:0"; informational
  std::int64_t numel = 0;
};

// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...): a view of a storage.
struct TensorRef {
  std::size_t storage = 0;  // index into Pickle::storages
  std::int64_t offset = 0;  // in elements
  std::vector<std::int64_t> size;
  std::vector<std::int64_t> stride;
};

struct ParseLimits {
  std::size_t max_values = std::size_t{1} << 22;  // values in the arena (a real nnU-Net checkpoint: ~10^4)
  std::size_t max_rank = 8;                       // dimensions of one tensor
};

struct Pickle {
  std::vector<Value> values;
  std::vector<StorageRef> storages;
  std::vector<TensorRef> tensors;
  ValueId root = 0;

  const Value& at(ValueId id) const { return values[id]; }
  // The value stored under string key `key` in dict `dict` (the last such entry), or nullptr.
  const Value* find(const Value& dict, const std::string& key) const;
};

// Parses `size` bytes of pickle. `source` names them in messages ("model.pth: archive/data.pkl").
// Throws IoError naming `source`, the byte offset and the opcode for malformed or unsupported input.
Pickle parse_pickle(const std::uint8_t* data, std::size_t size, const std::string& source,
                    const ParseLimits& limits = {});

}  // namespace nnuc::nn::pickle
