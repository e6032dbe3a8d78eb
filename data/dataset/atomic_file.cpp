#include "data/dataset/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/core/error.h"

namespace nnuc::data {

namespace fs = std::filesystem;

namespace {

std::string temp_path_beside(const std::string& path) {
  static std::atomic<unsigned long long> counter{0};
  const fs::path target(path);
  const std::string name = ".tmp-" + std::to_string(static_cast<long long>(::getpid())) + "-" +
                           std::to_string(counter.fetch_add(1)) + "-" + target.filename().string();
  return (target.parent_path() / name).string();
}

// The temp file of one write: removed (and its descriptor closed) unless the write was committed.
struct TempFile {
  std::string path;
  int fd = -1;
  bool committed = false;
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed) ::unlink(path.c_str());
  }
};

}  // namespace

void write_all(int fd, const void* bytes, std::size_t count, const std::string& name) {
  const auto* at = static_cast<const char*>(bytes);
  while (count > 0) {
    const ssize_t done = ::write(fd, at, std::min<std::size_t>(count, std::size_t{1} << 30));
    if (done < 0) {
      if (errno == EINTR) continue;
      NNUC_THROW(IoError, "cannot write '", name, "': ", std::strerror(errno));
    }
    at += done;
    count -= static_cast<std::size_t>(done);
  }
}

void write_file_atomic(const std::string& path, const std::function<void(int fd, const std::string& temp)>& fill,
                       const std::function<void(const std::string& temp)>& verify) {
  TempFile temp;
  temp.path = temp_path_beside(path);
  temp.fd = ::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (temp.fd < 0) {
    temp.committed = true;  // nothing was created, nothing to remove
    NNUC_THROW(IoError, "cannot create '", temp.path, "' (for '", path, "'): ", std::strerror(errno));
  }
  fill(temp.fd, temp.path);
  if (::fsync(temp.fd) != 0)
    NNUC_THROW(IoError, "cannot flush '", temp.path, "' (for '", path, "'): ", std::strerror(errno));
  const int fd = temp.fd;
  temp.fd = -1;
  if (::close(fd) != 0)
    NNUC_THROW(IoError, "cannot close '", temp.path, "' (for '", path, "'): ", std::strerror(errno));
  if (verify) verify(temp.path);
  std::error_code error;
  fs::rename(temp.path, path, error);
  if (error) NNUC_THROW(IoError, "cannot rename '", temp.path, "' to '", path, "': ", error.message());
  temp.committed = true;
  // Make the rename itself durable.
  const fs::path folder = fs::path(path).parent_path();
  const int folder_fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd < 0 || ::fsync(folder_fd) != 0) {
    const int failure = errno;
    if (folder_fd >= 0) ::close(folder_fd);
    NNUC_THROW(IoError, "wrote '", path, "', but syncing its folder failed: ", std::strerror(failure));
  }
  ::close(folder_fd);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, [&](int fd, const std::string&) { write_all(fd, bytes.data(), bytes.size(), path); });
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) NNUC_THROW(IoError, "cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) NNUC_THROW(IoError, "cannot read '", path, "'");
  return buffer.str();
}

nlohmann::ordered_json read_json_file(const std::string& path) {
  const std::string text = read_file_text(path);
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    NNUC_THROW(InvalidInput, path, ": not valid JSON (", e.what(), ")");
  }
}

}  // namespace nnuc::data
