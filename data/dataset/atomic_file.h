// Atomic file writes: temp file in the target's folder, flushed, then renamed over the target.
// A crash never leaves a half-written file under the final name.
#pragma once

#include <string>

namespace nnuc::data {

// Writes `bytes` to `path` atomically. Throws IoError naming the path on any failure (the temp file
// is removed).
void write_file_atomic(const std::string& path, const std::string& bytes);

// A unique temp name beside `path` that keeps its file ending, so writers that pick compression from
// the name (".nii.gz") behave the same: "<folder>/.tmp-<pid>-<counter>-<name>".
std::string temp_path_beside(const std::string& path);

// Renames `from` to `to` (same folder), replacing `to`; throws IoError with both paths on failure.
void rename_replacing(const std::string& from, const std::string& to);

// Reads a whole file; throws IoError naming the path when it cannot be read.
std::string read_file_text(const std::string& path);

}  // namespace nnuc::data
