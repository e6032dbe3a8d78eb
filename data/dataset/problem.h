// A problem found in a raw dataset: what the verifier and the dataset.json parser report.
//
// Problems are collected, never thrown one at a time: a user fixing a dataset wants the whole list.
// `code` is a stable machine-readable name (tests and scripts match on it); `message` is for people
// and names the value found and what was expected.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace nnuc::data {

enum class Severity { warning, error };

const char* severity_name(Severity severity);  // "warning" | "error"

struct Problem {
  Severity severity = Severity::error;
  std::string code;     // e.g. "spacing_mismatch", "label_unexpected_values", "json_missing_key"
  std::string path;     // the file at fault (absolute or as given); dataset.json for field problems
  std::string case_id;  // the case it belongs to, empty when not case-specific
  std::string field;    // dataset.json field ("labels.background"), empty otherwise
  std::string message;  // what was found and what was expected
};

nlohmann::ordered_json problem_to_json(const Problem& problem);
// One line: "error [spacing_mismatch] case_003 /data/.../case_003.nii.gz: ..."
std::string problem_to_string(const Problem& problem);

std::size_t count_severity(const std::vector<Problem>& problems, Severity severity);

}  // namespace nnuc::data
