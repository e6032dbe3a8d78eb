// The per-case thread pool: every case runs once, progress counts up, a failure names its case and
// keeps its error type.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>

#include "data/preprocess/driver.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

std::string case_name(std::size_t i) { return "case_" + std::to_string(i); }

TEST(PreprocessDriver, RunsEveryCaseOnceAndReportsProgress) {
  for (int workers : {1, 3, 8}) {
    std::vector<std::atomic<int>> runs(37);
    std::vector<std::size_t> done;
    std::set<std::string> reported;
    RunOptions options;
    options.workers = workers;
    options.progress = [&](const ProgressUpdate& update) {
      done.push_back(update.done);
      reported.insert(update.last_case);
      EXPECT_EQ(update.total, 37u);
      EXPECT_FALSE(format_progress(update).empty());
    };
    run_cases(
        runs.size(), case_name, [&](std::size_t i) { ++runs[i]; }, options);
    for (const auto& count : runs) EXPECT_EQ(count.load(), 1);
    ASSERT_EQ(done.size(), 37u);
    for (std::size_t k = 0; k < done.size(); ++k) EXPECT_EQ(done[k], k + 1);
    EXPECT_EQ(reported.size(), 37u);
  }
  run_cases(0, case_name, [](std::size_t) { FAIL() << "no case to run"; });
}

// "Stops new work", observed without a race: every case after the failing one waits until the driver
// has recorded the failure (options.failure), so no worker can run ahead while case 5 throws. Then
// each of the W workers finishes at most the one case it holds: at most 5 + W cases ever start.
TEST(PreprocessDriver, AFailureNamesTheCaseKeepsItsTypeAndStopsNewWork) {
  for (int workers : {1, 2, 4}) {
    SCOPED_TRACE(workers);
    std::atomic<int> started{0};
    std::mutex mutex;
    std::condition_variable recorded;
    std::vector<std::string> failures;
    RunOptions options;
    options.workers = workers;
    options.failure = [&](const std::string& failed_case) {
      std::lock_guard<std::mutex> lock(mutex);
      failures.push_back(failed_case);
      recorded.notify_all();
    };
    try {
      run_cases(
          1000, case_name,
          [&](std::size_t i) {
            ++started;
            if (i == 5) NNUC_THROW(IoError, "cannot read 'img_5.nii.gz'");
            if (i > 5) {  // claimed after case 5, which another worker holds: no deadlock
              std::unique_lock<std::mutex> lock(mutex);
              recorded.wait(lock, [&] { return !failures.empty(); });
            }
          },
          options);
      ADD_FAILURE() << "the failure was swallowed";
    } catch (const IoError& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("case 'case_5': ", 0), 0u) << message;
      EXPECT_NE(message.find("img_5.nii.gz"), std::string::npos);
    }
    EXPECT_EQ(failures, std::vector<std::string>{"case_5"});
    EXPECT_GE(started.load(), 6);
    EXPECT_LE(started.load(), 5 + workers);
  }
  EXPECT_THROW(run_cases(3, case_name,
                         [](std::size_t i) {
                           if (i == 2) throw std::runtime_error("boom");
                         }),
               Error);
  try {
    run_cases(
        3, case_name, [](std::size_t) { NNUC_CHECK(false, "bad shape"); }, RunOptions{1, 1, {}, {}});
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("case 'case_0': bad shape"), std::string::npos) << e.what();
  }
  ProgressUpdate update{3, 12, "case_2", 6.0};
  EXPECT_EQ(format_progress(update), "3/12 cases (25%), 2.00 s/case, ~18 s left, last: case_2");
}

}  // namespace
}  // namespace nnuc::data
