// Option parsing for nnuc's commands: CLI11 (Debian's libcli11-dev), plus nnU-Net's one-dash long
// options and nnuc's exit codes in every --help.
//
//   CommandLine cli("verify", "nnuc verify (-i DIR | -d ID) [options]", "Checks a raw nnU-Net dataset ...");
//   cli.option("-i", folder, "the raw dataset folder")->type_name("DIR");
//   cli.option("-np", options.threads, "cases read in parallel")->check(in_range(1, 256));
//   cli.flag("-q,--quiet", quiet, "no progress output");
//   if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
//
// Names are CLI11's ("-i", "--json", "-q,--quiet"), plus nnU-Net's argparse spellings: one dash and
// several letters ("-np", "-pl", "-gpu_memory_target"). CLI11 would read "-np" as "-n p", so such a
// name is declared to CLI11 as "--np", the argument "-np" is rewritten to "--np" before parsing, and
// --help prints it with one dash, as nnU-Net's scripts write it. Any other word with one dash and
// several letters is refused as an unknown option (never split into one-letter options).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <set>
#include <string>

namespace nnuc::tools {

// What CommandLine::parse found: run the command, or --help was asked for (and printed).
enum class Parsed { run, help_shown };

// nnU-Net's one-dash names of a command: "np" for "-np".
struct OneDashNames {
  std::set<std::string> accepted;        // every name accepted with one dash
  std::set<std::string> two_dashes_too;  // those also declared with two dashes ("--device,-device")
};

class CommandLine {
 public:
  // command: as typed after `nnuc`; usage: the synopsis line(s) of --help; description: what it does.
  CommandLine(const std::string& command, const std::string& usage, const std::string& description);

  // An option taking a value (or several: a std::vector), stored in `value` when given.
  template <typename T>
  CLI::Option* option(const std::string& names, T& value, const std::string& help) {
    return app_.add_option(declare(names), value, help);
  }
  // A flag without a value: `value` becomes true when given.
  CLI::Option* flag(const std::string& names, bool& value, const std::string& help) {
    return app_.add_flag(declare(names), value, help);
  }
  // What exit codes 0 and 1 mean for this command (codes 2 and 3 are the same for every command).
  void exit_codes(const std::string& success, const std::string& failure);

  // Parses the arguments after the command name into the declared values. Prints the help and returns
  // help_shown for -h/--help; throws InvalidInput (exit code 2) naming the command and the option for
  // anything it cannot parse.
  Parsed parse(int argc, char** argv);

  CLI::App& app() { return app_; }

 private:
  std::string declare(const std::string& names);

  std::string command_;
  CLI::App app_;
  std::shared_ptr<OneDashNames> one_dash_names_;
  std::string success_ = "success", failure_ = "runtime failure";
};

// A check that a number lies in [low, high]; the error message names the bounds, --help does not.
template <typename T>
CLI::Validator in_range(T low, T high) {
  CLI::Validator range = CLI::Range(low, high);
  range.description("");
  return range;
}

// The exit-code lines that every --help and `nnuc help` end with.
std::string exit_code_help(const std::string& success, const std::string& failure);

}  // namespace nnuc::tools
