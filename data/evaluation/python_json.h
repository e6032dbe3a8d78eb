// JSON as nnU-Net writes it: Python's json.dump(obj, f, sort_keys=True, indent=4) through
// batchgenerators' save_json (summary.json, postprocessing.json). nlohmann's dump differs in three
// ways that matter for these files, so they are written here:
//   - NaN and +-inf are written as the bare tokens NaN, Infinity, -Infinity (Python's default,
//     allow_nan=True); nlohmann writes null. A Dice of a label absent from reference and prediction
//     is NaN, so summary.json holds them.
//   - Keys are sorted at every level (Python sorts str keys by code point; for UTF-8 that is byte
//     order, which std::string's comparison gives).
//   - Floats are Python's repr: the shortest digits that round-trip (nlohmann computes the same
//     digits with Grisu2), fixed notation for decimal exponents -4..15, else d.ddde+XX. nlohmann
//     switches to exponents one decade earlier (1e15); that decade is reformatted here.
// Strings are escaped as with ensure_ascii=True (\uXXXX, lowercase hex, surrogate pairs). No
// trailing newline, as json.dump.
//
// Reading: nlohmann's parser rejects NaN/Infinity, so parse_python_json accepts those tokens
// (outside strings) and stores them as double NaN / +-inf in the returned document.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace nnuc::data {

// Python's repr(float) of `value` ("0.5", "1.0", "1e-05", "NaN", "Infinity").
std::string python_float_repr(double value);

// json.dumps(value, sort_keys=sort_keys, indent=indent, ensure_ascii=True).
// requires: indent >= 0.
std::string dump_python_json(const nlohmann::ordered_json& value, bool sort_keys = true, int indent = 4);

// Parses JSON text that may hold Python's NaN, Infinity and -Infinity tokens; keeps key order.
// Throws InvalidInput naming `source` when the text is not JSON.
nlohmann::ordered_json parse_python_json(const std::string& text, const std::string& source);

// Reads `path` (IoError when unreadable) and parses it as above.
nlohmann::ordered_json read_python_json_file(const std::string& path);

// Writes dump_python_json(value) to `path` atomically (data/dataset/atomic_file.h).
void write_python_json_file(const std::string& path, const nlohmann::ordered_json& value);

// A number of a document read by parse_python_json as double (integers converted).
// Throws InvalidInput naming `what` when `value` is not a number.
double json_number(const nlohmann::ordered_json& value, const std::string& what);

}  // namespace nnuc::data
