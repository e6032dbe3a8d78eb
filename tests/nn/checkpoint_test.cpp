// Checkpoints: round trip of the training state, and rejection of damaged or mismatched files.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "data/dataset/atomic_file.h"
#include "nn/training_state.h"
#include "nn/training_step.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

namespace fs = std::filesystem;

UNetConfig config() {
  UNetConfig c;
  c.input_channels = 1;
  c.num_classes = 2;
  c.features_per_stage = {4, 8};
  c.kernel_sizes = {Triple{3, 3, 3}, Triple{3, 3, 3}};
  c.strides = {Triple{1, 1, 1}, Triple{2, 2, 2}};
  c.n_conv_per_stage = {1, 1};
  c.n_conv_per_stage_decoder = {1};
  return c;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("nnuc_ckpt_" + std::to_string(::getpid()) + "_" + std::to_string(testing::rng()()));
    fs::create_directories(dir_);
    path_ = (dir_ / "checkpoint_latest.nnuc").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Trains two steps so that weights and momentum are not at their initial values, then saves.
  void save_trained(UNet& network, SGD& optimizer) {
    const Tensor input = testing::random_uniform(Shape{1, 4, 4, 4, 1}, DType::f32);
    const Tensor labels = testing::random_labels(Shape{1, 4, 4, 4, 1}, DType::i16, 2);
    for (int step = 0; step < 2; ++step) training_step(Context::cpu(), network, optimizer, input, labels, {}, 0.01);
    TrainingState state;
    state.epoch = 7;
    std::mt19937_64 engine(99);
    engine();
    std::ostringstream text;
    text << engine;
    state.rng_states["sampler"] = text.str();
    state.log["train_losses"] = {0.5, 0.25};
    save_checkpoint(path_, capture_checkpoint(network, optimizer, state));
  }

  std::string read_bytes() {
    std::ifstream in(path_, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  void write_bytes(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  void expect_load_error(const std::string& expected) {
    try {
      load_checkpoint(path_);
      FAIL() << "loaded a damaged checkpoint";
    } catch (const IoError& error) {
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(path_), std::string::npos) << error.what();
    }
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(CheckpointTest, RoundTripRestoresEverything) {
  UNet network(Context::cpu(), config(), DType::f32, 1);
  SGD optimizer(Context::cpu(), network.parameters(), OptimizerConfig{});
  save_trained(network, optimizer);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);  // no temp file left

  UNet restored(Context::cpu(), config(), DType::f32, 2);  // other seed: other weights
  SGD restored_optimizer(Context::cpu(), restored.parameters(), OptimizerConfig{});
  const TrainingState state =
      restore_checkpoint(load_checkpoint(path_), path_, Context::cpu(), restored, restored_optimizer);
  EXPECT_EQ(state.epoch, 7);
  EXPECT_EQ(state.log["train_losses"][1].get<double>(), 0.25);
  std::mt19937_64 engine;
  std::istringstream(state.rng_states.at("sampler")) >> engine;
  std::mt19937_64 reference(99);
  reference();
  EXPECT_EQ(engine(), reference());
  EXPECT_EQ(restored_optimizer.steps(), 2);
  auto a = network.parameters(), b = restored.parameters();
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].var->value().to_vector<float>(), b[i].var->value().to_vector<float>()) << a[i].name;
  auto sa = optimizer.state(), sb = restored_optimizer.state();
  for (std::size_t i = 0; i < sa.size(); ++i)
    EXPECT_EQ(sa[i].second->to_vector<float>(), sb[i].second->to_vector<float>());
}

TEST_F(CheckpointTest, RejectsTruncatedCorruptedAndForeignFiles) {
  UNet network(Context::cpu(), config(), DType::f32, 1);
  SGD optimizer(Context::cpu(), network.parameters(), OptimizerConfig{});
  save_trained(network, optimizer);
  const std::string good = read_bytes();

  write_bytes(good.substr(0, good.size() / 2));
  expect_load_error("checksum");
  write_bytes(good.substr(0, 10));
  expect_load_error("truncated");

  std::string flipped = good;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
  write_bytes(flipped);
  expect_load_error("checksum");

  std::string wrong_version = good;
  wrong_version[8] = 9;
  write_bytes(wrong_version);
  expect_load_error("version 9");

  write_bytes("PK\x03\x04 a zip file, as torch.save writes");
  expect_load_error("not an nnuc checkpoint");
}

TEST_F(CheckpointTest, RejectsAnotherNetwork) {
  UNet network(Context::cpu(), config(), DType::f32, 1);
  SGD optimizer(Context::cpu(), network.parameters(), OptimizerConfig{});
  save_trained(network, optimizer);
  UNetConfig other = config();
  other.features_per_stage = {4, 12};
  UNet different(Context::cpu(), other, DType::f32, 1);
  SGD different_optimizer(Context::cpu(), different.parameters(), OptimizerConfig{});
  try {
    restore_checkpoint(load_checkpoint(path_), path_, Context::cpu(), different, different_optimizer);
    FAIL();
  } catch (const InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("plans give"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find(path_), std::string::npos) << error.what();
  }
}

TEST_F(CheckpointTest, AtomicWriteFailureLeavesTheOldFile) {
  data::write_file_atomic(path_, "old contents");
  EXPECT_THROW(data::write_file_atomic((dir_ / "missing" / "x").string(), "new"), IoError);
  EXPECT_EQ(read_bytes(), "old contents");
}

}  // namespace
}  // namespace nnuc::nn
