// BatchLoader (data/loader/loader.h): every batch equals its reconstruction from (seed, iteration)
// by draw_patch and a voxel-by-voxel crop; the same sequence with 1 or 3 workers and from a resume
// point; ranks that concatenate to the single-rank batch; 2-D patches; the cascade's previous stage;
// a damaged case reported by next() at the batch that uses it, naming it; a stuck worker reported
// as a stall (a test hook blocks it; no sleeps) and left behind safely; workers never more than
// queue_depth batches ahead.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>

#include "data/loader/loader.h"
#include "tests/data/loader_fixture.h"

namespace nnuc::data {
namespace {

using loader_testing::crop_reference;
using loader_testing::random_case;
using loader_testing::TempFolder;
using loader_testing::write_case;

class LoaderBatch : public ::testing::Test {
 protected:
  void SetUp() override {
    // Shapes below, around and above P_load, so padding and clamping occur on every axis.
    const std::vector<Shape3> shapes = {{9, 14, 16}, {4, 8, 20}, {12, 12, 7}, {6, 11, 13}, {15, 5, 9}};
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      cases_.push_back(random_case("case_00" + std::to_string(i), 2, shapes[i], 3));
      paths_.push_back(write_case(folder_, cases_.back()));
    }
  }

  BatchLoaderOptions options(std::int64_t batch_size = 3) const {
    BatchLoaderOptions out;
    out.case_files = paths_;
    out.batch_size = batch_size;
    out.patch_load = {6, 10, 12};
    out.patch_final = {4, 8, 9};
    out.seed = seed_;
    out.workers = 2;
    out.queue_depth = 3;
    return out;
  }

  // Expects `batch` to be what (seed, iteration) determines for elements [first, first + b) of the global batch.
  void expect_reconstructed(const Batch& batch, const BatchLoaderOptions& o, std::int64_t first = 0,
                            const std::vector<Tensor>* previous = nullptr) const {
    const Shape3& patch = o.patch_load;
    const std::int64_t voxels = patch[0] * patch[1] * patch[2], b = batch.data.dim(0), s = batch.seg.dim(1);
    ASSERT_EQ(batch.data.shape(), (Shape{b, 2, patch[0], patch[1], patch[2]}));
    ASSERT_EQ(batch.seg.shape(), (Shape{b, previous ? 2 : 1, patch[0], patch[1], patch[2]}));
    const SamplerSettings settings{o.patch_load, o.patch_final, o.oversample_foreground, o.ignore_label.has_value()};
    const std::vector<float> data = batch.data.to_vector<float>();
    const std::vector<std::int16_t> seg = batch.seg.to_vector<std::int16_t>();
    for (std::int64_t j = 0; j < b; ++j) {
      const PatchChoice choice =
          draw_patch(philox_key(o.seed, o.stream), batch.iteration, first + j,
                     foreground_forced(first + j, o.batch_size, o.oversample_foreground), settings, cases_.size(),
                     [&](std::size_t c) {
                       const Tensor& case_seg = cases_[c].seg;
                       return CaseForSampling{{case_seg.dim(0), case_seg.dim(1), case_seg.dim(2)},
                                              &cases_[c].properties.class_locations};
                     });
      const PreprocessedCase& c = cases_[choice.case_index];
      const Shape3 shape = {c.seg.dim(0), c.seg.dim(1), c.seg.dim(2)};
      const auto at = [](std::int64_t index) { return static_cast<std::ptrdiff_t>(index); };
      EXPECT_EQ(batch.case_identifiers[j], c.identifier);
      EXPECT_EQ(batch.corners[j], choice.corner);
      EXPECT_EQ(batch.forced[j], choice.forced);
      EXPECT_EQ(std::vector<float>(data.begin() + at(j * 2 * voxels), data.begin() + at((j + 1) * 2 * voxels)),
                crop_reference(c.data.to_vector<float>(), 2, shape, choice.corner, patch, 0.0f))
          << "iteration " << batch.iteration << " element " << j;
      std::vector<std::int16_t> expected_seg =
          crop_reference(c.seg.to_vector<std::int16_t>(), 1, shape, choice.corner, patch, std::int16_t{-1});
      if (previous) {
        const std::vector<std::int16_t> extra = crop_reference((*previous)[choice.case_index].to_vector<std::int16_t>(),
                                                               1, shape, choice.corner, patch, std::int16_t{-1});
        expected_seg.insert(expected_seg.end(), extra.begin(), extra.end());
      }
      EXPECT_EQ(std::vector<std::int16_t>(seg.begin() + at(j * s * voxels), seg.begin() + at((j + 1) * s * voxels)),
                expected_seg);
      if (choice.class_index >= 0) {  // the centred voxel is in the patch and holds a foreground label
        std::int64_t offset = 0;
        for (int d = 0; d < 3; ++d) {
          const std::int64_t inside = choice.voxel[d] - choice.corner[d];
          ASSERT_TRUE(inside >= 0 && inside < patch[d]);
          offset = offset * patch[d] + inside;
        }
        EXPECT_GE(seg[static_cast<std::size_t>(j * s * voxels + offset)], 1);
      }
    }
  }

  static void expect_same(const Batch& a, const Batch& b) {
    EXPECT_EQ(a.iteration, b.iteration);
    EXPECT_EQ(a.data.to_vector<float>(), b.data.to_vector<float>());
    EXPECT_EQ(a.seg.to_vector<std::int16_t>(), b.seg.to_vector<std::int16_t>());
    EXPECT_EQ(a.case_identifiers, b.case_identifiers);
    EXPECT_EQ(a.corners, b.corners);
    EXPECT_EQ(a.forced, b.forced);
  }

  TempFolder folder_{"nnuc_loader_batch"};
  std::vector<PreprocessedCase> cases_;
  std::vector<std::string> paths_;
  std::uint64_t seed_ = testing::rng()();
};

TEST_F(LoaderBatch, BatchesArePureFunctionsOfSeedAndIteration) {
  BatchLoaderOptions one = options();
  one.workers = 1;
  one.queue_depth = 1;
  std::vector<Batch> reference;
  {
    BatchLoader loader(one);
    EXPECT_EQ(loader.batch_size(), 3);
    EXPECT_EQ(loader.channels(), 2);
    for (std::uint64_t i = 0; i < 8; ++i) {
      reference.push_back(loader.next());
      EXPECT_EQ(reference.back().iteration, i);
      expect_reconstructed(reference.back(), one);
      EXPECT_EQ(reference.back().forced, (std::vector<bool>{false, false, true}));
    }
  }
  BatchLoaderOptions many = options();
  many.workers = 3;
  many.queue_depth = 4;
  {
    BatchLoader loader(many);
    for (std::uint64_t i = 0; i < 8; ++i) expect_same(loader.next(), reference[i]);
  }
  many.first_iteration = 5;  // resume
  BatchLoader resumed(many);
  for (std::uint64_t i = 5; i < 8; ++i) expect_same(resumed.next(), reference[i]);
  // Another seed, or the validation stream, gives other batches.
  many.first_iteration = 0;
  many.stream = PhiloxStream::validation;
  EXPECT_NE(BatchLoader(many).next().corners, reference[0].corners);
}

TEST_F(LoaderBatch, PageLockedBatchesHoldTheSameCrops) {
  // With a CUDA device the batches are page-locked and their buffers come back through the
  // page-locked allocator's cache while workers write the next ones; without one, ordinary memory.
  // Either way every batch is the one (seed, iteration) determines.
  BatchLoaderOptions o = options();
  o.page_locked_for_device = 0;
  o.workers = 3;
  o.queue_depth = 2;
  BatchLoader loader(o);
  for (std::uint64_t i = 0; i < 10; ++i) {
    const Batch batch = loader.next();
    EXPECT_EQ(batch.iteration, i);
    EXPECT_EQ(batch.data.page_locked(), cuda_available());
    EXPECT_EQ(batch.seg.page_locked(), cuda_available());
    expect_reconstructed(batch, o);
  }
}

TEST_F(LoaderBatch, RanksConcatenateToTheSingleRankBatch) {
  BatchLoaderOptions single = options(5);
  BatchLoader whole(single);
  std::vector<std::unique_ptr<BatchLoader>> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    BatchLoaderOptions o = options(5);
    o.world_size = 2;
    o.rank = rank;
    ranks.push_back(std::make_unique<BatchLoader>(o));
  }
  EXPECT_EQ(ranks[0]->batch_size(), 3);
  EXPECT_EQ(ranks[1]->batch_size(), 2);
  for (int i = 0; i < 3; ++i) {
    const Batch global = whole.next();
    const Batch first = ranks[0]->next(), second = ranks[1]->next();
    std::vector<float> joined = first.data.to_vector<float>();
    const std::vector<float> rest = second.data.to_vector<float>();
    joined.insert(joined.end(), rest.begin(), rest.end());
    EXPECT_EQ(joined, global.data.to_vector<float>());
    std::vector<bool> forced = first.forced;
    forced.insert(forced.end(), second.forced.begin(), second.forced.end());
    EXPECT_EQ(forced, global.forced);  // {3, 4} of 5
    expect_reconstructed(second, options(5), 3);
  }
}

TEST_F(LoaderBatch, TwoDimensionalPatchesAndThePreviousStage) {
  BatchLoaderOptions o = options(4);
  o.patch_load = sampling_patch({13, 9});
  o.patch_final = sampling_patch({10, 7});
  std::vector<Tensor> previous;
  for (const PreprocessedCase& c : cases_) previous.push_back(testing::random_labels(c.seg.shape(), DType::i16, 3));
  o.previous_stage = previous_stage_from_tensors(previous);
  BatchLoader loader(o);
  EXPECT_EQ(loader.seg_channels(), 2);
  for (int i = 0; i < 4; ++i) {
    const Batch batch = loader.next();
    EXPECT_EQ(batch.data.dim(2), 1);
    for (std::size_t j = 0; j < 4; ++j) {
      const std::string& id = batch.case_identifiers[j];
      const std::size_t c = static_cast<std::size_t>(std::stoi(id.substr(id.size() - 1)));
      EXPECT_GE(batch.corners[j][0], 0);  // a slice of the volume
      EXPECT_LT(batch.corners[j][0], cases_[c].seg.dim(0));
    }
    expect_reconstructed(batch, o, 0, &previous);
  }
}

TEST_F(LoaderBatch, ADamagedCaseIsReportedAtTheBatchThatUsesItNamingIt) {
  loader_testing::damage_array(paths_[2], "data");
  const BatchLoaderOptions o = options();
  // The first iteration that draws case 2.
  const auto uses_case_2 = [&](std::uint64_t iteration) {
    for (std::int64_t j = 0; j < 3; ++j) {
      PhiloxDraws draws = element_draws(philox_key(o.seed, o.stream), iteration, j);
      if (draw_case(draws, cases_.size()) == 2) return true;
    }
    return false;
  };
  std::uint64_t damaged_iteration = 0;
  while (!uses_case_2(damaged_iteration)) ++damaged_iteration;
  BatchLoader loader(o);
  for (std::uint64_t i = 0; i < damaged_iteration; ++i) EXPECT_NO_THROW(loader.next());
  for (int attempt = 0; attempt < 2; ++attempt) {  // and again: the loader stays failed
    try {
      loader.next();
      ADD_FAILURE() << "the damaged case was not reported";
    } catch (const IoError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("iteration " + std::to_string(damaged_iteration)), std::string::npos) << message;
      EXPECT_NE(message.find("case 'case_002'"), std::string::npos) << message;
      EXPECT_NE(message.find(paths_[2]), std::string::npos) << message;
      EXPECT_NE(message.find("array 'data' is damaged"), std::string::npos) << message;
    }
  }
}

TEST_F(LoaderBatch, RefusesBadOptionsAndMissingFiles) {
  BatchLoaderOptions o = options();
  o.case_files.push_back(folder_.file("case_missing.nnuc"));
  EXPECT_THROW({ BatchLoader loader(o); }, IoError);
  o = options();
  o.patch_load = {3, 10, 12};
  EXPECT_ERROR_MENTIONS(BatchLoader{o}, "P_load >= P_final");
  o = options(1);
  o.world_size = 2;
  EXPECT_ERROR_MENTIONS(BatchLoader{o}, "below the number of ranks");
  o = options();
  o.workers = 0;
  EXPECT_ERROR_MENTIONS(BatchLoader{o}, "at least 1 worker");
  // A case with another channel count fails the batch that uses it, naming the file.
  o = options();
  const PreprocessedCase odd = random_case("case_odd", 1, {9, 14, 16}, 3);
  o.case_files = {paths_[0], write_case(folder_, odd)};
  BatchLoader loader(o);
  std::string message;
  for (int i = 0; i < 20 && message.empty(); ++i) {
    try {
      loader.next();
    } catch (const InvalidInput& e) {
      message = e.what();
    }
  }
  EXPECT_NE(message.find("case_odd.nnuc' has 1 channels"), std::string::npos) << message;
}

// A hook that blocks the workers on chosen iterations until released. Its destructor tells the test
// when the loader's state (which owns a copy of the hook) is gone.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  std::set<std::uint64_t> seen;
  std::vector<std::string> blocked_cases;
  std::promise<void> gone;
  ~Gate() { gone.set_value(); }
};

TEST_F(LoaderBatch, AStuckWorkerIsReportedAsAStallAndLeftBehindSafely) {
  auto gate = std::make_shared<Gate>();
  std::future<void> gate_gone = gate->gone.get_future();
  BatchLoaderOptions o = options();
  o.first_iteration = 40;
  o.stall_timeout = std::chrono::milliseconds(200);
  o.before_load = [gate](std::uint64_t iteration, const std::vector<std::string>& cases) {
    if (iteration != 40) return;
    std::unique_lock<std::mutex> lock(gate->mutex);
    gate->blocked_cases = cases;
    gate->changed.wait(lock, [&] { return gate->open; });
  };
  {
    BatchLoader loader(o);
    o.before_load = nullptr;  // the loader's copy is now the only one
    try {
      loader.next();
      ADD_FAILURE() << "the stall was not reported";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("iteration 40 has been loading for longer than the stall timeout (200 ms)"),
                std::string::npos)
          << message;
      std::lock_guard<std::mutex> lock(gate->mutex);
      ASSERT_EQ(gate->blocked_cases.size(), 3u);
      for (const std::string& id : gate->blocked_cases) EXPECT_NE(message.find("'" + id + "'"), std::string::npos);
    }
    EXPECT_THROW(loader.next(), Error);
  }  // destruction returns although the worker is still blocked (it is detached)
  {
    std::lock_guard<std::mutex> lock(gate->mutex);
    gate->open = true;
  }
  gate->changed.notify_all();
  gate.reset();
  // The detached worker finishes and releases the loader's state (and with it the last hook copy).
  EXPECT_EQ(gate_gone.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

TEST_F(LoaderBatch, WorkersRunAtMostQueueDepthBatchesAhead) {
  auto gate = std::make_shared<Gate>();
  BatchLoaderOptions o = options();
  o.workers = 4;
  o.queue_depth = 2;
  o.first_iteration = 7;
  o.before_load = [gate](std::uint64_t iteration, const std::vector<std::string>&) {
    {
      std::lock_guard<std::mutex> lock(gate->mutex);
      gate->seen.insert(iteration);
    }
    gate->changed.notify_all();
  };
  BatchLoader loader(o);
  for (std::uint64_t returned = 0; returned < 6; ++returned) {
    // With `returned` batches taken, workers fill the queue up to iteration 7 + returned + depth - 1 ...
    const std::uint64_t limit = 7 + returned + 1;
    std::unique_lock<std::mutex> lock(gate->mutex);
    ASSERT_TRUE(gate->changed.wait_for(lock, std::chrono::seconds(30), [&] { return gate->seen.count(limit) != 0; }));
    // ... and never beyond it.
    EXPECT_EQ(*gate->seen.rbegin(), limit);
    lock.unlock();
    EXPECT_EQ(loader.next().iteration, 7 + returned);
  }
}

}  // namespace
}  // namespace nnuc::data
