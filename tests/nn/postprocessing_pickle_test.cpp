// nnU-Net's postprocessing.pkl (nn/pth/postprocessing_pickle.h): the pickle nnunetv2's
// determine_postprocessing wrote for the committed evaluation fixture (numpy int64 labels, protocol 4)
// gives the same steps as the postprocessing.json it wrote beside, and applying it gives nnU-Net's
// postprocessed cases; pickles of another shape, or naming another function, are refused by name;
// hostile or damaged bytes are an IoError, never a crash.
#include "nn/pth/postprocessing_pickle.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "data/dataset/atomic_file.h"
#include "data/postprocess/postprocess.h"
#include "tests/data/evaluation_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

using namespace std::string_literals;
using testing::evaluation::fixture_dir;
using testing::evaluation::TempFolder;

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string fixture_pickle() { return (fixture_dir() / "postprocessing.pkl").string(); }

TEST(PostprocessingPickle, NnunetsPickleHoldsTheStepsOfItsJson) {
  EXPECT_TRUE(looks_like_pickle(fixture_pickle()));
  EXPECT_FALSE(looks_like_pickle((fixture_dir() / "postprocessing.json").string()));
  const nlohmann::ordered_json document = read_postprocessing_pickle(fixture_pickle());
  const nlohmann::ordered_json expected = data::read_json_file((fixture_dir() / "postprocessing.json").string());
  EXPECT_EQ(document["postprocessing_fns"], expected["postprocessing_fns"]);
  EXPECT_EQ(document["postprocessing_kwargs"], expected["postprocessing_kwargs"]);
  const std::vector<data::PostprocessingStep> steps = data::postprocessing_steps_from_json(document, fixture_pickle());
  EXPECT_EQ(steps, data::load_postprocessing((fixture_dir() / "postprocessing.json").string()));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].labels, (std::vector<int>{1, 2}));
  EXPECT_EQ(steps[1].labels, (std::vector<int>{2}));

  TempFolder folder("nnuc_pp_pickle");
  data::apply_postprocessing((fixture_dir() / "pred").string(), folder.file("applied"), steps, 2, ".nii.gz");
  for (const char* name : {"case_000.nii.gz", "case_001.nii.gz", "case_002.nii.gz"}) {
    EXPECT_EQ(data::read_nifti_label(folder.file("applied/"s + name)).labels.to_vector<std::int16_t>(),
              data::read_nifti_label((fixture_dir() / "pp_expected" / name).string()).labels.to_vector<std::int16_t>())
        << name;
  }
}

// Hand-written protocol-2 pickles: ([FUNCTION], [{"labels_or_regions": VALUE}]).
std::string pp_pickle(const std::string& module, const std::string& name, const std::string& value) {
  return "\x80\x02]q\x00"s + "c" + module + "\n" + name + "\nq\x01" + "a]q\x02}q\x03X\x11\x00\x00\x00"s +
         "labels_or_regions" + value + "sa\x86q\x04.";
}
const std::string kModule = "nnunetv2.postprocessing.remove_connected_components";
const std::string kFunction = "remove_all_but_largest_component_from_segmentation";

TEST(PostprocessingPickle, ReadsRegionsAsTuplesAndNoSteps) {
  TempFolder folder("nnuc_pp_pickle_shapes");
  // A region (1, 3) as a tuple, as nnU-Net's label manager holds regions.
  write_bytes(folder.file("region.pkl"), pp_pickle(kModule, kFunction, "K\x01K\x03\x86"s));
  const nlohmann::ordered_json region = read_postprocessing_pickle(folder.file("region.pkl"));
  EXPECT_EQ(region["postprocessing_kwargs"][0]["labels_or_regions"], nlohmann::ordered_json::parse("[1, 3]"));
  EXPECT_EQ(data::postprocessing_steps_from_json(region, "region.pkl")[0].labels, (std::vector<int>{1, 3}));
  // No postprocessing chosen: ([], []).
  write_bytes(folder.file("none.pkl"), "\x80\x02]q\x00]q\x01\x86q\x02."s);
  EXPECT_TRUE(
      data::postprocessing_steps_from_json(read_postprocessing_pickle(folder.file("none.pkl")), "none.pkl").empty());
}

TEST(PostprocessingPickle, RefusesOtherFunctionsAndShapesByName) {
  TempFolder folder("nnuc_pp_pickle_bad");
  const auto error_of = [&folder](const std::string& bytes) {
    write_bytes(folder.file("bad.pkl"), bytes);
    return testing::error_of(
        [&] { data::postprocessing_steps_from_json(read_postprocessing_pickle(folder.file("bad.pkl")), "bad.pkl"); });
  };
  // Code: a pickle that would run os.system when unpickled by Python is only a name here.
  EXPECT_NE(error_of(pp_pickle("posix", "system", "K\x01"s)).find("posix.system"), std::string::npos);
  // Another function of nnU-Net's module: named, and refused by the steps' check.
  EXPECT_NE(error_of(pp_pickle(kModule, "remove_small_things", "K\x01"s)).find("remove_small_things"),
            std::string::npos);
  // A label that is not an int.
  EXPECT_NE(error_of(pp_pickle(kModule, kFunction, "X\x01\x00\x00\x00"s + "a")).find("labels_or_regions"),
            std::string::npos);
  EXPECT_NE(error_of(pp_pickle(kModule, kFunction, "G\x3f\xf8\x00\x00\x00\x00\x00\x00"s)).find("is a float"),
            std::string::npos);
  // The root is not a pair.
  EXPECT_NE(error_of("\x80\x02]q\x00."s).find("expected nnU-Net's postprocessing.pkl"), std::string::npos);
  // Two functions, one kwargs dict.
  EXPECT_NE(error_of("\x80\x02](c"s + kModule + "\n" + kFunction + "\nq\x01h\x01"s + "e]q\x02}q\x03"s + "a\x86q\x04.")
                .find("2 functions but 1 kwargs"),
            std::string::npos);
}

TEST(PostprocessingPickle, DamagedBytesAreAnIoErrorNeverACrash) {
  TempFolder folder("nnuc_pp_pickle_damaged");
  std::ifstream in(fixture_pickle(), std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(original.size(), 100u);
  std::mt19937 random(std::random_device{}());
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = original;
    if (trial % 3 == 0) {
      bytes.resize(random() % bytes.size());  // truncated
    } else {
      for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips)
        bytes[random() % bytes.size()] = static_cast<char>(random());
    }
    write_bytes(folder.file("damaged.pkl"), bytes);
    try {
      data::postprocessing_steps_from_json(read_postprocessing_pickle(folder.file("damaged.pkl")), "damaged.pkl");
    } catch (const IoError&) {
    } catch (const InvalidInput&) {
    }
  }
  write_bytes(folder.file("big.pkl"), std::string(kMaxPostprocessingPickleBytes + 1, '\x80'));
  EXPECT_IO_ERROR_MENTIONS(read_postprocessing_pickle(folder.file("big.pkl")), "larger than");
  EXPECT_IO_ERROR_MENTIONS(read_postprocessing_pickle(folder.file("missing.pkl")), "missing.pkl");
}

}  // namespace
}  // namespace nnuc::nn
