// The commands of `nnuc`: their handlers, the table entry that names them, the exit codes, and the
// one place where an exception becomes a message and an exit code.
//
// A new command is one file, tools/<name>.cpp, defining `int nnuc::tools::run_<name>(int argc, char** argv)`
// (declared below; it parses its options with tools/cli.h), and one line in the table in tools/nnuc.cpp.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include "kernels/core/error.h"

namespace nnuc::tools {

// Exit codes of every nnuc command (`nnuc help` and README.md list them).
enum ExitCode : int {
  kExitSuccess = 0,
  kExitFailure = 1,        // a runtime failure, or the command's check found problems (verify, plan)
  kExitUsageError = 2,     // bad arguments, or an input that violates a documented contract (InvalidInput)
  kExitInternalError = 3,  // a broken invariant: a bug in nnuc (InternalError, or a non-standard exception)
};

// A command's handler: gets the arguments after the command name, returns the exit code, throws
// nnuc errors (run_command turns them into exit codes).
using CommandHandler = int (*)(int argc, char** argv);

struct Command {
  const char* name;     // as typed: `nnuc <name>`
  const char* summary;  // one line for `nnuc help`
  CommandHandler run;
};

// The handlers, one per file tools/<command>.cpp.
int run_demo(int argc, char** argv);
int run_selfcheck(int argc, char** argv);
int run_verify(int argc, char** argv);
int run_synth(int argc, char** argv);
int run_convert_msd(int argc, char** argv);
int run_plan(int argc, char** argv);
int run_extract_fingerprint(int argc, char** argv);
int run_plan_experiment(int argc, char** argv);
int run_memory(int argc, char** argv);
int run_train(int argc, char** argv);
int run_predict(int argc, char** argv);
int run_evaluate(int argc, char** argv);
int run_determine_postprocessing(int argc, char** argv);
int run_postprocess(int argc, char** argv);
int run_plot_overlay(int argc, char** argv);
int run_convert_old_dataset(int argc, char** argv);

// The --verify step of the commands that write a raw dataset (synth, convert-msd, convert-old-dataset):
// verifies `dataset_folder`, prints the summary, writes the verification record; returns
// kExitSuccess when the dataset passed, else kExitFailure. Defined in tools/verify.cpp.
int verify_written_dataset(const std::string& dataset_folder);
int run_ensemble(int argc, char** argv);
int run_accumulate_crossval(int argc, char** argv);
int run_find_best(int argc, char** argv);
int run_export_model(int argc, char** argv);
int run_install_model(int argc, char** argv);
int run_preprocess(int argc, char** argv);
int run_move_plans(int argc, char** argv);

// Runs a command and turns what it throws into a message on stderr and an exit code: InvalidInput 2,
// InternalError (or anything that is not a std::exception) 3, any other exception 1. The message starts
// with "nnuc <command>:" (once: argument errors already name the command).
inline int run_command(const Command& command, int argc, char** argv) {
  const std::string prefix = std::string("nnuc ") + command.name + ":";
  const auto report = [&prefix](const std::string& message) {
    if (message.rfind(prefix, 0) == 0)
      std::fprintf(stderr, "%s\n", message.c_str());
    else
      std::fprintf(stderr, "%s %s\n", prefix.c_str(), message.c_str());
  };
  try {
    return command.run(argc, argv);
  } catch (const InternalError& error) {
    report(std::string("internal error at ") + error.file() + ":" + std::to_string(error.line()) + ": " + error.what() +
           " (this is a bug in nnuc; please report it with the command line)");
    return kExitInternalError;
  } catch (const InvalidInput& error) {
    report(error.what());
    return kExitUsageError;
  } catch (const std::exception& error) {
    report(error.what());
    return kExitFailure;
  } catch (...) {
    report("internal error: an exception that is not a std::exception (this is a bug in nnuc; please report it)");
    return kExitInternalError;
  }
}

}  // namespace nnuc::tools
