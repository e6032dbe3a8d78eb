#include "data/postprocess/postprocess.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "data/components/connected_components.h"
#include "data/dataset/atomic_file.h"
#include "data/evaluation/python_json.h"
#include "data/nifti/nifti_io.h"
#include "kernels/core/context.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// A folder "<parent>/.tmp-<what>-<pid>-<n>" removed with everything in it when the object goes,
// unless it was renamed away. Case listings skip ".tmp-" names.
class StagingFolder {
 public:
  StagingFolder(const std::string& parent, const std::string& what) {
    static std::atomic<unsigned long long> counter{0};
    path_ = join_path(parent, ".tmp-" + what + "-" + std::to_string(static_cast<long long>(::getpid())) + "-" +
                                  std::to_string(counter.fetch_add(1)));
    std::error_code error;
    fs::remove_all(path_, error);
    fs::create_directories(path_, error);
    if (error) NNUC_THROW(IoError, "cannot create the folder ", path_, ": ", error.message());
  }
  ~StagingFolder() {
    std::error_code error;
    fs::remove_all(path_, error);  // best effort; never throws
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return join_path(path_, name); }

 private:
  std::string path_;
};

void make_folder(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) NNUC_THROW(IoError, "cannot create the folder ", path, ": ", error.message());
}

void rename_path(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::rename(from, to, error);
  if (error) NNUC_THROW(IoError, "cannot move ", from, " to ", to, ": ", error.message());
}

void copy_file_atomic(const std::string& from, const std::string& to) { write_file_atomic(to, read_file_text(from)); }

std::string format_dice(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.5f", value);
  return buffer;
}

// What one determine run shares between its steps.
struct DetermineContext {
  const std::vector<std::string>& files;
  const std::string& reference_folder;
  const std::string& final_folder;  // where the files end up (PRED/postprocessed): the summaries name it
  const std::vector<LabelOrRegion>& items;
  std::optional<int> ignore_label;
  int threads;
};

// One candidate: every case of source_folder with `step` applied, written to output_folder, then
// evaluated from the written file. Returns the summary.
Json run_step(const DetermineContext& context, const std::string& source_folder, const std::string& output_folder,
              const PostprocessingStep& step) {
  make_folder(output_folder);
  std::vector<Json> metric_per_case(context.files.size());
  for_each_case(context.files.size(), context.threads, [&](std::size_t i) {
    const std::string& name = context.files[i];
    const NiftiLabel source = read_nifti_label(join_path(source_folder, name));
    const std::string output_file = join_path(output_folder, name);
    write_nifti_label(output_file, apply_postprocessing_steps(source.labels, {step}), source.geometry);
    const std::string reference_file = join_path(context.reference_folder, name);
    const CasePair pair = read_case_pair(reference_file, output_file);
    metric_per_case[i] =
        case_metrics_json(count_case(pair.reference, pair.prediction, context.items, context.ignore_label),
                          context.items, reference_file, join_path(context.final_folder, name));
  });
  return summarize_cases(metric_per_case, context.items);
}

std::vector<int> union_of_labels(const std::vector<LabelOrRegion>& items) {
  std::set<int> labels;
  for (const LabelOrRegion& item : items)
    for (int label : item.labels)
      if (label != 0) labels.insert(label);
  return {labels.begin(), labels.end()};
}

std::vector<int> labels_of_kwarg(const Json& value, const std::string& what) {
  std::vector<int> labels;
  if (value.is_number_integer()) {
    labels.push_back(value.get<int>());
  } else if (value.is_array() && !value.empty()) {
    for (const Json& entry : value) {
      if (entry.is_number_integer()) {
        labels.push_back(entry.get<int>());
      } else {
        NNUC_CHECK(entry.is_array() && !entry.empty(), what, " is ", value.dump(),
                   "; expected a label, a list of labels or a list of regions");
        for (const Json& label : entry) {
          NNUC_CHECK(label.is_number_integer(), what, " is ", value.dump(),
                     "; expected a label, a list of labels or a list of regions");
          labels.push_back(label.get<int>());
        }
      }
    }
  } else {
    NNUC_THROW(InvalidInput, what, " is ", value.dump(), "; expected a label, a list of labels or a list of regions");
  }
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

}  // namespace

PostprocessingStep keep_largest_step(const LabelOrRegion& item) {
  PostprocessingStep step;
  step.labels = item.labels;
  std::sort(step.labels.begin(), step.labels.end());
  step.labels_or_regions = item.is_region ? Json(item.labels) : Json(item.labels.at(0));
  return step;
}

PostprocessingStep keep_largest_step(const std::vector<int>& labels) {
  PostprocessingStep step;
  step.labels = labels;
  std::sort(step.labels.begin(), step.labels.end());
  step.labels_or_regions = Json(labels);
  return step;
}

Tensor apply_postprocessing_steps(const Tensor& segmentation, const std::vector<PostprocessingStep>& steps) {
  Tensor current = segmentation;
  for (const PostprocessingStep& step : steps) {
    std::vector<std::vector<int>> labels_or_regions;
    for (int label : step.labels) labels_or_regions.push_back({label});
    current = remove_all_but_largest_component(current, labels_or_regions, 0);
  }
  return steps.empty() ? segmentation.copy_to(Context::cpu()) : current;
}

PostprocessingResult determine_postprocessing(const std::string& prediction_folder, const std::string& reference_folder,
                                              const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label,
                                              const std::string& file_ending, int threads) {
  NNUC_CHECK(!items.empty(), "determine_postprocessing: no labels or regions to evaluate");
  const CasePairing pairing = pair_case_files(reference_folder, prediction_folder, file_ending, /*chill=*/true);
  PostprocessingResult result;
  result.missing_predictions = pairing.missing_predictions;

  // 1. The raw predictions.
  result.input_summary =
      evaluate_folders(reference_folder, prediction_folder, items, ignore_label, file_ending, threads, true);
  write_summary(join_path(prediction_folder, "summary.json"), result.input_summary);

  const std::string final_folder = join_path(prediction_folder, "postprocessed");
  StagingFolder staging(prediction_folder, "postprocessing");
  const DetermineContext context{pairing.files, reference_folder, final_folder, items, ignore_label, threads};
  std::string source = prediction_folder;  // the accepted result so far
  Json source_summary = result.input_summary;
  const auto accept = [&](const std::string& folder, Json summary, const PostprocessingStep& step) {
    std::error_code error;
    if (source != prediction_folder) fs::remove_all(source, error);
    source = folder;
    source_summary = std::move(summary);
    result.steps.push_back(step);
  };
  const auto reject = [](const std::string& folder) {
    std::error_code error;
    fs::remove_all(folder, error);
  };

  // 2. Candidate A: keep the largest component of the whole foreground.
  {
    const PostprocessingStep step = keep_largest_step(union_of_labels(items));
    const std::string folder = staging.sub("keep_largest_fg");
    Json summary = run_step(context, source, folder, step);
    const double before = foreground_mean_dice(source_summary), after = foreground_mean_dice(summary);
    bool improved = after > before;
    for (const LabelOrRegion& item : items)
      if (mean_dice(summary, item.key()) < mean_dice(source_summary, item.key())) improved = false;
    result.messages.push_back(std::string(improved ? "accepted" : "rejected") +
                              ": keep the largest foreground component (foreground mean Dice " + format_dice(before) +
                              " -> " + format_dice(after) + ")");
    if (improved)
      accept(folder, std::move(summary), step);
    else
      reject(folder);
  }

  // 3. Each label/region alone, on top of what was accepted.
  if (items.size() > 1) {
    for (std::size_t k = 0; k < items.size(); ++k) {
      const PostprocessingStep step = keep_largest_step(items[k]);
      const std::string key = items[k].key();
      const std::string folder = staging.sub("keep_largest_" + std::to_string(k));
      Json summary = run_step(context, source, folder, step);
      const double before = mean_dice(source_summary, key), after = mean_dice(summary, key);
      const bool improved = after > before;
      result.messages.push_back(std::string(improved ? "accepted" : "rejected") + ": keep the largest component of " +
                                key + " (Dice " + format_dice(before) + " -> " + format_dice(after) + ")");
      if (improved)
        accept(folder, std::move(summary), step);
      else
        reject(folder);
    }
  }

  // 4. postprocessed/ = the accepted result (a copy of the predictions when nothing was accepted).
  std::string result_folder = source;
  if (source == prediction_folder) {
    result_folder = staging.sub("copy");
    make_folder(result_folder);
    for_each_case(pairing.files.size(), threads, [&](std::size_t i) {
      copy_file_atomic(join_path(prediction_folder, pairing.files[i]), join_path(result_folder, pairing.files[i]));
    });
    for (Json& entry : source_summary["metric_per_case"]) {
      const std::string name = fs::path(entry["prediction_file"].get<std::string>()).filename().string();
      entry["prediction_file"] = join_path(final_folder, name);
    }
  }
  result.postprocessed_summary = source_summary;
  write_summary(join_path(result_folder, "summary.json"), result.postprocessed_summary);
  std::error_code error;
  fs::remove_all(final_folder, error);
  if (error) NNUC_THROW(IoError, "cannot remove the old ", final_folder, ": ", error.message());
  rename_path(result_folder, final_folder);
  write_python_json_file(join_path(prediction_folder, "postprocessing.json"), postprocessing_json(result));
  return result;
}

nlohmann::ordered_json postprocessing_json(const PostprocessingResult& result) {
  const auto means = [](const Json& summary) {
    Json out = Json::object();
    out["foreground_mean"] = summary.at("foreground_mean");
    out["mean"] = summary.at("mean");
    return out;
  };
  Json functions = Json::array(), kwargs = Json::array();
  for (const PostprocessingStep& step : result.steps) {
    functions.push_back(kKeepLargestComponentFunction);
    Json entry = Json::object();
    entry["labels_or_regions"] = step.labels_or_regions;
    kwargs.push_back(std::move(entry));
  }
  Json out = Json::object();
  out["input_folder"] = means(result.input_summary);
  out["postprocessed"] = means(result.postprocessed_summary);
  out["postprocessing_fns"] = std::move(functions);
  out["postprocessing_kwargs"] = std::move(kwargs);
  return out;
}

std::vector<PostprocessingStep> load_postprocessing(const std::string& postprocessing_json_path) {
  return postprocessing_steps_from_json(read_python_json_file(postprocessing_json_path), postprocessing_json_path);
}

std::vector<PostprocessingStep> postprocessing_steps_from_json(const nlohmann::ordered_json& document,
                                                               const std::string& file) {
  NNUC_CHECK(document.is_object() && document.contains("postprocessing_fns") &&
                 document["postprocessing_fns"].is_array() && document.contains("postprocessing_kwargs") &&
                 document["postprocessing_kwargs"].is_array(),
             file, ": expected the lists postprocessing_fns and postprocessing_kwargs (nnU-Net's postprocessing.json)");
  const Json& functions = document["postprocessing_fns"];
  const Json& kwargs = document["postprocessing_kwargs"];
  NNUC_CHECK(functions.size() == kwargs.size(), file, ": postprocessing_fns has ", functions.size(),
             " entries but postprocessing_kwargs has ", kwargs.size());
  std::vector<PostprocessingStep> steps;
  for (std::size_t i = 0; i < functions.size(); ++i) {
    const std::string what = file + ": postprocessing_kwargs[" + std::to_string(i) + "].labels_or_regions";
    NNUC_CHECK(functions[i].is_string() && functions[i].get<std::string>() == kKeepLargestComponentFunction, file,
               ": postprocessing_fns[", i, "] is ", functions[i].dump(), "; expected \"", kKeepLargestComponentFunction,
               "\"");
    NNUC_CHECK(kwargs[i].is_object() && kwargs[i].contains("labels_or_regions") && kwargs[i].size() == 1, file,
               ": postprocessing_kwargs[", i, "] is ", kwargs[i].dump(),
               "; expected {\"labels_or_regions\": LABEL or [LABELS]}");
    const Json& value = kwargs[i]["labels_or_regions"];
    steps.push_back(PostprocessingStep{labels_of_kwarg(value, what), value});
  }
  return steps;
}

void apply_postprocessing(const std::string& input_folder, const std::string& output_folder,
                          const std::vector<PostprocessingStep>& steps, int threads, const std::string& file_ending) {
  const std::string ending = file_ending.empty() ? detect_file_ending(input_folder) : file_ending;
  const std::vector<std::string> files = list_case_files(input_folder, ending);
  NNUC_CHECK(!files.empty(), "input folder ", input_folder, " holds no case (*", ending, ")");
  make_folder(output_folder);
  StagingFolder staging(output_folder, "apply-postprocessing");
  for_each_case(files.size(), threads, [&](std::size_t i) {
    const std::string input_file = join_path(input_folder, files[i]);
    if (steps.empty()) {
      copy_file_atomic(input_file, staging.sub(files[i]));
      return;
    }
    const NiftiLabel input = read_nifti_label(input_file);
    write_nifti_label(staging.sub(files[i]), apply_postprocessing_steps(input.labels, steps), input.geometry);
  });
  for (const std::string& name : files) rename_path(staging.sub(name), join_path(output_folder, name));
}

void apply_postprocessing(const std::string& input_folder, const std::string& output_folder,
                          const std::string& postprocessing_json_path, int threads, const std::string& file_ending) {
  apply_postprocessing(input_folder, output_folder, load_postprocessing(postprocessing_json_path), threads,
                       file_ending);
}

nlohmann::ordered_json accumulate_crossval(const std::vector<std::string>& fold_validation_folders,
                                           const std::string& output_folder, const std::string& reference_folder,
                                           const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label,
                                           const std::string& file_ending, int threads) {
  NNUC_CHECK(!fold_validation_folders.empty(), "accumulate_crossval: no fold validation folders given");
  std::map<std::string, std::string> origin;  // case file name -> the fold folder holding it
  for (const std::string& folder : fold_validation_folders) {
    for (const std::string& name : list_case_files(folder, file_ending)) {
      const auto [it, inserted] = origin.emplace(name, folder);
      NNUC_CHECK(inserted, "case ", name, " is predicted by more than one fold: ", join_path(it->second, name), " and ",
                 join_path(folder, name), "; each case belongs to exactly one fold's validation set");
    }
  }
  NNUC_CHECK(!origin.empty(), "accumulate_crossval: the fold validation folders hold no case (*", file_ending, ")");
  make_folder(output_folder);
  for (const std::string& name : list_case_files(output_folder, file_ending)) {
    if (origin.count(name) != 0) continue;
    std::error_code error;
    fs::remove(join_path(output_folder, name), error);
    if (error)
      NNUC_THROW(IoError, "cannot remove the stale case ", join_path(output_folder, name), ": ", error.message());
  }
  const std::vector<std::pair<std::string, std::string>> copies(origin.begin(), origin.end());
  for_each_case(copies.size(), threads, [&](std::size_t i) {
    copy_file_atomic(join_path(copies[i].second, copies[i].first), join_path(output_folder, copies[i].first));
  });
  Json summary = evaluate_folders(reference_folder, output_folder, items, ignore_label, file_ending, threads, true);
  write_summary(join_path(output_folder, "summary.json"), summary);
  return summary;
}

}  // namespace nnuc::data
