// Fine-tuning from pretrained weights (nn/pretrained_weights.h): every parameter but the segmentation
// heads comes from nnuc's .nnuc or nnU-Net's .pth, whatever the classes of either network; a
// checkpoint of another topology is refused naming each mismatch, before anything is written.
#include "nn/pretrained_weights.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "data/dataset/dataset_json.h"
#include "nn/pth/pth_reader.h"
#include "nn/training_state.h"
#include "planner/plans_read.h"
#include "tests/nn/nnunet_pth_fixture.h"
#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

namespace fs = std::filesystem;

UNetConfig small_config(int classes) {
  UNetConfig c;
  c.input_channels = 2;
  c.num_classes = classes;
  c.features_per_stage = {4, 8, 8};
  c.kernel_sizes = {Triple{3, 3, 3}, Triple{3, 3, 3}, Triple{3, 3, 3}};
  c.strides = {Triple{1, 1, 1}, Triple{2, 2, 2}, Triple{2, 2, 2}};
  c.n_conv_per_stage = {1, 1, 1};
  c.n_conv_per_stage_decoder = {1, 1};
  return c;
}

std::map<std::string, std::vector<float>> values_of(UNet& network) {
  std::map<std::string, std::vector<float>> values;
  for (const NamedParameter& parameter : network.parameters())
    values[parameter.name] = parameter.var->value().to_vector<float>();
  return values;
}

// Fresh random values in every parameter (norm weights start at 1 and biases at 0 in any network,
// so "copied" must differ from "initialized" to be observable).
void randomize(UNet& network) {
  for (const NamedParameter& parameter : network.parameters()) {
    Tensor value = parameter.var->value();
    value.copy_from(testing::random_uniform(value.shape(), value.dtype()), Context::cpu());
  }
}

class PretrainedWeights : public testing::ScratchFolderTest {};

TEST_F(PretrainedWeights, EverythingButTheHeadsComesFromAnNnucCheckpoint) {
  UNet pretrained(Context::cpu(), small_config(5), DType::f32, testing::test_seed());
  randomize(pretrained);
  SGD optimizer(Context::cpu(), pretrained.parameters(), OptimizerConfig{});
  const std::string file = path("checkpoint_final.nnuc");
  save_checkpoint(file, capture_checkpoint(pretrained, optimizer, TrainingState{}));

  UNet target(Context::cpu(), small_config(2), DType::f32, testing::test_seed() + 1);
  randomize(target);
  const auto before = values_of(target), source = values_of(pretrained);
  const int copied = load_pretrained_weights(target, file);
  const auto after = values_of(target);
  int heads = 0;
  for (const auto& [name, values] : after) {
    if (is_segmentation_head(name)) {
      ++heads;
      EXPECT_EQ(values, before.at(name)) << name << ": a head changed";
    } else {
      EXPECT_EQ(values, source.at(name)) << name << ": not the pretrained values";
      EXPECT_NE(values, before.at(name)) << name << ": the test needs differing initializations";
    }
  }
  EXPECT_EQ(heads, 4);  // weight and bias of the two decoder stages' heads
  EXPECT_EQ(copied, static_cast<int>(after.size()) - heads);

  // A double-precision network takes the f32 values.
  UNet f64(Context::cpu(), small_config(3), DType::f64, 7);
  load_pretrained_weights(f64, file);
  const std::vector<double> first = f64.parameters()[0].var->value().to_vector<double>();
  const std::vector<float>& expected = source.at(f64.parameters()[0].name);
  ASSERT_EQ(first.size(), expected.size());
  for (std::size_t index = 0; index < first.size(); ++index) EXPECT_EQ(first[index], double(expected[index]));
}

TEST_F(PretrainedWeights, AnotherTopologyIsRefusedBeforeAnythingIsWritten) {
  UNet pretrained(Context::cpu(), small_config(2), DType::f32, 3);
  SGD optimizer(Context::cpu(), pretrained.parameters(), OptimizerConfig{});
  const std::string file = path("pretrained.nnuc");
  save_checkpoint(file, capture_checkpoint(pretrained, optimizer, TrainingState{}));

  UNetConfig wider = small_config(2);
  wider.features_per_stage = {4, 16, 8};
  UNet target(Context::cpu(), wider, DType::f32, 4);
  const auto before = values_of(target);
  EXPECT_ERROR_MENTIONS(load_pretrained_weights(target, file), file);
  EXPECT_ERROR_MENTIONS(load_pretrained_weights(target, file), "this network needs (16,");
  EXPECT_ERROR_MENTIONS(load_pretrained_weights(target, file), "nnuc move-plans");
  EXPECT_EQ(values_of(target), before);

  UNetConfig more_channels = small_config(2);
  more_channels.input_channels = 3;
  UNet three(Context::cpu(), more_channels, DType::f32, 4);
  EXPECT_ERROR_MENTIONS(load_pretrained_weights(three, file), "encoder.0.0.conv.weight");

  std::ofstream(path("garbage.nnuc")) << "not a checkpoint at all";
  EXPECT_IO_ERROR_MENTIONS(load_pretrained_weights(target, path("garbage.nnuc")), "not a checkpoint");
  EXPECT_THROW(load_pretrained_weights(target, path("missing.nnuc")), IoError);
}

TEST_F(PretrainedWeights, NnunetsPthInitializesANetworkWithOtherClasses) {
  const nlohmann::json& entry = testing::nnunet_pth_network("plain_3d");
  const fs::path folder = testing::nnunet_pth_fixtures() / entry["model_folder"].get<std::string>();
  const planner::PlansFile plans = planner::read_plans_file(folder / "plans.json");
  const data::DatasetJson dataset = data::load_dataset_json((folder / "dataset.json").string());
  UNetConfig config =
      planner::unet_config_for_training(plans.configuration(entry["configuration"].get<std::string>()), dataset);
  const std::string file = testing::nnunet_pth_checkpoint(entry);
  UNet reference(Context::cpu(), config, DType::f32, 1);
  load_nnunet_weights(reference, read_nnunet_checkpoint(file), file);

  config.num_classes += 3;  // the fine-tuning dataset has other labels
  UNet target(Context::cpu(), config, DType::f32, 2);
  const auto before = values_of(target), source = values_of(reference);
  load_pretrained_weights(target, file);
  for (const auto& [name, values] : values_of(target))
    EXPECT_EQ(values, is_segmentation_head(name) ? before.at(name) : source.at(name)) << name;
}

}  // namespace
}  // namespace nnuc::nn
