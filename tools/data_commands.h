// Raw-dataset subcommands of `nnuc`: verify, synth, convert-msd. Each takes the arguments after the
// command name and returns the exit code: 0 success, 1 problems found or a runtime failure, 2 usage
// error (thrown as InvalidInput, which nnuc.cpp turns into exit code 2).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/core/error.h"

namespace nnuc::tools {

int run_verify(int argc, char** argv);
int run_synth(int argc, char** argv);
int run_convert_msd(int argc, char** argv);

// Walks the argument list of one subcommand; every accessor throws InvalidInput naming the option.
class ArgCursor {
 public:
  ArgCursor(const char* command, int argc, char** argv) : command_(command), args_(argv, argv + argc) {}

  bool done() const { return index_ >= args_.size(); }
  const std::string& next() { return args_[index_++]; }

  std::string value(const std::string& option) {
    NNUC_CHECK(!done(), "nnuc ", command_, ": option ", option, " needs a value (see nnuc ", command_, " --help)");
    return next();
  }
  long long integer(const std::string& option, long long low, long long high) {
    const std::string text = value(option);
    char* end = nullptr;
    const long long parsed = std::strtoll(text.c_str(), &end, 10);
    NNUC_CHECK(!text.empty() && end != nullptr && *end == '\0' && parsed >= low && parsed <= high, "nnuc ", command_,
               ": ", option, " = '", text, "': expected an integer in [", low, ", ", high, "]");
    return parsed;
  }
  double real(const std::string& option, double low, double high) {
    const std::string text = value(option);
    char* end = nullptr;
    const double parsed = std::strtod(text.c_str(), &end);
    NNUC_CHECK(!text.empty() && end != nullptr && *end == '\0' && parsed >= low && parsed <= high, "nnuc ", command_,
               ": ", option, " = '", text, "': expected a number in [", low, ", ", high, "]");
    return parsed;
  }
  [[noreturn]] void unknown(const std::string& option) const {
    NNUC_THROW(InvalidInput, "nnuc ", command_, ": unknown option '", option, "' (see nnuc ", command_, " --help)");
  }

 private:
  const char* command_;
  std::vector<std::string> args_;
  std::size_t index_ = 0;
};

}  // namespace nnuc::tools
