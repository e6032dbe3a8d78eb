// Memory models: nnU-Net's estimate and its scaling with the GPU memory target, the generic
// budget search of MemoryModel, and the planner's rules driven by a byte-based (callback) model, as
// the exact model will drive them.
#include <gtest/gtest.h>

#include "kernels/core/error.h"
#include "planner/memory_model.h"
#include "planner/numeric.h"
#include "planner/planner.h"
#include "tests/planner/planner_fixtures.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

// Peak bytes = fixed + per_voxel * batch * prod(patch): monotone in batch and patch.
PeakBytesFunction linear_peak(std::uint64_t fixed, std::uint64_t per_voxel) {
  return [fixed, per_voxel](const NetworkTopology&, std::int64_t batch, const std::vector<std::int64_t>& patch) {
    std::uint64_t voxels = 1;
    for (std::int64_t p : patch) voxels *= static_cast<std::uint64_t>(p);
    return fixed + per_voxel * static_cast<std::uint64_t>(batch) * voxels;
  };
}

TEST(PlannerMemoryModel, BudgetBytes) {
  EXPECT_EQ((MemoryBudget{8.0}).bytes(), 8ull << 30);
  EXPECT_EQ((MemoryBudget{0.5}).bytes(), 1ull << 29);
  EXPECT_THROW((MemoryBudget{0.0}).bytes(), InvalidInput);
  EXPECT_THROW((MemoryBudget{std::nan("")}).bytes(), InvalidInput);
}

TEST(PlannerMemoryModel, DefaultBatchSearchIsTheLargestFittingBatch) {
  std::uniform_int_distribution<std::uint64_t> fixed_bytes(0, 1ull << 30);
  std::uniform_int_distribution<std::uint64_t> per_voxel(1, 4096);
  std::uniform_int_distribution<std::int64_t> limits(1, 3000);
  const NetworkTopology topology;
  const MemoryBudget budget{4.0};
  for (int trial = 0; trial < 200; ++trial) {
    const CallbackMemoryModel model("linear", linear_peak(fixed_bytes(testing::rng()), per_voxel(testing::rng())));
    const std::vector<std::int64_t> patch{16, 32, 24};
    const std::int64_t limit = limits(testing::rng());
    std::int64_t brute = 0;
    for (std::int64_t b = 1; b <= limit; ++b) {
      if (model.predicted_peak_bytes(topology, b, patch) <= budget.bytes()) brute = b;
    }
    EXPECT_EQ(model.batch_for_budget(topology, patch, budget, limit), brute) << "trial " << trial;
  }
  const CallbackMemoryModel huge("huge", linear_peak(1ull << 40, 1));
  EXPECT_EQ(huge.batch_for_budget(topology, {8, 8, 8}, budget, 100), 0);
  EXPECT_FALSE(huge.fits(topology, 1, {8, 8, 8}, budget));
  EXPECT_THROW(huge.predicted_peak_bytes(topology, 0, {8, 8, 8}), InvalidInput);
  EXPECT_THROW(CallbackMemoryModel("x", PeakBytesFunction{}), InvalidInput);
}

TEST(PlannerMemoryModel, NnunetModelScalesWithTheGpuTarget) {
  const fixtures::FixtureDataset fixture = fixtures::load_fixture_dataset("brats_like_regions");
  PlannerOptions options;
  options.dataset_name = "Dataset904_brats_like_regions";
  std::int64_t previous_voxels = 0;
  std::int64_t previous_batch = 0;
  for (double gb : {4.0, 8.0, 16.0, 32.0, 64.0}) {
    options.gpu_memory_target_gb = gb;
    const Plans plans = plan_experiment(fixture.dataset, fixture.fingerprint, options);
    const ConfigurationPlan& c = *plans.configuration_3d_fullres;
    std::int64_t voxels = 1;
    for (std::int64_t p : c.patch_size) voxels *= p;
    // More memory: never a smaller patch, never a smaller batch while the patch stays.
    EXPECT_GE(voxels, previous_voxels) << gb << " GB";
    if (voxels == previous_voxels) {
      EXPECT_GE(c.batch_size, previous_batch) << gb << " GB";
    }
    EXPECT_EQ(c.memory_budget_bytes, MemoryBudget{gb}.bytes());
    // The nnunet model's prediction at the chosen batch stays within the budget (up to the
    // minimum batch of 2 and rounding of the batch to nearest).
    const NnunetMemoryModel model(options.preset.reference);
    const double e = static_cast<double>(model.estimate(c.network, c.patch_size));
    EXPECT_LE(e / 2 * static_cast<double>(c.batch_size) - 0.5 * e, model.reference_value(3, MemoryBudget{gb}));
    previous_voxels = voxels;
    previous_batch = c.batch_size;
  }
}

TEST(PlannerMemoryModel, NnunetFitsUsesNnunetsLoopConditions) {
  const NnunetMemoryModel model;
  NetworkTopology t;
  t.dim = 2;
  t.estimate_output_channels = 3;
  t.features_per_stage = {32, 64};
  t.kernel_sizes = {{3, 3}, {3, 3}};
  t.strides = {{1, 1}, {2, 2}};
  t.blocks_per_stage = {2, 2};
  t.conv_per_stage_decoder = {2};
  const std::vector<std::int64_t> patch{64, 64};
  const double e = static_cast<double>(model.estimate(t, patch));
  EXPECT_EQ(e, 2 * 32 * 4096 + 2 * 64 * 1024 + 3 * 32 * 4096 + 3 * 4096);
  // Default planner: shrink while E / 12 * 2 > R. Choose the budget right at the boundary.
  const double r_per_gb = 85e6 / 8.0;
  const MemoryBudget at{e / 12 * 2 / r_per_gb};
  EXPECT_TRUE(model.fits(t, 2, patch, MemoryBudget{at.gpu_memory_gb * 1.001}));
  EXPECT_FALSE(model.fits(t, 2, patch, MemoryBudget{at.gpu_memory_gb * 0.999}));
  // ResEnc planners: shrink while E > R, i.e. the reference batch 12 must fit.
  const MemoryBudget at12{e / r_per_gb};
  EXPECT_TRUE(model.fits(t, 12, patch, MemoryBudget{at12.gpu_memory_gb * 1.001}));
  EXPECT_FALSE(model.fits(t, 12, patch, MemoryBudget{at12.gpu_memory_gb * 0.999}));
  EXPECT_EQ(model.batch_for_budget(t, patch, MemoryBudget{8.0}, 1), round_half_even_to_int(85e6 / e * 12));
}

// The planner's rules with a byte-based model: the patch shrinks until batch 2 fits, the batch is the
// largest that fits (within the 5 % cap), and the reported peak is the model's at that batch.
TEST(PlannerMemoryModel, RulesWithACallbackModel) {
  const fixtures::FixtureDataset fixture = fixtures::load_fixture_dataset("liver_ct_like");
  const MemoryBudget budget{8.0};
  const CallbackMemoryModel model("test-linear", linear_peak(200ull << 20, 2600));
  PlannerOptions options;
  options.dataset_name = "Dataset903_liver_ct_like";
  const Plans plans = plan_experiment(fixture.dataset, fixture.fingerprint, options, model);
  ASSERT_TRUE(plans.configuration_2d && plans.configuration_3d_fullres && plans.configuration_3d_lowres);
  const std::vector<double>& fullres_median = plans.configuration_3d_fullres->median_image_size_in_voxels;
  const double dataset_voxels = fullres_median[0] * fullres_median[1] * fullres_median[2] * 131.0;
  for (const auto* c : {&plans.configuration_2d, &plans.configuration_3d_fullres, &plans.configuration_3d_lowres}) {
    const ConfigurationPlan& plan = **c;
    SCOPED_TRACE(plan.data_identifier);
    EXPECT_EQ(plan.memory_model, "test-linear");
    EXPECT_TRUE(model.fits(plan.network, 2, plan.patch_size, budget));
    EXPECT_TRUE(model.fits(plan.network, plan.batch_size, plan.patch_size, budget));
    EXPECT_EQ(plan.predicted_peak_bytes, model.predicted_peak_bytes(plan.network, plan.batch_size, plan.patch_size));
    EXPECT_LE(plan.predicted_peak_bytes, budget.bytes());
    if (plan.spacing.size() == 3 && plan.median_is_integer) continue;  // lowres: its own dataset volume
    // 2d and 3d_fullres: the batch is the largest that fits, unless the 5 % cap stops it first.
    double voxels = 1;
    for (std::int64_t p : plan.patch_size) voxels *= static_cast<double>(p);
    const std::int64_t cap = round_half_even_to_int(dataset_voxels * 0.05 / voxels);
    std::int64_t largest = 0;
    while (model.fits(plan.network, largest + 1, plan.patch_size, budget)) ++largest;
    EXPECT_EQ(plan.batch_size, std::max<std::int64_t>(std::min(largest, cap), 2));
  }
  // A budget so small that no patch fits is an error naming the model and the budget.
  PlannerOptions tiny = options;
  tiny.gpu_memory_target_gb = 0.1;
  try {
    plan_experiment(fixture.dataset, fixture.fingerprint, tiny, model);
    ADD_FAILURE() << "no error for a budget below the model's fixed cost";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("test-linear"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0.1 GB"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nnuc::planner
