// nnuc errors and the check macros every layer uses.
//
// Library code reports failures by throwing an nnuc::Error (or a subclass); only tools/ turns
// them into messages and exit codes. The message names the thing at fault: the file, the field,
// the value and what was expected. Destructors never throw: they use the *_CHECK_PRINT variants.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nnuc {

// Base of every error nnuc throws. Carries where it was raised (file:line) beside the message.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line)
      : std::runtime_error(message), file_(file), line_(line) {}
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  const char* file_;
  int line_;
};

// A file could not be read or written, or its bytes are not what the format requires.
class IoError : public Error {
  using Error::Error;
};

// An argument or an input document violates a documented contract (shape, dtype, field value).
class InvalidInput : public Error {
  using Error::Error;
};

// A CUDA runtime or cuDNN call failed, or CUDA is not available where it was required.
class CudaError : public Error {
  using Error::Error;
};

// A broken invariant: nnuc's own code is wrong, whatever the input (NNUC_INTERNAL_ASSERT). Not an
// InvalidInput, so the nnuc command reports it as a bug (exit code 3), not as a usage error.
class InternalError : public Error {
  using Error::Error;
};

// Memory could not be had: an allocation failed even after the allocator released its cache and
// retried once (kernels/core/allocator.h). The message names the request and the allocator's state
// (CUDA: the memory pool's reserved, in-use and cached bytes, the device's free and total bytes).
// Callers that can do with less (a convolution algorithm with a smaller workspace) catch it.
class OutOfMemory : public Error {
 public:
  OutOfMemory(const std::string& message, const char* file, int line, std::size_t requested_bytes = 0)
      : Error(message, file, line), requested_bytes_(requested_bytes) {}
  std::size_t requested_bytes() const { return requested_bytes_; }

 private:
  std::size_t requested_bytes_;
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename First, typename... Rest>
void append_all(std::ostringstream& out, const First& first, const Rest&... rest) {
  out << first;
  append_all(out, rest...);
}
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  append_all(out, parts...);
  return out.str();
}
}  // namespace detail

}  // namespace nnuc

// NNUC_CHECK(cond, parts...): throws nnuc::InvalidInput with the parts concatenated when cond is false.
#define NNUC_CHECK(cond, ...)                                                                         \
  do {                                                                                                \
    if (!(cond)) throw ::nnuc::InvalidInput(::nnuc::detail::concat(__VA_ARGS__), __FILE__, __LINE__); \
  } while (0)

// NNUC_INTERNAL_ASSERT(cond, parts...): throws nnuc::InternalError when cond is false. For conditions that
// no input can break (the code's own invariants); conditions on arguments and inputs use NNUC_CHECK.
#define NNUC_INTERNAL_ASSERT(cond, ...)                                                                              \
  do {                                                                                                               \
    if (!(cond))                                                                                                     \
      throw ::nnuc::InternalError(::nnuc::detail::concat("broken invariant (", #cond, "): ", __VA_ARGS__), __FILE__, \
                                  __LINE__);                                                                         \
  } while (0)

// NNUC_THROW(Type, parts...): throws the given nnuc error type with the parts concatenated.
#define NNUC_THROW(Type, ...) throw Type(::nnuc::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

// NNUC_CHECK_PRINT(cond, parts...): for destructors and other no-throw paths; prints and goes on.
#define NNUC_CHECK_PRINT(cond, ...)                                                                    \
  do {                                                                                                 \
    if (!(cond)) ::nnuc::detail::print_error(__FILE__, __LINE__, ::nnuc::detail::concat(__VA_ARGS__)); \
  } while (0)

namespace nnuc::detail {
void print_error(const char* file, int line, const std::string& message) noexcept;
}
