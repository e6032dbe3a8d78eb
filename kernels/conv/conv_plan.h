// ConvPlanCache: the cuDNN algorithm chosen for each convolution pass, shape, dtype and workspace cap,
// with the workspace it needs. One cache per Context (Context::conv_plans(), created on first use).
//
// A CUDA context fills it on the first call of each pass and shape (cudnnFind*Ex timing each
// algorithm that fits the cap, or cuDNN's heuristics when `benchmark` is off). A Meta context that
// models CUDA reads it to report the exact workspace of a cached shape (conv_workspace_bytes); copy a
// CUDA context's plans into it with import_from().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "kernels/conv/conv.h"
#include "kernels/core/dtype.h"
#include "kernels/core/shape.h"

namespace nnuc {

// What identifies one cuDNN convolution call: the pass, the conv input x (N, D, H, W, Ci), the
// weight (Co, kD, kH, kW, Ci), geometry, dtype, and the cap the algorithm was chosen under.
// Transposed convolutions are keyed as the convolution they invert (forward = backward_data etc.).
struct ConvPlanKey {
  ConvPass pass = ConvPass::forward;
  DType dtype = DType::f32;
  std::array<std::int64_t, 5> x{};
  std::array<std::int64_t, 5> w{};
  std::array<int, 9> geometry{};  // kernel, stride, padding
  std::size_t workspace_cap = 0;

  static ConvPlanKey make(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry, DType dtype,
                          std::size_t workspace_cap);
  bool operator<(const ConvPlanKey& other) const;
};

// The chosen algorithm (a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t value) and math type
// (cudnnMathType_t), and the workspace bytes it needs (<= the key's cap).
struct ConvPlan {
  int algorithm = 0;
  int math_type = 0;
  std::size_t workspace_bytes = 0;
};

struct ConvPlanCache {
  // True: time the candidate algorithms once per key (cudnnFind*Ex, like cudnn.benchmark) and keep the
  // fastest. False: take cuDNN's first heuristic choice that fits the cap (no timing runs).
  bool benchmark = true;

  std::optional<ConvPlan> find(const ConvPlanKey& key) const;
  void insert(const ConvPlanKey& key, const ConvPlan& plan);
  // Adds every plan of `other` (entries already here are kept).
  void import_from(const ConvPlanCache& other);
  std::size_t size() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::map<ConvPlanKey, ConvPlan> plans_;
};

}  // namespace nnuc
