// `nnuc plot-overlay`: nnUNetv2_plot_overlay_pngs. For every training case, the slice (along the
// first array axis) where its labels are, with the labels blended into the image, as OUT/CASE.png:
// a quick visual check that images and labels belong together (orientation, spacing, label values).
// From the preprocessed data (default: the configuration's normalized channel and its seg) or, with
// --use_raw, from imagesTr/ and labelsTr/. The arithmetic is data/overlay/overlay.h's (nnU-Net's).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/dataset/raw_dataset.h"
#include "data/nifti/nifti_io.h"
#include "data/overlay/overlay.h"
#include "data/preprocess/store.h"
#include "nn/progress_plot.h"
#include "planner/plans_read.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {
namespace {

namespace fs = std::filesystem;

struct OverlayJob {
  std::string id;
  std::string image;  // raw: the channel file; preprocessed: the store file
  std::string label;  // raw only
};

// One channel and the labels of a case, as arrays of the same (a0, a1, a2) shape.
struct CaseArrays {
  std::vector<float> image;
  std::vector<std::int16_t> seg;
  std::array<std::int64_t, 3> shape{};
};

CaseArrays read_raw_case(const OverlayJob& job) {
  const data::NiftiImage image = data::read_nifti(job.image);
  const data::NiftiLabel label = data::read_nifti_label(job.label);
  const Shape& voxels = image.voxels.shape();
  NNUC_CHECK(voxels[0] == 1, job.image, ": ", voxels[0], " volumes (a 4-D file); expected one volume per channel file");
  const Shape& labels = label.labels.shape();
  NNUC_CHECK(voxels[1] == labels[0] && voxels[2] == labels[1] && voxels[3] == labels[2], "image and seg do not have ",
             "the same shape: ", job.image, " ", image.voxels.describe(), ", ", job.label, " ",
             label.labels.describe());
  CaseArrays out;
  out.shape = {labels[0], labels[1], labels[2]};
  const float* image_data = image.voxels.data<float>();
  const std::int16_t* seg_data = label.labels.data<std::int16_t>();
  out.image.assign(image_data, image_data + image.voxels.numel());
  out.seg.assign(seg_data, seg_data + label.labels.numel());
  return out;
}

CaseArrays read_preprocessed_case(const OverlayJob& job, int channel) {
  const data::PreprocessedCaseFile file = data::PreprocessedCaseFile::open(job.image);
  const data::StoredArray data = file.data();
  const data::StoredArray seg = file.seg();
  NNUC_CHECK(channel < data.shape[0], job.image, ": -channel_idx ", channel,
             ", but this dataset only has channels 0 to ", data.shape[0] - 1);
  CaseArrays out;
  out.shape = {data.shape[1], data.shape[2], data.shape[3]};
  const std::int64_t voxels = out.shape[0] * out.shape[1] * out.shape[2];
  const float* image_data = data.as<float>() + channel * voxels;
  out.image.assign(image_data, image_data + voxels);
  out.seg.assign(seg.as<std::int16_t>(), seg.as<std::int16_t>() + voxels);
  return out;
}

void plot_case(const CaseArrays& arrays, double intensity, const std::string& output) {
  const std::int64_t slice = data::select_overlay_slice(arrays.seg.data(), arrays.shape);
  const std::int64_t pixels = arrays.shape[1] * arrays.shape[2];
  const std::vector<std::uint8_t> rgb =
      data::overlay_rgb(arrays.image.data() + slice * pixels, arrays.seg.data() + slice * pixels, arrays.shape[1],
                        arrays.shape[2], intensity);
  nn::write_png_rgb(output, rgb, arrays.shape[1], arrays.shape[2]);
}

}  // namespace

int run_plot_overlay(int argc, char** argv) {
  std::string dataset_id, input, output, plans_name = "nnUNetPlans", configuration;
  int threads = 8, channel = 0;
  double intensity = 0.6;
  bool use_raw = false;
  CommandLine cli(
      "plot-overlay", "nnuc plot-overlay (-d ID | -i DATASET_DIR) -o OUTPUT_DIR [--use_raw] [-c CONFIG] [options]",
      "nnU-Net's nnUNetv2_plot_overlay_pngs: for every training case, OUTPUT_DIR/CASE.png shows the slice with\n"
      "the most foreground (along the first array axis, i.e. the last NIfTI axis; spacing is not considered)\n"
      "with the labels blended in, one color per label value present. Default: the preprocessed data of\n"
      "configuration -c (default 3d_fullres if the plans have it, else 2d) of plans -p; --use_raw: the raw\n"
      "images (channel -channel_idx) and labels. -d looks in $nnUNet_preprocessed (or $nnUNet_raw with\n"
      "--use_raw); -i names the preprocessed (or raw) dataset folder itself.\n");
  cli.option("-d", dataset_id, "dataset: 4, 004 or Dataset004_Name")->type_name("ID");
  cli.option("-i", input, "the dataset folder (preprocessed, or raw with --use_raw)")->type_name("DIR");
  cli.option("-o", output, "output folder for CASE.png")->type_name("DIR")->required();
  cli.option("-np", threads, "cases drawn in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.option("-channel_idx", channel, "the image channel drawn (0 = _0000; default 0)")
      ->type_name("K")
      ->check(in_range(0, 9999));
  cli.flag("--use_raw", use_raw, "draw the raw images and labels instead of the preprocessed data");
  cli.option("-p", plans_name, "plans identifier (default nnUNetPlans; not with --use_raw)")->type_name("NAME");
  cli.option("-c", configuration, "configuration (default 3d_fullres if available, else 2d; not with --use_raw)")
      ->type_name("CONFIG");
  cli.option("-overlay_intensity", intensity, "label color intensity: higher = brighter, less transparent (0.6)")
      ->type_name("X")
      ->check(in_range(0.0, 100.0));
  cli.exit_codes("every case drawn", "a case could not be read or drawn (each one named)");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  NNUC_CHECK(dataset_id.empty() != input.empty(), "nnuc plot-overlay: give -d ID or -i DATASET_DIR (one of them)");
  NNUC_CHECK(!use_raw || configuration.empty(), "nnuc plot-overlay: -c selects preprocessed data; not with --use_raw");
  if (!dataset_id.empty()) {
    const data::NnunetRoots roots = data::NnunetRoots::from_environment();
    const std::string& root = use_raw ? roots.raw : roots.preprocessed;
    NNUC_CHECK(!root.empty(), "nnuc plot-overlay: -d needs $", use_raw ? "nnUNet_raw" : "nnUNet_preprocessed",
               " (or give the dataset folder with -i)");
    input = (fs::path(root) / data::dataset_name_from_id_or_name(dataset_id, roots)).string();
  }
  NNUC_CHECK(fs::is_directory(input), "nnuc plot-overlay: dataset folder ", input, " does not exist");

  std::vector<OverlayJob> jobs;
  if (use_raw) {
    const data::DatasetJson dataset = data::load_dataset_json((fs::path(input) / "dataset.json").string());
    for (const data::RawCase& raw : data::find_training_cases(input, dataset)) {
      NNUC_CHECK(channel < static_cast<int>(raw.images.size()), "nnuc plot-overlay: -channel_idx ", channel,
                 ", but case ", raw.id, " has channels 0 to ", raw.images.size() - 1);
      jobs.push_back({raw.id, raw.images[static_cast<std::size_t>(channel)], raw.label});
    }
  } else {
    const fs::path dataset_json = fs::path(input) / "dataset.json";
    if (fs::is_regular_file(dataset_json)) {
      const int channels = data::load_dataset_json(dataset_json.string()).num_channels();
      NNUC_CHECK(channel < channels, "nnuc plot-overlay: -channel_idx ", channel, ", but ", dataset_json.string(),
                 " has channels 0 to ", channels - 1);
    }
    const fs::path plans_file = fs::path(input) / (plans_name + ".json");
    NNUC_CHECK(fs::is_regular_file(plans_file), "nnuc plot-overlay: ", plans_file.string(),
               " does not exist (run nnuc plan first, or give --use_raw)");
    const planner::PlansFile plans = planner::read_plans_file(plans_file);
    if (configuration.empty()) {
      configuration = "2d";
      for (const planner::ResolvedConfiguration& candidate : plans.configurations)
        if (candidate.name == "3d_fullres") configuration = "3d_fullres";
    }
    const fs::path data_folder = fs::path(input) / plans.configuration(configuration).plan.data_identifier;
    NNUC_CHECK(fs::is_directory(data_folder), "nnuc plot-overlay: preprocessed data folder ", data_folder.string(),
               " of configuration ", configuration, " does not exist (run nnuc plan -c ", configuration, " first)");
    for (const fs::directory_entry& entry : fs::directory_iterator(data_folder))
      if (entry.is_regular_file() && entry.path().extension() == data::kStoreFileEnding)
        jobs.push_back({entry.path().stem().string(), entry.path().string(), ""});
    std::sort(jobs.begin(), jobs.end(), [](const OverlayJob& a, const OverlayJob& b) { return a.id < b.id; });
  }
  NNUC_CHECK(!jobs.empty(), "nnuc plot-overlay: no cases in ", input);
  fs::create_directories(output);

  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::vector<std::string> failures;
  const auto work = [&] {
    for (std::size_t index = next++; index < jobs.size(); index = next++) {
      const OverlayJob& job = jobs[index];
      try {
        const CaseArrays arrays = use_raw ? read_raw_case(job) : read_preprocessed_case(job, channel);
        plot_case(arrays, intensity, (fs::path(output) / (job.id + ".png")).string());
      } catch (const std::exception& error) {
        const std::lock_guard<std::mutex> lock(mutex);
        failures.push_back(job.id + ": " + error.what());
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min<int>(threads, static_cast<int>(jobs.size())); ++t) pool.emplace_back(work);
  for (std::thread& thread : pool) thread.join();
  std::sort(failures.begin(), failures.end());
  for (const std::string& failure : failures) std::fprintf(stderr, "plot-overlay: FAILED %s\n", failure.c_str());
  std::printf("plot-overlay: %zu of %zu cases drawn into %s\n", jobs.size() - failures.size(), jobs.size(),
              output.c_str());
  return failures.empty() ? kExitSuccess : kExitFailure;
}

}  // namespace nnuc::tools
