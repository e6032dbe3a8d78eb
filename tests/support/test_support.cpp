#include "tests/support/test_support.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>

#include "kernels/core/allocator.h"

#ifdef NNUC_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace nnuc::testing {

std::uint64_t test_seed() {
  static const std::uint64_t seed = [] {
    if (const char* fixed = std::getenv("NNUC_TEST_SEED"))
      return static_cast<std::uint64_t>(std::strtoull(fixed, nullptr, 10));
    return static_cast<std::uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  }();
  return seed;
}

std::mt19937_64& rng() {
  static std::mt19937_64 generator = [] {
    std::cout << "[nnuc] random seed " << test_seed() << " (replay with NNUC_TEST_SEED=" << test_seed() << ")\n";
    return std::mt19937_64(test_seed());
  }();
  return generator;
}

Tensor random_uniform(const Shape& shape, DType dtype, double low, double high) {
  std::uniform_real_distribution<double> draw(low, high);
  std::vector<double> values(static_cast<std::size_t>(shape.numel()));
  for (double& value : values) value = draw(rng());
  if (!values.empty() && low < 0 && high > 0) values[0] = 0.5 * (low + high) + 0.25 * (high - low);  // never all zero
  Tensor f64 = Tensor::from_vector(shape, values);
  if (dtype == DType::f64) return f64;
  NNUC_CHECK(dtype == DType::f32, "random_uniform: f32 or f64");
  return as_f32(f64);
}

Tensor random_labels(const Shape& shape, DType dtype, int classes) {
  std::uniform_int_distribution<int> draw(0, classes - 1);
  Tensor out = Tensor::empty_cpu(shape, dtype);
  for (std::int64_t index = 0; index < shape.numel(); ++index) {
    const int value = draw(rng());
    switch (dtype) {
      case DType::u8: out.data<std::uint8_t>()[index] = static_cast<std::uint8_t>(value); break;
      case DType::i16: out.data<std::int16_t>()[index] = static_cast<std::int16_t>(value); break;
      case DType::i32: out.data<std::int32_t>()[index] = value; break;
      case DType::i64: out.data<std::int64_t>()[index] = value; break;
      default: NNUC_THROW(InvalidInput, "random_labels: integer dtype required");
    }
  }
  return out;
}

std::vector<std::uint8_t> random_mask(const std::array<std::int64_t, 3>& shape, double density) {
  std::bernoulli_distribution bit(density);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(shape[0] * shape[1] * shape[2]));
  for (auto& m : mask) m = bit(rng()) ? 1 : 0;
  return mask;
}

Difference compare(const Tensor& actual, const Tensor& expected, double relative_floor) {
  NNUC_CHECK(actual.numel() == expected.numel(), "compare: ", actual.describe(), " vs ", expected.describe());
  const std::vector<double> a = actual.to_vector<double>();
  const std::vector<double> e = expected.to_vector<double>();
  Difference diff;
  for (std::size_t index = 0; index < a.size(); ++index) {
    const double abs_diff = std::isnan(a[index]) != std::isnan(e[index]) ? INFINITY : std::fabs(a[index] - e[index]);
    const double rel = abs_diff / std::max(std::fabs(e[index]), relative_floor);
    if (abs_diff > diff.max_abs || std::isnan(abs_diff)) {
      diff.max_abs = abs_diff;
      diff.worst_index = static_cast<std::int64_t>(index);
    }
    diff.max_rel = std::max(diff.max_rel, rel);
  }
  return diff;
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (actual.numel() != expected.numel())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.describe() << " vs " << expected.describe();
  const std::vector<double> a = actual.to_vector<double>();
  const std::vector<double> e = expected.to_vector<double>();
  std::int64_t failures = 0, first = -1;
  double worst = 0;
  for (std::size_t index = 0; index < a.size(); ++index) {
    const double tolerance = atol + rtol * std::fabs(e[index]);
    const double diff = std::fabs(a[index] - e[index]);
    if (!(diff <= tolerance)) {  // NaN fails
      if (first < 0) first = static_cast<std::int64_t>(index);
      ++failures;
      worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
    }
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << failures << " of " << a.size() << " elements differ beyond atol " << atol
                                       << " + rtol " << rtol << "; first at " << first << ": " << a[first] << " vs "
                                       << e[first] << "; worst |diff| " << worst;
}

Context* gpu() {
  static std::unique_ptr<Context> context = cuda_available() ? Context::cuda(0) : nullptr;
  return context.get();
}

Tensor as_f64(const Tensor& host) { return Tensor::from_vector(host.shape(), host.to_vector<double>()); }
Tensor as_f32(const Tensor& host) { return Tensor::from_vector(host.shape(), host.to_vector<float>()); }

Tensor round_to_bf16(const Tensor& host) {
  std::vector<float> values = host.to_vector<float>();
  for (float& value : values) value = bf16_to_float(float_to_bf16(value));
  return Tensor::from_vector(host.shape(), values);
}

Tensor to_device(const Tensor& host, DType dtype) {
  Context* context = gpu();
  NNUC_CHECK(context != nullptr, "to_device: no GPU");
  if (host.dtype() == dtype) return host.copy_to(*context);
  const std::vector<float> values = host.to_vector<float>();
  Tensor staged = Tensor::empty_cpu(host.shape(), dtype);
  for (std::size_t index = 0; index < values.size(); ++index) {
    switch (dtype) {
      case DType::bf16: staged.data<bf16>()[index] = float_to_bf16(values[index]); break;
      case DType::f16: staged.data<f16>()[index] = float_to_f16(values[index]); break;
      case DType::f32: staged.data<float>()[index] = values[index]; break;
      default: NNUC_THROW(InvalidInput, "to_device: floating dtype expected");
    }
  }
  return staged.copy_to(*context);
}

Tensor to_host_f32(const Tensor& device_tensor) { return as_f32(device_tensor.to_cpu()); }

void poison(Tensor& device_tensor) {
#ifdef NNUC_WITH_CUDA
  if (device_tensor.device() == Device::CUDA) {
    // 0xFF bytes are NaN in every floating format and -1 / 255 in the integer ones. The block came
    // from the stream-ordered pool of the op's stream: wait for that stream's earlier work (which may
    // have used the block before it was freed) before writing on the legacy stream.
    cudaDeviceSynchronize();
    cudaMemset(device_tensor.raw(), 0xFF, device_tensor.bytes());
    cudaDeviceSynchronize();
    return;
  }
#endif
  if (device_tensor.device() == Device::CPU) std::memset(device_tensor.raw(), 0xFF, device_tensor.bytes());
}

std::size_t peak_bytes_of(Device device, const std::function<void()>& run) {
  Allocator& allocator = allocator_for(device);
  const std::size_t base = allocator.stats().current_bytes;
  allocator.reset_peak();
  run();
  return allocator.stats().peak_bytes - base;
}

PeakAndOutput peak_and_output_of(Device device, const std::function<Tensor()>& run) {
  PeakAndOutput result;
  result.peak = peak_bytes_of(device, [&] { result.output = rounded_allocation_bytes(run().bytes()); });
  return result;
}

std::size_t peak_bytes_of(const Context& ctx, const std::function<void()>& run) {
  ctx.synchronize();
  return peak_bytes_of(ctx.device(), [&] {
    run();
    ctx.synchronize();
  });
}

std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const InvalidInput& error) {
    return error.what();
  }
  return "(no InvalidInput thrown)";
}

std::string io_error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const IoError& error) {
    return error.what();
  } catch (const std::exception& error) {
    return std::string("(other exception: ") + error.what() + ")";
  }
  return "(no IoError thrown)";
}

void expect_invalid(const std::function<void()>& call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "no error; expected InvalidInput mentioning \"" << fragment << "\"";
  } catch (const InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace nnuc::testing

#include "tests/support/coverage.h"

namespace nnuc::testing {
namespace {
std::set<std::string>& covered() {
  static std::set<std::string> ops;
  return ops;
}
}  // namespace
bool register_cuda_cover(const char* op_name) { return covered().insert(op_name).second; }
const std::set<std::string>& cuda_covered_ops() { return covered(); }
}  // namespace nnuc::testing

namespace nnuc::testing {
namespace {
std::set<std::string>& gradchecked() {
  static std::set<std::string> ops;
  return ops;
}
}  // namespace
bool register_gradcheck_cover(const char* op_name) { return gradchecked().insert(op_name).second; }
const std::set<std::string>& gradcheck_covered_ops() { return gradchecked(); }
}  // namespace nnuc::testing
