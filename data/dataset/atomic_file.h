// File IO of nnuc's writers and readers. Every file nnuc writes (dataset.json, fingerprints, plans,
// preprocessed cases, NIfTI images and labels, checkpoints, verification records) goes through
// write_file_atomic: the bytes go to a uniquely named temp file in the target's folder
// ("<folder>/.tmp-<pid>-<counter>-<name>", keeping the file ending, so a reader that picks compression
// from the name reads it as the target), which is fsynced, renamed over the target, and the folder is fsynced so the
// rename itself survives a crash. A crash or a failure never leaves a half-written file under the final name.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace nnuc::data {

// Writes the file at `path` atomically. `fill(fd, temp_path)` writes the whole content to the open
// descriptor of the temp file (it may throw its own errors); then the temp file is fsynced and closed,
// `verify(temp_path)` runs when given (it may re-read the file and throw), the temp file is renamed
// over `path` and the folder is fsynced.
// ensures: on any failure, including a throw from `fill` or `verify`, the temp file is removed and
//   `path` is left as it was; failures of the steps above are IoError naming `path`.
void write_file_atomic(const std::string& path, const std::function<void(int fd, const std::string& temp)>& fill,
                       const std::function<void(const std::string& temp)>& verify = {});
// The same for content held in memory.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Writes all `count` bytes to `fd` (retrying short and interrupted writes); IoError naming `name`.
void write_all(int fd, const void* bytes, std::size_t count, const std::string& name);

// Reads a whole file; throws IoError naming the path when it cannot be read.
std::string read_file_text(const std::string& path);
// Reads a JSON document, keeping its key order: IoError when unreadable, InvalidInput naming the file
// when it is not JSON.
nlohmann::ordered_json read_json_file(const std::string& path);

}  // namespace nnuc::data
