#include "planner/plan_and_preprocess.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "data/dataset/atomic_file.h"
#include "data/dataset/raw_dataset.h"
#include "data/preprocess/nifti_case.h"
#include "data/preprocess/preprocess_dataset.h"
#include "kernels/core/error.h"
#include "planner/model_folder.h"
#include "planner/plans_read.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

namespace {

constexpr double kBytesPerGib = 1073741824.0;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The last component of a folder path, ignoring trailing separators.
std::string folder_name(const std::string& folder) {
  fs::path path = fs::path(folder).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  return path.filename().string();
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  data::write_file_atomic(to, data::read_file_text(from));
}

// The classes whose locations are stored for foreground oversampling (labels or regions of dataset.json).
std::vector<data::ClassSpec> sampling_classes_of(const data::DatasetJson& dataset) {
  return data::classes_for_sampling(dataset.all_labels(), dataset.foreground_regions(), dataset.has_regions(),
                                    dataset.ignore_label().has_value());
}

void create_output_folder(const fs::path& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) NNUC_THROW(IoError, folder.string(), ": cannot create the output folder (", error.message(), ")");
}

// Planning from a fingerprint: both files the user named, checked before anything is written, so
// that a refused run leaves the output folder as it was. Errors name the user's files.
void load_planning_inputs(const PlanAndPreprocessOptions& options, data::DatasetJson& dataset_json,
                          data::DatasetFingerprint& fingerprint) {
  // No image is read: any file ending nnU-Net plans for is accepted.
  dataset_json = data::load_dataset_json(options.dataset_json_file, data::FileEndings::any);
  fingerprint = data::read_fingerprint(options.fingerprint_file);
  const std::size_t channels = fingerprint.foreground_intensity_properties_per_channel.size();
  NNUC_CHECK(channels == dataset_json.channel_names.size(), options.fingerprint_file,
             ": field \"foreground_intensity_properties_per_channel\" describes ", channels, " channels but ",
             options.dataset_json_file, " lists ", dataset_json.channel_names.size(),
             "; expected the fingerprint of this dataset");
}

std::string format_list(const std::vector<double>& values) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}

std::string format_list(const std::vector<std::int64_t>& values) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}

// The configurations to preprocess. 3d_cascade_fullres is accepted as nnU-Net accepts it: it inherits
// 3d_fullres's data identifier, so it stands for 3d_fullres's data when the plans hold a cascade (the
// caller resolves that once the plans exist).
std::vector<std::string> chosen_configurations(const std::vector<std::string>& requested) {
  if (requested.empty()) return configuration_names();
  for (const std::string& name : requested) {
    const auto& known = configuration_names();
    NNUC_CHECK(std::find(known.begin(), known.end(), name) != known.end() || name == "3d_cascade_fullres",
               "unknown configuration \"", name, "\"; expected 2d, 3d_fullres, 3d_lowres or 3d_cascade_fullres");
  }
  return requested;
}

const ConfigurationPlan* configuration_by_name(const Plans& plans, const std::string& name) {
  if (name == "2d" && plans.configuration_2d) return &*plans.configuration_2d;
  if (name == "3d_lowres" && plans.configuration_3d_lowres) return &*plans.configuration_3d_lowres;
  if (name == "3d_fullres" && plans.configuration_3d_fullres) return &*plans.configuration_3d_fullres;
  return nullptr;
}

void say(const PlanAndPreprocessOptions& options, const std::string& line) {
  if (options.log) options.log(line);
}

// ---- fingerprint reuse ----

constexpr const char* kFingerprintSourceName = "nnuc_fingerprint_source.json";
constexpr const char* kFingerprintSourceFormat = "nnuc-fingerprint-source/1";

// FNV-1a 64 of `bytes` as 16 hex digits: names the exact fingerprint file a source record vouches for.
std::string content_digest(const std::string& bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

struct FingerprintReuse {
  bool reuse = false;
  std::string why_not;                   // empty when reused or when there was nothing to reuse
  data::DatasetFingerprint fingerprint;  // when reused
};

// Whether the fingerprint already in the output folder was made from the raw dataset as it is now
// (`state_hash`, `num_cases`): its source record must name that state and the fingerprint file's
// current bytes. Never throws: an unreadable record or fingerprint is a reason to extract anew.
FingerprintReuse existing_fingerprint(const PlanAndPreprocessOptions& options, const std::string& fingerprint_path,
                                      const std::string& source_path, const std::string& state_hash,
                                      std::size_t num_cases) {
  FingerprintReuse outcome;
  std::error_code error;
  if (!fs::exists(fingerprint_path, error)) return outcome;
  if (options.clean) {
    outcome.why_not = "--clean";
    return outcome;
  }
  if (!fs::exists(source_path, error)) {
    outcome.why_not = std::string("the existing fingerprint has no ") + kFingerprintSourceName +
                      " saying which raw dataset it was made from";
    return outcome;
  }
  try {
    const nlohmann::json source = nlohmann::json::parse(data::read_file_text(source_path));
    if (!source.is_object() || source.value("format", "") != kFingerprintSourceFormat) {
      outcome.why_not = std::string("unreadable ") + kFingerprintSourceName;
      return outcome;
    }
    if (source.value("dataset_state_hash", "") != state_hash) {
      outcome.why_not = "the raw dataset changed since the existing fingerprint was made";
      return outcome;
    }
    if (source.value("fingerprint_digest", "") != content_digest(data::read_file_text(fingerprint_path))) {
      outcome.why_not = "dataset_fingerprint.json was changed after it was extracted";
      return outcome;
    }
    outcome.fingerprint = data::read_fingerprint(fingerprint_path);
  } catch (const std::exception& failure) {
    outcome.why_not = std::string("the existing fingerprint or its record is unreadable: ") + failure.what();
    return outcome;
  }
  if (outcome.fingerprint.spacings.size() != num_cases) {
    outcome.why_not = "the existing fingerprint describes " + std::to_string(outcome.fingerprint.spacings.size()) +
                      " cases, the dataset has " + std::to_string(num_cases);
    return outcome;
  }
  outcome.reuse = true;
  return outcome;
}

// Written after the fingerprint, so a crash in between leaves a record whose digest does not match.
void write_fingerprint_source(const std::string& source_path, const std::string& raw_dataset_folder,
                              const std::string& state_hash, const std::string& fingerprint_path,
                              std::size_t num_cases) {
  nlohmann::ordered_json source;
  source["format"] = kFingerprintSourceFormat;
  source["raw_dataset_folder"] = fs::absolute(raw_dataset_folder).lexically_normal().string();
  source["dataset_state_hash"] = state_hash;
  source["cases"] = num_cases;
  source["fingerprint_digest"] = content_digest(data::read_file_text(fingerprint_path));
  data::write_file_atomic(source_path, source.dump(2) + "\n");
}

// ---- gt_segmentations ----

// Whether two paths name the same file (false when either does not exist).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code error;
  return fs::equivalent(a, b, error);
}

bool same_file_bytes(const std::string& a, const std::string& b) {
  std::error_code error;
  const auto size_a = fs::file_size(a, error);
  if (error) return false;
  const auto size_b = fs::file_size(b, error);
  if (error || size_a != size_b) return false;
  return data::read_file_text(a) == data::read_file_text(b);
}

// nnU-Net's preprocess_dataset copies every training label to gt_segmentations/CASE<file_ending>, so
// that validation works where only the preprocessed folder is available. Atomic copies; a copy that
// is already byte-identical is left alone.
void copy_ground_truth_segmentations(const std::vector<data::RawCase>& cases, const std::string& file_ending,
                                     const fs::path& folder, PlanAndPreprocessResult& result) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) NNUC_THROW(IoError, folder.string(), ": cannot create the folder (", error.message(), ")");
  result.ground_truth_folder = folder.string();
  for (const data::RawCase& raw_case : cases) {
    const std::string copy = (folder / (raw_case.id + file_ending)).string();
    if (same_file_bytes(raw_case.label, copy)) {
      ++result.ground_truth_unchanged;
    } else {
      data::write_file_atomic(copy, data::read_file_text(raw_case.label));
      ++result.ground_truth_copied;
    }
  }
}

}  // namespace

MemoryModelKind memory_model_kind_from_name(const std::string& name) {
  if (name == "exact") return MemoryModelKind::exact;
  if (name == "nnunet") return MemoryModelKind::nnunet;
  NNUC_THROW(InvalidInput, "unknown memory model \"", name, "\"; expected exact or nnunet");
}

const std::vector<std::string>& configuration_names() {
  static const std::vector<std::string> names = {"2d", "3d_fullres", "3d_lowres"};
  return names;
}

data::PreprocessingPlan preprocessing_plan_for(const Plans& plans, const ConfigurationPlan& configuration,
                                               const data::DatasetJson& dataset,
                                               const data::DatasetFingerprint& fingerprint) {
  const std::size_t channels = configuration.normalization_schemes.size();
  NNUC_CHECK(channels == static_cast<std::size_t>(dataset.num_channels()) &&
                 configuration.use_mask_for_norm.size() == channels,
             "preprocessing plan of ", configuration.data_identifier, ": ", channels, " normalization schemes for ",
             dataset.num_channels(), " channels");
  NNUC_CHECK(fingerprint.foreground_intensity_properties_per_channel.size() == channels, "preprocessing plan of ",
             configuration.data_identifier, ": the fingerprint has intensity properties of ",
             fingerprint.foreground_intensity_properties_per_channel.size(), " channels, the dataset ", channels);
  data::PreprocessingPlan plan;
  plan.transpose_forward = plans.transpose_forward;
  plan.target_spacing = configuration.spacing;
  for (std::size_t c = 0; c < channels; ++c) {
    data::ChannelNormalization normalization;
    normalization.scheme = data::normalization_scheme_from_name(configuration.normalization_schemes[c]);
    normalization.use_mask_for_norm = configuration.use_mask_for_norm[c];
    normalization.intensity = fingerprint.foreground_intensity_properties_per_channel[c];
    plan.normalization.push_back(normalization);
  }
  const ResamplingSettings& data_resampling = configuration.resampling_data;
  const ResamplingSettings& seg_resampling = configuration.resampling_seg;
  plan.data_resampling = {data_resampling.order, data_resampling.order_z, data_resampling.force_separate_z};
  plan.seg_resampling = {seg_resampling.order, seg_resampling.order_z, seg_resampling.force_separate_z};
  plan.sampling_classes = sampling_classes_of(dataset);
  return plan;
}

std::string configuration_summary(const std::string& name, const ConfigurationPlan& plan) {
  char memory[160];
  std::snprintf(memory, sizeof memory, "%.2f of %.2f GiB (%s)",
                static_cast<double>(plan.predicted_peak_bytes) / kBytesPerGib,
                static_cast<double>(plan.memory_budget_bytes) / kBytesPerGib, plan.memory_model.c_str());
  std::ostringstream out;
  out << name << ": spacing " << format_list(plan.spacing) << ", patch " << format_list(plan.patch_size) << ", batch "
      << plan.batch_size << ", " << plan.network.n_stages() << " stages, predicted memory " << memory;
  return out.str();
}

PlanAndPreprocessResult plan_and_preprocess(const PlanAndPreprocessOptions& options) {
  const bool from_fingerprint = !options.fingerprint_file.empty() || !options.dataset_json_file.empty();
  NNUC_CHECK(from_fingerprint != !options.raw_dataset_folder.empty(),
             "give either a raw dataset folder or a fingerprint with its dataset.json, not ",
             from_fingerprint ? "both" : "neither");
  NNUC_CHECK(!from_fingerprint || (!options.fingerprint_file.empty() && !options.dataset_json_file.empty()),
             "planning from a fingerprint needs both dataset_fingerprint.json and dataset.json (got ",
             options.fingerprint_file.empty() ? "no fingerprint" : "no dataset.json", ")");
  NNUC_CHECK(!options.preprocessed_root.empty(), "no output folder (PREPROCESSED_DIR) given");
  NNUC_CHECK(options.workers >= 0 && options.fingerprint_workers >= 0, "workers = ", options.workers,
             ", fingerprint_workers = ", options.fingerprint_workers, ", expected >= 0");
  NNUC_CHECK(options.plan || !from_fingerprint,
             "extracting a fingerprint needs the raw dataset folder, not a fingerprint to plan from");
  const std::vector<std::string> chosen = chosen_configurations(options.configurations);
  const PlannerPreset preset = planner_preset_by_name(options.planner);

  PlanAndPreprocessResult result;
  const std::string dataset_name =
      !options.dataset_name.empty()
          ? options.dataset_name
          : folder_name(from_fingerprint ? fs::path(options.fingerprint_file).parent_path().string()
                                         : options.raw_dataset_folder);
  NNUC_CHECK(!dataset_name.empty() && dataset_name != "." && dataset_name != "..",
             "cannot derive a dataset name (DatasetXXX_Name) from ",
             from_fingerprint ? options.fingerprint_file : options.raw_dataset_folder, "; give it explicitly");

  // ---- Verification ----
  if (!from_fingerprint) {
    NNUC_CHECK(fs::is_directory(options.raw_dataset_folder), "raw dataset folder '", options.raw_dataset_folder,
               "' does not exist or is not a folder");
    if (!options.verify) {
      result.verification_note = "skipped (--no-verify)";
    } else if (data::dataset_verified(options.raw_dataset_folder)) {
      result.verification_note = "verified earlier (verification record up to date)";
    } else {
      say(options, "verifying " + options.raw_dataset_folder);
      data::VerifyOptions verify;
      verify.threads = options.workers;
      result.verification = data::verify_dataset(options.raw_dataset_folder, verify);
      try {
        data::write_verification_record(options.raw_dataset_folder, *result.verification);
      } catch (const Error& error) {
        say(options, std::string("could not write the verification record: ") + error.what());
      }
      if (!result.verification->ok()) {
        result.refused = true;
        return result;
      }
      result.verification_note = "verified now";
    }
  }

  const fs::path output_folder = fs::path(options.preprocessed_root) / dataset_name;
  result.output_folder = output_folder.string();
  const std::string fingerprint_path = (output_folder / "dataset_fingerprint.json").string();
  const std::string dataset_json_path = (output_folder / "dataset.json").string();

  // ---- dataset.json and fingerprint ----
  data::DatasetJson dataset_json;
  data::DatasetFingerprint fingerprint;
  std::vector<data::RawCase> cases;
  const auto fingerprint_start = std::chrono::steady_clock::now();
  if (from_fingerprint) {
    // Nothing is preprocessed; the two files are copied into the output folder once the plans are made.
    load_planning_inputs(options, dataset_json, fingerprint);
    result.fingerprint_note = same_file(options.fingerprint_file, fingerprint_path)
                                  ? "the output folder's own (" + fingerprint_path + ")"
                                  : "copied from " + options.fingerprint_file;
  } else {
    create_output_folder(output_folder);
    const std::string raw_dataset_json = (fs::path(options.raw_dataset_folder) / "dataset.json").string();
    dataset_json = data::load_dataset_json(raw_dataset_json);
    cases = data::find_training_cases(options.raw_dataset_folder, dataset_json);
    NNUC_CHECK(!cases.empty(), "no training cases in ", options.raw_dataset_folder);
    // The state before reading: a dataset edited during extraction fails the next run's comparison.
    const std::string state_hash = data::dataset_state_hash(options.raw_dataset_folder);
    const std::string source_path = (output_folder / kFingerprintSourceName).string();
    FingerprintReuse existing = existing_fingerprint(options, fingerprint_path, source_path, state_hash, cases.size());
    if (existing.reuse) {
      say(options, "reusing " + fingerprint_path + ": made from this raw dataset as it is now");
      fingerprint = std::move(existing.fingerprint);
      result.fingerprint_reused = true;
      result.fingerprint_note = "reused (unchanged dataset)";
    } else {
      const std::string why = existing.why_not.empty() ? "" : " (" + existing.why_not + ")";
      say(options, "extracting the fingerprint of " + std::to_string(cases.size()) + " cases" + why);
      data::RunOptions run;
      run.workers = options.fingerprint_workers > 0 ? options.fingerprint_workers : options.workers;
      fingerprint = data::extract_fingerprint(
          cases.size(),
          [&cases](std::size_t i) { return data::read_nifti_case(cases[i].id, cases[i].images, cases[i].label); }, run,
          options.fingerprint_samples);
      data::write_fingerprint(fingerprint_path, fingerprint);
      write_fingerprint_source(source_path, options.raw_dataset_folder, state_hash, fingerprint_path, cases.size());
      result.fingerprint_note = "extracted" + why;
    }
    copy_file_atomic(raw_dataset_json, dataset_json_path);
    const fs::path splits = fs::path(options.raw_dataset_folder) / "splits_final.json";
    if (fs::is_regular_file(splits)) copy_file_atomic(splits.string(), (output_folder / "splits_final.json").string());
  }
  result.fingerprint_seconds = seconds_since(fingerprint_start);
  if (!options.plan) return result;

  // ---- Planning ----
  const auto planning_start = std::chrono::steady_clock::now();
  const bool exact = options.memory_model == MemoryModelKind::exact;
  result.budget = resolve_memory_budget(options.gpu_memory_gb, exact && options.modelled_device == Device::CUDA,
                                        preset.default_gpu_memory_gb);
  PlannerOptions planner_options;
  planner_options.dataset_name = dataset_name;
  planner_options.preset = preset;
  planner_options.gpu_memory_target_gb = result.budget.budget.gpu_memory_gb;
  if (options.plans_name) {
    const std::string& name = *options.plans_name;
    NNUC_CHECK(!name.empty() && name.front() != '.' &&
                   std::all_of(name.begin(), name.end(),
                               [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.'; }),
               "plans name '", name,
               "': expected letters, digits, '_', '-' and '.' (it names <name>.json and the "
               "data folders <name>_<configuration>)");
  }
  if (options.overwrite_target_spacing)
    for (double spacing : *options.overwrite_target_spacing)
      NNUC_CHECK(spacing > 0 && std::isfinite(spacing), "overwrite_target_spacing ", spacing,
                 ": expected three positive spacings in mm");
  planner_options.plans_name = options.plans_name;
  planner_options.overwrite_target_spacing = options.overwrite_target_spacing;
  std::unique_ptr<MemoryModel> model;
  const ExactMemoryModel* exact_model = nullptr;
  if (exact) {
    ExactMemoryModelOptions model_options;
    model_options.device = options.modelled_device;
    model_options.loss = loss_config_for(dataset_json);
    auto owned = std::make_unique<ExactMemoryModel>(model_options);
    exact_model = owned.get();
    model = std::move(owned);
  } else {
    model = std::make_unique<NnunetMemoryModel>(preset.reference);
  }
  say(options, "planning with the " + model->name() + " memory model, budget " +
                   std::to_string(result.budget.budget.bytes()) + " bytes from " + result.budget.source);
  result.plans = plan_experiment(dataset_json, fingerprint, planner_options, *model);
  if (exact_model) result.exact_model_statistics = exact_model->statistics();
  result.plans_file = (output_folder / (result.plans.plans_name + ".json")).string();
  if (from_fingerprint) {
    // Everything is checked (an existing plans file too): now the inputs join the plans.
    existing_plans_document(result.plans_file);
    create_output_folder(output_folder);
    // nnU-Net's plan_experiment plans from the output folder's own files: nothing to copy then.
    if (!same_file(options.dataset_json_file, dataset_json_path))
      copy_file_atomic(options.dataset_json_file, dataset_json_path);
    if (!same_file(options.fingerprint_file, fingerprint_path))
      copy_file_atomic(options.fingerprint_file, fingerprint_path);
  }
  write_plans_file(result.plans_file, result.plans);
  result.planning_seconds = seconds_since(planning_start);

  // ---- Preprocessing ----
  const auto preprocessing_start = std::chrono::steady_clock::now();
  std::vector<std::string> wanted_names = chosen;
  if (std::find(chosen.begin(), chosen.end(), "3d_cascade_fullres") != chosen.end()) {
    if (result.plans.has_cascade) {
      wanted_names.push_back("3d_fullres");
      say(options, "3d_cascade_fullres trains on 3d_fullres's preprocessed data: preprocessing 3d_fullres");
    } else {
      say(options,
          "3d_cascade_fullres: not planned for this dataset (its 3d_fullres patch covers enough of the "
          "median image, so there is no 3d_lowres stage); nothing to preprocess for it");
    }
  }
  for (const std::string& name : {std::string("2d"), std::string("3d_lowres"), std::string("3d_fullres")}) {
    const ConfigurationPlan* plan = configuration_by_name(result.plans, name);
    if (!plan) continue;
    ConfigurationOutcome outcome;
    outcome.name = name;
    outcome.plan = *plan;
    const bool wanted = std::find(wanted_names.begin(), wanted_names.end(), name) != wanted_names.end();
    if (options.preprocess && !from_fingerprint && wanted) {
      outcome.folder = (output_folder / plan->data_identifier).string();
      say(options, "preprocessing " + name + " into " + outcome.folder);
      data::RunOptions run;
      run.workers = options.workers;
      const std::vector<std::string> written = data::preprocess_dataset(
          cases.size(),
          [&cases](std::size_t i) { return data::read_nifti_case(cases[i].id, cases[i].images, cases[i].label); },
          preprocessing_plan_for(result.plans, *plan, dataset_json, fingerprint), outcome.folder, run);
      outcome.cases_preprocessed = written.size();
    }
    result.configurations.push_back(outcome);
  }
  if (options.preprocess && !from_fingerprint) {
    copy_ground_truth_segmentations(cases, dataset_json.file_ending, output_folder / "gt_segmentations", result);
    say(options, "gt_segmentations: " + std::to_string(result.ground_truth_copied) + " label files copied, " +
                     std::to_string(result.ground_truth_unchanged) + " already up to date");
  }
  result.preprocessing_seconds = seconds_since(preprocessing_start);
  return result;
}

PlanAndPreprocessResult preprocess_with_plans(const PreprocessWithPlansOptions& options) {
  NNUC_CHECK(!options.raw_dataset_folder.empty() && !options.preprocessed_root.empty(),
             "preprocess_with_plans: the raw dataset folder and the preprocessed root are required");
  const std::string dataset_name = folder_name(options.raw_dataset_folder);
  const fs::path output_folder = fs::path(options.preprocessed_root) / dataset_name;
  PlanAndPreprocessResult result;
  result.output_folder = output_folder.string();
  result.plans_file = (output_folder / (options.plans_name + ".json")).string();
  NNUC_CHECK(fs::is_regular_file(result.plans_file), result.plans_file,
             ": no such plans file (nnuc plan writes nnUNetPlans.json; nnuc move-plans writes moved plans)");
  const PlansFile plans = read_plans_file(result.plans_file);
  result.plans = plans.plans;
  const std::string raw_dataset_json = (fs::path(options.raw_dataset_folder) / "dataset.json").string();
  const data::DatasetJson dataset_json = data::load_dataset_json(raw_dataset_json);
  const std::vector<data::RawCase> cases = data::find_training_cases(options.raw_dataset_folder, dataset_json);
  NNUC_CHECK(!cases.empty(), "no training cases in ", options.raw_dataset_folder);

  // The configurations, checked before anything is written.
  auto in_plans = [&plans](const std::string& name) {
    for (const ResolvedConfiguration& configuration : plans.configurations)
      if (configuration.name == name) return true;
    return false;
  };
  std::vector<std::string> names;
  if (options.configurations.empty()) {
    for (const char* name : {"2d", "3d_fullres", "3d_lowres"})
      if (in_plans(name)) names.emplace_back(name);
  } else {
    for (const std::string& name : options.configurations) {
      const std::string data_of = name == "3d_cascade_fullres" ? "3d_fullres" : name;
      plans.configuration(data_of);  // InvalidInput naming the file and listing what it holds
      if (std::find(names.begin(), names.end(), data_of) == names.end()) names.push_back(data_of);
    }
  }
  NNUC_CHECK(!names.empty(), result.plans_file, ": holds none of 2d, 3d_fullres, 3d_lowres; name one with -c");
  std::vector<std::pair<const ResolvedConfiguration*, data::PreprocessingPlan>> work;
  for (const std::string& name : names) {
    const ResolvedConfiguration& configuration = plans.configuration(name);
    data::PreprocessingPlan plan = preprocessing_plan_from_plans(plans, configuration, dataset_json);
    plan.sampling_classes = sampling_classes_of(dataset_json);
    work.emplace_back(&configuration, std::move(plan));
  }

  const auto start = std::chrono::steady_clock::now();
  create_output_folder(output_folder);
  for (const auto& [configuration, plan] : work) {
    ConfigurationOutcome outcome;
    outcome.name = configuration->name;
    outcome.plan = configuration->plan;
    outcome.folder = (output_folder / configuration->plan.data_identifier).string();
    if (options.log) options.log("preprocessing " + outcome.name + " into " + outcome.folder);
    data::RunOptions run;
    run.workers = options.workers;
    const std::vector<std::string> written = data::preprocess_dataset(
        cases.size(),
        [&cases](std::size_t i) { return data::read_nifti_case(cases[i].id, cases[i].images, cases[i].label); }, plan,
        outcome.folder, run);
    outcome.cases_preprocessed = written.size();
    result.configurations.push_back(outcome);
  }
  copy_file_atomic(raw_dataset_json, (output_folder / "dataset.json").string());
  const fs::path splits = fs::path(options.raw_dataset_folder) / "splits_final.json";
  if (fs::is_regular_file(splits)) copy_file_atomic(splits.string(), (output_folder / "splits_final.json").string());
  copy_ground_truth_segmentations(cases, dataset_json.file_ending, output_folder / "gt_segmentations", result);
  result.preprocessing_seconds = seconds_since(start);
  return result;
}

}  // namespace nnuc::planner
