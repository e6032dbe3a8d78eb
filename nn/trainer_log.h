// The trainer's record of a run (spec §6.8): the per-epoch lists nnU-Net's logger keeps, their JSON
// form (training_log.json and the "log" of every checkpoint), and the timestamped text log
// (training_log_Y_M_D_hh_mm_ss.txt) with nnU-Net's lines.
#pragma once

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nnuc::nn {

// One entry per finished epoch in every list (NaN where nnU-Net has NaN: a pseudo Dice of 0/0).
struct TrainingLog {
  std::vector<double> mean_fg_dice;
  std::vector<double> ema_fg_dice;
  std::vector<std::vector<double>> dice_per_class_or_region;
  std::vector<double> train_losses;  // mean over the epoch's finite training steps
  std::vector<double> val_losses;
  std::vector<double> lrs;
  std::vector<double> epoch_start_timestamps;  // seconds since the Unix epoch
  std::vector<double> epoch_end_timestamps;
  std::vector<std::int64_t> skipped_steps;  // nnuc's: training steps skipped for a non-finite loss or gradient

  std::size_t epochs() const { return train_losses.size(); }
  std::optional<double> last_ema() const;
};

// The lists under nnU-Net's names; NaN is written as null (JSON has no NaN) and read back as NaN.
nlohmann::json to_json(const TrainingLog& log);
// Throws InvalidInput naming `source` and the field when a list is missing, mistyped, or the lists
// differ in length.
TrainingLog training_log_from_json(const nlohmann::json& json, const std::string& source);

// Python's repr of a float after np.round(value, decimals): "0.1", "-0.4567", "1.0", "nan".
std::string python_round(double value, int decimals);
// "[0.8123, 0.7, nan]"
std::string python_round_list(const std::vector<double>& values, int decimals);

// nnU-Net's text log: every line prefixed with "YYYY-MM-DD hh:mm:ss.ffffff: " (local time), appended
// and flushed at once, so a killed run keeps every line it printed.
class TextLog {
 public:
  TextLog() = default;
  ~TextLog();
  TextLog(const TextLog&) = delete;
  TextLog& operator=(const TextLog&) = delete;
  // Creates FOLDER/training_log_Y_M_D_hh_mm_ss.txt for the local time `start` (IoError when it
  // cannot) and returns its path.
  std::string open(const std::string& folder, std::time_t start);
  // Writes "timestamp: text" and returns that line (without the newline).
  std::string write(const std::string& text);
  const std::string& path() const { return path_; }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace nnuc::nn
