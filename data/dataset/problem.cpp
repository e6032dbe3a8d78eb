#include "data/dataset/problem.h"

#include <algorithm>

namespace nnuc::data {

const char* severity_name(Severity severity) { return severity == Severity::error ? "error" : "warning"; }

nlohmann::ordered_json problem_to_json(const Problem& problem) {
  nlohmann::ordered_json out;
  out["severity"] = severity_name(problem.severity);
  out["code"] = problem.code;
  out["path"] = problem.path;
  if (!problem.case_id.empty()) out["case"] = problem.case_id;
  if (!problem.field.empty()) out["field"] = problem.field;
  out["message"] = problem.message;
  return out;
}

std::string problem_to_string(const Problem& problem) {
  std::string line = std::string(severity_name(problem.severity)) + " [" + problem.code + "]";
  if (!problem.case_id.empty()) line += " " + problem.case_id;
  if (!problem.path.empty()) line += " " + problem.path;
  if (!problem.field.empty()) line += " (field '" + problem.field + "')";
  line += ": " + problem.message;
  return line;
}

std::size_t count_severity(const std::vector<Problem>& problems, Severity severity) {
  return static_cast<std::size_t>(
      std::count_if(problems.begin(), problems.end(), [&](const Problem& p) { return p.severity == severity; }));
}

}  // namespace nnuc::data
