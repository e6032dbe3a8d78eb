#include "data/evaluation/metrics.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "data/evaluation/python_json.h"
#include "data/nifti/nifti_io.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// The metric names of one label/region, in the sorted order summary.json lists them.
const std::array<const char*, 8> kMetricNames = {"Dice", "FN", "FP", "IoU", "TN", "TP", "n_pred", "n_ref"};

// numpy's pairwise summation of float64 (np.add.reduce over a contiguous 1-D array).
double numpy_pairwise_sum(const double* values, std::size_t count) {
  if (count < 8) {
    double sum = 0.0;
    for (std::size_t i = 0; i < count; ++i) sum += values[i];
    return sum;
  }
  if (count <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = values[j];
    std::size_t i = 8;
    for (; i < count - count % 8; i += 8)
      for (int j = 0; j < 8; ++j) r[j] += values[i + static_cast<std::size_t>(j)];
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < count; ++i) sum += values[i];
    return sum;
  }
  std::size_t half = count / 2;
  half -= half % 8;
  return numpy_pairwise_sum(values, half) + numpy_pairwise_sum(values + half, count - half);
}

// np.nanmean of float64 values: NaN replaced by 0, summed, divided by the count of the others.
double numpy_nanmean(std::vector<double> values) {
  double count = 0;
  for (double& value : values) {
    if (std::isnan(value))
      value = 0.0;
    else
      count += 1;
  }
  return numpy_pairwise_sum(values.data(), values.size()) / count;
}

double numpy_mean(const std::vector<double>& values) {
  return numpy_pairwise_sum(values.data(), values.size()) / static_cast<double>(values.size());
}

bool close(double a, double b) { return std::abs(a - b) <= 1e-4 + 1e-5 * std::abs(b); }

std::string format_shape(const std::array<std::int64_t, 3>& shape) {
  return "(" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " + std::to_string(shape[2]) + ")";
}

template <typename Array>
std::string format_values(const Array& values) {
  std::ostringstream out;
  out << "(";
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ")";
  return out.str();
}

}  // namespace

std::string LabelOrRegion::key() const {
  if (!is_region) {
    NNUC_CHECK(labels.size() == 1, "a label (not a region) holds exactly one value, got ", labels.size());
    return std::to_string(labels[0]);
  }
  std::string key = "(";
  for (std::size_t i = 0; i < labels.size(); ++i) key += (i ? ", " : "") + std::to_string(labels[i]);
  if (labels.size() == 1) key += ",";
  return key + ")";
}

std::vector<LabelOrRegion> labels_or_regions_from_dataset(const DatasetJson& dataset) {
  std::vector<LabelOrRegion> items;
  if (dataset.has_regions()) {
    for (const LabelDefinition& label : dataset.labels) {
      if (label.name == "ignore") continue;
      const bool background = std::all_of(label.values.begin(), label.values.end(), [](int v) { return v == 0; });
      if (background) continue;
      items.push_back(LabelOrRegion{label.values, label.is_list});
    }
    return items;
  }
  for (int label : dataset.all_labels())
    if (label != 0) items.push_back(LabelOrRegion{{label}, false});
  return items;
}

std::vector<LabelOrRegion> labels_from_list(const std::vector<int>& labels) {
  std::vector<LabelOrRegion> items;
  std::set<int> seen;
  for (int label : labels) {
    NNUC_CHECK(seen.insert(label).second, "label ", label, " is listed twice; expected each label once");
    items.push_back(LabelOrRegion{{label}, false});
  }
  return items;
}

LabelOrRegion label_or_region_from_key(const std::string& key) {
  const auto parse_int = [&key](const std::string& text) {
    std::size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    NNUC_CHECK(used == text.size() && !text.empty(), "'", key,
               "' is not a label or region key; expected an integer such as \"1\" or a tuple such as \"(1, 2)\"");
    return value;
  };
  if (key.empty() || key.front() != '(') return LabelOrRegion{{parse_int(key)}, false};
  NNUC_CHECK(key.back() == ')', "'", key, "' is not a region key; expected a tuple such as \"(1, 2)\"");
  LabelOrRegion region{{}, true};
  std::stringstream parts(key.substr(1, key.size() - 2));
  std::string part;
  while (std::getline(parts, part, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    if (!part.empty()) region.labels.push_back(parse_int(part));
  }
  NNUC_CHECK(!region.labels.empty(), "'", key, "' is an empty region; expected a tuple such as \"(1, 2)\"");
  return region;
}

std::vector<RegionCounts> count_case(const Tensor& reference, const Tensor& prediction,
                                     const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label) {
  NNUC_CHECK(reference.defined() && reference.device() == Device::CPU && reference.dtype() == DType::i16,
             "count_case: the reference must be an i16 host tensor, got ",
             reference.defined() ? reference.describe() : std::string("an undefined tensor"));
  NNUC_CHECK(prediction.defined() && prediction.device() == Device::CPU && prediction.dtype() == DType::i16,
             "count_case: the prediction must be an i16 host tensor, got ",
             prediction.defined() ? prediction.describe() : std::string("an undefined tensor"));
  NNUC_CHECK(reference.shape() == prediction.shape(), "count_case: reference ", reference.describe(),
             " and prediction ", prediction.describe(), " differ in shape");
  const std::int16_t* ref = reference.data<std::int16_t>();
  const std::int16_t* pred = prediction.data<std::int16_t>();
  const auto voxels = static_cast<std::size_t>(reference.numel());
  // The values present, each mapped to a compact index; then the joint histogram of (reference,
  // prediction) indices over the voxels that count. Every item's counts follow from the histogram.
  constexpr int kOffset = 32768;
  std::vector<std::int32_t> ref_index(65536, -1), pred_index(65536, -1);
  std::vector<int> ref_values, pred_values;
  const bool has_ignore = ignore_label.has_value();
  const int ignore = has_ignore ? *ignore_label : 0;
  for (std::size_t i = 0; i < voxels; ++i) {
    if (has_ignore && ref[i] == ignore) continue;
    if (ref_index[ref[i] + kOffset] < 0) {
      ref_index[ref[i] + kOffset] = static_cast<std::int32_t>(ref_values.size());
      ref_values.push_back(ref[i]);
    }
    if (pred_index[pred[i] + kOffset] < 0) {
      pred_index[pred[i] + kOffset] = static_cast<std::int32_t>(pred_values.size());
      pred_values.push_back(pred[i]);
    }
  }
  const std::size_t columns = pred_values.size();
  std::vector<std::int64_t> joint(ref_values.size() * columns, 0);
  for (std::size_t i = 0; i < voxels; ++i) {
    if (has_ignore && ref[i] == ignore) continue;
    ++joint[static_cast<std::size_t>(ref_index[ref[i] + kOffset]) * columns +
            static_cast<std::size_t>(pred_index[pred[i] + kOffset])];
  }
  std::vector<RegionCounts> counts;
  for (const LabelOrRegion& item : items) {
    const auto member = [&item](int value) {
      return std::find(item.labels.begin(), item.labels.end(), value) != item.labels.end();
    };
    std::int64_t tp = 0, fp = 0, fn = 0, tn = 0;
    for (std::size_t r = 0; r < ref_values.size(); ++r) {
      const bool in_ref = member(ref_values[r]);
      for (std::size_t p = 0; p < columns; ++p) {
        const std::int64_t n = joint[r * columns + p];
        const bool in_pred = member(pred_values[p]);
        (in_ref ? (in_pred ? tp : fn) : (in_pred ? fp : tn)) += n;
      }
    }
    counts.push_back(RegionCounts{static_cast<double>(tp), static_cast<double>(fp), static_cast<double>(fn),
                                  static_cast<double>(tn)});
  }
  return counts;
}

nlohmann::ordered_json case_metrics_json(const std::vector<RegionCounts>& counts,
                                         const std::vector<LabelOrRegion>& items, const std::string& reference_file,
                                         const std::string& prediction_file) {
  NNUC_CHECK(counts.size() == items.size(), "case_metrics_json: ", counts.size(), " counts for ", items.size(),
             " labels/regions");
  std::vector<std::size_t> order(items.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&items](std::size_t a, std::size_t b) { return items[a].key() < items[b].key(); });
  Json metrics = Json::object();
  for (std::size_t i : order) {
    const RegionCounts& c = counts[i];
    const auto tp = static_cast<std::int64_t>(c.tp), fp = static_cast<std::int64_t>(c.fp);
    const auto fn = static_cast<std::int64_t>(c.fn), tn = static_cast<std::int64_t>(c.tn);
    const bool empty = tp + fp + fn == 0;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Json entry = Json::object();
    entry["Dice"] = empty ? nan : static_cast<double>(2 * tp) / static_cast<double>(2 * tp + fp + fn);
    entry["FN"] = fn;
    entry["FP"] = fp;
    entry["IoU"] = empty ? nan : static_cast<double>(tp) / static_cast<double>(tp + fp + fn);
    entry["TN"] = tn;
    entry["TP"] = tp;
    entry["n_pred"] = tp + fp;
    entry["n_ref"] = tp + fn;
    metrics[items[i].key()] = std::move(entry);
  }
  Json out = Json::object();
  out["metrics"] = std::move(metrics);
  out["prediction_file"] = prediction_file;
  out["reference_file"] = reference_file;
  return out;
}

nlohmann::ordered_json summarize_cases(const std::vector<nlohmann::ordered_json>& metric_per_case,
                                       const std::vector<LabelOrRegion>& items) {
  NNUC_CHECK(!metric_per_case.empty(), "summarize_cases: no cases to summarize");
  std::vector<std::string> keys;
  for (const LabelOrRegion& item : items) keys.push_back(item.key());
  std::sort(keys.begin(), keys.end());
  Json mean = Json::object();
  for (const std::string& key : keys) {
    Json entry = Json::object();
    for (const char* metric : kMetricNames) {
      std::vector<double> values;
      for (const Json& c : metric_per_case) {
        NNUC_CHECK(c.contains("metrics") && c["metrics"].contains(key) && c["metrics"][key].contains(metric),
                   "summarize_cases: a case lacks metrics[\"", key, "\"][\"", metric, "\"]");
        values.push_back(json_number(c["metrics"][key][metric], "metrics[\"" + key + "\"][\"" + metric + "\"]"));
      }
      entry[metric] = numpy_nanmean(values);
    }
    mean[key] = std::move(entry);
  }
  Json foreground_mean = Json::object();
  for (const char* metric : kMetricNames) {
    std::vector<double> values;
    for (const std::string& key : keys)
      if (key != "0") values.push_back(mean[key][metric].get<double>());
    foreground_mean[metric] = numpy_mean(values);
  }
  Json summary = Json::object();
  summary["foreground_mean"] = std::move(foreground_mean);
  summary["mean"] = std::move(mean);
  summary["metric_per_case"] = Json(metric_per_case);
  return summary;
}

std::string join_path(const std::string& folder, const std::string& name) {
  if (folder.empty() || folder.back() == '/') return folder + name;
  return folder + "/" + name;
}

std::vector<std::string> list_case_files(const std::string& folder, const std::string& file_ending) {
  std::error_code error;
  NNUC_CHECK(fs::is_directory(folder, error), "folder ", folder, " does not exist (or is not a folder)");
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < file_ending.size() ||
        name.compare(name.size() - file_ending.size(), file_ending.size(), file_ending) != 0)
      continue;
    if (name.rfind(".tmp-", 0) == 0 || !fs::is_regular_file(entry.path(), error)) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string detect_file_ending(const std::string& folder) {
  if (!list_case_files(folder, ".nii.gz").empty()) return ".nii.gz";
  if (!list_case_files(folder, ".nii").empty()) return ".nii";
  NNUC_THROW(InvalidInput, "folder ", folder, " holds no .nii.gz or .nii file");
}

CasePairing pair_case_files(const std::string& reference_folder, const std::string& prediction_folder,
                            const std::string& file_ending, bool chill) {
  const std::vector<std::string> predictions = list_case_files(prediction_folder, file_ending);
  const std::vector<std::string> references = list_case_files(reference_folder, file_ending);
  NNUC_CHECK(!predictions.empty(), "prediction folder ", prediction_folder, " holds no case (*", file_ending, ")");
  for (const std::string& name : predictions)
    NNUC_CHECK(std::binary_search(references.begin(), references.end(), name), "prediction ",
               join_path(prediction_folder, name), " has no reference: ", join_path(reference_folder, name),
               " does not exist");
  CasePairing pairing;
  pairing.files = predictions;
  for (const std::string& name : references)
    if (!std::binary_search(predictions.begin(), predictions.end(), name)) pairing.missing_predictions.push_back(name);
  NNUC_CHECK(chill || pairing.missing_predictions.empty(), "prediction folder ", prediction_folder, " lacks ",
             pairing.missing_predictions.size(), " of the reference folder's cases (first: ",
             pairing.missing_predictions.empty() ? std::string() : pairing.missing_predictions.front(),
             "); pass --chill to evaluate the predictions that exist");
  return pairing;
}

CasePair read_case_pair(const std::string& reference_file, const std::string& prediction_file) {
  NiftiLabel reference = read_nifti_label(reference_file);
  NiftiLabel prediction = read_nifti_label(prediction_file);
  const NiftiGeometry& r = reference.geometry;
  const NiftiGeometry& p = prediction.geometry;
  NNUC_CHECK(r.shape() == p.shape(), "prediction ", prediction_file, " has shape ", format_shape(p.shape()),
             " but its reference ", reference_file, " has shape ", format_shape(r.shape()));
  bool same_grid = true;
  for (int i = 0; i < 3; ++i) {
    same_grid = same_grid && close(p.spacing[i], r.spacing[i]) && close(p.origin[i], r.origin[i]);
    for (int j = 0; j < 3; ++j) same_grid = same_grid && close(p.direction[i][j], r.direction[i][j]);
  }
  NNUC_CHECK(same_grid, "prediction ", prediction_file, " (spacing ", format_values(p.spacing), ", origin ",
             format_values(p.origin), ") does not lie on the grid of its reference ", reference_file, " (spacing ",
             format_values(r.spacing), ", origin ", format_values(r.origin), ") or their directions differ");
  return CasePair{reference.labels, prediction.labels};
}

nlohmann::ordered_json evaluate_folders(const std::string& reference_folder, const std::string& prediction_folder,
                                        const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label,
                                        const std::string& file_ending, int threads, bool chill) {
  NNUC_CHECK(!items.empty(), "evaluate_folders: no labels or regions to evaluate");
  const CasePairing pairing = pair_case_files(reference_folder, prediction_folder, file_ending, chill);
  std::vector<Json> metric_per_case(pairing.files.size());
  for_each_case(pairing.files.size(), threads, [&](std::size_t i) {
    const std::string reference_file = join_path(reference_folder, pairing.files[i]);
    const std::string prediction_file = join_path(prediction_folder, pairing.files[i]);
    const CasePair pair = read_case_pair(reference_file, prediction_file);
    metric_per_case[i] = case_metrics_json(count_case(pair.reference, pair.prediction, items, ignore_label), items,
                                           reference_file, prediction_file);
  });
  return summarize_cases(metric_per_case, items);
}

void write_summary(const std::string& path, const nlohmann::ordered_json& summary) {
  write_python_json_file(path, summary);
}

nlohmann::ordered_json read_summary(const std::string& path) {
  Json summary = read_python_json_file(path);
  NNUC_CHECK(summary.is_object() && summary.contains("foreground_mean") && summary.contains("mean"), path,
             ": not a summary.json (expected the keys foreground_mean, mean, metric_per_case)");
  return summary;
}

double foreground_mean_dice(const nlohmann::ordered_json& summary) {
  NNUC_CHECK(summary.is_object() && summary.contains("foreground_mean") && summary["foreground_mean"].is_object() &&
                 summary["foreground_mean"].contains("Dice"),
             "summary lacks foreground_mean.Dice");
  return json_number(summary["foreground_mean"]["Dice"], "foreground_mean.Dice");
}

double mean_dice(const nlohmann::ordered_json& summary, const std::string& key) {
  NNUC_CHECK(summary.is_object() && summary.contains("mean") && summary["mean"].contains(key) &&
                 summary["mean"][key].contains("Dice"),
             "summary lacks mean[\"", key, "\"].Dice");
  return json_number(summary["mean"][key]["Dice"], "mean[\"" + key + "\"].Dice");
}

void for_each_case(std::size_t count, int threads, const std::function<void(std::size_t)>& work) {
  if (count == 0) return;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t wanted = threads > 0 ? static_cast<std::size_t>(threads) : std::min<std::size_t>(8, cores);
  const std::size_t workers = std::max<std::size_t>(1, std::min(wanted, count));
  std::atomic<std::size_t> next{0};
  std::mutex failure_mutex;
  std::size_t failed_index = count;  // the smallest failing index so far; later items are skipped
  std::exception_ptr failure;
  const auto run = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (i > failed_index) continue;
      }
      try {
        work(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (i < failed_index) {
          failed_index = i;
          failure = std::current_exception();
        }
      }
    }
  };
  if (workers == 1) {
    run();
  } else {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < workers; ++t) pool.emplace_back(run);
    for (std::thread& thread : pool) thread.join();
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace nnuc::data
