// The embedded predictor in several threads (nn/predict/predictor.h; reliability.md T8, scaled to a
// 2-core CPU): one shared PredictorModel (two folds), T = 1, 2, 4 and 8 threads with one
// PredictorSession each, every thread predicting randomly chosen cases through the whole path
// (preprocessing with resampling, sliding window with mirroring over both folds, export with
// probabilities). Asserted:
// - every completed call is bit-identical to the single-thread reference of its case (label map and
//   probabilities);
// - about 5 % of the calls are cancelled from another thread (CancelFlag) at a random moment, some
//   before they start: a cancelled call throws PredictionCancelled or, when the flag came too late,
//   completes with the reference result; the session's next call is again the reference;
// - no call hangs: a watchdog fails the test when a thread has not finished in time, and no call may
//   take more than 10x the median of its round (with a floor for this shared machine);
// p50 / p99 latencies are printed per thread count. (Not yet under the thread sanitizer: CI's
// sanitizer build covers the data layer only.)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "nn/predict/predictor.h"
#include "tests/support/test_support.h"

namespace nnuc::nn {
namespace {

using Clock = std::chrono::steady_clock;

// Two folds of a small 3-stage network (8, 16, 32 features, patch 16³, 3 classes) with different
// random weights; preprocessing resamples to 1.5 × 1 × 1 mm and z-scores; mirroring over all axes.
std::shared_ptr<const PredictorModel> small_model() {
  PredictorModelSpec spec;
  spec.folder = "(random weights)";
  spec.configuration = "3d_fullres";
  UNetConfig& network = spec.network;
  network.input_channels = 1;
  network.num_classes = 3;
  network.features_per_stage = {8, 16, 32};
  network.kernel_sizes.assign(3, Triple{3, 3, 3});
  network.strides = {Triple{1, 1, 1}, Triple{2, 2, 2}, Triple{2, 2, 2}};
  network.n_conv_per_stage = {2, 2, 2};
  network.n_conv_per_stage_decoder = {2, 2};
  spec.folds = {"0", "1"};
  for (std::uint64_t fold = 0; fold < 2; ++fold) {
    UNet weights(Context::cpu(), network, DType::f32, testing::rng()() + fold);
    std::vector<std::pair<std::string, Tensor>> named;
    for (const NamedParameter& parameter : weights.parameters())
      named.emplace_back(parameter.name, parameter.var->value());
    spec.fold_weights.push_back(std::move(named));
  }
  spec.preprocessing.target_spacing = {1.5, 1.0, 1.0};
  spec.preprocessing.normalization = {data::ChannelNormalization{}};
  spec.export_plan.configuration_spacing = {1.5, 1.0, 1.0};
  spec.export_plan.num_foreground_labels = 2;
  spec.patch = {16, 16, 16};
  spec.mirror_axes = {0, 1, 2};
  spec.image_channels = 1;
  spec.all_labels = {0, 1, 2};
  return std::make_shared<const PredictorModel>(std::move(spec), Device::CPU);
}

// Random cases of 1 mm voxels, 17-26 voxels per axis, with a zero border on some sides (cropping).
std::vector<data::LoadedCase> random_cases(int count) {
  std::vector<data::LoadedCase> cases;
  std::uniform_int_distribution<std::int64_t> extent(17, 26);
  for (int c = 0; c < count; ++c) {
    data::LoadedCase loaded;
    loaded.identifier = "case_" + std::to_string(c);
    const Shape shape{1, extent(testing::rng()), extent(testing::rng()), extent(testing::rng())};
    loaded.image = testing::random_uniform(shape, DType::f32, 0.5, 4.0);
    float* image = loaded.image.data<float>();
    for (std::int64_t i = 0; i < shape[1]; ++i)
      for (std::int64_t j = 0; j < shape[2]; ++j)
        for (std::int64_t k = 0; k < shape[3]; ++k)
          if ((c % 2 == 0 && i < 2) || (c % 3 == 0 && k >= shape[3] - 3)) image[(i * shape[2] + j) * shape[3] + k] = 0;
    loaded.spacing = {1.0, 1.0, 1.0};
    cases.push_back(std::move(loaded));
  }
  return cases;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

TEST(PredictorThreads, SessionsInThreadsMatchTheSingleThreadResultsUnderCancellation) {
  const std::shared_ptr<const PredictorModel> model = small_model();
  PredictOptions options;
  options.save_probabilities = true;
  const std::vector<data::LoadedCase> cases = random_cases(5);
  std::vector<Prediction> reference;
  {
    const PredictorSession session(model, options);
    for (const data::LoadedCase& c : cases) reference.push_back(session.predict(c));
  }
  for (const Prediction& p : reference) ASSERT_TRUE(p.segmentation.defined() && p.probabilities.defined());

  // 8 calls per thread; .ci/concurrency_checks.sh asks for fewer under ThreadSanitizer, which runs each
  // call about ten times slower (NNUC_PREDICTOR_THREAD_CALLS).
  const char* calls_setting = std::getenv("NNUC_PREDICTOR_THREAD_CALLS");
  const int calls_per_thread = calls_setting != nullptr ? std::max(2, std::atoi(calls_setting)) : 8;
  const std::uint64_t seed = testing::rng()();
  std::atomic<int> cancelled_calls{0}, late_cancels{0}, mismatches{0};
  for (const int threads : {1, 2, 4, 8}) {
    std::mutex mutex;
    std::vector<double> seconds;  // completed, uncancelled calls
    std::vector<double> all_seconds;
    std::vector<std::future<void>> workers;
    for (int t = 0; t < threads; ++t) {
      workers.push_back(std::async(std::launch::async, [&, t] {
        std::mt19937_64 engine(seed + 1000u * static_cast<unsigned>(threads) + static_cast<unsigned>(t));
        const PredictorSession session(model, options);
        for (int call = 0; call < calls_per_thread; ++call) {
          const std::size_t which = std::uniform_int_distribution<std::size_t>(0, cases.size() - 1)(engine);
          // Thread 0 of each round cancels its second call before it starts; other calls are cancelled
          // with probability 5 % after a random delay.
          const bool cancel_now = t == 0 && call == 1;
          const bool cancel_later = !cancel_now && std::uniform_real_distribution<double>(0, 1)(engine) < 0.05;
          const int delay_ms = std::uniform_int_distribution<int>(0, 40)(engine);
          CancelFlag flag;
          if (cancel_now) flag.cancel();
          std::thread canceller;
          if (cancel_later)
            canceller = std::thread([&flag, delay_ms] {
              std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
              flag.cancel();
            });
          const Clock::time_point start = Clock::now();
          bool cancelled = false;
          Prediction result;
          try {
            result = session.predict(cases[which], &flag);
          } catch (const PredictionCancelled&) {
            cancelled = true;
          }
          const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
          if (canceller.joinable()) canceller.join();
          if (cancelled) {
            ++cancelled_calls;
            if (!cancel_now && !cancel_later) ++mismatches;  // nobody cancelled it
          } else {
            if (cancel_now) ++mismatches;  // a flag raised before the call must stop it
            if (cancel_later) ++late_cancels;
            if (!same_bits(result.segmentation, reference[which].segmentation) ||
                !same_bits(result.probabilities, reference[which].probabilities))
              ++mismatches;
          }
          const std::lock_guard<std::mutex> lock(mutex);
          all_seconds.push_back(elapsed);
          if (!cancelled && !cancel_later) seconds.push_back(elapsed);
        }
      }));
    }
    // Watchdog: the whole round has this long; a hang fails here instead of at ctest's timeout.
    const Clock::time_point deadline = Clock::now() + std::chrono::minutes(5);
    for (std::future<void>& worker : workers) {
      if (worker.wait_until(deadline) != std::future_status::ready) {
        ADD_FAILURE() << threads << " threads: a prediction thread has not finished after 5 minutes (deadlock?)";
        std::fflush(nullptr);
        std::_Exit(1);  // the threads cannot be joined; end the process rather than hang
      }
      worker.get();
    }
    ASSERT_FALSE(seconds.empty());
    const double median = percentile(seconds, 0.5);
    const double slowest = *std::max_element(all_seconds.begin(), all_seconds.end());
    EXPECT_LE(slowest, std::max(10 * median, 5.0)) << threads << " threads: median " << median << " s";
    std::printf("[predictor threads] %d thread(s): %zu calls, p50 %.1f ms, p99 %.1f ms, slowest %.1f ms\n", threads,
                all_seconds.size(), 1e3 * median, 1e3 * percentile(seconds, 0.99), 1e3 * slowest);
  }
  EXPECT_EQ(mismatches.load(), 0) << "calls that differ from the single-thread result or ignored their flag";
  EXPECT_GE(cancelled_calls.load(), 4) << "each round cancels at least one call before it starts";
  std::printf("[predictor threads] %d calls cancelled, %d cancellations came after the call had finished\n",
              cancelled_calls.load(), late_cancels.load());
}

TEST(PredictorThreads, ACancelledCallLeavesTheSessionUsable) {
  const std::shared_ptr<const PredictorModel> model = small_model();
  const PredictorSession session(model);
  const data::LoadedCase input = random_cases(1).front();
  const Prediction reference = session.predict(input);
  CancelFlag flag;
  flag.cancel();
  try {
    session.predict(input, &flag);
    ADD_FAILURE() << "a raised flag did not stop the call";
  } catch (const PredictionCancelled& e) {
    EXPECT_NE(std::string(e.what()).find("prediction cancelled before preprocessing"), std::string::npos) << e.what();
  }
  // Raised during the sliding window (from the progress callback, after the first batch of tiles):
  // the next network call does not run.
  const Tensor data = session.preprocess(input).data;
  flag.reset();
  std::int64_t progress_calls = 0;
  try {
    session.logits(
        data, nullptr,
        [&](std::int64_t, std::int64_t) {
          if (++progress_calls == 1) flag.cancel();
        },
        &flag);
    ADD_FAILURE() << "the flag raised after the first tile batch did not stop the sliding window";
  } catch (const PredictionCancelled& e) {
    EXPECT_NE(std::string(e.what()).find("in the sliding window, after"), std::string::npos) << e.what();
  }
  EXPECT_EQ(progress_calls, 1);
  flag.reset();
  const Prediction again = session.predict(input, &flag);
  EXPECT_TRUE(same_bits(again.segmentation, reference.segmentation));
}

// reliability.md T8, "no per-thread handle sharing": a second thread that calls into a session while
// the first is inside a network call is refused with an error that says what to do, and the first
// call's result is unharmed. preprocess stays free for reading ahead on another thread, and the
// session serves another thread once the first is done.
TEST(PredictorThreads, ASessionInUseByOneThreadRefusesAnother) {
  const std::shared_ptr<const PredictorModel> model = small_model();
  const PredictorSession session(model);
  const data::LoadedCase input = random_cases(1).front();
  const Prediction reference = session.predict(input);
  const Tensor data = session.preprocess(input).data;
  const Tensor reference_logits = session.logits(data);
  std::vector<std::string> refusals;
  bool preprocessed_beside = false;
  const Tensor logits = session.logits(data, nullptr, [&](std::int64_t, std::int64_t) {
    if (!refusals.empty()) return;
    std::thread other([&] {  // inside the first thread's call: every network call is refused
      const auto refused = [&](const std::function<void()>& call) {
        try {
          call();
          refusals.push_back("(not refused)");
        } catch (const InvalidInput& e) {
          refusals.push_back(e.what());
        }
      };
      refused([&] { (void)session.predict(input); });
      refused([&] { (void)session.predict_preprocessed(data, reference.properties); });
      refused([&] { (void)session.logits(data); });
      preprocessed_beside = same_bits(session.preprocess(input).data, data);
    });
    other.join();
  });
  ASSERT_EQ(refusals.size(), 3u);
  for (const std::string& message : refusals) {
    EXPECT_NE(message.find("in use by another thread"), std::string::npos) << message;
    EXPECT_NE(message.find("one PredictorSession per thread"), std::string::npos) << message;
  }
  EXPECT_NE(refusals[0].find("PredictorSession::predict of the model"), std::string::npos) << refusals[0];
  EXPECT_NE(refusals[2].find("PredictorSession::logits"), std::string::npos) << refusals[2];
  EXPECT_TRUE(preprocessed_beside);
  EXPECT_TRUE(same_bits(logits, reference_logits));
  Prediction later;
  std::thread next([&] { later = session.predict(input); });  // free again: another thread may use it
  next.join();
  EXPECT_TRUE(same_bits(later.segmentation, reference.segmentation));
}

}  // namespace
}  // namespace nnuc::nn
