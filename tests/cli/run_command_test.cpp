// run_command (tools/commands.h): what a command throws becomes one message on stderr, starting with
// "nnuc <command>:", and the documented exit code: InvalidInput 2, InternalError (a broken invariant)
// 3, other exceptions 1. tests/cli/nnuc_cli_test.sh checks the same codes through the real binary
// for the errors it can provoke from the command line; a broken invariant it cannot, so it is here.
#include <gtest/gtest.h>

#include <new>
#include <stdexcept>
#include <string>

#include "kernels/core/error.h"
#include "tools/commands.h"

namespace nnuc::tools {
namespace {

struct Outcome {
  int code;
  std::string stderr_text;
};

Outcome run(CommandHandler handler) {
  const Command command{"probe", "a command for this test", handler};
  char argument[] = "--anything";
  char* arguments[] = {argument};
  ::testing::internal::CaptureStderr();
  const int code = run_command(command, 1, arguments);
  return {code, ::testing::internal::GetCapturedStderr()};
}

int broken_invariant(int, char**) {
  const int stages = 3, strides = 2;
  NNUC_INTERNAL_ASSERT(stages == strides, "stages ", stages, " but strides ", strides);
  return kExitSuccess;
}

TEST(RunCommand, HandlerExitCodePassesThrough) {
  EXPECT_EQ(run([](int, char**) -> int { return kExitSuccess; }).code, 0);
  EXPECT_EQ(run([](int, char**) -> int { return kExitFailure; }).code, 1);
  // The arguments after the command name reach the handler.
  EXPECT_EQ(run([](int argc, char** argv) { return argc == 1 && std::string(argv[0]) == "--anything" ? 0 : 1; }).code,
            0);
}

TEST(RunCommand, InvalidInputIsAUsageError) {
  const Outcome outcome = run([](int, char**) -> int { NNUC_THROW(InvalidInput, "--patch = '64': expected D,H,W"); });
  EXPECT_EQ(outcome.code, kExitUsageError);
  EXPECT_EQ(outcome.stderr_text, "nnuc probe: --patch = '64': expected D,H,W\n");
  // A message that already names the command is not prefixed twice.
  const Outcome named = run([](int, char**) -> int { NNUC_CHECK(false, "nnuc probe: unknown option '--x'"); });
  EXPECT_EQ(named.code, 2);
  EXPECT_EQ(named.stderr_text, "nnuc probe: unknown option '--x'\n");
}

TEST(RunCommand, BrokenInvariantIsAnInternalErrorNotAUsageError) {
  const Outcome outcome = run(broken_invariant);
  EXPECT_EQ(outcome.code, kExitInternalError);
  EXPECT_EQ(outcome.code, 3);
  EXPECT_NE(outcome.stderr_text.find("nnuc probe: internal error at "), std::string::npos) << outcome.stderr_text;
  EXPECT_NE(outcome.stderr_text.find("run_command_test.cpp:"), std::string::npos) << outcome.stderr_text;
  EXPECT_NE(outcome.stderr_text.find("stages == strides"), std::string::npos) << outcome.stderr_text;
  EXPECT_NE(outcome.stderr_text.find("stages 3 but strides 2"), std::string::npos) << outcome.stderr_text;
  EXPECT_NE(outcome.stderr_text.find("bug in nnuc"), std::string::npos) << outcome.stderr_text;
  // The types stay apart: a handler catching InvalidInput does not swallow a broken invariant.
  EXPECT_THROW(broken_invariant(0, nullptr), InternalError);
  bool caught_as_invalid_input = false;
  try {
    broken_invariant(0, nullptr);
  } catch (const InvalidInput&) {
    caught_as_invalid_input = true;
  } catch (const Error&) {
  }
  EXPECT_FALSE(caught_as_invalid_input);
}

TEST(RunCommand, OtherExceptionsAreRuntimeFailures) {
  EXPECT_EQ(run([](int, char**) -> int { NNUC_THROW(IoError, "case_001.nii.gz: truncated"); }).code, kExitFailure);
  EXPECT_EQ(run([](int, char**) -> int { throw std::runtime_error("disk full"); }).code, 1);
  EXPECT_EQ(run([](int, char**) -> int { throw std::bad_alloc(); }).code, 1);
  const Outcome strange = run([](int, char**) -> int { throw 42; });
  EXPECT_EQ(strange.code, kExitInternalError);
  EXPECT_NE(strange.stderr_text.find("nnuc probe: internal error"), std::string::npos) << strange.stderr_text;
}

}  // namespace
}  // namespace nnuc::tools
