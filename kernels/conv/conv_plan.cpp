#include "kernels/conv/conv_plan.h"

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <tuple>

#include "kernels/core/context.h"

namespace nnuc {

ConvPlanKey ConvPlanKey::make(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry, DType dtype,
                              std::size_t workspace_cap, bool deterministic) {
  ConvPlanKey key;
  key.pass = pass;
  key.dtype = dtype;
  for (int axis = 0; axis < 5; ++axis) {
    key.x[static_cast<std::size_t>(axis)] = x[axis];
    key.w[static_cast<std::size_t>(axis)] = w[axis];
  }
  for (std::size_t axis = 0; axis < 3; ++axis) {
    key.geometry[axis] = geometry.kernel[axis];
    key.geometry[3 + axis] = geometry.stride[axis];
    key.geometry[6 + axis] = geometry.padding[axis];
  }
  key.workspace_cap = workspace_cap;
  key.deterministic = deterministic;
  return key;
}

bool ConvPlanKey::operator<(const ConvPlanKey& other) const {
  return std::tie(pass, dtype, x, w, geometry, workspace_cap, deterministic) <
         std::tie(other.pass, other.dtype, other.x, other.w, other.geometry, other.workspace_cap, other.deterministic);
}

bool conv_candidate_allowed(const ConvCandidate& candidate, const ConvChoicePolicy& policy, std::size_t max_workspace) {
  return candidate.usable && (policy.allow_tensor_op || !candidate.tensor_op) &&
         (!policy.deterministic_only || candidate.deterministic) && candidate.workspace_bytes <= max_workspace;
}

std::optional<ConvPlan> choose_conv_plan(const std::vector<ConvCandidate>& candidates, const ConvChoicePolicy& policy) {
  for (const ConvCandidate& candidate : candidates)
    if (conv_candidate_allowed(candidate, policy, policy.workspace_cap))
      return ConvPlan{candidate.algorithm, candidate.math_type, candidate.workspace_bytes};
  return std::nullopt;
}

std::optional<ConvPlan> smallest_workspace_plan(const std::vector<ConvCandidate>& candidates,
                                                const ConvChoicePolicy& policy) {
  const ConvCandidate* smallest = nullptr;
  for (const ConvCandidate& candidate : candidates)
    if (conv_candidate_allowed(candidate, policy, SIZE_MAX) &&
        (smallest == nullptr || candidate.workspace_bytes < smallest->workspace_bytes))
      smallest = &candidate;
  if (smallest == nullptr) return std::nullopt;
  return ConvPlan{smallest->algorithm, smallest->math_type, smallest->workspace_bytes};
}

std::string describe_conv_candidates(const std::vector<ConvCandidate>& candidates) {
  if (candidates.empty()) return "cuDNN offered no algorithm";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const ConvCandidate& candidate = candidates[i];
    out << (i ? "; " : "") << "algorithm " << candidate.algorithm << " (" << (candidate.tensor_op ? "tensor-op" : "fma")
        << (candidate.deterministic ? ", deterministic" : "") << "): ";
    if (candidate.usable)
      out << "workspace " << static_cast<double>(candidate.workspace_bytes) / (1 << 20) << " MiB";
    else
      out << "not usable";
  }
  return out.str();
}

std::vector<ConvPlan> workspace_fallbacks(const std::vector<ConvCandidate>& candidates, const ConvChoicePolicy& policy,
                                          std::size_t failed_bytes) {
  std::vector<ConvPlan> plans;
  for (const ConvCandidate& candidate : candidates)
    if (candidate.workspace_bytes < failed_bytes && conv_candidate_allowed(candidate, policy, policy.workspace_cap))
      plans.push_back(ConvPlan{candidate.algorithm, candidate.math_type, candidate.workspace_bytes});
  std::stable_sort(plans.begin(), plans.end(),
                   [](const ConvPlan& a, const ConvPlan& b) { return a.workspace_bytes > b.workspace_bytes; });
  return plans;
}

std::optional<ConvPlan> ConvPlanCache::find(const ConvPlanKey& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = plans_.find(key);
  if (found == plans_.end()) return std::nullopt;
  return found->second;
}

void ConvPlanCache::insert(const ConvPlanKey& key, const ConvPlan& plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  plans_[key] = plan;
}

void ConvPlanCache::import_from(const ConvPlanCache& other) {
  if (&other == this) return;
  std::map<ConvPlanKey, ConvPlan> copied;
  {
    std::lock_guard<std::mutex> lock(other.mutex_);
    copied = other.plans_;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  plans_.insert(copied.begin(), copied.end());
}

std::size_t ConvPlanCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plans_.size();
}

void ConvPlanCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  plans_.clear();
  call_states_.clear();
}

std::shared_ptr<void> ConvPlanCache::call_state(const ConvPlanKey& key,
                                                const std::function<std::shared_ptr<void>()>& create) {
  ConvPlanKey shape_key = key;  // one state for every pass, cap and determinism of a shape
  shape_key.pass = ConvPass::forward;
  shape_key.workspace_cap = 0;
  shape_key.deterministic = false;
  std::lock_guard<std::mutex> lock(mutex_);
  std::shared_ptr<void>& state = call_states_[shape_key];
  if (!state) {
    try {
      state = create();
    } catch (...) {
      call_states_.erase(shape_key);
      throw;
    }
    NNUC_CHECK(state != nullptr, "ConvPlanCache::call_state: the backend made no state");
  }
  return state;
}

std::size_t ConvPlanCache::call_states() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return call_states_.size();
}

ConvPlanCache& Context::conv_plans() const {
  static std::mutex creation;  // a context may be shared by threads (Context::cpu() is)
  std::lock_guard<std::mutex> lock(creation);
  if (!conv_plans_) conv_plans_ = std::make_shared<ConvPlanCache>();
  return *conv_plans_;
}

}  // namespace nnuc
