// The trainer (nn/trainer.h) on a tiny 2-D network with synthetic batches: pseudo Dice and EMA
// arithmetic, poly learning rate per epoch, the full training state through a checkpoint, which
// checkpoint --continue takes, exact resume, non-finite steps (skipped, then a stop naming the
// tensor), and the files of the fold folder.
#include "nn/trainer.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "nn/checkpoint.h"
#include "nn/training_state.h"
#include "tests/nn/trainer_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

namespace fs = std::filesystem;

using testing_fixture::synthetic_data;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() /
              ("nnuc_trainer_" + std::to_string(::getpid()) + "_" + std::to_string(testing::rng()()));
  }
  void TearDown() override { fs::remove_all(folder_); }

  TrainerConfig config(int epochs, const std::string& subfolder = "fold_0") const {
    TrainerConfig c;
    c.network = testing_fixture::tiny_network(/*three_d=*/false);
    c.epochs = epochs;
    c.iterations_per_epoch = 3;
    c.validation_iterations = 2;
    c.seed = 11;
    c.output_folder = (folder_ / subfolder).string();
    return c;
  }
  // Batches of 2 × 16² with NaN images at the training iterations `nan`; an exception instead of
  // batch `interrupt_at` (a crash).
  TrainerDataFactory data(std::set<std::uint64_t> nan = {}, std::uint64_t interrupt_at = UINT64_MAX) const {
    return synthetic_data(Shape{2, 1, 16, 16, 1}, std::move(nan), interrupt_at);
  }

  fs::path folder_;
};

void expect_same_tensors(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor& x = a.tensors[i].second;
    const Tensor* y = b.find(a.tensors[i].first);
    ASSERT_NE(y, nullptr) << a.tensors[i].first;
    ASSERT_EQ(x.bytes(), y->bytes()) << a.tensors[i].first;
    EXPECT_EQ(std::memcmp(x.raw(), y->raw(), x.bytes()), 0) << "tensor " << a.tensors[i].first << " differs";
  }
}

TEST(PseudoDice, HandComputedCountsDiceNanmeanAndEma) {
  // 1 sample, 2x3 voxels, 3 classes: predicted (argmax) 0 1 1 / 2 2 0, target 0 1 2 / 2 1 1.
  const std::vector<float> logits = {5, 0, 0, 0, 5, 0, 0, 5, 0, 0, 0, 5, 0, 0, 5, 5, 0, 0};
  const std::vector<std::int16_t> labels = {0, 1, 2, 2, 1, 1};
  const Tensor x = Tensor::from_vector(Shape{1, 1, 2, 3, 3}, logits);
  const Tensor t = Tensor::from_vector(Shape{1, 1, 2, 3, 1}, labels);
  const PseudoDiceCounts counts = pseudo_dice_counts(Context::cpu(), x, t, LossConfig{});
  // class 1: TP 1 (voxel 1), FP 1 (voxel 2), FN 2 (voxels 4, 5); class 2: TP 1 (3), FP 1 (4), FN 1 (2).
  EXPECT_EQ(counts.tp, (std::vector<double>{1, 1}));
  EXPECT_EQ(counts.fp, (std::vector<double>{1, 1}));
  EXPECT_EQ(counts.fn, (std::vector<double>{2, 1}));
  const std::vector<double> dice = dice_per_class(counts);
  EXPECT_DOUBLE_EQ(dice[0], 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(dice[1], 2.0 / 4.0);
  // With label 2 as the ignore label, voxels 2 and 3 count nowhere.
  LossConfig ignore;
  ignore.ignore_label = 2;
  const PseudoDiceCounts ignored = pseudo_dice_counts(Context::cpu(), x, t, ignore);
  EXPECT_EQ(ignored.tp, (std::vector<double>{1, 0}));
  EXPECT_EQ(ignored.fp, (std::vector<double>{0, 1}));
  EXPECT_EQ(ignored.fn, (std::vector<double>{2, 0}));
  // 0/0 is NaN; nanmean skips it; all-NaN is NaN.
  const std::vector<double> with_nan = dice_per_class(PseudoDiceCounts{{3, 0}, {1, 0}, {2, 0}});
  EXPECT_DOUBLE_EQ(with_nan[0], 6.0 / 9.0);
  EXPECT_TRUE(std::isnan(with_nan[1]));
  EXPECT_DOUBLE_EQ(nanmean(with_nan), 6.0 / 9.0);
  EXPECT_TRUE(std::isnan(nanmean({std::nan(""), std::nan("")})));
  EXPECT_DOUBLE_EQ(ema_pseudo_dice(std::nullopt, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(ema_pseudo_dice(0.5, 0.8), 0.9 * 0.5 + 0.1 * 0.8);
  EXPECT_TRUE(std::isnan(ema_pseudo_dice(std::nan(""), 0.8)));
}

// Random logits and labels against a direct reference (argmax ties to the lowest class).
TEST(PseudoDice, RandomBatchMatchesReference) {
  const Shape shape{2, 3, 5, 4, 4};
  const Tensor x = testing::random_uniform(shape, DType::f32, -2, 2);
  const Tensor t = testing::random_labels(Shape{2, 3, 5, 4, 1}, DType::i16, 4);
  const std::vector<float> logits = x.to_vector<float>();
  const std::vector<std::int16_t> labels = t.to_vector<std::int16_t>();
  std::vector<double> tp(3, 0), fp(3, 0), fn(3, 0);
  for (std::size_t v = 0; v < labels.size(); ++v) {
    int best = 0;
    for (int c = 1; c < 4; ++c)
      if (logits[v * 4 + c] > logits[v * 4 + best]) best = c;
    for (int c = 1; c < 4; ++c) {
      const bool p = best == c, y = labels[v] == c;
      tp[c - 1] += p && y;
      fp[c - 1] += p && !y;
      fn[c - 1] += !p && y;
    }
  }
  const PseudoDiceCounts counts = pseudo_dice_counts(Context::cpu(), x, t, LossConfig{});
  EXPECT_EQ(counts.tp, tp);
  EXPECT_EQ(counts.fp, fp);
  EXPECT_EQ(counts.fn, fn);
}

TEST(PseudoDice, RegionsWithIgnoreChannel) {
  // 4 voxels, 2 regions + ignore channel; prediction = logit > 0 (sigmoid > 0.5).
  const std::vector<float> logits = {1, -1, -1, 3, -2, 1, 0.5f, 0.5f};
  const std::vector<std::uint8_t> targets = {1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1};
  LossConfig loss;
  loss.regions = true;
  loss.region_ignore = RegionIgnore::last_target_channel;
  const PseudoDiceCounts counts = pseudo_dice_counts(Context::cpu(), Tensor::from_vector(Shape{1, 1, 1, 4, 2}, logits),
                                                     Tensor::from_vector(Shape{1, 1, 1, 4, 3}, targets), loss);
  // Voxel 3 is ignored. Voxel 0: r0 TP; voxel 1: r0 FN, r1 FP; voxel 2: r0 FN, r1 TP.
  EXPECT_EQ(counts.tp, (std::vector<double>{1, 1}));
  EXPECT_EQ(counts.fp, (std::vector<double>{0, 1}));
  EXPECT_EQ(counts.fn, (std::vector<double>{2, 0}));
}

TEST(TrainingLogText, PythonRounding) {
  EXPECT_EQ(python_round(0.12345678, 4), "0.1235");
  EXPECT_EQ(python_round(-0.5, 4), "-0.5");
  EXPECT_EQ(python_round(1.0, 4), "1.0");
  EXPECT_EQ(python_round(100.0, 2), "100.0");
  EXPECT_EQ(python_round(0.01, 5), "0.01");
  EXPECT_EQ(python_round(0.0099910, 5), "0.00999");
  EXPECT_EQ(python_round(std::nan(""), 4), "nan");
  EXPECT_EQ(python_round(-0.00001, 4), "0.0");
  EXPECT_EQ(python_round_list({0.81234, std::nan("")}, 4), "[0.8123, nan]");
}

TEST_F(TrainerTest, LearningRatePerEpochLogsAndFiles) {
  std::vector<std::string> lines;
  TrainerCallbacks callbacks;
  callbacks.log = [&](const std::string& line) { lines.push_back(line); };
  Trainer trainer(Context::cpu(), config(3), data(), callbacks);
  trainer.run();
  const TrainingLog& log = trainer.log();
  ASSERT_EQ(log.epochs(), 3u);
  for (int e = 0; e < 3; ++e) EXPECT_DOUBLE_EQ(log.lrs[e], 0.01 * std::pow(1.0 - e / 3.0, 0.9));
  for (int e = 0; e < 3; ++e) {
    EXPECT_TRUE(std::isfinite(log.train_losses[e]));
    EXPECT_TRUE(std::isfinite(log.val_losses[e]));
    EXPECT_EQ(log.dice_per_class_or_region[e].size(), 2u);
    EXPECT_DOUBLE_EQ(log.ema_fg_dice[e],
                     e == 0 ? log.mean_fg_dice[0] : 0.9 * log.ema_fg_dice[e - 1] + 0.1 * log.mean_fg_dice[e]);
  }
  const fs::path fold = config(3).output_folder;
  EXPECT_TRUE(fs::is_regular_file(fold / "checkpoint_final.nnuc"));
  EXPECT_TRUE(fs::is_regular_file(fold / "checkpoint_best.nnuc"));
  EXPECT_FALSE(fs::exists(fold / "checkpoint_latest.nnuc"));
  EXPECT_TRUE(fs::is_regular_file(fold / "debug.json"));
  EXPECT_TRUE(fs::is_regular_file(fold / "training_log.json"));
  std::ifstream png(fold / "progress.png", std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  std::string text_log;
  for (const fs::directory_entry& entry : fs::directory_iterator(fold))
    if (entry.path().filename().string().rfind("training_log_", 0) == 0 && entry.path().extension() == ".txt")
      text_log = entry.path().string();
  ASSERT_FALSE(text_log.empty());
  std::ifstream in(text_log);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* expected : {"Epoch 2", "Current learning rate: 0.01", "train_loss ", "val_loss ", "Pseudo dice [",
                               "Epoch time: ", "Yayy! New best EMA pseudo Dice: ", "Training done."})
    EXPECT_NE(content.find(expected), std::string::npos) << expected;
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(std::count(content.begin(), content.end(), '\n')));
  const TrainingLog reread =
      training_log_from_json(nlohmann::json::parse(std::ifstream(fold / "training_log.json")), "training_log.json");
  EXPECT_EQ(reread.train_losses, log.train_losses);
}

TEST_F(TrainerTest, CheckpointHoldsTheWholeTrainingState) {
  Trainer first(Context::cpu(), config(2), data());
  first.run();
  Trainer second(Context::cpu(), config(2, "other"), data());
  EXPECT_EQ(second.load_state(checkpoint_path(config(2).output_folder, "final")), 2);
  EXPECT_EQ(second.epoch(), 2);
  EXPECT_EQ(second.best_ema(), first.best_ema());
  EXPECT_EQ(second.log().train_losses, first.log().train_losses);
  EXPECT_EQ(second.log().epoch_end_timestamps, first.log().epoch_end_timestamps);
  EXPECT_EQ(second.optimizer().steps(), first.optimizer().steps());
  const TrainingState state;
  expect_same_tensors(capture_checkpoint(first.network(), first.optimizer(), state),
                      capture_checkpoint(second.network(), second.optimizer(), state));
}

TEST_F(TrainerTest, ContinueTakesFinalThenLatestThenBest) {
  const std::string fold = (folder_ / "fold_x").string();
  fs::create_directories(fold);
  EXPECT_EQ(checkpoint_to_continue(fold), std::nullopt);
  for (const char* kind : {"best", "latest", "final"}) {
    std::ofstream(checkpoint_path(fold, kind)) << "x";
    EXPECT_EQ(checkpoint_to_continue(fold), checkpoint_path(fold, kind));
  }
  fs::remove(checkpoint_path(fold, "final"));
  EXPECT_EQ(checkpoint_to_continue(fold), checkpoint_path(fold, "latest"));
}

// A run interrupted in epoch 1 (an exception from the data, after checkpoint_latest of epoch 0) and
// continued by a new trainer ends bit for bit where the uninterrupted run ends.
TEST_F(TrainerTest, ResumedRunEqualsUninterruptedRun) {
  Trainer whole(Context::cpu(), config(3, "whole"), data());
  whole.run();
  const TrainerConfig resumed = config(3, "resumed");
  {
    Trainer interrupted(Context::cpu(), resumed, data({}, /*interrupt_at=*/4));
    EXPECT_THROW(interrupted.run(), std::runtime_error);
  }
  Trainer continued(Context::cpu(), resumed, data());
  EXPECT_EQ(continued.resume(), checkpoint_path(resumed.output_folder, "latest"));
  EXPECT_EQ(continued.epoch(), 1);
  continued.run();
  EXPECT_EQ(continued.log().train_losses, whole.log().train_losses);
  EXPECT_EQ(continued.log().val_losses, whole.log().val_losses);
  expect_same_tensors(load_checkpoint(checkpoint_path(config(3, "whole").output_folder, "final")),
                      load_checkpoint(checkpoint_path(resumed.output_folder, "final")));
}

TEST_F(TrainerTest, NonFiniteStepsAreSkippedThenStopTraining) {
  // Two NaN batches in a row: skipped, logged, training goes on.
  Trainer tolerant(Context::cpu(), config(2), data({1, 2}));
  tolerant.run();
  EXPECT_EQ(tolerant.log().skipped_steps, (std::vector<std::int64_t>{2, 0}));
  EXPECT_TRUE(std::isfinite(tolerant.log().train_losses[0]));
  // Five in a row (iterations 1..5): TrainingDiverged naming the first parameter's gradient.
  TrainerConfig strict = config(3, "strict");
  Trainer diverging(Context::cpu(), strict, data({1, 2, 3, 4, 5}));
  const std::string first_parameter = diverging.network().parameters().front().name;
  try {
    diverging.run();
    FAIL() << "no TrainingDiverged";
  } catch (const TrainingDiverged& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("5 training steps in a row"), std::string::npos) << message;
    EXPECT_NE(message.find("iterations 1 to 5"), std::string::npos) << message;
    EXPECT_NE(message.find("gradient of '" + first_parameter + "'"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(checkpoint_path(strict.output_folder, "final")));
}

}  // namespace
}  // namespace nnuc::nn
