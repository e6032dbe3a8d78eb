// Planning with the whole memory of an 80 GB (H100) or a 141 GB (H200) card: the budgets
// resolve_memory_budget gives there (device total less the 1 GiB reserve: 78 and 139 GiB). Every
// planned configuration runs shape-only (Meta, modelling CUDA) through a full training step without
// an error, within its budget, and some of them hold activations of 2^31 elements or more, which
// cuDNN cannot take in one call: their convolutions run in pieces (kernels/conv/conv_chunk.h), with
// each piece's workspace and the staging buffer in the prediction.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "kernels/conv/conv_chunk.h"
#include "nn/training_step.h"
#include "planner/exact_memory_model.h"
#include "planner/planner.h"
#include "tests/planner/planner_fixtures.h"

namespace nnuc::planner {
namespace {

// Elements of the widest activation of the step: the concatenation (skip + upsampled, 2 F0 channels)
// that the last decoder stage convolves at full resolution.
std::int64_t widest_activation(const ConfigurationPlan& plan) {
  std::int64_t elements = plan.batch_size * 2 * plan.network.features_per_stage.front();
  for (std::int64_t edge : plan.patch_size) elements *= edge;
  return elements;
}

TEST(PlannerLargeBudget, PlansForWholeH100AndH200CardsRunShapeOnlyThroughATrainingStep) {
  int beyond_int32 = 0;
  for (const char* fixture : {"kits_like_ignore", "liver_ct_like", "brats_like_regions", "tiny_cube_ct"}) {
    const fixtures::FixtureDataset data = fixtures::load_fixture_dataset(fixture);
    ExactMemoryModelOptions model_options;
    model_options.loss = loss_config_for(data.dataset);
    const ExactMemoryModel model(model_options);
    for (double gb : {78.0, 139.0}) {
      PlannerOptions options;
      options.dataset_name = std::string("Dataset998_") + fixture;
      options.gpu_memory_target_gb = gb;
      const Plans plans = plan_experiment(data.dataset, data.fingerprint, options, model);
      for (const std::optional<ConfigurationPlan>* slot :
           {&plans.configuration_3d_fullres, &plans.configuration_3d_lowres, &plans.configuration_2d}) {
        if (!slot->has_value()) continue;
        const ConfigurationPlan& plan = **slot;
        SCOPED_TRACE(std::string(fixture) + " at " + std::to_string(gb) + " GiB: " + plan.data_identifier + " batch " +
                     std::to_string(plan.batch_size));
        nn::TrainingStepMemory memory;
        ASSERT_NO_THROW(
            memory = nn::predict_training_step_memory(model.step_spec(plan.network, plan.batch_size, plan.patch_size)));
        EXPECT_LE(memory.device_total(), MemoryBudget{gb}.bytes());
        EXPECT_EQ(memory.device_total(), plan.predicted_peak_bytes);
        if (widest_activation(plan) > kDefaultConvElementLimit) {
          ++beyond_int32;
          std::printf("[large budget] %s at %.0f GiB, %s: batch %lld, widest activation %lld elements\n", fixture, gb,
                      plan.data_identifier.c_str(), static_cast<long long>(plan.batch_size),
                      static_cast<long long>(widest_activation(plan)));
          // The last decoder convolution of that activation is split into several cuDNN calls.
          const std::int64_t f0 = plan.network.features_per_stage.front();
          const nn::Triple p = patch_triple(plan.patch_size);
          const nn::Triple k = unet_config_for(plan.network).kernel_sizes.front();
          const Shape x{plan.batch_size, p[0], p[1], p[2], 2 * f0}, w{f0, k[0], k[1], k[2], 2 * f0};
          const ConvGeometry g = same_padding_geometry({k[0], k[1], k[2]}, {1, 1, 1});
          EXPECT_GT(plan_conv_chunks(x, w, g, kDefaultConvElementLimit).chunks.size(), 1u);
        }
      }
    }
  }
  EXPECT_GT(beyond_int32, 0) << "no plan reached 2^31 elements: the test no longer covers split convolutions";
}

}  // namespace
}  // namespace nnuc::planner
