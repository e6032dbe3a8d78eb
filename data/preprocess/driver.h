// Running per-case work over a dataset on a small pool of threads (fingerprint extraction,
// preprocessing), with progress reports and failures that name the case.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace nnuc::data {

struct ProgressUpdate {
  std::size_t done = 0;   // cases finished so far
  std::size_t total = 0;  // cases in the run
  std::string last_case;  // identifier of the case that just finished
  double elapsed_seconds = 0;
};
// Called once per finished case, from the worker that finished it, under a lock (calls never
// overlap); `done` counts up 1, 2, ..., total.
using ProgressCallback = std::function<void(const ProgressUpdate&)>;

// Called once, when the first case fails (with its name): new work is stopped by then, the cases in
// flight have not necessarily finished. From the failing worker, under the progress callback's lock.
using FailureCallback = std::function<void(const std::string& failed_case)>;

struct RunOptions {
  int workers = 0;            // threads working on cases at once; 0: hardware concurrency
  int threads_per_case = 0;   // OpenMP threads inside one case; 0: all cores when workers == 1, else 1
  ProgressCallback progress;  // optional
  FailureCallback failure;    // optional
};

// Runs work(i) for i in [0, count) on RunOptions::workers threads. When a case throws, no new case is
// started (a worker that finishes its case after options.failure was called starts no other), the
// cases in flight finish, and the first failure is rethrown with the same nnuc error type (IoError,
// InvalidInput, CudaError, Error; other exceptions become Error) and the message prefixed
// "case '<name(i)>': ".
void run_cases(std::size_t count, const std::function<std::string(std::size_t)>& name,
               const std::function<void(std::size_t)>& work, const RunOptions& options = {});

// One line for a progress display: "12/40 cases (30%), 2.1 s/case, ~59 s left, last: case_011".
std::string format_progress(const ProgressUpdate& update);

}  // namespace nnuc::data
