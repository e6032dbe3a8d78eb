// The choice among cuDNN's convolution algorithms (kernels/conv/conv_plan.h), as pure functions of the
// candidates: the cap, the f32 no-tensor-op rule, deterministic mode, the fallbacks by workspace size
// after an OutOfMemory, and the plan cache keyed by determinism.
#include "kernels/conv/conv_plan.h"

#include <memory>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace nnuc {
namespace {

ConvCandidate candidate(int algorithm, std::size_t workspace, bool deterministic, bool tensor_op = false,
                        bool usable = true) {
  ConvCandidate c;
  c.algorithm = algorithm;
  c.math_type = tensor_op ? 1 : 0;
  c.usable = usable;
  c.tensor_op = tensor_op;
  c.deterministic = deterministic;
  c.workspace_bytes = workspace;
  return c;
}

// cuDNN's order (fastest first): a non-deterministic tensor-op algorithm with a large workspace, an
// unusable one, a deterministic one with a medium workspace, a deterministic one needing none.
const std::vector<ConvCandidate> kCandidates = {candidate(5, 1000, false, true), candidate(7, 10, true, false, false),
                                                candidate(1, 400, true), candidate(3, 700, false),
                                                candidate(0, 0, true)};

std::vector<int> algorithms(const std::vector<ConvPlan>& plans) {
  std::vector<int> out;
  for (const ConvPlan& plan : plans) out.push_back(plan.algorithm);
  return out;
}

TEST(ConvPlanChoice, FirstAllowedCandidateInCudnnOrder) {
  ConvChoicePolicy bf16{1 << 20, true, false};
  EXPECT_EQ(choose_conv_plan(kCandidates, bf16)->algorithm, 5);
  EXPECT_EQ(choose_conv_plan(kCandidates, bf16)->workspace_bytes, 1000u);
  ConvChoicePolicy f32{1 << 20, false, false};  // no tensor ops (TF32) in reference mode
  EXPECT_EQ(choose_conv_plan(kCandidates, f32)->algorithm, 1);
  ConvChoicePolicy small_cap{500, true, false};
  EXPECT_EQ(choose_conv_plan(kCandidates, small_cap)->algorithm, 1);
  ConvChoicePolicy no_workspace{0, true, false};
  EXPECT_EQ(choose_conv_plan(kCandidates, no_workspace)->algorithm, 0);
  EXPECT_FALSE(choose_conv_plan({candidate(5, 1000, false)}, no_workspace).has_value());
}

// Nothing within the cap (as f32's FMA-only algorithms for a large channels-last 3-D call): the allowed
// candidate with the smallest workspace runs beyond it; tensor-op, unusable and (in deterministic mode)
// non-deterministic candidates stay out; with nothing usable the description says why.
TEST(ConvPlanChoice, BeyondTheCapTheSmallestAllowedWorkspace) {
  const std::vector<ConvCandidate> over_cap = {candidate(5, 100, false, true), candidate(2, 9000, false),
                                               candidate(1, 3000, true), candidate(7, 50, true, false, false),
                                               candidate(4, 3000, false)};
  ConvChoicePolicy f32{1000, false, false};
  EXPECT_FALSE(choose_conv_plan(over_cap, f32).has_value());
  ASSERT_TRUE(smallest_workspace_plan(over_cap, f32).has_value());
  EXPECT_EQ(smallest_workspace_plan(over_cap, f32)->algorithm, 1);  // the first of the two 3000-byte ones
  EXPECT_EQ(smallest_workspace_plan(over_cap, f32)->workspace_bytes, 3000u);
  ConvChoicePolicy bf16{10, true, false};
  EXPECT_EQ(smallest_workspace_plan(over_cap, bf16)->algorithm, 5);
  ConvChoicePolicy deterministic{10, false, true};
  EXPECT_EQ(smallest_workspace_plan(over_cap, deterministic)->algorithm, 1);
  const std::vector<ConvCandidate> none_usable = {candidate(5, 100, false, true), candidate(7, 0, true, false, false)};
  EXPECT_FALSE(smallest_workspace_plan(none_usable, f32).has_value());
  EXPECT_EQ(describe_conv_candidates(none_usable),
            "algorithm 5 (tensor-op): workspace 0.0 MiB; algorithm 7 (fma, deterministic): not usable");
  EXPECT_EQ(describe_conv_candidates({candidate(1, 3 << 19, true)}),
            "algorithm 1 (fma, deterministic): workspace 1.5 MiB");
  EXPECT_EQ(describe_conv_candidates({}), "cuDNN offered no algorithm");
}

TEST(ConvPlanChoice, DeterministicModeTakesOnlyDeterministicAlgorithms) {
  ConvChoicePolicy deterministic{1 << 20, true, true};
  EXPECT_EQ(choose_conv_plan(kCandidates, deterministic)->algorithm, 1);
  EXPECT_EQ(algorithms(workspace_fallbacks(kCandidates, deterministic, 1000)), (std::vector<int>{1, 0}));
  EXPECT_FALSE(choose_conv_plan({candidate(5, 0, false), candidate(3, 0, false)}, deterministic).has_value());
}

TEST(ConvPlanChoice, FallbacksAreTheSmallerWorkspacesLargestFirst) {
  ConvChoicePolicy bf16{1 << 20, true, false};
  EXPECT_EQ(algorithms(workspace_fallbacks(kCandidates, bf16, 1000)), (std::vector<int>{3, 1, 0}));
  EXPECT_EQ(algorithms(workspace_fallbacks(kCandidates, bf16, 700)), (std::vector<int>{1, 0}));
  EXPECT_EQ(algorithms(workspace_fallbacks(kCandidates, bf16, 1)), (std::vector<int>{0}));
  EXPECT_TRUE(workspace_fallbacks(kCandidates, bf16, 0).empty());
  ConvChoicePolicy capped{500, true, false};  // the cap still holds for fallbacks
  EXPECT_EQ(algorithms(workspace_fallbacks(kCandidates, capped, 1000)), (std::vector<int>{1, 0}));
}

// A fake device that has `available` bytes for one workspace: larger requests throw OutOfMemory.
struct FakeWorkspace {
  std::size_t bytes = 0;
};

TEST(ConvPlanChoice, AcquireFallsBackOnOutOfMemoryAndRethrowsWhenNothingFits) {
  ConvChoicePolicy bf16{1 << 20, true, false};
  std::vector<std::size_t> requests;
  auto allocator_with = [&](std::size_t available) {
    return [&requests, available](std::size_t bytes) {
      requests.push_back(bytes);
      if (bytes > available) throw OutOfMemory("no memory for " + std::to_string(bytes), __FILE__, __LINE__, bytes);
      return FakeWorkspace{bytes};
    };
  };
  auto fallbacks = [&](std::size_t failed) { return workspace_fallbacks(kCandidates, bf16, failed); };

  ConvPlan plan = *choose_conv_plan(kCandidates, bf16);
  EXPECT_EQ(acquire_conv_workspace(plan, allocator_with(2000), fallbacks).bytes, 1000u);
  EXPECT_EQ(plan.algorithm, 5);
  EXPECT_EQ(requests, (std::vector<std::size_t>{1000}));

  requests.clear();
  EXPECT_EQ(acquire_conv_workspace(plan, allocator_with(500), fallbacks).bytes, 400u);
  EXPECT_EQ(plan.algorithm, 1);
  EXPECT_EQ(requests, (std::vector<std::size_t>{1000, 700, 400}));

  requests.clear();
  plan = *choose_conv_plan(kCandidates, bf16);
  ConvChoicePolicy deterministic{1 << 20, true, true};
  auto deterministic_fallbacks = [&](std::size_t failed) {
    return workspace_fallbacks(kCandidates, deterministic, failed);
  };
  EXPECT_EQ(acquire_conv_workspace(plan, allocator_with(0), deterministic_fallbacks).bytes, 0u);
  EXPECT_EQ(plan.algorithm, 0);

  // Nothing fits: the first failure is rethrown and the plan is left as it was.
  requests.clear();
  plan = ConvPlan{4, 0, 300};
  try {
    acquire_conv_workspace(plan, allocator_with(0), [](std::size_t) { return std::vector<ConvPlan>{{2, 0, 100}}; });
    ADD_FAILURE() << "no OutOfMemory";
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.requested_bytes(), 300u);
  }
  EXPECT_EQ(plan.algorithm, 4);
  EXPECT_EQ(requests, (std::vector<std::size_t>{300, 100}));
}

TEST(ConvPlanChoice, PlansAreCachedPerDeterminism) {
  ConvPlanCache cache;
  const Shape x{1, 4, 4, 4, 2}, w{3, 3, 3, 3, 2};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const ConvPlanKey fast = ConvPlanKey::make(ConvPass::backward_weight, x, w, g, DType::bf16, 1 << 20, false);
  const ConvPlanKey exact = ConvPlanKey::make(ConvPass::backward_weight, x, w, g, DType::bf16, 1 << 20, true);
  cache.insert(fast, ConvPlan{3, 0, 700});
  EXPECT_FALSE(cache.find(exact).has_value());
  cache.insert(exact, ConvPlan{1, 0, 400});
  EXPECT_EQ(cache.find(fast)->algorithm, 3);
  EXPECT_EQ(cache.find(exact)->algorithm, 1);
}

// The backend's per-shape state (cuDNN descriptors on CUDA): made once per dtype, x, w and geometry,
// shared by every pass, cap and determinism, destroyed when the cache lets go of it, and not made
// (nor kept) when its creation throws.
TEST(ConvPlanChoice, CallStateIsMadeOncePerShapeAndDestroyedWithTheCache) {
  int made = 0, destroyed = 0;
  auto create = [&] {
    ++made;
    return std::shared_ptr<void>(new int(made), [&destroyed](void* state) {
      ++destroyed;
      delete static_cast<int*>(state);
    });
  };
  const Shape x{2, 5, 4, 6, 3}, w{4, 3, 3, 3, 3}, wider{5, 3, 3, 3, 3};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  {
    ConvPlanCache cache;
    const auto forward = cache.call_state(ConvPlanKey::make(ConvPass::forward, x, w, g, DType::f32, 1 << 20), create);
    const auto backward =
        cache.call_state(ConvPlanKey::make(ConvPass::backward_weight, x, w, g, DType::f32, 1 << 10, true), create);
    EXPECT_EQ(forward.get(), backward.get());
    EXPECT_EQ(made, 1);
    cache.call_state(ConvPlanKey::make(ConvPass::forward, x, wider, g, DType::f32, 1 << 20), create);
    cache.call_state(ConvPlanKey::make(ConvPass::forward, x, w, g, DType::bf16, 1 << 20), create);
    EXPECT_EQ(made, 3);
    EXPECT_EQ(cache.call_states(), 3u);
    EXPECT_EQ(*static_cast<int*>(forward.get()), 1);

    const ConvPlanKey failing = ConvPlanKey::make(ConvPass::forward, wider, wider, g, DType::f32, 0);
    EXPECT_THROW(
        cache.call_state(failing, []() -> std::shared_ptr<void> { NNUC_THROW(InvalidInput, "no descriptor"); }),
        InvalidInput);
    EXPECT_EQ(cache.call_states(), 3u);

    cache.clear();  // the states still in use here outlive the cache's reference
    EXPECT_EQ(cache.call_states(), 0u);
    EXPECT_EQ(destroyed, 2);
  }
  EXPECT_EQ(destroyed, 3);
}

}  // namespace
}  // namespace nnuc
