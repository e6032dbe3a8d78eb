// The .npy header (npz.h): numpy's exact bytes when writing, a strict parser when reading.
#include <cctype>
#include <cstring>
#include <string>

#include "data/export/npz.h"
#include "kernels/core/error.h"

namespace nnuc::data {

namespace {

constexpr char kMagic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kArrayAlign = 64;        // numpy.lib.format.ARRAY_ALIGN
constexpr std::size_t kGrowthAxisDigits = 21;  // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS

const char* descr_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::f16: return "<f2";
    case DType::u8: return "|u1";
    case DType::i16: return "<i2";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::bf16: break;
  }
  NNUC_THROW(InvalidInput, "numpy has no dtype for ", dtype_name(dtype), " (write f32 instead)");
}

// The strict reader of numpy's header dict: {'key': value, ...} with string, True/False and
// tuple-of-integer values, as numpy's repr writes them.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& name) : text_(text), name_(name) {}

  NpyHeader parse() {
    NpyHeader header;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr" && !has_descr) {
        if (peek() == '[') fail("a structured dtype (descr is a list) is not supported");
        header.descr = string_literal();
        has_descr = true;
      } else if (key == "fortran_order" && !has_order) {
        header.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape" && !has_shape) {
        header.shape = tuple();
        has_shape = true;
      } else {
        fail("unexpected or repeated key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++at_;  // '}'
    while (at_ < text_.size()) {
      if (text_[at_] != ' ' && text_[at_] != '\n' && text_[at_] != '\t' && text_[at_] != '\r' && text_[at_] != '\0')
        fail("unexpected bytes after the dict");
      ++at_;
    }
    if (!has_descr || !has_order || !has_shape) fail("the dict needs the keys 'descr', 'fortran_order' and 'shape'");
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    NNUC_THROW(IoError, name_, ": .npy header ", what, " at character ", at_, " of \"", text_.substr(0, 200), "\"");
  }
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r'))
      ++at_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++at_;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a string");
    const std::size_t start = ++at_;
    while (at_ < text_.size() && text_[at_] != quote) {
      if (text_[at_] == '\\' || text_[at_] == '\n') fail("unsupported character in a string");
      ++at_;
    }
    if (at_ >= text_.size()) fail("unterminated string");
    return text_.substr(start, at_++ - start);
  }
  bool boolean() {
    if (text_.compare(at_, 4, "True") == 0) return at_ += 4, true;
    if (text_.compare(at_, 5, "False") == 0) return at_ += 5, false;
    fail("expected True or False");
  }
  std::vector<std::int64_t> tuple() {
    expect('(');
    std::vector<std::int64_t> values;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a non-negative integer in the shape");
      std::int64_t value = 0;
      int digits = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (++digits > 18) fail("shape value too large");
        value = value * 10 + (text_[at_++] - '0');
      }
      values.push_back(value);
      if (values.size() > 32) fail("more than 32 dimensions");
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      skip_space();
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++at_;
    return values;
  }

  const std::string& text_;
  const std::string& name_;
  std::size_t at_ = 0;
};

}  // namespace

std::string npy_header(DType dtype, const Shape& shape) {
  std::string shape_text = "(";
  for (int axis = 0; axis < shape.rank(); ++axis) shape_text += (axis ? ", " : "") + std::to_string(shape[axis]);
  if (shape.rank() == 1) shape_text += ",";
  shape_text += ")";
  std::string dict =
      std::string("{'descr': '") + descr_of(dtype) + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // numpy leaves room for the first axis to grow in place (np.lib.format._write_array_header).
  if (shape.rank() > 0) dict.append(kGrowthAxisDigits - std::to_string(shape[0]).size(), ' ');
  // Pad so that magic (6) + version (2) + length (2) + dict + '\n' is a multiple of 64.
  const std::size_t used = sizeof kMagic + 2 + 2 + dict.size() + 1;
  dict.append(kArrayAlign - used % kArrayAlign, ' ');
  dict += '\n';
  NNUC_INTERNAL_ASSERT(dict.size() < 65536, "a version 1.0 header holds at most 65535 bytes");
  std::string header(kMagic, sizeof kMagic);
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>((dict.size() >> 8) & 0xff);
  return header + dict;
}

NpyHeader parse_npy_header(const unsigned char* bytes, std::size_t size, const std::string& name) {
  if (size < 10 || std::memcmp(bytes, kMagic, sizeof kMagic) != 0)
    NNUC_THROW(IoError, name, ": not a .npy array (",
               size < 10 ? "shorter than the 10-byte preamble" : "wrong magic bytes", ")");
  NpyHeader header;
  header.major_version = bytes[6];
  std::size_t length = 0;
  if (bytes[6] == 1 && bytes[7] == 0) {
    length = bytes[8] | (static_cast<std::size_t>(bytes[9]) << 8);
    header.data_offset = 10 + length;
  } else if ((bytes[6] == 2 || bytes[6] == 3) && bytes[7] == 0) {
    if (size < 12) NNUC_THROW(IoError, name, ": .npy preamble truncated");
    length = bytes[8] | (static_cast<std::size_t>(bytes[9]) << 8) | (static_cast<std::size_t>(bytes[10]) << 16) |
             (static_cast<std::size_t>(bytes[11]) << 24);
    header.data_offset = 12 + length;
  } else {
    NNUC_THROW(IoError, name, ": .npy format version ", int{bytes[6]}, ".", int{bytes[7]},
               " is not supported (1.0, 2.0, 3.0)");
  }
  if (length > kNpyMaxHeaderBytes)
    NNUC_THROW(IoError, name, ": .npy header of ", length, " bytes is longer than the ", kNpyMaxHeaderBytes,
               " bytes numpy accepts");
  if (header.data_offset > size)
    NNUC_THROW(IoError, name, ": .npy header of ", length, " bytes runs past the ", size, " bytes available");
  const std::string text(reinterpret_cast<const char*>(bytes) + header.data_offset - length, length);
  const NpyHeader dict = DictParser(text, name).parse();
  header.descr = dict.descr;
  header.fortran_order = dict.fortran_order;
  header.shape = dict.shape;
  return header;
}

}  // namespace nnuc::data
