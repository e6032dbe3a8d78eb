#include "data/evaluation/python_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include "data/dataset/atomic_file.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

using Json = nlohmann::ordered_json;

// Sentinels that stand for Python's non-finite tokens while nlohmann parses the text: strings that
// begin with a NUL character, which no document nnU-Net writes contains.
const std::string kNanSentinel = std::string(1, '\0') + "nnuc:NaN";
const std::string kInfinitySentinel = std::string(1, '\0') + "nnuc:Infinity";
const std::string kMinusInfinitySentinel = std::string(1, '\0') + "nnuc:-Infinity";

void dump_value(const Json& value, bool sort_keys, int indent, int depth, std::string& out) {
  const auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(indent * level), ' ');
  };
  switch (value.type()) {
    case Json::value_t::object: {
      if (value.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::string*> keys;
      for (auto it = value.begin(); it != value.end(); ++it) keys.push_back(&it.key());
      if (sort_keys) std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) { return *a < *b; });
      out += '{';
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) out += ',';
        newline(depth + 1);
        out += Json(*keys[i]).dump(-1, ' ', true, Json::error_handler_t::replace);
        out += ": ";
        dump_value(value.at(*keys[i]), sort_keys, indent, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    }
    case Json::value_t::array: {
      if (value.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ',';
        newline(depth + 1);
        dump_value(value[i], sort_keys, indent, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Json::value_t::number_float: out += python_float_repr(value.get<double>()); return;
    case Json::value_t::string: out += value.dump(-1, ' ', true, Json::error_handler_t::replace); return;
    default: out += value.dump(); return;  // null, bool, integers
  }
}

// Replaces NaN / Infinity / -Infinity outside strings by sentinel strings.
std::string replace_non_finite_tokens(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  const auto sentinel_literal = [](const std::string& sentinel) { return "\"\\u0000" + sentinel.substr(1) + "\""; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    const std::string_view rest(text.data() + i, text.size() - i);
    if (c == '"') {
      in_string = true;
      out += c;
    } else if (rest.substr(0, 3) == "NaN") {
      out += sentinel_literal(kNanSentinel);
      i += 2;
    } else if (rest.substr(0, 8) == "Infinity") {
      out += sentinel_literal(kInfinitySentinel);
      i += 7;
    } else if (rest.substr(0, 9) == "-Infinity") {
      out += sentinel_literal(kMinusInfinitySentinel);
      i += 8;
    } else {
      out += c;
    }
  }
  return out;
}

void restore_non_finite(Json& value) {
  if (value.is_structured()) {
    for (Json& child : value) restore_non_finite(child);
  } else if (value.is_string()) {
    // A copy: assigning a number to `value` frees the string.
    const std::string text = value.get_ref<const std::string&>();
    if (text.empty() || text[0] != '\0') return;
    if (text == kNanSentinel)
      value = std::numeric_limits<double>::quiet_NaN();
    else if (text == kInfinitySentinel)
      value = std::numeric_limits<double>::infinity();
    else if (text == kMinusInfinitySentinel)
      value = -std::numeric_limits<double>::infinity();
  }
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  // The shortest round-trip digits (closest to the value among the shortest), as Python's repr.
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  NNUC_INTERNAL_ASSERT(result.ec == std::errc(), "to_chars failed for a double");
  const std::string scientific(buffer, result.ptr);  // "-1.2345e+15"
  const std::size_t e = scientific.find('e');
  const bool negative = scientific[0] == '-';
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e; ++i)
    if (scientific[i] != '.') digits += scientific[i];
  const int exponent = std::stoi(scientific.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent <= 15) {  // Python: fixed when -4 < decimal point position <= 16
    const int point = exponent + 1;        // digits before the decimal point
    const int count = static_cast<int>(digits.size());
    if (point <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
    } else if (point < count) {
      out += digits.substr(0, static_cast<std::size_t>(point)) + "." + digits.substr(static_cast<std::size_t>(point));
    } else {
      out += digits + std::string(static_cast<std::size_t>(point - count), '0') + ".0";
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int magnitude = std::abs(exponent);
  out += exponent < 0 ? "e-" : "e+";
  if (magnitude < 10) out += '0';
  out += std::to_string(magnitude);
  return out;
}

std::string dump_python_json(const nlohmann::ordered_json& value, bool sort_keys, int indent) {
  NNUC_CHECK(indent >= 0, "dump_python_json: indent must be >= 0, got ", indent);
  std::string out;
  dump_value(value, sort_keys, indent, 0, out);
  return out;
}

nlohmann::ordered_json parse_python_json(const std::string& text, const std::string& source) {
  Json document;
  try {
    document = Json::parse(replace_non_finite_tokens(text));
  } catch (const Json::parse_error& error) {
    NNUC_THROW(InvalidInput, source, ": not valid JSON: ", error.what());
  }
  restore_non_finite(document);
  return document;
}

nlohmann::ordered_json read_python_json_file(const std::string& path) {
  return parse_python_json(read_file_text(path), path);
}

void write_python_json_file(const std::string& path, const nlohmann::ordered_json& value) {
  write_file_atomic(path, dump_python_json(value));
}

double json_number(const nlohmann::ordered_json& value, const std::string& what) {
  NNUC_CHECK(value.is_number(), what, " is ", value.dump(), "; expected a number");
  return value.get<double>();
}

}  // namespace nnuc::data
