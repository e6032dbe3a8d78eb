// kernels/norm/instance_norm.h on the CPU: forward and backward against a double-precision reference
// written here, a central-difference gradcheck in f64, thread-count independence, Meta-vs-CPU
// allocator peaks, and argument errors.
#include "kernels/norm/instance_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

// (N, D, H, W, C) shapes: odd sizes, 2-D (D = 1), C = 1, C = 33, several CPU chunks with a short last one.
const std::vector<Shape> kShapes = {
    Shape{1, 3, 5, 7, 3},  Shape{2, 1, 9, 11, 5}, Shape{2, 4, 3, 5, 1},
    Shape{1, 2, 3, 4, 33}, Shape{3, 2, 2, 2, 8},  Shape{2, 5, 13, 17, 40},
};

struct Sizes {
  std::int64_t samples, rows, channels;
  explicit Sizes(const Shape& shape)
      : samples(shape[Activation::N]),
        rows(shape[Activation::D] * shape[Activation::H] * shape[Activation::W]),
        channels(shape[Activation::C]) {}
  std::int64_t index(std::int64_t n, std::int64_t row, std::int64_t c) const { return (n * rows + row) * channels + c; }
};

Tensor as_dtype(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor f64 = Tensor::from_vector(shape, values);
  return dtype == DType::f64 ? f64 : testing::as_f32(f64);
}

// ---- double-precision reference -------------------------------------------------------------------

struct ForwardReference {
  std::vector<double> y, z, mean, inv_std;  // y, z: (N, D, H, W, C); mean, inv_std: (N, C)
};

ForwardReference reference_forward(const Tensor& x_tensor, const Tensor& gamma_tensor, const Tensor& beta_tensor,
                                   double eps, double slope) {
  const Sizes s(x_tensor.shape());
  const std::vector<double> x = x_tensor.to_vector<double>();
  const std::vector<double> gamma = gamma_tensor.to_vector<double>(), beta = beta_tensor.to_vector<double>();
  ForwardReference ref;
  ref.y.resize(x.size());
  ref.z.resize(x.size());
  ref.mean.resize(static_cast<std::size_t>(s.samples * s.channels));
  ref.inv_std.resize(ref.mean.size());
  for (std::int64_t n = 0; n < s.samples; ++n)
    for (std::int64_t c = 0; c < s.channels; ++c) {
      double sum = 0;
      for (std::int64_t row = 0; row < s.rows; ++row) sum += x[s.index(n, row, c)];
      const double mean = sum / static_cast<double>(s.rows);
      double squares = 0;
      for (std::int64_t row = 0; row < s.rows; ++row)
        squares += (x[s.index(n, row, c)] - mean) * (x[s.index(n, row, c)] - mean);
      const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(s.rows) + eps);
      ref.mean[n * s.channels + c] = mean;
      ref.inv_std[n * s.channels + c] = inv_std;
      for (std::int64_t row = 0; row < s.rows; ++row) {
        const std::int64_t i = s.index(n, row, c);
        ref.z[i] = gamma[c] * (x[i] - mean) * inv_std + beta[c];
        ref.y[i] = ref.z[i] > 0 ? ref.z[i] : slope * ref.z[i];
      }
    }
  return ref;
}

struct BackwardReference {
  std::vector<double> dx, dgamma, dbeta;
};

BackwardReference reference_backward(const Tensor& dy_tensor, const Tensor& x_tensor, const Tensor& gamma_tensor,
                                     const Tensor& beta_tensor, double eps, double slope) {
  const Sizes s(x_tensor.shape());
  const ForwardReference fwd = reference_forward(x_tensor, gamma_tensor, beta_tensor, eps, slope);
  const std::vector<double> x = x_tensor.to_vector<double>(), dy = dy_tensor.to_vector<double>();
  const std::vector<double> gamma = gamma_tensor.to_vector<double>();
  BackwardReference ref;
  ref.dx.resize(x.size());
  ref.dgamma.assign(static_cast<std::size_t>(s.channels), 0.0);
  ref.dbeta.assign(static_cast<std::size_t>(s.channels), 0.0);
  for (std::int64_t n = 0; n < s.samples; ++n)
    for (std::int64_t c = 0; c < s.channels; ++c) {
      const double mean = fwd.mean[n * s.channels + c], inv_std = fwd.inv_std[n * s.channels + c];
      auto dz = [&](std::int64_t i) { return fwd.z[i] > 0 ? dy[i] : slope * dy[i]; };
      double sum_dz = 0, sum_dz_xhat = 0;
      for (std::int64_t row = 0; row < s.rows; ++row) {
        const std::int64_t i = s.index(n, row, c);
        sum_dz += dz(i);
        sum_dz_xhat += dz(i) * (x[i] - mean) * inv_std;
      }
      ref.dbeta[c] += sum_dz;
      ref.dgamma[c] += sum_dz_xhat;
      const double m = static_cast<double>(s.rows);
      for (std::int64_t row = 0; row < s.rows; ++row) {
        const std::int64_t i = s.index(n, row, c);
        const double xhat = (x[i] - mean) * inv_std;
        ref.dx[i] = gamma[c] * inv_std * (dz(i) - sum_dz / m - xhat * sum_dz_xhat / m);
      }
    }
  return ref;
}

// Moves the elements of x whose z lies within `margin` of leaky ReLU's kink at 0 by 2·margin in z, so
// that finite differences and f32-vs-f64 comparisons of the mask do not straddle the kink. The move
// shifts the statistics by O(margin / rows), so a few rounds settle it.
Tensor avoid_kinks(const Tensor& x, const Tensor& gamma, const Tensor& beta, double margin) {
  const Sizes s(x.shape());
  std::vector<double> values = x.to_vector<double>();
  const std::vector<double> gamma_values = gamma.to_vector<double>();
  for (int round = 0; round < 4; ++round) {
    const ForwardReference ref =
        reference_forward(as_dtype(values, x.shape(), x.dtype()), gamma, beta, kInstanceNormEps, 1);
    bool moved = false;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (std::fabs(ref.z[i]) >= margin) continue;
      const std::int64_t c = static_cast<std::int64_t>(i) % s.channels;
      const std::int64_t n = static_cast<std::int64_t>(i) / (s.rows * s.channels);
      const double dz_dx = gamma_values[c] * ref.inv_std[n * s.channels + c];
      values[i] += (ref.z[i] >= 0 ? 2 : -2) * margin / dz_dx;
      moved = true;
    }
    if (!moved) return as_dtype(values, x.shape(), x.dtype());
  }
  ADD_FAILURE() << "avoid_kinks did not settle for " << x.describe();
  return as_dtype(values, x.shape(), x.dtype());
}

struct Inputs {
  Tensor x, gamma, beta;
};

// x uniform in [low, high); gamma in [0.5, 1.5); beta in [-0.5, 0.5).
Inputs random_inputs(const Shape& shape, DType dtype, double low = -1, double high = 1) {
  const std::int64_t channels = shape[Activation::C];
  return Inputs{testing::random_uniform(shape, dtype, low, high),
                testing::random_uniform(Shape{channels}, dtype, 0.5, 1.5),
                testing::random_uniform(Shape{channels}, dtype, -0.5, 0.5)};
}

double tolerance_for(DType dtype) { return dtype == DType::f64 ? 1e-12 : 2e-5; }

Tensor host(const std::vector<double>& values, const Shape& shape) { return Tensor::from_vector(shape, values); }

// ---- forward and backward against the reference -----------------------------------------------------

TEST(InstanceNormCpu, ForwardMatchesDoubleReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (double slope : {1.0, kLeakyReluSlope})
      for (const Shape& shape : kShapes)
        for (const auto& [low, high] : {std::pair{-1.0, 1.0}, std::pair{3.0, 7.0}}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str() + " slope " + std::to_string(slope) +
                       " x in [" + std::to_string(low) + ", " + std::to_string(high) + ")");
          const Inputs in = random_inputs(shape, dtype, low, high);
          InstanceNormStats stats;
          const Tensor y = instance_norm_leaky_relu_forward(Context::cpu(), in.x, in.gamma, in.beta, kInstanceNormEps,
                                                            slope, &stats);
          const ForwardReference ref = reference_forward(in.x, in.gamma, in.beta, kInstanceNormEps, slope);
          const double tol = tolerance_for(dtype);
          EXPECT_EQ(y.dtype(), dtype);
          EXPECT_EQ(y.shape(), shape);
          EXPECT_EQ(stats.mean.shape(), (Shape{shape[0], shape[4]}));
          EXPECT_EQ(stats.mean.dtype(), instance_norm_param_dtype(dtype));
          EXPECT_TRUE(testing::all_close(y, host(ref.y, shape), tol, tol));
          EXPECT_TRUE(testing::all_close(stats.mean, host(ref.mean, stats.mean.shape()), tol, tol));
          EXPECT_TRUE(testing::all_close(stats.inv_std, host(ref.inv_std, stats.inv_std.shape()), 0, tol));
        }
}

TEST(InstanceNormCpu, BackwardMatchesDoubleReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (double slope : {1.0, kLeakyReluSlope})
      for (const Shape& shape : kShapes) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str() + " slope " + std::to_string(slope));
        Inputs in = random_inputs(shape, dtype);
        in.x = avoid_kinks(in.x, in.gamma, in.beta, 1e-4);
        const Tensor dy = testing::random_uniform(shape, dtype);
        InstanceNormStats stats;
        instance_norm_leaky_relu_forward(Context::cpu(), in.x, in.gamma, in.beta, kInstanceNormEps, slope, &stats);
        const InstanceNormGrads grads =
            instance_norm_leaky_relu_backward(Context::cpu(), dy, in.x, in.gamma, in.beta, stats, slope);
        const BackwardReference ref = reference_backward(dy, in.x, in.gamma, in.beta, kInstanceNormEps, slope);
        const double tol = tolerance_for(dtype);
        // dgamma and dbeta are sums of rows · N terms of size ~1: scale the absolute tolerance.
        const double sum_tol = tol * std::sqrt(static_cast<double>(shape.numel() / shape[4]));
        EXPECT_EQ(grads.dx.dtype(), dtype);
        EXPECT_EQ(grads.dgamma.shape(), (Shape{shape[4]}));
        EXPECT_TRUE(testing::all_close(grads.dx, host(ref.dx, shape), tol, tol));
        EXPECT_TRUE(testing::all_close(grads.dgamma, host(ref.dgamma, grads.dgamma.shape()), sum_tol, tol));
        EXPECT_TRUE(testing::all_close(grads.dbeta, host(ref.dbeta, grads.dbeta.shape()), sum_tol, tol));
      }
}

// Loss L = Σ weight · y; its gradients by central differences in f64 against the backward pass.
TEST(InstanceNormCpu, GradcheckCentralDifferences) {
  const double step = 1e-6;
  for (double slope : {1.0, kLeakyReluSlope})
    for (const Shape& shape : {Shape{1, 3, 5, 7, 3}, Shape{2, 1, 4, 3, 5}, Shape{2, 2, 3, 2, 1}}) {
      SCOPED_TRACE(shape.str() + " slope " + std::to_string(slope));
      Inputs in = random_inputs(shape, DType::f64);
      in.x = avoid_kinks(in.x, in.gamma, in.beta, 1e-3);
      const Tensor weight = testing::random_uniform(shape, DType::f64);
      const std::vector<double> w = weight.to_vector<double>();
      auto loss = [&](const Tensor& x, const Tensor& gamma, const Tensor& beta) {
        const std::vector<double> y =
            instance_norm_leaky_relu_forward(Context::cpu(), x, gamma, beta, kInstanceNormEps, slope, nullptr)
                .to_vector<double>();
        double sum = 0;
        for (std::size_t i = 0; i < y.size(); ++i) sum += w[i] * y[i];
        return sum;
      };
      // Numerical gradient of loss with respect to the tensor `which` (0: x, 1: gamma, 2: beta).
      auto numerical = [&](int which) {
        const Tensor& base = which == 0 ? in.x : which == 1 ? in.gamma : in.beta;
        std::vector<double> values = base.to_vector<double>(), gradient(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
          double loss_at[2];
          for (int side = 0; side < 2; ++side) {
            std::vector<double> moved = values;
            moved[i] += side == 0 ? step : -step;
            const Tensor t = Tensor::from_vector(base.shape(), moved);
            loss_at[side] = loss(which == 0 ? t : in.x, which == 1 ? t : in.gamma, which == 2 ? t : in.beta);
          }
          gradient[i] = (loss_at[0] - loss_at[1]) / (2 * step);
        }
        return Tensor::from_vector(base.shape(), gradient);
      };
      InstanceNormStats stats;
      instance_norm_leaky_relu_forward(Context::cpu(), in.x, in.gamma, in.beta, kInstanceNormEps, slope, &stats);
      const InstanceNormGrads grads =
          instance_norm_leaky_relu_backward(Context::cpu(), weight, in.x, in.gamma, in.beta, stats, slope);
      EXPECT_TRUE(testing::all_close(grads.dx, numerical(0), 1e-6, 1e-5)) << "dx";
      EXPECT_TRUE(testing::all_close(grads.dgamma, numerical(1), 1e-6, 1e-5)) << "dgamma";
      EXPECT_TRUE(testing::all_close(grads.dbeta, numerical(2), 1e-6, 1e-5)) << "dbeta";
    }
}

// Chunks are merged in a fixed order: one thread and many threads give the same bits.
TEST(InstanceNormCpu, ResultsDoNotDependOnThreadCount) {
  const Shape shape{2, 7, 31, 33, 40};
  const Inputs in = random_inputs(shape, DType::f32);
  const Tensor dy = testing::random_uniform(shape, DType::f32);
  auto run = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    InstanceNormStats stats;
    const Tensor y = instance_norm_leaky_relu_forward(Context::cpu(), in.x, in.gamma, in.beta, kInstanceNormEps,
                                                      kLeakyReluSlope, &stats);
    const InstanceNormGrads grads =
        instance_norm_leaky_relu_backward(Context::cpu(), dy, in.x, in.gamma, in.beta, stats, kLeakyReluSlope);
    omp_set_num_threads(before);
    return std::vector<std::vector<float>>{
        y.to_vector<float>(),        stats.mean.to_vector<float>(),   stats.inv_std.to_vector<float>(),
        grads.dx.to_vector<float>(), grads.dgamma.to_vector<float>(), grads.dbeta.to_vector<float>()};
  };
  EXPECT_EQ(run(1), run(3));
}

// ---- memory: the Meta run allocates exactly what the CPU run does --------------------------------------

using testing::peak_bytes_of;

TEST(InstanceNormCpu, MetaPeakEqualsCpuPeak) {
  auto meta = Context::meta(Device::CPU);
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& shape : {Shape{2, 7, 31, 33, 40}, Shape{1, 3, 5, 7, 3}}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str());
      const Shape per_channel{shape[4]}, stats_shape{shape[0], shape[4]};
      const Inputs cpu_in = random_inputs(shape, dtype);
      const Tensor cpu_dy = testing::random_uniform(shape, dtype);
      const Tensor meta_x = Tensor::empty(shape, dtype, *meta), meta_dy = Tensor::empty(shape, dtype, *meta);
      const Tensor meta_gamma = Tensor::empty(per_channel, dtype, *meta),
                   meta_beta = Tensor::empty(per_channel, dtype, *meta);
      InstanceNormStats cpu_stats, meta_stats;
      const std::size_t cpu_forward = peak_bytes_of(Device::CPU, [&] {
        instance_norm_leaky_relu_forward(Context::cpu(), cpu_in.x, cpu_in.gamma, cpu_in.beta, kInstanceNormEps,
                                         kLeakyReluSlope, nullptr);
      });
      const std::size_t meta_forward = peak_bytes_of(Device::Meta, [&] {
        const Tensor y = instance_norm_leaky_relu_forward(*meta, meta_x, meta_gamma, meta_beta, kInstanceNormEps,
                                                          kLeakyReluSlope, &meta_stats);
        EXPECT_EQ(y.device(), Device::Meta);
        EXPECT_EQ(y.shape(), shape);
      });
      const std::size_t stats_bytes =
          rounded_allocation_bytes(static_cast<std::size_t>(stats_shape.numel()) * dtype_size(dtype));
      const std::size_t expected_forward =
          rounded_allocation_bytes(static_cast<std::size_t>(shape.numel()) * dtype_size(dtype)) + 2 * stats_bytes +
          rounded_allocation_bytes(instance_norm_forward_workspace_bytes(Device::CPU, shape, dtype));
      EXPECT_EQ(cpu_forward, meta_forward);
      EXPECT_EQ(cpu_forward, expected_forward);
      EXPECT_EQ(meta_stats.mean.shape(), stats_shape);

      instance_norm_leaky_relu_forward(Context::cpu(), cpu_in.x, cpu_in.gamma, cpu_in.beta, kInstanceNormEps,
                                       kLeakyReluSlope, &cpu_stats);
      const std::size_t cpu_backward = peak_bytes_of(Device::CPU, [&] {
        instance_norm_leaky_relu_backward(Context::cpu(), cpu_dy, cpu_in.x, cpu_in.gamma, cpu_in.beta, cpu_stats,
                                          kLeakyReluSlope);
      });
      const std::size_t meta_backward = peak_bytes_of(Device::Meta, [&] {
        const InstanceNormGrads grads = instance_norm_leaky_relu_backward(*meta, meta_dy, meta_x, meta_gamma, meta_beta,
                                                                          meta_stats, kLeakyReluSlope);
        EXPECT_EQ(grads.dgamma.shape(), per_channel);
      });
      const std::size_t param_bytes = rounded_allocation_bytes(static_cast<std::size_t>(shape[4]) * dtype_size(dtype));
      const std::size_t expected_backward =
          rounded_allocation_bytes(static_cast<std::size_t>(shape.numel()) * dtype_size(dtype)) + 2 * param_bytes +
          rounded_allocation_bytes(instance_norm_backward_workspace_bytes(Device::CPU, shape, dtype));
      EXPECT_EQ(cpu_backward, meta_backward);
      EXPECT_EQ(cpu_backward, expected_backward);
    }
}

TEST(InstanceNormCpu, WorkspaceBytes) {
  // (2, 7, 31, 33, 40): 7161 rows, 8192 / 40 = 204 rows per chunk -> 36 chunks.
  const Shape shape{2, 7, 31, 33, 40};
  EXPECT_EQ(instance_norm_forward_workspace_bytes(Device::CPU, shape, DType::f32),
            2u * 2 * 36 * 40 * sizeof(double) + 2u * 2 * 40 * sizeof(float));
  EXPECT_EQ(instance_norm_backward_workspace_bytes(Device::CPU, shape, DType::f64),
            2u * 2 * 36 * 40 * sizeof(double) + 5u * 2 * 40 * sizeof(double));
  EXPECT_GT(instance_norm_forward_workspace_bytes(Device::CUDA, shape, DType::bf16), 0u);
  EXPECT_THROW(instance_norm_forward_workspace_bytes(Device::Meta, shape, DType::f32), InvalidInput);
  EXPECT_THROW(instance_norm_forward_workspace_bytes(Device::CPU, Shape{2, 3}, DType::f32), InvalidInput);
}

// ---- argument errors --------------------------------------------------------------------------------

using testing::expect_invalid;

TEST(InstanceNormCpu, RejectsBadArguments) {
  const Context& cpu = Context::cpu();
  const Shape shape{2, 3, 4, 5, 6};
  const Inputs in = random_inputs(shape, DType::f32);
  const double eps = kInstanceNormEps, slope = kLeakyReluSlope;
  auto forward = [&](const Tensor& x, const Tensor& gamma, const Tensor& beta, double e, double s) {
    return [&cpu, x, gamma, beta, e, s] { instance_norm_leaky_relu_forward(cpu, x, gamma, beta, e, s, nullptr); };
  };
  expect_invalid(forward(in.x.reshape(Shape{2, 12, 5, 6}), in.gamma, in.beta, eps, slope), "x must be 5-D");
  expect_invalid(forward(Tensor(), in.gamma, in.beta, eps, slope), "x is an undefined tensor");
  expect_invalid(forward(Tensor::empty_cpu(Shape{2, 0, 4, 5, 6}, DType::f32), in.gamma, in.beta, eps, slope),
                 "every dimension >= 1");
  expect_invalid(forward(testing::as_f64(in.x), in.gamma, in.beta, eps, slope), "gamma must be f64 (6)");
  expect_invalid(forward(Tensor::empty_cpu(shape, DType::bf16), in.gamma, in.beta, eps, slope),
                 "x must be f32 or f64 on the CPU");
  expect_invalid(forward(in.x, testing::random_uniform(Shape{5}, DType::f32), in.beta, eps, slope),
                 "gamma must be f32 (6)");
  expect_invalid(forward(in.x, in.gamma, testing::as_f64(in.beta), eps, slope), "beta must be f32 (6)");
  expect_invalid(forward(in.x, in.gamma, in.beta, 0.0, slope), "eps must be finite and > 0");
  expect_invalid(forward(in.x, in.gamma, in.beta, NAN, slope), "eps must be finite and > 0");
  expect_invalid(forward(in.x, in.gamma, in.beta, eps, INFINITY), "slope must be finite");
  auto meta = Context::meta(Device::CPU);
  expect_invalid(forward(Tensor::empty(shape, DType::f32, *meta), in.gamma, in.beta, eps, slope), "x is on Meta");

  InstanceNormStats stats;
  instance_norm_leaky_relu_forward(cpu, in.x, in.gamma, in.beta, eps, slope, &stats);
  const Tensor dy = testing::random_uniform(shape, DType::f32);
  auto backward = [&](const Tensor& d, const Tensor& x, const InstanceNormStats& st, double s) {
    return [&cpu, &in, d, x, st, s] { instance_norm_leaky_relu_backward(cpu, d, x, in.gamma, in.beta, st, s); };
  };
  expect_invalid(backward(testing::random_uniform(Shape{2, 3, 4, 5, 7}, DType::f32), in.x, stats, slope),
                 "must have the same shape");
  expect_invalid(backward(testing::as_f64(dy), in.x, stats, slope), "must have the same dtype");
  expect_invalid(backward(dy, in.x, InstanceNormStats{stats.inv_std.reshape(Shape{12}), stats.inv_std}, slope),
                 "stats.mean must be f32 (2, 6)");
  expect_invalid(backward(dy, in.x, InstanceNormStats{stats.mean, Tensor()}, slope), "stats.inv_std is an undefined");
  expect_invalid(backward(dy, in.x, stats, NAN), "slope must be finite");
}

}  // namespace
}  // namespace nnuc
