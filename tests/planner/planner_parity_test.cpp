// Parity with nnU-Net itself: for every planner run recorded in fixtures/manifest.json (fingerprints
// and the plans nnunetv2's own planners wrote for them, see fixtures/generate_fixtures.py), our plans
// with the nnunet memory model must equal nnU-Net's field by field: same keys in the same order, same
// JSON types, numbers bit-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset/atomic_file.h"
#include "planner/planner.h"
#include "tests/planner/planner_fixtures.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

// Our own per-configuration fields, not part of nnU-Net's plans.
bool is_nnuc_field(const std::string& key) {
  return key == "memory_model" || key == "predicted_peak_bytes" || key == "memory_budget_bytes";
}

std::string kind(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number_float()) return "float";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  return "object";
}

// Appends one line per difference between nnU-Net's value `expected` and ours `actual`.
void compare(const Json& expected, const Json& actual, const std::string& path, std::vector<std::string>& diffs) {
  if (kind(expected) != kind(actual)) {
    diffs.push_back(path + ": nnU-Net " + kind(expected) + " " + expected.dump() + ", ours " + kind(actual) + " " +
                    actual.dump());
    return;
  }
  if (expected.is_object()) {
    // nnuc's fields of a configuration are checked separately.
    const bool configuration_level = path.rfind("/configurations/", 0) == 0;
    std::vector<std::string> ours;
    for (const auto& [key, value] : actual.items()) {
      if (!(configuration_level && is_nnuc_field(key))) ours.push_back(key);
    }
    std::vector<std::string> theirs;
    for (const auto& [key, value] : expected.items()) {
      if (!(configuration_level && is_nnuc_field(key))) theirs.push_back(key);
    }
    if (ours != theirs) {
      diffs.push_back(path + ": keys nnU-Net " + Json(theirs).dump() + ", ours " + Json(ours).dump());
    }
    for (const auto& [key, value] : expected.items()) {
      if (actual.contains(key)) compare(value, actual.at(key), path + "/" + key, diffs);
    }
    return;
  }
  if (expected.is_array()) {
    if (expected.size() != actual.size()) {
      diffs.push_back(path + ": nnU-Net " + expected.dump() + ", ours " + actual.dump());
      return;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      compare(expected[i], actual[i], path + "/" + std::to_string(i), diffs);
    }
    return;
  }
  if (expected.is_number_float()) {
    const double e = expected.get<double>();
    const double a = actual.get<double>();
    if (!(e == a)) {
      std::ostringstream line;
      line.precision(17);
      line << path << ": nnU-Net " << e << ", ours " << a;
      diffs.push_back(line.str());
    }
    return;
  }
  if (expected != actual) diffs.push_back(path + ": nnU-Net " + expected.dump() + ", ours " + actual.dump());
}

Json manifest() { return data::read_json_file((fixtures::fixtures_dir() / "manifest.json").string()); }

// The comparison itself must catch every kind of difference, or the parity test proves nothing.
TEST(PlannerParity, ComparatorReportsEveryKindOfDifference) {
  const Json base =
      data::read_json_file((fixtures::fixtures_dir() / "liver_ct_like" / "ExperimentPlanner.json").string());
  std::vector<std::string> none;
  compare(base, base, "", none);
  EXPECT_TRUE(none.empty());

  auto differences = [&](const Json& changed) {
    std::vector<std::string> diffs;
    compare(base, changed, "", diffs);
    return diffs.size();
  };
  Json c = base;
  c["configurations"]["3d_fullres"]["batch_size"] = 3;
  EXPECT_EQ(differences(c), 1u);
  c = base;
  const double s = c["configurations"]["3d_lowres"]["spacing"][1].get<double>();
  c["configurations"]["3d_lowres"]["spacing"][1] = std::nextafter(s, 10.0);  // one ulp
  EXPECT_EQ(differences(c), 1u);
  c = base;
  c["configurations"]["3d_fullres"]["patch_size"][0] = c["configurations"]["3d_fullres"]["patch_size"][0].get<double>();
  EXPECT_EQ(differences(c), 1u);  // int written as float
  c = base;
  c["configurations"]["2d"].erase("batch_dice");
  EXPECT_GE(differences(c), 1u);
  c = base;
  c["configurations"]["2d"]["architecture"]["arch_kwargs"]["extra"] = 1;
  EXPECT_GE(differences(c), 1u);
  c = base;
  Json reordered = Json::object();
  reordered["plans_name"] = base["plans_name"];
  for (const auto& [key, value] : base.items()) reordered[key] = value;
  EXPECT_GE(differences(reordered), 1u);
  c = base;
  c["configurations"]["3d_lowres"]["architecture"]["arch_kwargs"]["strides"].erase(1);
  EXPECT_GE(differences(c), 1u);
}

TEST(PlannerParity, ManifestCoversTheRequiredVariety) {
  const Json m = manifest();
  EXPECT_EQ(m.at("nnunetv2_version"), "2.8.1");
  std::set<std::string> datasets;
  std::set<std::string> planners;
  int with_lowres = 0;
  for (const auto& run : m.at("runs")) {
    datasets.insert(run.at("dataset").get<std::string>());
    planners.insert(run.at("planner").get<std::string>());
    for (const auto& c : run.at("configurations")) with_lowres += c == "3d_lowres";
  }
  EXPECT_GE(datasets.size(), 10u);
  EXPECT_TRUE(planners.count("ExperimentPlanner") && planners.count("nnUNetPlannerResEncM") &&
              planners.count("nnUNetPlannerResEncL") && planners.count("nnUNetPlannerResEncXL"));
  EXPECT_GE(with_lowres, 3);
}

TEST(PlannerParity, EveryFixtureMatchesNnunetFieldByField) {
  const Json m = manifest();
  int runs = 0;
  for (const auto& run : m.at("runs")) {
    const std::string dataset_name = run.at("dataset").get<std::string>();
    SCOPED_TRACE(run.at("plans").get<std::string>());
    const fixtures::FixtureDataset fixture = fixtures::load_fixture_dataset(dataset_name);

    PlannerOptions options;
    options.dataset_name = run.at("dataset_name").get<std::string>();
    options.preset = planner_preset_by_name(run.at("planner").get<std::string>());
    options.gpu_memory_target_gb = run.at("gpu_memory_target_in_gb").get<double>();
    if (!run.at("overwrite_target_spacing").is_null()) {
      const auto s = run.at("overwrite_target_spacing").get<std::vector<double>>();
      options.overwrite_target_spacing = std::array<double, 3>{s.at(0), s.at(1), s.at(2)};
    }
    const Plans plans = plan_experiment(fixture.dataset, fixture.fingerprint, options);
    const Json ours = plans_to_json(plans);
    const Json theirs = data::read_json_file((fixtures::fixtures_dir() / run.at("plans").get<std::string>()).string());

    std::vector<std::string> diffs;
    compare(theirs, ours, "", diffs);
    std::string report;
    for (const auto& d : diffs) report += "\n  " + d;
    EXPECT_TRUE(diffs.empty()) << diffs.size() << " differences:" << report;

    // Our fields are present in every trainable configuration, and the dump parses back unchanged.
    for (const auto& [name, configuration] : ours.at("configurations").items()) {
      if (configuration.contains("inherits_from")) continue;
      EXPECT_EQ(configuration.at("memory_model"), "nnunet") << name;
      EXPECT_GT(configuration.at("predicted_peak_bytes").get<std::uint64_t>(), 0u) << name;
      EXPECT_EQ(configuration.at("memory_budget_bytes").get<std::uint64_t>(),
                static_cast<std::uint64_t>(options.gpu_memory_target_gb.value() * 1073741824.0))
          << name;
    }
    std::vector<std::string> roundtrip;
    compare(ours, Json::parse(ours.dump(4)), "", roundtrip);
    EXPECT_TRUE(roundtrip.empty()) << "the plans JSON does not survive dump + parse";
    ++runs;
  }
  EXPECT_EQ(runs, static_cast<int>(m.at("runs").size()));
  EXPECT_GE(runs, 10);
}

}  // namespace
}  // namespace nnuc::planner
