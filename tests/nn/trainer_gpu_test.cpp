// The trainer on a GPU: mixed precision (bf16 activations, no loss scaler) trains a tiny 3-D network
// on synthetic batches with finite losses and a falling training loss, a NaN batch is skipped on the
// device, the online pseudo Dice runs on device logits, and the final checkpoint comes back into a
// CUDA trainer.
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "nn/trainer.h"
#include "tests/nn/trainer_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

namespace fs = std::filesystem;

TEST(TrainerGpu, MixedPrecisionTrainsAndResumes) {
  NNUC_REQUIRE_GPU();
  const Context& ctx = *testing::gpu();
  const fs::path folder = fs::temp_directory_path() / ("nnuc_trainer_gpu_" + std::to_string(::getpid()));
  TrainerConfig config;
  config.network = testing_fixture::tiny_network(/*three_d=*/true);
  config.epochs = 3;
  config.iterations_per_epoch = 8;
  config.validation_iterations = 2;
  config.activations = DType::bf16;
  config.deterministic = true;
  config.output_folder = (folder / "fold_0").string();
  // Batches of 2 × 16³, the image in bf16 on the device; a NaN image at training iteration `nan`.
  const auto data = [&ctx](std::uint64_t nan) {
    return testing_fixture::synthetic_data(Shape{2, 16, 16, 16, 1}, {nan}, UINT64_MAX, [&ctx](TrainerBatch batch) {
      batch.input = testing::to_device(batch.input, DType::bf16);
      batch.target = batch.target.copy_to(ctx);
      return batch;
    });
  };
  {
    Trainer trainer(ctx, config, data(/*nan=*/5));
    trainer.run();
    const TrainingLog& log = trainer.log();
    ASSERT_EQ(log.epochs(), 3u);
    EXPECT_EQ(log.skipped_steps, (std::vector<std::int64_t>{1, 0, 0}));  // the NaN batch, skipped on the device
    for (std::size_t e = 0; e < 3; ++e) {
      EXPECT_TRUE(std::isfinite(log.train_losses[e])) << e;
      EXPECT_TRUE(std::isfinite(log.val_losses[e])) << e;
      EXPECT_EQ(log.dice_per_class_or_region[e].size(), 2u);
    }
    EXPECT_LT(log.train_losses[2], log.train_losses[0]);
    std::printf("[trainer gpu] train losses %.4f %.4f %.4f, pseudo Dice %.4f %.4f %.4f\n", log.train_losses[0],
                log.train_losses[1], log.train_losses[2], log.mean_fg_dice[0], log.mean_fg_dice[1],
                log.mean_fg_dice[2]);
  }
  // The final checkpoint loads into a new CUDA trainer with the same log.
  Trainer reloaded(ctx, config, data(UINT64_MAX));
  ASSERT_TRUE(reloaded.resume().has_value());
  EXPECT_EQ(reloaded.epoch(), 3);
  EXPECT_EQ(reloaded.log().skipped_steps, (std::vector<std::int64_t>{1, 0, 0}));
  fs::remove_all(folder);
}

}  // namespace
}  // namespace nnuc::nn
