// Helpers shared by nnuc's tests: fresh random inputs, comparisons with stated tolerances, GPU
// guards (poisoned outputs, canaries around bounds), allocator peaks, the messages of thrown errors.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::testing {

// A generator seeded freshly per test (from the clock) and printed, so a failure can be replayed
// with NNUC_TEST_SEED=<seed>.
std::mt19937_64& rng();
std::uint64_t test_seed();

// Host tensors with values uniform in [low, high). Never all zeros.
Tensor random_uniform(const Shape& shape, DType dtype, double low = -1.0, double high = 1.0);
// Integer labels uniform in [0, classes).
Tensor random_labels(const Shape& shape, DType dtype, int classes);
// A 0/1 mask of shape[0] * shape[1] * shape[2] voxels, each 1 with probability `density`.
std::vector<std::uint8_t> random_mask(const std::array<std::int64_t, 3>& shape, double density);

// Largest |a - b| and largest |a - b| / max(|b|, floor) over all elements (both host or device).
struct Difference {
  double max_abs = 0;
  double max_rel = 0;
  std::int64_t worst_index = -1;
};
Difference compare(const Tensor& actual, const Tensor& expected, double relative_floor = 1e-3);

// EXPECT that every element satisfies |a - e| <= atol + rtol * |e|.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol);

// The CUDA context for GPU tests, or nullptr when no device is present (the test then skips).
Context* gpu();
#define NNUC_REQUIRE_GPU()                   \
  do {                                       \
    if (::nnuc::testing::gpu() == nullptr) { \
      GTEST_SKIP() << "no CUDA device";      \
    }                                        \
  } while (0)

// Copies a host tensor to the GPU, converting to `dtype` on the host first (f32 -> bf16/f16).
Tensor to_device(const Tensor& host, DType dtype);
// Host f32 copy of a device tensor of any floating dtype.
Tensor to_host_f32(const Tensor& device_tensor);
// Host tensor converted to f32 / f64 (for references).
Tensor as_f64(const Tensor& host);
Tensor as_f32(const Tensor& host);
// Rounds an f32 host tensor through bf16 (what a bf16 device copy holds).
Tensor round_to_bf16(const Tensor& host);

// Fills a device tensor with NaN (floating) or 0xFF bytes, so an op that skips an element fails.
void poison(Tensor& device_tensor);

// Allocator peak while `run` runs, above what the allocator of `device` held before (CPU or Meta).
std::size_t peak_bytes_of(Device device, const std::function<void()>& run);
// The same on ctx's device, with the device synchronized before and after (CUDA work is queued).
std::size_t peak_bytes_of(const Context& ctx, const std::function<void()>& run);
// The peak of `run` on `device` (as peak_bytes_of) and the allocated size of the tensor it returns.
struct PeakAndOutput {
  std::size_t peak = 0;
  std::size_t output = 0;  // rounded_allocation_bytes of the result
};
PeakAndOutput peak_and_output_of(Device device, const std::function<Tensor()>& run);

// The message of the InvalidInput that `run` throws, or "(no InvalidInput thrown)".
std::string error_of(const std::function<void()>& run);
// The message of the IoError that `run` throws, "(no IoError thrown)", or "(other exception: ...)".
std::string io_error_of(const std::function<void()>& run);
// Expects `call` to throw InvalidInput whose message contains `fragment`.
void expect_invalid(const std::function<void()>& call, const std::string& fragment);

// CI=true: optional inputs (Debian data files, python3 with numpy or scipy) must be present there.
bool in_ci();

}  // namespace nnuc::testing

// Expects `statement` to throw InvalidInput whose message contains `text`.
#define EXPECT_ERROR_MENTIONS(statement, text)                                    \
  do {                                                                            \
    const std::string message_ = ::nnuc::testing::error_of([&] { statement; });   \
    EXPECT_NE(message_.find(text), std::string::npos) << "message: " << message_; \
  } while (0)

// Expects `statement` to throw IoError whose message contains `text`.
#define EXPECT_IO_ERROR_MENTIONS(statement, text)                                  \
  do {                                                                             \
    const std::string message_ = ::nnuc::testing::io_error_of([&] { statement; }); \
    EXPECT_NE(message_.find(text), std::string::npos) << "message: " << message_;  \
  } while (0)
