// ConvPlanCache: the cuDNN algorithm chosen for each convolution pass, shape, dtype and workspace cap,
// with the workspace it needs. One cache per Context (Context::conv_plans(), created on first use).
//
// A CUDA context fills it on the first call of each pass and shape (cudnnFind*Ex timing each
// algorithm that fits the cap, or cuDNN's heuristics when `benchmark` is off). A Meta context that
// models CUDA reads it to report the exact workspace of a cached shape (conv_workspace_bytes); copy a
// CUDA context's plans into it with import_from().
//
// The choice among cuDNN's candidates is a pure function (choose_conv_plan) of the candidates and a
// policy: the workspace cap, whether tensor-op math is allowed (not for f32, which is FMA-only) and
// whether only deterministic algorithms may run (Context::deterministic()). When the chosen
// algorithm's workspace cannot be allocated (OutOfMemory), acquire_conv_workspace falls back to the
// candidates with smaller workspaces, largest first (workspace_fallbacks). When no candidate fits the
// cap at all, the one with the smallest workspace runs beyond it (smallest_workspace_plan).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/core/dtype.h"
#include "kernels/core/error.h"
#include "kernels/core/shape.h"

namespace nnuc {

// What identifies one cuDNN convolution call: the pass, the conv input x (N, D, H, W, Ci), the
// weight (Co, kD, kH, kW, Ci), geometry, dtype, the cap the algorithm was chosen under and whether
// only deterministic algorithms were allowed. Transposed convolutions are keyed as the convolution
// they invert (forward = backward_data etc.); a split convolution (conv_chunk.h) as its pieces.
struct ConvPlanKey {
  ConvPass pass = ConvPass::forward;
  DType dtype = DType::f32;
  std::array<std::int64_t, 5> x{};
  std::array<std::int64_t, 5> w{};
  std::array<int, 9> geometry{};  // kernel, stride, padding
  std::size_t workspace_cap = 0;
  bool deterministic = false;

  static ConvPlanKey make(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry, DType dtype,
                          std::size_t workspace_cap, bool deterministic = false);
  bool operator<(const ConvPlanKey& other) const;
};

// The chosen algorithm (a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t value) and math type
// (cudnnMathType_t), and the workspace bytes it needs (<= the key's cap).
struct ConvPlan {
  int algorithm = 0;
  int math_type = 0;
  std::size_t workspace_bytes = 0;
};

// One algorithm cuDNN offers for a call, as nnuc judges it.
struct ConvCandidate {
  int algorithm = 0;
  int math_type = 0;           // the cudnnMathType_t it would run with
  bool usable = false;         // cuDNN reported success for it and its workspace could be queried
  bool tensor_op = false;      // it runs on tensor cores (TF32 for f32 data)
  bool deterministic = false;  // cuDNN reports it CUDNN_DETERMINISTIC
  std::size_t workspace_bytes = 0;
};

struct ConvChoicePolicy {
  std::size_t workspace_cap = 0;
  bool allow_tensor_op = true;  // false for f32 (reference mode: FMA math only)
  bool deterministic_only = false;
};

// Whether `candidate` may run under `policy` with a workspace of at most `max_workspace` bytes.
bool conv_candidate_allowed(const ConvCandidate& candidate, const ConvChoicePolicy& policy, std::size_t max_workspace);

// The first allowed candidate in the given order (cuDNN's heuristic or timing order); nullopt if none.
std::optional<ConvPlan> choose_conv_plan(const std::vector<ConvCandidate>& candidates, const ConvChoicePolicy& policy);

// When no candidate fits the cap: the allowed candidate with the smallest workspace, the cap ignored
// (ties in the given order); nullopt when none is usable at all. cuDNN's FMA-only (f32) algorithms for
// large channels-last 3-D calls may all need more than the cap; a run beyond the cap is better than
// none, and its allocation still goes through acquire_conv_workspace.
std::optional<ConvPlan> smallest_workspace_plan(const std::vector<ConvCandidate>& candidates,
                                                const ConvChoicePolicy& policy);

// The candidates as one line each ("algorithm 1 (fma, deterministic): workspace 1.5 MiB, usable"),
// for the error that says why no algorithm could run.
std::string describe_conv_candidates(const std::vector<ConvCandidate>& candidates);

// After a workspace of `failed_bytes` could not be allocated: the allowed candidates whose workspace is
// smaller, largest workspace first (ties in the given order).
std::vector<ConvPlan> workspace_fallbacks(const std::vector<ConvCandidate>& candidates, const ConvChoicePolicy& policy,
                                          std::size_t failed_bytes);

// Allocates the workspace of `plan` with allocate(bytes). When that throws OutOfMemory, tries the plans
// fallbacks(bytes) lists, in order, and switches `plan` to the first whose workspace could be had;
// rethrows the first OutOfMemory when none could.
template <typename Allocate, typename Fallbacks>
auto acquire_conv_workspace(ConvPlan& plan, Allocate allocate, Fallbacks fallbacks)
    -> decltype(allocate(std::size_t{})) {
  try {
    return allocate(plan.workspace_bytes);
  } catch (const OutOfMemory&) {
    for (const ConvPlan& fallback : fallbacks(plan.workspace_bytes)) {
      try {
        auto workspace = allocate(fallback.workspace_bytes);
        plan = fallback;
        return workspace;
      } catch (const OutOfMemory&) {
      }
    }
    throw;
  }
}

struct ConvPlanCache {
  // True: time the candidate algorithms once per key (cudnnFind*Ex, like cudnn.benchmark) and keep the
  // fastest. False: take cuDNN's first heuristic choice that fits the cap (no timing runs).
  bool benchmark = true;

  std::optional<ConvPlan> find(const ConvPlanKey& key) const;
  void insert(const ConvPlanKey& key, const ConvPlan& plan);
  // Adds every plan of `other` (entries already here are kept).
  void import_from(const ConvPlanCache& other);
  std::size_t size() const;
  // Drops the plans and the call states.
  void clear();

  // The backend's state for one call shape, shared by its passes (CUDA: cuDNN's tensor, filter and
  // convolution descriptors), so that it is described once instead of on every pass. Made by
  // `create` on the first request for the key's dtype, x, w and geometry (pass, cap and determinism
  // are not part of it) and destroyed by its own deleter when the last owner (the cache, or a caller
  // still using it after clear()) lets go. Not copied by import_from: a Meta context needs none.
  std::shared_ptr<void> call_state(const ConvPlanKey& key, const std::function<std::shared_ptr<void>()>& create);
  std::size_t call_states() const;

 private:
  mutable std::mutex mutex_;
  std::map<ConvPlanKey, ConvPlan> plans_;
  std::map<ConvPlanKey, std::shared_ptr<void>> call_states_;
};

}  // namespace nnuc
