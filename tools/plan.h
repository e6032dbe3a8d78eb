// `nnuc plan`: nnU-Net's plan_and_preprocess (tools/plan.cpp). Returns the exit code: 0 planned,
// 1 dataset refused by verification or a runtime failure, 2 usage error (thrown as InvalidInput).
#pragma once

namespace nnuc::tools {

int run_plan(int argc, char** argv);

}  // namespace nnuc::tools
