#include "data/dataset/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/core/error.h"

namespace nnuc::data {

namespace fs = std::filesystem;

std::string temp_path_beside(const std::string& path) {
  static std::atomic<unsigned long long> counter{0};
  const fs::path target(path);
  const std::string name = ".tmp-" + std::to_string(static_cast<long long>(::getpid())) + "-" +
                           std::to_string(counter.fetch_add(1)) + "-" + target.filename().string();
  return (target.parent_path() / name).string();
}

void rename_replacing(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::rename(from, to, error);
  if (error) {
    NNUC_THROW(IoError, "cannot rename '", from, "' to '", to, "': ", error.message());
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string temp = temp_path_beside(path);
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) NNUC_THROW(IoError, "cannot create '", temp, "' (for '", path, "'): ", std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  const bool flushed = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const bool closed = std::fclose(file) == 0;
  if (!written || !flushed || !closed) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    NNUC_THROW(IoError, "cannot write '", path, "': ", reason);
  }
  try {
    rename_replacing(temp, path);
  } catch (...) {
    std::remove(temp.c_str());
    throw;
  }
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) NNUC_THROW(IoError, "cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) NNUC_THROW(IoError, "cannot read '", path, "'");
  return buffer.str();
}

}  // namespace nnuc::data
