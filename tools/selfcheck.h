// `nnuc selfcheck` (and, until the pipeline lands, `nnuc demo`): runs every kernel on fresh random
// inputs on the CPU against a double-precision reference, and on CUDA against the CPU when a
// device is present; prints one line per kernel and a verdict.
#pragma once

namespace nnuc::tools {
int run_selfcheck(int argc, char** argv);
}
