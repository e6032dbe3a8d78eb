// Coverage registry: each GPU test file names the ops whose CUDA implementation it compares with
// the CPU (NNUC_COVER_CUDA). tests/kernels/coverage_gpu_test.cpp fails when an op listed in
// kernels/op_list.h has no such test (whether or not a GPU is present).
#pragma once

#include <set>
#include <string>

namespace nnuc::testing {
bool register_cuda_cover(const char* op_name);
const std::set<std::string>& cuda_covered_ops();
}  // namespace nnuc::testing

#define NNUC_COVER_CONCAT_INNER(a, b) a##b
#define NNUC_COVER_CONCAT(a, b) NNUC_COVER_CONCAT_INNER(a, b)
#define NNUC_COVER_CUDA(op_name)                                                \
  [[maybe_unused]] static const bool NNUC_COVER_CONCAT(nnuc_cover_, __LINE__) = \
      ::nnuc::testing::register_cuda_cover(op_name)

// The same for gradchecks of the differentiable ops (autograd/ops.h kDifferentiableOps).
namespace nnuc::testing {
bool register_gradcheck_cover(const char* op_name);
const std::set<std::string>& gradcheck_covered_ops();
}  // namespace nnuc::testing
#define NNUC_COVER_GRADCHECK(op_name)                                                     \
  [[maybe_unused]] static const bool NNUC_COVER_CONCAT(nnuc_gradcheck_cover_, __LINE__) = \
      ::nnuc::testing::register_gradcheck_cover(op_name)
