#include "data/loader/loader.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>

#include "kernels/core/error.h"

namespace nnuc::data {

using Clock = std::chrono::steady_clock;

struct BatchLoader::State {
  BatchLoaderOptions options;
  std::vector<PreprocessedCaseFile> cases;
  std::vector<PreviousStageSegmentation> previous;  // empty without a previous stage
  std::int64_t channels = 0;
  std::int64_t seg_channels = 1;
  PhiloxKey key;
  SamplerSettings settings;
  RankBatch rank;

  // Everything below is guarded by `mutex`.
  struct Slot {
    bool ready = false;
    Clock::time_point started;
    std::vector<std::string> cases;  // known once the cases are drawn (for stall messages)
    Batch batch;
    std::exception_ptr error;
  };
  struct Worker {
    bool busy = false;
    bool exited = false;
    Clock::time_point started;
  };
  std::mutex mutex;
  std::condition_variable work_cv;   // workers: room in the queue, or stop
  std::condition_variable ready_cv;  // consumer: a batch is ready
  std::condition_variable exit_cv;   // destructor: a worker exited
  std::atomic<bool> stop{false};
  std::uint64_t next_claim = 0;   // the next iteration a worker takes up
  std::uint64_t next_return = 0;  // the iteration next() returns
  std::map<std::uint64_t, Slot> slots;
  std::exception_ptr failure;  // sticky: once next() threw, it throws this again
  std::vector<Worker> workers;
};

namespace {

using State = BatchLoader::State;

std::string quoted_list(const std::vector<std::string>& names) {
  if (names.empty()) return "(not chosen yet)";
  std::ostringstream out;
  for (std::size_t i = 0; i < names.size(); ++i) out << (i ? ", '" : "'") << names[i] << "'";
  return out.str();
}

// The exception `error` with `context` prefixed, keeping nnuc's error type.
std::exception_ptr with_context(const std::exception_ptr& error, const std::string& context) {
  try {
    std::rethrow_exception(error);
  } catch (const IoError& e) {
    return std::make_exception_ptr(IoError(context + e.what(), e.file(), e.line()));
  } catch (const InvalidInput& e) {
    return std::make_exception_ptr(InvalidInput(context + e.what(), e.file(), e.line()));
  } catch (const CudaError& e) {
    return std::make_exception_ptr(CudaError(context + e.what(), e.file(), e.line()));
  } catch (const Error& e) {
    return std::make_exception_ptr(Error(context + e.what(), e.file(), e.line()));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(Error(context + e.what(), __FILE__, __LINE__));
  } catch (...) {
    return std::make_exception_ptr(Error(context + "unknown exception", __FILE__, __LINE__));
  }
}

CaseForSampling describe(const State& state, const PreprocessedCaseFile& file) {
  const StoredArray seg = file.seg();  // lazy verification: checks the checksum on first access
  NNUC_CHECK(seg.shape.rank() == 3, "'", file.path(), "': seg must be (b0, b1, b2), got ", seg.shape.str());
  CaseForSampling out;
  out.shape = {seg.shape[0], seg.shape[1], seg.shape[2]};
  const CaseProperties& properties = file.properties();
  if (state.options.use_class_locations && properties.has_class_locations)
    out.class_locations = &properties.class_locations;
  return out;
}

// Makes batch `iteration` into `batch`. Returns false when stopped midway.
bool make_batch(State& state, std::uint64_t iteration, Batch& batch) {
  const BatchLoaderOptions& options = state.options;
  const std::int64_t size = state.rank.batch_size;
  const Shape3& patch = options.patch_load;
  const std::int64_t patch_voxels = patch[0] * patch[1] * patch[2];

  // The cases first (no IO), so that a stall can name them.
  std::vector<PhiloxDraws> draws;
  draws.reserve(static_cast<std::size_t>(size));
  std::vector<PatchChoice> choices(static_cast<std::size_t>(size));
  batch.iteration = iteration;
  for (std::int64_t j = 0; j < size; ++j) {
    const std::int64_t element = state.rank.first_element + j;
    draws.push_back(element_draws(state.key, iteration, element));
    choices[j].case_index = draw_case(draws.back(), state.cases.size());
    choices[j].forced = foreground_forced(element, options.batch_size, options.oversample_foreground);
    batch.case_identifiers.push_back(state.cases[choices[j].case_index].identifier());
  }
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.slots[iteration].cases = batch.case_identifiers;
  }
  if (options.before_load) options.before_load(iteration, batch.case_identifiers);

  // Page-locked buffers are recycled through page_locked_host_allocator()'s cache: at most queue_depth
  // + workers batches (+ the consumer's) are alive at once, all of one size.
  const Shape data_shape{size, state.channels, patch[0], patch[1], patch[2]};
  const Shape seg_shape{size, state.seg_channels, patch[0], patch[1], patch[2]};
  if (const std::optional<int> device = options.page_locked_for_device) {
    batch.data = Tensor::empty_page_locked(data_shape, DType::f32, *device);
    batch.seg = Tensor::empty_page_locked(seg_shape, DType::i16, *device);
  } else {
    batch.data = Tensor::empty_cpu(data_shape, DType::f32);
    batch.seg = Tensor::empty_cpu(seg_shape, DType::i16);
  }
  float* data = batch.data.data<float>();
  std::int16_t* seg = batch.seg.data<std::int16_t>();
  for (std::int64_t j = 0; j < size; ++j) {
    if (state.stop.load()) return false;
    PatchChoice& choice = choices[j];
    const PreprocessedCaseFile& file = state.cases[choice.case_index];
    try {
      const std::int64_t channels = file.data().shape[0];
      NNUC_CHECK(channels == state.channels, "'", file.path(), "' has ", channels, " channels, the first case '",
                 state.cases[0].path(), "' ", state.channels);
      draw_corner(draws[j], state.settings, describe(state, file), choice.forced, choice);
      const PreviousStageSegmentation* previous = state.previous.empty() ? nullptr : &state.previous[choice.case_index];
      crop_case_patch(file, previous, choice.corner, patch, data + j * state.channels * patch_voxels,
                      seg + j * state.seg_channels * patch_voxels);
    } catch (...) {
      std::rethrow_exception(with_context(std::current_exception(), "case '" + file.identifier() + "': "));
    }
    batch.corners.push_back(choice.corner);
    batch.forced.push_back(choice.forced);
  }
  return true;
}

void run_worker(std::shared_ptr<State> shared, std::size_t id) {
  State& state = *shared;
  const auto depth = static_cast<std::uint64_t>(state.options.queue_depth);
  for (;;) {
    std::uint64_t iteration;
    {
      std::unique_lock<std::mutex> lock(state.mutex);
      state.work_cv.wait(lock, [&] { return state.stop.load() || state.next_claim < state.next_return + depth; });
      if (state.stop.load()) break;
      iteration = state.next_claim++;
      const Clock::time_point now = Clock::now();
      state.slots[iteration].started = now;
      state.workers[id].busy = true;
      state.workers[id].started = now;
    }
    Batch batch;
    std::exception_ptr error;
    try {
      make_batch(state, iteration, batch);
    } catch (...) {
      error = with_context(std::current_exception(), "batch loader, iteration " + std::to_string(iteration) + ", ");
    }
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      State::Slot& slot = state.slots[iteration];
      slot.ready = true;
      slot.batch = std::move(batch);
      slot.error = error;
      state.workers[id].busy = false;
    }
    state.ready_cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.workers[id].exited = true;
  }
  state.exit_cv.notify_all();
}

void check_options(const BatchLoaderOptions& options) {
  NNUC_CHECK(!options.case_files.empty(), "batch loader: no case files given");
  NNUC_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size, "batch loader: rank ",
             options.rank, " is not among the ", options.world_size, " ranks");
  NNUC_CHECK(options.batch_size >= options.world_size, "batch loader: batch size ", options.batch_size,
             " is below the number of ranks (", options.world_size, "); it must be at least 1 per rank");
  for (int d = 0; d < 3; ++d)
    NNUC_CHECK(options.patch_final[d] >= 1 && options.patch_load[d] >= options.patch_final[d],
               "batch loader: need P_load >= P_final >= 1 on every axis, got P_load (", options.patch_load[0], ", ",
               options.patch_load[1], ", ", options.patch_load[2], ") and P_final (", options.patch_final[0], ", ",
               options.patch_final[1], ", ", options.patch_final[2], ")");
  NNUC_CHECK(options.workers >= 1, "batch loader: need at least 1 worker, got ", options.workers);
  NNUC_CHECK(options.queue_depth >= 1, "batch loader: the queue depth must be at least 1, got ", options.queue_depth);
  NNUC_CHECK(options.stall_timeout.count() > 0, "batch loader: the stall timeout must be positive, got ",
             options.stall_timeout.count(), " ms");
  NNUC_CHECK(options.oversample_foreground >= 0 && options.oversample_foreground <= 1,
             "batch loader: the foreground oversampling fraction must be in [0, 1], got ",
             options.oversample_foreground);
}

}  // namespace

BatchLoader::BatchLoader(BatchLoaderOptions options) : state_(std::make_shared<State>()) {
  check_options(options);
  State& state = *state_;
  state.cases.reserve(options.case_files.size());
  for (const std::string& path : options.case_files)
    state.cases.push_back(PreprocessedCaseFile::open(path, options.verification));
  if (options.previous_stage) {
    for (std::size_t i = 0; i < state.cases.size(); ++i) {
      try {
        state.previous.push_back(options.previous_stage(i, state.cases[i].identifier()));
      } catch (...) {
        std::rethrow_exception(
            with_context(std::current_exception(), "previous stage of case '" + state.cases[i].identifier() + "': "));
      }
    }
    state.seg_channels = 2;
  }
  const StoredArray first_data = state.cases[0].data();
  NNUC_CHECK(first_data.shape.rank() == 4, "'", state.cases[0].path(), "': data must be (C, b0, b1, b2), got ",
             first_data.shape.str());
  state.channels = first_data.shape[0];
  state.key = philox_key(options.seed, options.stream);
  state.settings.patch_load = options.patch_load;
  state.settings.patch_final = options.patch_final;
  state.settings.oversample_foreground = options.oversample_foreground;
  state.settings.has_ignore_label = options.ignore_label.has_value();
  state.rank = rank_batch(options.batch_size, options.world_size, options.rank, options.oversample_foreground);
  state.next_claim = state.next_return = options.first_iteration;
  state.workers.resize(static_cast<std::size_t>(options.workers));
  state.options = std::move(options);
  try {
    for (std::size_t w = 0; w < state.workers.size(); ++w) threads_.emplace_back(run_worker, state_, w);
  } catch (...) {
    shutdown();
    throw;
  }
}

BatchLoader::~BatchLoader() { shutdown(); }

void BatchLoader::shutdown() noexcept {
  if (!state_) return;
  State& state = *state_;
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.stop = true;
  }
  state.work_cv.notify_all();
  for (std::size_t w = 0; w < threads_.size(); ++w) {
    bool exited;
    {
      std::unique_lock<std::mutex> lock(state.mutex);
      for (;;) {
        const State::Worker& worker = state.workers[w];
        if (worker.exited) break;
        if (!worker.busy) {  // idle workers see `stop` at once
          state.exit_cv.wait(lock);
          continue;
        }
        const Clock::time_point deadline = worker.started + state.options.stall_timeout;
        if (Clock::now() >= deadline) break;  // stuck: detach it
        state.exit_cv.wait_until(lock, deadline);
      }
      exited = state.workers[w].exited;
    }
    // A detached worker holds its own reference to the state (cases, options) and releases it when
    // its stuck call returns.
    if (exited) {
      threads_[w].join();
    } else {
      threads_[w].detach();
    }
  }
  threads_.clear();
  state_.reset();
}

Batch BatchLoader::next() {
  State& state = *state_;
  std::unique_lock<std::mutex> lock(state.mutex);
  if (state.failure) std::rethrow_exception(state.failure);
  const std::uint64_t iteration = state.next_return;
  const auto timeout = state.options.stall_timeout;
  for (;;) {
    const auto found = state.slots.find(iteration);
    const Clock::time_point now = Clock::now();
    if (found != state.slots.end() && found->second.ready) {
      State::Slot slot = std::move(found->second);
      state.slots.erase(found);
      if (slot.error) {
        state.failure = slot.error;
        std::rethrow_exception(slot.error);
      }
      ++state.next_return;
      lock.unlock();
      state.work_cv.notify_all();
      return std::move(slot.batch);
    }
    if (found == state.slots.end()) {
      // Not taken up yet: every earlier iteration was returned, so an idle worker takes it at once.
      if (state.ready_cv.wait_for(lock, timeout) == std::cv_status::timeout &&
          state.slots.find(iteration) == state.slots.end()) {
        state.failure =
            std::make_exception_ptr(Error(detail::concat("batch loader: no worker took up iteration ", iteration,
                                                         " within the stall timeout (", timeout.count(), " ms)"),
                                          __FILE__, __LINE__));
        std::rethrow_exception(state.failure);
      }
      continue;
    }
    const Clock::time_point deadline = found->second.started + timeout;
    if (now >= deadline) {
      state.failure = std::make_exception_ptr(
          Error(detail::concat("batch loader: iteration ", iteration,
                               " has been loading for longer than the stall "
                               "timeout (",
                               timeout.count(), " ms); cases being loaded: ", quoted_list(found->second.cases)),
                __FILE__, __LINE__));
      std::rethrow_exception(state.failure);
    }
    state.ready_cv.wait_until(lock, deadline);
  }
}

std::int64_t BatchLoader::batch_size() const { return state_->rank.batch_size; }
std::int64_t BatchLoader::channels() const { return state_->channels; }
std::int64_t BatchLoader::seg_channels() const { return state_->seg_channels; }

}  // namespace nnuc::data
