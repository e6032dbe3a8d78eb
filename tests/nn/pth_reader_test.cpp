// nnU-Net's own checkpoints (nn/pth/): the pickle reader, the torch.save archive, the checkpoint
// fields, nnU-Net's state_dict loaded into nnuc's UNet with logits equal to torch's, and files that
// must be refused without running anything. Fixtures: tests/nn/fixtures/gen_nnunet_pth.py.
#include "nn/pth/pth_reader.h"

#include <filesystem>

#include "data/dataset/dataset_json.h"
#include "nn/pth/nnunet_weights.h"
#include "planner/plans_read.h"
#include "tests/nn/nnunet_pth_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

namespace fs = std::filesystem;
using pickle::Kind;

fs::path fixtures() { return testing::nnunet_pth_fixtures(); }
const nlohmann::json& manifest() { return testing::nnunet_pth_manifest(); }
const nlohmann::json& network_entry(const std::string& name) { return testing::nnunet_pth_network(name); }

UNetConfig config_of(const nlohmann::json& entry) {
  const fs::path folder = fixtures() / entry["model_folder"].get<std::string>();
  const planner::PlansFile plans = planner::read_plans_file(folder / "plans.json");
  const data::DatasetJson dataset = data::load_dataset_json((folder / "dataset.json").string());
  UNetConfig config =
      planner::unet_config_for_training(plans.configuration(entry["configuration"].get<std::string>()), dataset);
  config.deep_supervision = false;  // as nnU-Net's predictor builds it
  return config;
}

std::string checkpoint_path(const nlohmann::json& entry) { return testing::nnunet_pth_checkpoint(entry); }

// --- nnU-Net's checkpoints ------------------------------------------------------------------------

TEST(NnunetCheckpoint, ReadsTheFieldsNnucUses) {
  for (const auto& entry : manifest()["networks"]) {
    SCOPED_TRACE(entry["name"].get<std::string>());
    const NnunetCheckpoint checkpoint = read_nnunet_checkpoint(checkpoint_path(entry));
    EXPECT_EQ(checkpoint.trainer_name, "nnUNetTrainer");
    EXPECT_EQ(checkpoint.current_epoch, entry["current_epoch"].get<int>());
    EXPECT_EQ(checkpoint.configuration, entry["configuration"].get<std::string>());
    EXPECT_EQ(checkpoint.inference_allowed_mirroring_axes,
              entry["inference_allowed_mirroring_axes"].get<std::vector<int>>());
    EXPECT_EQ(checkpoint.network_weights.size(), entry["network_weights"].get<std::size_t>());
    for (const auto& [name, tensor] : checkpoint.network_weights) EXPECT_EQ(tensor.dtype(), DType::f32) << name;
  }
}

// The rest of the dict is parsed too: the training log's numpy scalars, torch.device, the optimizer's
// momentum buffers (tensors of storages nnuc never reads).
TEST(NnunetCheckpoint, ParsesTheFieldsItSkips) {
  const TorchArchive archive(checkpoint_path(network_entry("plain_3d")));
  const pickle::Pickle& p = archive.pickle();
  const pickle::Value* logging = p.find(archive.root(), "logging");
  ASSERT_NE(logging, nullptr);
  const pickle::Value* dice = p.find(*logging, "mean_fg_dice");
  ASSERT_TRUE(dice != nullptr && dice->kind == Kind::List && dice->items.size() == 2);
  EXPECT_EQ(p.at(dice->items[0]).kind, Kind::Float);
  EXPECT_DOUBLE_EQ(p.at(dice->items[0]).real, 0.25);  // np.nanmean([0.3, 0.2])
  EXPECT_DOUBLE_EQ(p.at(dice->items[1]).real, 0.3);
  const pickle::Value* init_args = p.find(archive.root(), "init_args");
  ASSERT_NE(init_args, nullptr);
  const pickle::Value* device = p.find(*init_args, "device");
  ASSERT_TRUE(device != nullptr && device->kind == Kind::String);
  EXPECT_EQ(device->text, "cpu");
  EXPECT_EQ(p.find(archive.root(), "grad_scaler_state")->kind, Kind::None);
  const pickle::Value* optimizer = p.find(archive.root(), "optimizer_state");
  ASSERT_TRUE(optimizer != nullptr && optimizer->kind == Kind::Dict);
  EXPECT_GT(p.tensors.size(), network_entry("plain_3d")["network_weights"].get<std::size_t>());  // + momentum
}

// nnU-Net's network (torch, f32, eval, deep supervision off) and nnuc's network with the same weights
// give the same logits. Tolerance: |nnuc - torch| <= 1e-4 + 1e-4·|torch| per element (both sides f32;
// the differences are summation order in convolutions and instance-norm statistics, ~1e-6 here).
void expect_logits_match(const std::string& name, DType dtype) {
  SCOPED_TRACE(name + " in " + dtype_name(dtype));
  const nlohmann::json& entry = network_entry(name);
  const NnunetCheckpoint checkpoint = read_nnunet_checkpoint(checkpoint_path(entry));
  UNet network(Context::cpu(), config_of(entry), dtype, testing::test_seed());
  load_nnunet_weights(network, checkpoint, checkpoint_path(entry));

  Tensor input = testing::nnunet_pth_array(entry, "input");
  const Tensor expected = testing::nnunet_pth_array(entry, "logits");
  if (dtype == DType::f64) input = testing::as_f64(input);

  Tape tape(Context::cpu());
  tape.set_recording(false);
  const std::vector<Var> outputs = network.forward(tape, Var(input, false));
  ASSERT_EQ(outputs.size(), 1u);
  const Tensor actual = testing::as_f32(outputs[0].value());
  ASSERT_EQ(actual.shape(), expected.shape());
  const testing::Difference difference = testing::compare(actual, expected);
  ::testing::Test::RecordProperty("max_abs_" + name, std::to_string(difference.max_abs));
  EXPECT_TRUE(testing::all_close(actual, expected, 1e-4, 1e-4))
      << "max |diff| " << difference.max_abs << ", max rel " << difference.max_rel;
}

TEST(NnunetWeights, PlainConvUNet3dLogitsMatchTorch) { expect_logits_match("plain_3d", DType::f32); }
TEST(NnunetWeights, PlainConvUNet2dLogitsMatchTorch) { expect_logits_match("plain_2d", DType::f32); }
TEST(NnunetWeights, ResidualEncoderUNetLogitsMatchTorch) { expect_logits_match("resenc_3d", DType::f32); }
TEST(NnunetWeights, DoublePrecisionNetworkLogitsMatchTorch) {
  expect_logits_match("plain_3d", DType::f64);
  expect_logits_match("resenc_3d", DType::f64);
}

TEST(NnunetWeights, NamesMapBothWays) {
  const UNetConfig config = config_of(network_entry("resenc_3d"));
  EXPECT_EQ(nnunet_parameter_name(config, "stem.conv.weight"), "encoder.stem.convs.0.conv.weight");
  EXPECT_EQ(nnunet_parameter_name(config, "encoder.1.0.skip.norm.bias"), "encoder.stages.1.blocks.0.skip.1.norm.bias");
  EXPECT_EQ(nnunet_parameter_name(config, "decoder.1.seg_head.weight"), "decoder.seg_layers.1.weight");
  EXPECT_EQ(nnunet_parameter_name(config, "decoder.0.transpconv.bias"), "decoder.transpconvs.0.bias");
  EXPECT_EQ(canonical_nnunet_name("decoder.encoder.stages.0.0.convs.1.all_modules.1.bias"),
            "encoder.stages.0.0.convs.1.norm.bias");
  EXPECT_EQ(canonical_nnunet_name("module.encoder.stem.convs.0.all_modules.0.weight"),
            "encoder.stem.convs.0.conv.weight");
}

TEST(NnunetWeights, MismatchesNameTheTensorTheFileAndBothShapes) {
  const nlohmann::json& entry = network_entry("plain_3d");
  const std::string path = checkpoint_path(entry);
  const NnunetCheckpoint checkpoint = read_nnunet_checkpoint(path);
  UNetConfig config = config_of(entry);

  UNetConfig wider = config;
  wider.num_classes = 4;
  UNet wrong_classes(Context::cpu(), wider, DType::f32, 1);
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(wrong_classes, checkpoint, path), path);
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(wrong_classes, checkpoint, path),
                        "tensor 'decoder.seg_layers.1.weight' is (3, 4, 1, 1, 1) but nnuc's network");
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(wrong_classes, checkpoint, path), "needs (4, 4, 1, 1, 1)");

  UNet network(Context::cpu(), config, DType::f32, 1);
  NnunetCheckpoint missing = checkpoint;
  for (auto it = missing.network_weights.begin(); it != missing.network_weights.end();) {
    it = it->first.find("seg_layers.0.bias") != std::string::npos ? missing.network_weights.erase(it) : it + 1;
  }
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(network, missing, path), "missing tensor 'decoder.seg_layers.0.bias' (3,)");

  NnunetCheckpoint extra = checkpoint;
  extra.network_weights.emplace_back("decoder.extra_head.weight", testing::random_uniform(Shape{3}, DType::f32));
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(network, extra, path), "unexpected tensor 'decoder.extra_head.weight'");

  NnunetCheckpoint differing_alias = checkpoint;
  for (auto& [name, tensor] : differing_alias.network_weights) {
    if (name == "encoder.stages.1.0.convs.0.all_modules.1.weight") {
      tensor = testing::random_uniform(tensor.shape(), DType::f32, 2.0, 3.0);
    }
  }
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(network, differing_alias, path),
                        "'encoder.stages.1.0.convs.0.all_modules.1.weight' (8,) should be the same tensor as "
                        "'encoder.stages.1.0.convs.0.norm.weight'");

  // A 3-d checkpoint into the 2-d network: every conv has the wrong rank.
  UNet network_2d(Context::cpu(), config_of(network_entry("plain_2d")), DType::f32, 1);
  EXPECT_ERROR_MENTIONS(load_nnunet_weights(network_2d, checkpoint, path), "problems");
}

TEST(NnunetWeights, FailedLoadLeavesTheNetworkUntouched) {
  const nlohmann::json& entry = network_entry("plain_3d");
  NnunetCheckpoint checkpoint = read_nnunet_checkpoint(checkpoint_path(entry));
  checkpoint.network_weights.pop_back();
  UNet network(Context::cpu(), config_of(entry), DType::f32, 5);
  const std::vector<float> before = network.parameters()[0].var->value().to_vector<float>();
  EXPECT_THROW(load_nnunet_weights(network, checkpoint, "x.pth"), InvalidInput);
  EXPECT_EQ(network.parameters()[0].var->value().to_vector<float>(), before);
}

// --- storages -------------------------------------------------------------------------------------

TEST(TorchArchive, ConvertsHalfBfloatDoubleAndHonoursStorageOffsets) {
  const nlohmann::json& variants = manifest()["storage_variants"];
  const NnunetCheckpoint checkpoint =
      read_nnunet_checkpoint((fixtures() / variants["file"].get<std::string>()).string());
  EXPECT_EQ(checkpoint.trainer_name, "nnUNetTrainerCustom");
  EXPECT_EQ(checkpoint.current_epoch, 7);
  EXPECT_EQ(checkpoint.configuration, "2d");
  EXPECT_TRUE(checkpoint.inference_allowed_mirroring_axes.empty());  // None
  ASSERT_EQ(checkpoint.network_weights.size(), variants["tensors"].size());
  for (const auto& [name, tensor] : checkpoint.network_weights) {
    SCOPED_TRACE(name);
    const auto& expected = variants["tensors"][name];
    const auto shape = expected["shape"].get<std::vector<std::int64_t>>();
    ASSERT_EQ(tensor.rank(), static_cast<int>(shape.size()));
    for (int axis = 0; axis < tensor.rank(); ++axis) EXPECT_EQ(tensor.dim(axis), shape[static_cast<std::size_t>(axis)]);
    const std::vector<float> actual = tensor.to_vector<float>();
    const auto values = expected["values"].get<std::vector<double>>();
    ASSERT_EQ(actual.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(actual[i], static_cast<float>(values[i])) << i;
  }
}

// --- files nnuc refuses -----------------------------------------------------------------------------

fs::path hostile(const std::string& name) { return fixtures() / "hostile" / name; }

TEST(TorchArchive, RefusesDamagedArchives) {
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("not_a_zip.pth").string()),
                           "cannot be read as a zip archive");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("not_a_zip.pth").string()), "not_a_zip.pth");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("truncated.pth").string()), "cannot be read as a zip");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("no_data_pkl.pth").string()), "no '<folder>/data.pkl'");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("big_endian.pth").string()), "byte order 'big'");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint((fixtures() / "absent.pth").string()), "absent.pth");
}

TEST(TorchArchive, RefusesTensorsOutsideTheirStorage) {
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("short_storage.pth").string()),
                           "needs 6 elements from offset 0 of storage '0', which holds 4");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("huge_size.pth").string()),
                           "tensor 'w' (1099511627776, 1073741824)");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("huge_storage.pth").string()),
                           "declares 4611686018427387904 elements");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("not_contiguous.pth").string()), "not a contiguous");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("missing_storage.pth").string()),
                           "no member 'archive/data/7'");
}

TEST(TorchArchive, NeverRunsWhatAPickleNames) {
  const std::string marker = manifest()["pwned_marker"];
  fs::remove(marker);
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("os_system_root.pth").string()),
                           "the pickled object is an object built by posix.system (nnuc does not run it)");
  EXPECT_IO_ERROR_MENTIONS(read_nnunet_checkpoint(hostile("os_system_in_weights.pth").string()),
                           "field 'network_weights.w' is an object built by posix.system");
  // In a field nnuc skips (the training log), the same object is parsed and ignored.
  const NnunetCheckpoint checkpoint = read_nnunet_checkpoint(hostile("os_system_in_logging.pth").string());
  ASSERT_EQ(checkpoint.network_weights.size(), 1u);
  EXPECT_EQ(checkpoint.network_weights[0].second.to_vector<float>(), std::vector<float>({1.0f, 1.0f}));
  EXPECT_EQ(checkpoint.inference_allowed_mirroring_axes, std::vector<int>{0});
  EXPECT_FALSE(fs::exists(marker));
}

}  // namespace
}  // namespace nnuc::nn
