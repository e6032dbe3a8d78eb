// NVTX ranges around op launches and pipeline phases, so that an Nsight Systems timeline shows the
// structure of a step. NVTX 3 is header-only: with no profiler attached a range costs one branch.
#pragma once

#ifdef NNUC_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace nnuc {

class NvtxRange {
 public:
#ifdef NNUC_WITH_CUDA
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
#else
  explicit NvtxRange(const char*) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace nnuc

#define NNUC_NVTX_CONCAT_INNER(a, b) a##b
#define NNUC_NVTX_CONCAT(a, b) NNUC_NVTX_CONCAT_INNER(a, b)
// NNUC_RANGE("conv_forward"): a named range until the end of the enclosing scope.
#define NNUC_RANGE(name) ::nnuc::NvtxRange NNUC_NVTX_CONCAT(nnuc_range_, __LINE__)(name)
