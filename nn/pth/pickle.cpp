#include "nn/pth/pickle.h"

#include <cstring>
#include <unordered_map>

#include "kernels/core/error.h"

namespace nnuc::nn::pickle {

const char* kind_name(Kind kind) {
  static const char* const names[] = {"None",  "bool", "int",    "float",   "str",    "bytes", "list",
                                      "tuple", "dict", "global", "storage", "tensor", "object"};
  return names[static_cast<int>(kind)];
}

const char* storage_type_name(StorageType type) {
  static const char* const names[] = {"float32", "float16", "bfloat16", "float64", "int64",
                                      "int32",   "int16",   "int8",     "uint8",   "bool"};
  return names[static_cast<int>(type)];
}

std::size_t storage_element_size(StorageType type) {
  static const std::size_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
  return sizes[static_cast<int>(type)];
}

const Value* Pickle::find(const Value& dict, const std::string& key) const {
  if (dict.kind != Kind::Dict) return nullptr;
  for (std::size_t i = dict.items.size(); i >= 2; i -= 2) {
    const Value& k = values[dict.items[i - 2]];
    if (k.kind == Kind::String && k.text == key) return &values[dict.items[i - 1]];
  }
  return nullptr;
}

namespace {

// Opcodes of pickle protocols 0-5 (the names of Python's Lib/pickle.py), for messages.
const char* opcode_name(std::uint8_t op) {
  // clang-format off
  static const std::pair<int, const char*> names[] = {
      {0x80, "PROTO"}, {0x95, "FRAME"}, {'.', "STOP"}, {'}', "EMPTY_DICT"}, {']', "EMPTY_LIST"},
      {')', "EMPTY_TUPLE"}, {0x8f, "EMPTY_SET"}, {'(', "MARK"}, {'X', "BINUNICODE"}, {0x8c, "SHORT_BINUNICODE"},
      {0x8d, "BINUNICODE8"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"}, {0x8e, "BINBYTES8"}, {0x96, "BYTEARRAY8"},
      {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {0x94, "MEMOIZE"}, {'h', "BINGET"}, {'j', "LONG_BINGET"},
      {'J', "BININT"}, {'K', "BININT1"}, {'M', "BININT2"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'G', "BINFLOAT"},
      {'N', "NONE"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {'t', "TUPLE"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"},
      {0x87, "TUPLE3"}, {'l', "LIST"}, {'d', "DICT"}, {'s', "SETITEM"}, {'u', "SETITEMS"}, {'a', "APPEND"},
      {'e', "APPENDS"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {'c', "GLOBAL"}, {0x93, "STACK_GLOBAL"},
      {'R', "REDUCE"}, {'b', "BUILD"}, {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"}, {'Q', "BINPERSID"}, {'0', "POP"},
      {'1', "POP_MARK"}, {'2', "DUP"}, {'P', "PERSID"}, {'i', "INST"}, {'o', "OBJ"}, {'I', "INT"}, {'L', "LONG"},
      {'F', "FLOAT"}, {'S', "STRING"}, {'V', "UNICODE"}, {'p', "PUT"}, {'g', "GET"}, {0x82, "EXT1"},
      {0x83, "EXT2"}, {0x84, "EXT4"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
  };
  // clang-format on
  for (const auto& [code, name] : names)
    if (code == op) return name;
  return nullptr;
}

bool storage_type_from(const std::string& name, StorageType& type) {
  static const std::pair<const char*, StorageType> table[] = {
      {"torch.FloatStorage", StorageType::f32},     {"torch.HalfStorage", StorageType::f16},
      {"torch.BFloat16Storage", StorageType::bf16}, {"torch.DoubleStorage", StorageType::f64},
      {"torch.LongStorage", StorageType::i64},      {"torch.IntStorage", StorageType::i32},
      {"torch.ShortStorage", StorageType::i16},     {"torch.CharStorage", StorageType::i8},
      {"torch.ByteStorage", StorageType::u8},       {"torch.BoolStorage", StorageType::boolean}};
  for (const auto& [n, t] : table) {
    if (name == n) {
      type = t;
      return true;
    }
  }
  return false;
}

class Machine {
 public:
  Machine(const std::uint8_t* data, std::size_t size, const std::string& source, const ParseLimits& limits)
      : data_(data), size_(size), source_(source), limits_(limits) {}

  Pickle run() {
    if (data_ == nullptr) size_ = 0;
    while (true) {
      if (pos_ >= size_) fail_at(size_, "ends without STOP (", size_, " bytes)");
      op_pos_ = pos_;
      op_ = data_[pos_++];
      if (step()) break;
    }
    return std::move(pickle_);
  }

 private:
  template <typename... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    static const char digits[] = "0123456789abcdef";
    const char* name = opcode_name(op_);
    const std::string unknown = std::string("0x") + digits[op_ >> 4] + digits[op_ & 15];
    NNUC_THROW(IoError, source_, ": pickle byte ", op_pos_, " (opcode ", name ? name : unknown.c_str(),
               "): ", parts...);
  }
  template <typename... Parts>
  [[noreturn]] void fail_at(std::size_t offset, const Parts&... parts) const {
    NNUC_THROW(IoError, source_, ": pickle byte ", offset, ": ", parts...);
  }

  // --- bytes ---------------------------------------------------------------------------------
  const std::uint8_t* take(std::uint64_t count) {
    if (count > size_ - pos_) fail("needs ", count, " bytes but only ", size_ - pos_, " remain");
    const std::uint8_t* at = data_ + pos_;
    pos_ += static_cast<std::size_t>(count);
    return at;
  }
  std::uint64_t little(int bytes) {
    const std::uint8_t* at = take(static_cast<std::uint64_t>(bytes));
    std::uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | at[i];
    return value;
  }
  std::string line() {
    std::string out;
    while (true) {
      if (pos_ >= size_) fail("name not terminated by a newline");
      const char c = static_cast<char>(data_[pos_++]);
      if (c == '\n') return out;
      if (out.size() >= 256) fail("name longer than 256 bytes");
      out += c;
    }
  }

  // --- values and the stack --------------------------------------------------------------------
  ValueId make(Value value) {
    if (pickle_.values.size() >= limits_.max_values) fail("more than ", limits_.max_values, " values");
    pickle_.values.push_back(std::move(value));
    return static_cast<ValueId>(pickle_.values.size() - 1);
  }
  ValueId make(Kind kind, std::string text = {}) {
    Value value;
    value.kind = kind;
    value.text = std::move(text);
    return make(std::move(value));
  }
  ValueId make_int(std::int64_t integer, Kind kind = Kind::Int) {
    Value value;
    value.kind = kind;
    value.integer = integer;
    return make(std::move(value));
  }
  Value& at(ValueId id) { return pickle_.values[id]; }
  std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(ValueId id) { stack_.push_back(id); }
  ValueId pop() {
    if (stack_.size() <= fence()) fail("stack underflow");
    const ValueId id = stack_.back();
    stack_.pop_back();
    return id;
  }
  ValueId top() {
    if (stack_.size() <= fence()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<ValueId> pop_to_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValueId> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  void charge(std::size_t bytes) {
    copied_ += bytes;
    if (copied_ > limits_.max_values * 64) fail("copies more than ", limits_.max_values * 64, " bytes");
  }
  ValueId memo_get(std::uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end()) fail("memo has no entry ", index, " (", memo_.size(), " entries)");
    return found->second;
  }
  void append_to(ValueId target, const std::vector<ValueId>& items) {
    Value& container = at(target);
    if (container.kind == Kind::List) {
      container.items.insert(container.items.end(), items.begin(), items.end());
    } else if (container.kind != Kind::Opaque) {  // an object of an unknown class: its items are dropped
      fail("appends to a ", kind_name(container.kind));
    }
  }
  void set_items(ValueId target, const std::vector<ValueId>& items) {
    if (items.size() % 2 != 0) fail("odd number of keys and values (", items.size(), ")");
    Value& container = at(target);
    if (container.kind == Kind::Dict) {
      container.items.insert(container.items.end(), items.begin(), items.end());
    } else if (container.kind != Kind::Opaque) {
      fail("sets items of a ", kind_name(container.kind));
    }
  }
  // A module or name of STACK_GLOBAL: a str of at most 256 bytes, as GLOBAL's lines.
  std::string global_part(ValueId id, const char* what) {
    if (at(id).kind != Kind::String) fail(what, " is a ", kind_name(at(id).kind), ", not a str");
    if (at(id).text.size() > 256) fail(what, " longer than 256 bytes");
    return at(id).text;
  }

  // --- calls (REDUCE): only the names in pickle.h have a meaning --------------------------------
  enum class Call { Unknown, OrderedDict, Tensor, Parameter, Device, Encode, Dtype, Scalar, Set };
  static Call call_of(const std::string& name) {
    static const std::pair<const char*, Call> table[] = {
        {"collections.OrderedDict", Call::OrderedDict},
        {"torch._utils._rebuild_tensor_v2", Call::Tensor},
        {"torch._utils._rebuild_parameter", Call::Parameter},
        {"torch._utils._rebuild_parameter_with_state", Call::Parameter},
        {"torch.device", Call::Device},
        {"_codecs.encode", Call::Encode},
        {"numpy.dtype", Call::Dtype},
        {"numpy.core.multiarray.scalar", Call::Scalar},
        {"numpy._core.multiarray.scalar", Call::Scalar},
        {"builtins.set", Call::Set},
        {"builtins.frozenset", Call::Set},
        {"__builtin__.set", Call::Set}};
    for (const auto& [known, call] : table)
      if (name == known) return call;
    return Call::Unknown;
  }

  ValueId call(ValueId callable_id, ValueId args_id) {
    const Value& callable = at(callable_id);
    if (callable.kind == Kind::Opaque) return make(Kind::Opaque, callable.text);
    if (callable.kind != Kind::Global) fail("calls a ", kind_name(callable.kind));
    const std::string name = callable.text;
    const Call call = call_of(name);
    if (call == Call::Unknown) return make(Kind::Opaque, name);  // recorded, never called
    if (at(args_id).kind != Kind::Tuple) fail(name, " is called with a ", kind_name(at(args_id).kind));
    if (at(args_id).items.size() > 8) fail(name, " is called with ", at(args_id).items.size(), " arguments");
    const std::vector<ValueId> args = at(args_id).items;
    const auto arg = [&](std::size_t i, Kind kind) -> const Value& {
      if (i >= args.size() || at(args[i]).kind != kind) {
        fail(name, ": argument ", i, " should be a ", kind_name(kind), ", got ",
             i < args.size() ? kind_name(at(args[i]).kind) : "nothing");
      }
      return at(args[i]);
    };
    switch (call) {
      case Call::OrderedDict:
        if (!args.empty()) fail(name, " is called with ", args.size(), " arguments (torch passes none)");
        return make(Kind::Dict);
      case Call::Tensor: return rebuild_tensor(args);
      case Call::Parameter: arg(0, Kind::Tensor); return args[0];
      case Call::Device: {
        std::string device = arg(0, Kind::String).text;
        charge(device.size());
        if (args.size() > 1 && at(args[1]).kind == Kind::Int) device += ":" + std::to_string(at(args[1]).integer);
        return make(Kind::String, device);
      }
      case Call::Encode: return encode_latin1(args);
      case Call::Dtype: {
        Value dtype;
        dtype.kind = Kind::Opaque;
        dtype.text = "numpy.dtype";
        dtype.items = {args.empty() ? make(Kind::None) : args[0], make(Kind::String, "|")};
        return make(std::move(dtype));
      }
      case Call::Scalar: return numpy_scalar(args);
      case Call::Set: {
        Value set;
        set.kind = Kind::List;
        if (!args.empty()) {
          set.items = arg(0, Kind::List).items;
          charge(set.items.size() * sizeof(ValueId));
        }
        return make(std::move(set));
      }
      case Call::Unknown: break;
    }
    return make(Kind::Opaque, name);
  }

  ValueId rebuild_tensor(const std::vector<ValueId>& args) {
    if (args.size() < 4) fail("torch._utils._rebuild_tensor_v2 needs 4 arguments, got ", args.size());
    if (at(args[0]).kind != Kind::Storage) fail("tensor storage is a ", kind_name(at(args[0]).kind));
    if (at(args[1]).kind != Kind::Int || at(args[1]).integer < 0) fail("tensor storage offset is not an int >= 0");
    TensorRef tensor;
    tensor.storage = static_cast<std::size_t>(at(args[0]).integer);
    tensor.offset = at(args[1]).integer;
    for (int which = 0; which < 2; ++which) {
      const Value& list = at(args[2 + static_cast<std::size_t>(which)]);
      const char* what = which == 0 ? "size" : "stride";
      if (list.kind != Kind::Tuple) fail("tensor ", what, " is a ", kind_name(list.kind), ", not a tuple");
      if (list.items.size() > limits_.max_rank) fail("tensor ", what, " has ", list.items.size(), " dimensions");
      for (ValueId id : list.items) {
        if (at(id).kind != Kind::Int || at(id).integer < 0)
          fail("tensor ", what, " holds a value that is not an int >= 0");
        (which == 0 ? tensor.size : tensor.stride).push_back(at(id).integer);
      }
    }
    if (tensor.size.size() != tensor.stride.size()) {
      fail("tensor size has ", tensor.size.size(), " dimensions but its stride ", tensor.stride.size());
    }
    pickle_.tensors.push_back(std::move(tensor));
    return make_int(static_cast<std::int64_t>(pickle_.tensors.size() - 1), Kind::Tensor);
  }

  ValueId encode_latin1(const std::vector<ValueId>& args) {
    if (args.size() != 2 || at(args[0]).kind != Kind::String || at(args[1]).kind != Kind::String ||
        (at(args[1]).text != "latin1" && at(args[1]).text != "latin-1")) {
      return make(Kind::Opaque, "_codecs.encode");
    }
    const std::string& utf8 = at(args[0]).text;
    charge(utf8.size());
    std::string bytes;
    for (std::size_t i = 0; i < utf8.size(); ++i) {
      const auto c = static_cast<unsigned char>(utf8[i]);
      if (c < 0x80) {
        bytes += static_cast<char>(c);
      } else if ((c == 0xc2 || c == 0xc3) && i + 1 < utf8.size()) {  // U+0080..U+00FF
        bytes += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3f));
      } else {
        return make(Kind::Opaque, "_codecs.encode");
      }
    }
    return make(Kind::Bytes, bytes);
  }

  // A dtype made by call(): Opaque "numpy.dtype" with items {code, byte order}.
  bool is_numpy_dtype(ValueId id) {
    const Value& value = at(id);
    return value.kind == Kind::Opaque && value.text == "numpy.dtype" && value.items.size() == 2;
  }

  // numpy scalars (np.float64 in the training log): scalar(dtype, raw bytes).
  ValueId numpy_scalar(const std::vector<ValueId>& args) {
    const ValueId opaque_id = make(Kind::Opaque, "numpy.scalar");
    if (args.size() != 2 || !is_numpy_dtype(args[0]) || at(args[1]).kind != Kind::Bytes) return opaque_id;
    const Value& code = at(at(args[0]).items[0]);
    const std::string& order = at(at(args[0]).items[1]).text;
    const std::string& bytes = at(args[1]).text;
    if (code.kind != Kind::String || code.text.size() != 2 || order == ">") return opaque_id;
    const char type = code.text[0];
    const std::size_t width = static_cast<std::size_t>(code.text[1] - '0');
    if (bytes.size() != width) return opaque_id;
    std::uint64_t raw = 0;
    for (std::size_t i = width; i-- > 0;) raw = (raw << 8) | static_cast<unsigned char>(bytes[i]);
    Value& out = at(opaque_id);
    if (type == 'f' && width == 8) {
      out.kind = Kind::Float;
      std::memcpy(&out.real, &raw, 8);
    } else if (type == 'f' && width == 4) {
      float f;
      const auto word = static_cast<std::uint32_t>(raw);
      std::memcpy(&f, &word, 4);
      out.kind = Kind::Float;
      out.real = f;
    } else if ((type == 'i' || type == 'u' || type == 'b') && (width == 1 || width == 2 || width == 4 || width == 8)) {
      const int shift = static_cast<int>(64 - 8 * width);
      out.kind = type == 'b' ? Kind::Bool : Kind::Int;
      out.integer = type == 'i' ? static_cast<std::int64_t>(raw << shift) >> shift : static_cast<std::int64_t>(raw);
    }
    if (out.kind != Kind::Opaque) out.text.clear();
    return opaque_id;
  }

  // torch's persistent id: ('storage', torch.XStorage, key, location, numel).
  ValueId storage(ValueId pid_id) {
    const Value& pid = at(pid_id);
    const auto is = [&](std::size_t i, Kind kind) { return at(pid.items[i]).kind == kind; };
    if (pid.kind != Kind::Tuple || pid.items.size() != 5 || !is(0, Kind::String) ||
        at(pid.items[0]).text != "storage" || !is(1, Kind::Global) || !is(2, Kind::String) || !is(3, Kind::String) ||
        !is(4, Kind::Int)) {
      fail("persistent id is not torch's ('storage', type, key, location, numel)");
    }
    StorageRef ref;
    if (!storage_type_from(at(pid.items[1]).text, ref.type)) {
      fail("storage type ", at(pid.items[1]).text, " is not one nnuc reads");
    }
    ref.key = at(pid.items[2]).text;
    ref.location = at(pid.items[3]).text;
    ref.numel = at(pid.items[4]).integer;
    if (ref.numel < 0) fail("storage '", ref.key, "' declares ", ref.numel, " elements");
    pickle_.storages.push_back(std::move(ref));
    return make_int(static_cast<std::int64_t>(pickle_.storages.size() - 1), Kind::Storage);
  }

  // LONG1 / LONG4: little-endian two's complement of `count` bytes.
  ValueId integer(const std::uint8_t* bytes, std::uint64_t count) {
    for (; count > 8; --count) {  // drop sign-extension bytes while the value still fits
      const std::uint8_t sign = (bytes[count - 2] & 0x80) != 0 ? 0xff : 0x00;
      if (bytes[count - 1] != sign) return make(Kind::Opaque, "int wider than 64 bits");
    }
    std::uint64_t raw = 0;
    for (std::uint64_t i = count; i-- > 0;) raw = (raw << 8) | bytes[i];
    const int shift = static_cast<int>(64 - 8 * count);
    return make_int(count == 0 ? 0 : static_cast<std::int64_t>(raw << shift) >> shift);
  }

  void push_text(Kind kind, std::uint64_t length) {
    const std::uint8_t* at = take(length);
    push(make(kind, std::string(reinterpret_cast<const char*>(at), static_cast<std::size_t>(length))));
  }

  ValueId tuple(std::vector<ValueId> items) {
    Value value;
    value.kind = Kind::Tuple;
    value.items = std::move(items);
    return make(std::move(value));
  }

  // Runs one opcode; true at STOP.
  bool step();

  const std::uint8_t* data_;
  std::size_t size_;
  const std::string& source_;
  const ParseLimits& limits_;
  std::size_t pos_ = 0, op_pos_ = 0, copied_ = 0;
  std::uint8_t op_ = 0;
  std::vector<ValueId> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, ValueId> memo_;
  Pickle pickle_;
};

bool Machine::step() {
  switch (op_) {
    case 0x80: {  // PROTO
      const std::uint64_t protocol = little(1);
      if (protocol > 5) fail("protocol ", protocol, " is newer than 5");
      return false;
    }
    case 0x95: {  // FRAME: announces the length of the opcodes that follow
      const std::uint64_t length = little(8);
      if (length > size_ - pos_) fail("frame of ", length, " bytes but only ", size_ - pos_, " remain");
      return false;
    }
    case '.': pickle_.root = pop(); return true;
    case '}': push(make(Kind::Dict)); return false;
    case ']':
    case 0x8f: push(make(Kind::List)); return false;
    case ')': push(tuple({})); return false;
    case '(': marks_.push_back(stack_.size()); return false;
    case 'X': push_text(Kind::String, little(4)); return false;
    case 0x8c: push_text(Kind::String, little(1)); return false;
    case 0x8d: push_text(Kind::String, little(8)); return false;
    case 'B': push_text(Kind::Bytes, little(4)); return false;
    case 'C': push_text(Kind::Bytes, little(1)); return false;
    case 0x8e:
    case 0x96: push_text(Kind::Bytes, little(8)); return false;
    case 'q': memo_[little(1)] = top(); return false;
    case 'r': memo_[little(4)] = top(); return false;
    case 0x94: memo_[memo_.size()] = top(); return false;
    case 'h': push(memo_get(little(1))); return false;
    case 'j': push(memo_get(little(4))); return false;
    case 'J': push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(little(4))))); return false;
    case 'K': push(make_int(static_cast<std::int64_t>(little(1)))); return false;
    case 'M': push(make_int(static_cast<std::int64_t>(little(2)))); return false;
    case 0x8a: {
      const auto n = little(1);
      push(integer(take(n), n));
      return false;
    }
    case 0x8b: {
      const auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(little(4)));
      if (n < 0) fail("negative length ", n);
      push(integer(take(static_cast<std::uint64_t>(n)), static_cast<std::uint64_t>(n)));
      return false;
    }
    case 'G': {
      const std::uint8_t* at = take(8);
      std::uint64_t raw = 0;
      for (int i = 0; i < 8; ++i) raw = (raw << 8) | at[i];  // big-endian
      Value value;
      value.kind = Kind::Float;
      std::memcpy(&value.real, &raw, 8);
      push(make(std::move(value)));
      return false;
    }
    case 'N': push(make(Kind::None)); return false;
    case 0x88: push(make_int(1, Kind::Bool)); return false;
    case 0x89: push(make_int(0, Kind::Bool)); return false;
    case 't': push(tuple(pop_to_mark())); return false;
    case 0x85:
    case 0x86:
    case 0x87: {
      std::vector<ValueId> items(static_cast<std::size_t>(op_ - 0x84));
      for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
      push(tuple(std::move(items)));
      return false;
    }
    case 'l':
    case 0x91: {
      Value list;
      list.kind = Kind::List;
      list.items = pop_to_mark();
      push(make(std::move(list)));
      return false;
    }
    case 'd': {
      const auto items = pop_to_mark();
      const ValueId dict = make(Kind::Dict);
      set_items(dict, items);
      push(dict);
      return false;
    }
    case 's': {
      const ValueId value = pop(), key = pop();
      set_items(top(), {key, value});
      return false;
    }
    case 'u': {
      const auto items = pop_to_mark();
      set_items(top(), items);
      return false;
    }
    case 'a': {
      const ValueId value = pop();
      append_to(top(), {value});
      return false;
    }
    case 'e':
    case 0x90: {
      const auto items = pop_to_mark();
      append_to(top(), items);
      return false;
    }
    case 'c': {
      std::string module = line();
      push(make(Kind::Global, module + "." + line()));
      return false;
    }
    case 0x93: {
      const ValueId name = pop(), module = pop();
      push(make(Kind::Global, global_part(module, "module") + "." + global_part(name, "name")));
      return false;
    }
    case 'R': {
      const ValueId args = pop(), callable = pop();
      push(call(callable, args));
      return false;
    }
    case 0x81:
    case 0x92: {  // NEWOBJ(_EX): cls.__new__(cls, *args) of a class nnuc does not know
      if (op_ == 0x92) pop();
      pop();
      const Value& cls = at(pop());
      if (cls.kind != Kind::Global && cls.kind != Kind::Opaque) fail("instantiates a ", kind_name(cls.kind));
      push(make(Kind::Opaque, cls.text));
      return false;
    }
    case 'b': {  // BUILD: object state; kept only for numpy dtypes (their byte order)
      const ValueId state = pop();
      Value& object = at(top());
      if (is_numpy_dtype(top()) && at(state).kind == Kind::Tuple && at(state).items.size() > 1 &&
          at(at(state).items[1]).kind == Kind::String) {
        object.items[1] = at(state).items[1];
      }
      return false;
    }
    case 'Q': push(storage(pop())); return false;
    case '0':
      if (stack_.size() > fence())
        stack_.pop_back();
      else
        pop_to_mark();
      return false;
    case '1': pop_to_mark(); return false;
    case '2': push(top()); return false;
    default: break;
  }
  const char* name = opcode_name(op_);
  fail(name ? "opcode not supported (torch.save does not write it)" : "not a pickle opcode");
}

}  // namespace

Pickle parse_pickle(const std::uint8_t* data, std::size_t size, const std::string& source, const ParseLimits& limits) {
  return Machine(data, size, source, limits).run();
}

}  // namespace nnuc::nn::pickle
