#include "nn/trainer_log.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "kernels/core/error.h"

namespace nnuc::nn {

std::optional<double> TrainingLog::last_ema() const {
  if (ema_fg_dice.empty()) return std::nullopt;
  return ema_fg_dice.back();
}

namespace {

nlohmann::json number(double value) { return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value); }

nlohmann::json numbers(const std::vector<double>& values) {
  nlohmann::json out = nlohmann::json::array();
  for (double value : values) out.push_back(number(value));
  return out;
}

double number_from(const nlohmann::json& value, const std::string& where) {
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  NNUC_CHECK(value.is_number(), where, " = ", value.dump(), ": expected a number or null");
  return value.get<double>();
}

std::vector<double> numbers_from(const nlohmann::json& json, const std::string& key, const std::string& source) {
  const std::string where = source + ": log." + key;
  NNUC_CHECK(json.contains(key), source, ": the training log has no list \"", key, "\"");
  const nlohmann::json& list = json.at(key);
  NNUC_CHECK(list.is_array(), where, " is not a list");
  std::vector<double> out;
  for (std::size_t i = 0; i < list.size(); ++i)
    out.push_back(number_from(list[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

nlohmann::json to_json(const TrainingLog& log) {
  nlohmann::json out = nlohmann::json::object();
  out["mean_fg_dice"] = numbers(log.mean_fg_dice);
  out["ema_fg_dice"] = numbers(log.ema_fg_dice);
  out["dice_per_class_or_region"] = nlohmann::json::array();
  for (const auto& dice : log.dice_per_class_or_region) out["dice_per_class_or_region"].push_back(numbers(dice));
  out["train_losses"] = numbers(log.train_losses);
  out["val_losses"] = numbers(log.val_losses);
  out["lrs"] = numbers(log.lrs);
  out["epoch_start_timestamps"] = numbers(log.epoch_start_timestamps);
  out["epoch_end_timestamps"] = numbers(log.epoch_end_timestamps);
  out["skipped_steps"] = log.skipped_steps;
  return out;
}

TrainingLog training_log_from_json(const nlohmann::json& json, const std::string& source) {
  NNUC_CHECK(json.is_object(), source, ": the training log is not a JSON object");
  TrainingLog log;
  log.mean_fg_dice = numbers_from(json, "mean_fg_dice", source);
  log.ema_fg_dice = numbers_from(json, "ema_fg_dice", source);
  log.train_losses = numbers_from(json, "train_losses", source);
  log.val_losses = numbers_from(json, "val_losses", source);
  log.lrs = numbers_from(json, "lrs", source);
  log.epoch_start_timestamps = numbers_from(json, "epoch_start_timestamps", source);
  log.epoch_end_timestamps = numbers_from(json, "epoch_end_timestamps", source);
  NNUC_CHECK(json.contains("dice_per_class_or_region") && json.at("dice_per_class_or_region").is_array(), source,
             ": the training log has no list \"dice_per_class_or_region\"");
  const nlohmann::json& dice = json.at("dice_per_class_or_region");
  for (std::size_t e = 0; e < dice.size(); ++e) {
    NNUC_CHECK(dice[e].is_array(), source, ": log.dice_per_class_or_region[", e, "] is not a list");
    std::vector<double> row;
    for (const auto& value : dice[e])
      row.push_back(number_from(value, source + ": log.dice_per_class_or_region[" + std::to_string(e) + "]"));
    log.dice_per_class_or_region.push_back(row);
  }
  if (json.contains("skipped_steps")) {
    try {
      log.skipped_steps = json.at("skipped_steps").get<std::vector<std::int64_t>>();
    } catch (const nlohmann::json::exception&) {
      NNUC_THROW(InvalidInput, source, ": log.skipped_steps is not a list of integers");
    }
  } else {
    log.skipped_steps.assign(log.train_losses.size(), 0);
  }
  const std::size_t epochs = log.train_losses.size();
  for (std::size_t size :
       {log.mean_fg_dice.size(), log.ema_fg_dice.size(), log.dice_per_class_or_region.size(), log.val_losses.size(),
        log.lrs.size(), log.epoch_start_timestamps.size(), log.epoch_end_timestamps.size(), log.skipped_steps.size()})
    NNUC_CHECK(size == epochs, source, ": the training log's lists differ in length (", size, " vs ", epochs,
               " train_losses)");
  return log;
}

std::string python_round(double value, int decimals) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  const double scale = std::pow(10.0, decimals);
  // numpy rounds half to even on the scaled value (np.round = np.around).
  double rounded = std::nearbyint(value * scale) / scale;
  if (rounded == 0) rounded = 0;  // no "-0.0"
  // Python's repr: the fewest significant digits that read back as the same double, in fixed
  // notation for decimal exponents in [-4, 16), else scientific.
  char text[48];
  int digits = 1;
  for (; digits < 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*e", digits - 1, rounded);
    if (std::strtod(text, nullptr) == rounded) break;
  }
  std::snprintf(text, sizeof text, "%.*e", digits - 1, rounded);
  const int exponent = std::atoi(std::strchr(text, 'e') + 1);
  if (exponent < -4 || exponent >= 16) return text;
  std::snprintf(text, sizeof text, "%.*f", std::max(digits - 1 - exponent, 0), rounded);
  std::string out = text;
  if (out.find('.') == std::string::npos) out += ".0";
  return out;
}

std::string python_round_list(const std::vector<double>& values, int decimals) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + python_round(values[i], decimals);
  return out + "]";
}

TextLog::~TextLog() {
  if (file_ != nullptr) std::fclose(file_);
}

std::string TextLog::open(const std::string& folder, std::time_t start) {
  std::tm local{};
  localtime_r(&start, &local);
  char name[80];
  std::snprintf(name, sizeof name, "training_log_%d_%d_%d_%02d_%02d_%02d.txt", local.tm_year + 1900, local.tm_mon + 1,
                local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec);
  path_ = (std::filesystem::path(folder) / name).string();
  if (file_ != nullptr) std::fclose(file_);
  file_ = std::fopen(path_.c_str(), "a");
  if (file_ == nullptr) NNUC_THROW(IoError, "cannot create the training log ", path_);
  return path_;
}

std::string TextLog::write(const std::string& text) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02d %02d:%02d:%02d.%06lld: ", local.tm_year + 1900, local.tm_mon + 1,
                local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec, static_cast<long long>(micros));
  const std::string line = stamp + text;
  if (file_ != nullptr) {
    std::fputs(line.c_str(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
  return line;
}

}  // namespace nnuc::nn
