// `nnuc memory`: predicted peak memory of one training step, with its breakdown.
#pragma once

namespace nnuc::tools {

// Arguments after the command name; returns the exit code (usage errors throw InvalidInput).
int run_memory(int argc, char** argv);

}  // namespace nnuc::tools
