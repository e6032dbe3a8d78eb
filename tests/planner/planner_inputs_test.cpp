// The planner's inputs come from data's readers (data::load_dataset_json, data::read_fingerprint):
// what the planner derives from a dataset.json — network input and output channels, nnU-Net's
// feature-map estimate's class count, the loss of the memory model, the reader/writer — for label,
// region and ignore-label datasets, and for file endings other than NIfTI.
#include <gtest/gtest.h>

#include "data/dataset/dataset_json.h"
#include "kernels/core/error.h"
#include "planner/exact_memory_model.h"
#include "planner/planner.h"

namespace nnuc::planner {
namespace {

NetworkTopology topology_of(const data::DatasetJson& dataset) {
  const PoolAndConvProps props = get_pool_and_conv_props({1.0, 1.0, 1.0}, {64, 64, 64});
  return network_topology_for(default_planner_preset(), dataset, props, 3);
}

TEST(PlannerInputs, LabelDatasetGivesChannelsClassesAndLoss) {
  const data::DatasetJson dataset = data::parse_dataset_json(
      R"({"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "PZ": 1, "TZ": 2},
          "numTraining": 32, "file_ending": ".nii.gz", "name": "Prostate"})",
      "dataset.json");
  const NetworkTopology t = topology_of(dataset);
  EXPECT_EQ(t.input_channels, 2);
  EXPECT_EQ(t.output_channels, 3);
  EXPECT_EQ(t.estimate_output_channels, 3);
  const nn::LossConfig loss = loss_config_for(dataset);
  EXPECT_FALSE(loss.regions);
  EXPECT_LT(loss.ignore_label, 0);
  EXPECT_EQ(image_reader_writer_for(dataset), "SimpleITKIO");
}

TEST(PlannerInputs, RegionsIgnoreLabelAndLegacyModality) {
  const data::DatasetJson dataset = data::parse_dataset_json(
      R"({"modality": {"0": "FLAIR"}, "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3],
          "enhancing tumor": 3, "ignore": 4}, "regions_class_order": [1, 2, 3], "numTraining": 32,
          "file_ending": ".nii.gz", "overwrite_image_reader_writer": "NibabelIO"})",
      "dataset.json");
  const NetworkTopology t = topology_of(dataset);
  EXPECT_EQ(t.input_channels, 1);
  EXPECT_EQ(t.output_channels, 3);           // the three regions
  EXPECT_EQ(t.estimate_output_channels, 5);  // every "labels" entry, as nnU-Net's estimate counts them
  const nn::LossConfig loss = loss_config_for(dataset);
  EXPECT_TRUE(loss.regions);
  EXPECT_EQ(loss.region_ignore, RegionIgnore::last_target_channel);
  EXPECT_EQ(image_reader_writer_for(dataset), "NibabelIO");

  const data::DatasetJson with_ignore = data::parse_dataset_json(
      R"({"channel_names": {"0": "CT"}, "labels": {"background": 0, "kidney": 1, "tumor": 2, "ignore": 3},
          "numTraining": 10, "file_ending": ".nii.gz"})",
      "dataset.json");
  EXPECT_EQ(topology_of(with_ignore).output_channels, 3);
  EXPECT_EQ(loss_config_for(with_ignore).ignore_label, 3);
}

TEST(PlannerInputs, OtherFileEndingsPlanWithTheirReaderWriter) {
  const std::string text = R"({"channel_names": {"0": "R", "1": "G", "2": "B"},
      "labels": {"background": 0, "road": 1}, "numTraining": 12, "file_ending": ".png",
      "overwrite_image_reader_writer": "None"})";
  EXPECT_THROW(data::parse_dataset_json(text, "dataset.json"), InvalidInput);  // nnuc reads NIfTI images only
  const data::DatasetJson dataset = data::parse_dataset_json(text, "dataset.json", data::FileEndings::any);
  EXPECT_EQ(image_reader_writer_for(dataset), "NaturalImage2DIO");
}

}  // namespace
}  // namespace nnuc::planner
