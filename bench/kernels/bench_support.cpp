#include "bench/kernels/bench_support.h"

#include <chrono>
#include <cstring>
#include <random>

#include "kernels/core/dtype.h"

#ifdef NNUC_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/core/cuda_check.h"
#endif

namespace nnuc::bench {

Context* gpu() {
  static std::unique_ptr<Context> context = cuda_available() ? Context::cuda(0) : nullptr;
  return context.get();
}

void sync(const Context& ctx) { ctx.synchronize(); }

const Context* context_for(benchmark::State& state, const std::string& device) {
  if (device == "cpu") return &Context::cpu();
  if (gpu() == nullptr) {
    state.SkipWithError("no CUDA device");
    return nullptr;
  }
  return gpu();
}

DType dtype_for(const std::string& device) { return device == "cuda_bf16" ? DType::bf16 : DType::f32; }

double tensor_bytes(const Shape& shape, DType dtype) {
  return static_cast<double>(shape.numel()) * static_cast<double>(dtype_size(dtype));
}

void time_iterations(benchmark::State& state, const Context& ctx, const std::function<void()>& work) {
  work();
  sync(ctx);
#ifdef NNUC_WITH_CUDA
  if (ctx.device() == Device::CUDA) {
    cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream());
    cudaEvent_t start = nullptr, stop = nullptr;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    for (auto _ : state) {
      CUDA_CHECK(cudaEventRecord(start, stream));
      work();
      CUDA_CHECK(cudaEventRecord(stop, stream));
      CUDA_CHECK(cudaEventSynchronize(stop));
      float milliseconds = 0;
      CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
      state.SetIterationTime(static_cast<double>(milliseconds) * 1e-3);
    }
    CUDA_CHECK_PRINT(cudaEventDestroy(start));
    CUDA_CHECK_PRINT(cudaEventDestroy(stop));
    return;
  }
#endif
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    work();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

Tensor random_tensor(const Shape& shape, DType dtype, const Context& ctx, double low, double high) {
  std::mt19937_64 generator(12345);
  std::uniform_real_distribution<float> draw(static_cast<float>(low), static_cast<float>(high));
  Tensor host = Tensor::empty_cpu(shape, dtype);
  for (std::int64_t index = 0; index < shape.numel(); ++index) {
    const float value = draw(generator);
    switch (dtype) {
      case DType::f32: host.data<float>()[index] = value; break;
      case DType::f64: host.data<double>()[index] = value; break;
      case DType::bf16: host.data<bf16>()[index] = float_to_bf16(value); break;
      case DType::f16: host.data<f16>()[index] = float_to_f16(value); break;
      default: NNUC_THROW(InvalidInput, "random_tensor: floating dtype expected, got ", dtype_name(dtype));
    }
  }
  return ctx.device() == Device::CPU ? host : host.copy_to(ctx);
}

Tensor random_labels(const Shape& shape, int classes, const Context& ctx) {
  std::mt19937_64 generator(777);
  std::uniform_int_distribution<int> draw(0, classes - 1);
  Tensor host = Tensor::empty_cpu(shape, DType::i16);
  for (std::int64_t index = 0; index < shape.numel(); ++index)
    host.data<std::int16_t>()[index] = static_cast<std::int16_t>(draw(generator));
  return ctx.device() == Device::CPU ? host : host.copy_to(ctx);
}

void set_rates(benchmark::State& state, double flops_per_iteration, double bytes_per_iteration) {
  const double iterations = static_cast<double>(state.iterations());
  if (flops_per_iteration > 0)
    state.counters["FLOP/s"] =
        benchmark::Counter(flops_per_iteration * iterations, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  if (bytes_per_iteration > 0)
    state.counters["bytes/s"] =
        benchmark::Counter(bytes_per_iteration * iterations, benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

std::vector<StageShape> stages_3d() {
  return {
      {"s0_128x32", Shape{2, 128, 128, 128, 32}}, {"s1_64x64", Shape{2, 64, 64, 64, 64}},
      {"s2_32x128", Shape{2, 32, 32, 32, 128}},   {"s3_16x256", Shape{2, 16, 16, 16, 256}},
      {"s4_8x320", Shape{2, 8, 8, 8, 320}},       {"s5_4x320", Shape{2, 4, 4, 4, 320}},
  };
}

std::vector<StageShape> stages_2d() {
  return {
      {"2d_s0_512x32", Shape{12, 1, 512, 512, 32}},   {"2d_s1_256x64", Shape{12, 1, 256, 256, 64}},
      {"2d_s2_128x128", Shape{12, 1, 128, 128, 128}}, {"2d_s3_64x256", Shape{12, 1, 64, 64, 256}},
      {"2d_s4_32x512", Shape{12, 1, 32, 32, 512}},    {"2d_s5_16x512", Shape{12, 1, 16, 16, 512}},
      {"2d_s6_8x512", Shape{12, 1, 8, 8, 512}},
  };
}

}  // namespace nnuc::bench
