// The trainer's data path on a GPU (nn/trainer_data.h): batches cropped into page-locked host memory
// and copied to the device without waiting equal, bit for bit, the batches of the same seed cropped
// into ordinary host memory, over more iterations than the loader keeps buffers for (so recycled
// page-locked buffers are written while earlier copies may be pending), for the training and the
// validation stream.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/core/allocator.h"
#include "nn/trainer_data.h"
#include "tests/data/loader_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

using data::loader_testing::random_case;
using data::loader_testing::TempFolder;
using data::loader_testing::write_case;

TEST(TrainerDataGpu, PageLockedBatchesEqualPageableOnes) {
  NNUC_REQUIRE_GPU();
  const Context& gpu = *testing::gpu();
  const TempFolder folder("nnuc_trainer_data_gpu");
  std::vector<std::string> files;
  const std::vector<data::Shape3> shapes = {{30, 34, 28}, {24, 40, 36}, {36, 30, 33}};
  for (std::size_t i = 0; i < shapes.size(); ++i)
    files.push_back(write_case(folder, random_case("case_" + std::to_string(i), 1, shapes[i], 3)));
  PipelineSpec spec;
  spec.training_cases = {files[0], files[1]};
  spec.validation_cases = {files[2]};
  spec.patch = {24, 24, 24};
  spec.batch_size = 2;
  spec.use_mask_for_norm = {false};
  spec.activations = DType::f32;
  spec.workers = 3;
  const std::uint64_t seed = testing::rng()();
  const std::uint64_t allocations_before = page_locked_host_allocator().stats().allocations;

  spec.page_locked_batches = false;
  std::vector<TrainerBatch> reference;
  {
    std::unique_ptr<TrainerData> pageable = pipeline_data(gpu, spec)(seed, 0, 0);
    for (int i = 0; i < 12; ++i) reference.push_back(pageable->next_training_batch());
    for (int i = 0; i < 3; ++i) reference.push_back(pageable->next_validation_batch());
  }
  EXPECT_EQ(page_locked_host_allocator().stats().allocations, allocations_before);

  spec.page_locked_batches = true;
  std::unique_ptr<TrainerData> page_locked = pipeline_data(gpu, spec)(seed, 0, 0);
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const TrainerBatch batch = i < 12 ? page_locked->next_training_batch() : page_locked->next_validation_batch();
    EXPECT_EQ(batch.iteration, reference[i].iteration) << i;
    ASSERT_EQ(batch.input.device(), Device::CUDA);
    ASSERT_EQ(batch.input.shape(), reference[i].input.shape());
    EXPECT_EQ(batch.input.to_vector<float>(), reference[i].input.to_vector<float>()) << "batch " << i;
    EXPECT_EQ(batch.target.to_vector<std::int32_t>(), reference[i].target.to_vector<std::int32_t>()) << "batch " << i;
  }
  EXPECT_GT(page_locked_host_allocator().stats().allocations, allocations_before)
      << "the loader used page-locked memory";
}

}  // namespace
}  // namespace nnuc::nn
