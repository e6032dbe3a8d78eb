#include "data/preprocess/driver.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

// Rethrows the current exception as the same nnuc error type with `prefix` in front of its message.
[[noreturn]] void rethrow_with_prefix(const std::exception_ptr& failure, const std::string& prefix) {
  try {
    std::rethrow_exception(failure);
  } catch (const IoError& e) {
    throw IoError(prefix + e.what(), e.file(), e.line());
  } catch (const InvalidInput& e) {
    throw InvalidInput(prefix + e.what(), e.file(), e.line());
  } catch (const CudaError& e) {
    throw CudaError(prefix + e.what(), e.file(), e.line());
  } catch (const Error& e) {
    throw Error(prefix + e.what(), e.file(), e.line());
  } catch (const std::exception& e) {
    throw Error(prefix + e.what(), __FILE__, __LINE__);
  } catch (...) {
    throw Error(prefix + "unknown exception", __FILE__, __LINE__);
  }
}

}  // namespace

void run_cases(std::size_t count, const std::function<std::string(std::size_t)>& name,
               const std::function<void(std::size_t)>& work, const RunOptions& options) {
  NNUC_CHECK(options.workers >= 0, "run_cases: workers must be >= 0, got ", options.workers);
  NNUC_CHECK(options.threads_per_case >= 0, "run_cases: threads_per_case must be >= 0, got ", options.threads_per_case);
  if (count == 0) return;
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int workers = static_cast<int>(std::min<std::size_t>(count, options.workers > 0 ? options.workers : hardware));
  const int inner_threads = options.threads_per_case > 0 ? options.threads_per_case : (workers == 1 ? hardware : 1);
  const auto start = std::chrono::steady_clock::now();

  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards failure, done and the progress callback
  std::exception_ptr failure;
  std::size_t failed_index = 0;
  std::size_t done = 0;

  auto worker = [&] {
    omp_set_num_threads(inner_threads);  // OpenMP settings are per thread: this worker's cases only
    while (!stop.load()) {
      const std::size_t index = next.fetch_add(1);
      if (index >= count) return;
      try {
        work(index);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        stop.store(true);
        if (!failure) {
          failure = std::current_exception();
          failed_index = index;
          if (options.failure) options.failure(name(index));
        }
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      ++done;
      if (options.progress) {
        ProgressUpdate update;
        update.done = done;
        update.total = count;
        update.last_case = name(index);
        update.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        options.progress(update);
      }
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers));
  for (int i = 0; i < workers; ++i) threads.emplace_back(worker);
  for (std::thread& thread : threads) thread.join();
  if (failure) rethrow_with_prefix(failure, "case '" + name(failed_index) + "': ");
}

std::string format_progress(const ProgressUpdate& update) {
  char line[256];
  const double percent =
      update.total > 0 ? 100.0 * static_cast<double>(update.done) / static_cast<double>(update.total) : 100.0;
  const double per_case = update.done > 0 ? update.elapsed_seconds / static_cast<double>(update.done) : 0.0;
  const double left = per_case * static_cast<double>(update.total - std::min(update.done, update.total));
  std::snprintf(line, sizeof line, "%zu/%zu cases (%.0f%%), %.2f s/case, ~%.0f s left", update.done, update.total,
                percent, per_case, left);
  std::string text = line;
  if (!update.last_case.empty()) text += ", last: " + update.last_case;
  return text;
}

}  // namespace nnuc::data
