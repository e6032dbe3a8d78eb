// Model archives (planner/model_archive.h): what an export holds (nnU-Net's selection, strict and not),
// the round trip through install, and archives that install refuses whole (zip-slip names, links, a
// file with members below it) or stops on (a corrupt member, never left half-written).
#include "planner/model_archive.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include "kernels/core/error.h"
#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
using nnuc::planner::export_model_zip;
using nnuc::planner::install_model_zip;
using nnuc::planner::ModelExportOptions;

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ModelArchive : public nnuc::testing::ScratchFolderTest {
 protected:
  // Writes `bytes` (fresh random ones when empty) to results/<relative>; returns the bytes.
  std::string put(const std::string& relative, std::string bytes = "") {
    if (bytes.empty()) {
      std::uniform_int_distribution<int> byte(0, 255);
      bytes.resize(1000 + nnuc::testing::rng()() % 5000);
      for (char& c : bytes) c = static_cast<char>(byte(nnuc::testing::rng()));
    }
    const fs::path file = folder_ / "results" / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << bytes;
    return bytes;
  }
  // A results tree: 2d and 3d_fullres trained on folds 0 and 1, an ensemble of the two, an ensemble
  // with a model that is not exported, inference information, and files an export leaves out.
  void make_results() {
    const std::string dataset = "Dataset042_Liver/";
    for (const std::string configuration : {"2d", "3d_fullres"}) {
      const std::string model = dataset + "nnUNetTrainer__nnUNetPlans__" + configuration + "/";
      for (const char* file : {"plans.json", "dataset.json", "dataset_fingerprint.json"}) put(model + file);
      for (const std::string fold : {"0", "1"}) {
        const std::string folder = model + "fold_" + fold + "/";
        put(folder + "checkpoint_final.nnuc");
        put(folder + "checkpoint_best.nnuc");
        put(folder + "debug.json");
        put(folder + "progress.png");
        put(folder + "training_log.json");
        put(folder + "validation/summary.json");
        put(folder + "validation/case_" + fold + ".nii.gz");
        put(folder + "validation/case_" + fold + ".npz");
        put(folder + "validation/case_" + fold + ".pkl");
      }
      put(model + "crossval_results_folds_0_1/summary.json");
      put(model + "crossval_results_folds_0_1/postprocessing.json");
      put(model + "crossval_results_folds_0_1/case_0.nii.gz");
    }
    put(dataset +
        "ensembles/ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1/"
        "summary.json");
    put(dataset +
        "ensembles/ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_lowres___0_1/"
        "summary.json");
    put(dataset + "inference_information.json");
    put(dataset + "inference_instructions.txt");
  }
  std::string results() const { return (folder_ / "results").string(); }
  std::string zip_path(const std::string& name = "models.zip") const { return (folder_ / name).string(); }

  static std::set<std::string> members(const std::string& archive) {
    int code = 0;
    zip_t* zip = zip_open(archive.c_str(), ZIP_RDONLY, &code);
    EXPECT_NE(zip, nullptr);
    std::set<std::string> names;
    for (zip_int64_t index = 0; index < zip_get_num_entries(zip, 0); ++index)
      names.insert(zip_get_name(zip, static_cast<zip_uint64_t>(index), 0));
    zip_discard(zip);
    return names;
  }
  // A zip of (name, content) members, stored uncompressed; a folder member has a name ending in '/'.
  std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries,
                       const std::string& name = "crafted.zip", const std::string& symlink = "") {
    int code = 0;
    zip_t* zip = zip_open(zip_path(name).c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    EXPECT_NE(zip, nullptr);
    for (const auto& [member, content] : entries) {
      zip_int64_t index;
      if (member.back() == '/') {
        index = zip_dir_add(zip, member.substr(0, member.size() - 1).c_str(), 0);
      } else {
        zip_source_t* source = zip_source_buffer(zip, content.data(), content.size(), 0);
        index = zip_file_add(zip, member.c_str(), source, 0);
        zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
      }
      EXPECT_GE(index, 0) << member;
      if (member == symlink)
        zip_file_set_external_attributes(zip, static_cast<zip_uint64_t>(index), 0, ZIP_OPSYS_UNIX, 0120777u << 16);
    }
    EXPECT_EQ(zip_close(zip), 0);
    return zip_path(name);
  }
  // Every file below a folder, relative.
  static std::set<std::string> files_below(const fs::path& root) {
    std::set<std::string> files;
    if (!fs::exists(root)) return files;
    for (const auto& entry : fs::recursive_directory_iterator(root))
      if (entry.is_regular_file()) files.insert(entry.path().lexically_relative(root).generic_string());
    return files;
  }
};

TEST_F(ModelArchive, ExportHoldsWhatNnunetExportsAndInstallsByteForByte) {
  make_results();
  ModelExportOptions options;
  options.configurations = {"2d", "3d_fullres"};
  options.folds = {"0", "1"};
  const auto result = export_model_zip(results(), "Dataset042_Liver", zip_path(), options);
  std::set<std::string> expected;
  for (const std::string configuration : {"2d", "3d_fullres"}) {
    const std::string model = "Dataset042_Liver/nnUNetTrainer__nnUNetPlans__" + configuration + "/";
    for (const char* file : {"plans.json", "dataset.json", "dataset_fingerprint.json"}) expected.insert(model + file);
    for (const std::string fold : {"0", "1"})
      for (const char* file : {"checkpoint_final.nnuc", "debug.json", "progress.png", "validation/summary.json"})
        expected.insert(model + "fold_" + fold + "/" + file);
    expected.insert(model + "crossval_results_folds_0_1/summary.json");
    expected.insert(model + "crossval_results_folds_0_1/postprocessing.json");
  }
  expected.insert(
      "Dataset042_Liver/ensembles/"
      "ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1/"
      "summary.json");
  expected.insert("Dataset042_Liver/inference_information.json");
  expected.insert("Dataset042_Liver/inference_instructions.txt");
  EXPECT_EQ(members(zip_path()), expected);
  EXPECT_EQ(std::set<std::string>(result.members.begin(), result.members.end()), expected);
  EXPECT_TRUE(result.skipped.empty());

  const fs::path installed = folder_ / "installed";
  const auto install = install_model_zip(zip_path(), installed.string());
  EXPECT_EQ(files_below(installed), expected);
  for (const std::string& file : expected)
    EXPECT_EQ(read_bytes(installed / file), read_bytes(folder_ / "results" / file)) << file;
  EXPECT_EQ(install.model_folders.size(), 2u);
  EXPECT_EQ(install.replaced, 0);
  // Installing again replaces every file with the same bytes.
  EXPECT_EQ(install_model_zip(zip_path(), installed.string()).replaced, static_cast<int>(expected.size()));
  EXPECT_EQ(files_below(installed), expected);

  // --exp_cv_preds: every validation file but .npz / .pkl, the whole cross-validation folder; -chk
  // with full names.
  options.export_crossval_predictions = true;
  options.checkpoints = {"checkpoint_final.nnuc", "checkpoint_best"};
  const std::set<std::string> with_predictions =
      members((export_model_zip(results(), "Dataset042_Liver", zip_path("cv.zip"), options), zip_path("cv.zip")));
  const std::string model = "Dataset042_Liver/nnUNetTrainer__nnUNetPlans__2d/";
  for (const std::string file :
       {"fold_1/validation/case_1.nii.gz", "fold_1/checkpoint_best.nnuc", "crossval_results_folds_0_1/case_0.nii.gz"})
    EXPECT_EQ(with_predictions.count(model + file), 1u) << file;
  for (const std::string file :
       {"fold_1/validation/case_1.npz", "fold_1/validation/case_1.pkl", "fold_1/training_log.json"})
    EXPECT_EQ(with_predictions.count(model + file), 0u) << file;
}

TEST_F(ModelArchive, StrictExportNamesWhatIsMissingAndNotStrictSkipsIt) {
  make_results();
  ModelExportOptions options;  // nnU-Net's defaults: four configurations, folds 0-4
  options.folds = {"0", "1"};
  try {
    export_model_zip(results(), "Dataset042_Liver", zip_path(), options);
    ADD_FAILURE() << "an untrained configuration was exported";
  } catch (const nnuc::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("3d_lowres has no trained model"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(zip_path())) << "a failed export left an archive";
  options.configurations = {"2d"};
  options.folds = {"0", "1", "2"};
  EXPECT_THROW(export_model_zip(results(), "Dataset042_Liver", zip_path(), options), nnuc::InvalidInput);
  options.folds = {"0", "1"};
  options.checkpoints = {"checkpoint_latest"};
  EXPECT_THROW(export_model_zip(results(), "Dataset042_Liver", zip_path(), options), nnuc::InvalidInput);

  options.strict = false;
  options.configurations = {"3d_lowres", "2d"};
  const auto result = export_model_zip(results(), "Dataset042_Liver", zip_path(), options);
  EXPECT_EQ(result.skipped.size(), 3u);  // 3d_lowres, and checkpoint_latest of folds 0 and 1
  EXPECT_EQ(members(zip_path()).count("Dataset042_Liver/nnUNetTrainer__nnUNetPlans__2d/plans.json"), 1u);
  // The 2d + 3d_fullres ensemble needs 3d_fullres, which this archive does not hold.
  for (const std::string& member : members(zip_path()))
    EXPECT_EQ(member.find("ensembles/"), std::string::npos) << member;
}

TEST_F(ModelArchive, UnsafeMemberNamesAreNamed) {
  using nnuc::planner::unsafe_member_reason;
  for (const char* safe : {"Dataset001_A/", "Dataset001_A/x.json", "Dataset999_B c/T__P__2d/fold_0/checkpoint.pth"})
    EXPECT_EQ(unsafe_member_reason(safe), "") << safe;
  const std::vector<std::pair<std::string, std::string>> unsafe = {
      {"", "empty"},
      {"/etc/passwd", "absolute"},
      {"../Dataset001_A/x", "'..'"},
      {"Dataset001_A/../../x", "'..'"},
      {"Dataset001_A\\..\\x", "backslash"},
      {"Dataset001_A/./x", "'.'"},
      {"Dataset001_A//x", "empty"},
      {"C:/Dataset001_A/x", "':'"},
      {std::string("Dataset001_A/x\n"), "control"},
      {"nnUNetTrainer__nnUNetPlans__2d/plans.json", "DatasetXXX_Name"},
      {"Dataset1_A/x", "DatasetXXX_Name"},
      {"Dataset001_A", "outside"}};
  for (const auto& [name, reason] : unsafe)
    EXPECT_NE(unsafe_member_reason(name).find(reason), std::string::npos)
        << "'" << name << "': " << unsafe_member_reason(name);
}

TEST_F(ModelArchive, RefusedArchivesWriteNothing) {
  const fs::path target = folder_ / "target";
  const std::vector<std::pair<std::string, std::string>> good = {{"Dataset001_A/", ""},
                                                                 {"Dataset001_A/T__P__2d/plans.json", "{}"}};
  struct Case {
    std::vector<std::pair<std::string, std::string>> extra;
    std::string symlink;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"Dataset001_A/../../escaped.txt", "x"}}, "", "'..' component"},
      {{{"Dataset001_A/T__P__2d/fold_0/link", "/etc/passwd"}}, "Dataset001_A/T__P__2d/fold_0/link", "symbolic link"},
      {{{"Dataset001_A/T__P__2d/plans.json/inner", "x"}}, "", "lies below the file"},
      {{{"README.txt", "x"}}, "", "DatasetXXX_Name"}};
  for (std::size_t index = 0; index < cases.size(); ++index) {
    std::vector<std::pair<std::string, std::string>> entries = good;
    entries.insert(entries.end(), cases[index].extra.begin(), cases[index].extra.end());
    const std::string archive = make_zip(entries, "bad" + std::to_string(index) + ".zip", cases[index].symlink);
    try {
      install_model_zip(archive, target.string());
      ADD_FAILURE() << "case " << index << " installed";
    } catch (const nnuc::InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(cases[index].message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("nothing was installed"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(files_below(target).empty()) << "case " << index;
    EXPECT_FALSE(fs::exists(folder_ / "escaped.txt"));
  }
  EXPECT_THROW(install_model_zip(zip_path("missing.zip"), target.string()), nnuc::IoError);
  std::ofstream(zip_path("not_a.zip")) << "not a zip archive";
  EXPECT_THROW(install_model_zip(zip_path("not_a.zip"), target.string()), nnuc::IoError);
}

TEST_F(ModelArchive, ACorruptMemberStopsTheInstallWithoutAHalfWrittenFile) {
  std::string weights(200000, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : weights) c = static_cast<char>(byte(nnuc::testing::rng()));
  const std::string archive = make_zip({{"Dataset001_A/T__P__2d/plans.json", "{\"plans\": 1}"},
                                        {"Dataset001_A/T__P__2d/fold_0/checkpoint_final.nnuc", weights}});
  std::string bytes = read_bytes(archive);
  const std::size_t at = bytes.find(weights.substr(1000, 64));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] = static_cast<char>(bytes[at + 10] ^ 0x5a);  // stored data: the CRC-32 no longer matches
  std::ofstream(archive, std::ios::binary | std::ios::trunc) << bytes;
  const fs::path target = folder_ / "target";
  try {
    install_model_zip(archive, target.string());
    ADD_FAILURE() << "a corrupt member was installed";
  } catch (const nnuc::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint_final.nnuc"), std::string::npos) << e.what();
  }
  EXPECT_EQ(files_below(target), (std::set<std::string>{"Dataset001_A/T__P__2d/plans.json"}));
}

}  // namespace
