// Every kernel op in kernels/op_list.h has a GPU test comparing its CUDA result with the CPU. This
// test reads the registry the GPU test files fill at static initialization, so it runs (and fails)
// whether or not a GPU is present.
#include <string>

#include "kernels/op_list.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

TEST(CudaCoverage, EveryKernelOpHasAGpuTest) {
  const std::set<std::string>& covered = testing::cuda_covered_ops();
  for (std::string_view op : kKernelOps)
    EXPECT_TRUE(covered.count(std::string(op))) << "kernel op '" << op << "' has no CUDA-vs-CPU test";
  for (const std::string& op : covered) {
    bool listed = false;
    for (std::string_view known : kKernelOps) listed = listed || known == op;
    EXPECT_TRUE(listed) << "a GPU test covers '" << op << "', which kernels/op_list.h does not list";
  }
}

}  // namespace
}  // namespace nnuc
