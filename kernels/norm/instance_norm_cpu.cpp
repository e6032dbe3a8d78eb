// CPU instance norm + leaky ReLU: the specification the CUDA kernels are tested against.
//
// Each sample's rows (one row = the C channels of one voxel, contiguous in channels-last memory) are
// cut into chunks (instance_norm_cpu_plan). Reductions run per (sample, chunk) item in f64 on OpenMP
// threads, then merge over chunks in chunk order, so results do not depend on the thread count.
// Forward statistics: exact two-pass mean and M2 inside each chunk (the chunk sits in cache), merged
// with Chan's parallel-variance formula.
#include <algorithm>
#include <cmath>

#include "kernels/norm/cpu_select.h"
#include "kernels/norm/instance_norm_impl.h"

namespace nnuc::cpu {

namespace {

// Below this many values a parallel region costs more than it saves.
constexpr std::int64_t kParallelValues = 1 << 15;

struct Layout {
  std::int64_t samples, rows, channels;  // N, D·H·W, C
  detail::InstanceNormCpuPlan plan;

  explicit Layout(const Tensor& x)
      : samples(x.dim(Activation::N)),
        rows(x.dim(Activation::D) * x.dim(Activation::H) * x.dim(Activation::W)),
        channels(x.dim(Activation::C)),
        plan(detail::instance_norm_cpu_plan(x.shape())) {}

  std::int64_t items() const { return samples * plan.chunks; }  // (sample, chunk) pairs
  std::int64_t partials() const { return items() * channels; }
  std::int64_t row_begin(std::int64_t item) const { return item % plan.chunks * plan.rows_per_chunk; }
  std::int64_t row_end(std::int64_t item) const { return std::min(rows, row_begin(item) + plan.rows_per_chunk); }
  // Offset of the first value of `item`'s chunk in an (N, D, H, W, C) tensor.
  std::int64_t offset(std::int64_t item) const { return (item / plan.chunks * rows + row_begin(item)) * channels; }
  std::int64_t chunk_rows(std::int64_t chunk) const {
    return std::min(rows, (chunk + 1) * plan.rows_per_chunk) - chunk * plan.rows_per_chunk;
  }
};

// z = x · scale + shift with per-(n, c) scale = gamma · inv_std and shift = beta - mean · scale. The
// forward and backward passes (and the CUDA kernels) compute z this same way, so they agree on
// which side of 0 it falls.
template <typename T>
void fill_scale_shift(const Layout& layout, const T* gamma, const T* beta, const T* mean, const T* inv_std, T* scale,
                      T* shift) {
  for (std::int64_t index = 0; index < layout.samples * layout.channels; ++index) {
    const std::int64_t channel = index % layout.channels;
    scale[index] = gamma[channel] * inv_std[index];
    shift[index] = beta[channel] - mean[index] * scale[index];
  }
}

// The backward's per-value terms, recomputed from x and the saved statistics as the forward did:
// dz = dy · leaky_relu'(z) with z = x · scale + shift, and x̂ = (x - mean) · inv_std.
template <typename T>
struct GradientTerms {
  T dz, xhat;
};
template <typename T>
inline GradientTerms<T> gradient_terms(T value, T upstream, T scale, T shift, T mean, T inv_std, T negative_slope) {
  const T z = value * scale + shift;
  return GradientTerms<T>{select_if_positive(z, upstream, upstream * negative_slope), (value - mean) * inv_std};
}

template <typename T>
void forward(const Tensor& x_tensor, const Tensor& gamma_tensor, const Tensor& beta_tensor, double eps, double slope,
             Tensor& y_tensor, Tensor& mean_tensor, Tensor& inv_std_tensor, Tensor& workspace) {
  const Layout layout(x_tensor);
  const std::int64_t channels = layout.channels;
  const bool parallel = x_tensor.numel() >= kParallelValues;
  const T* x = x_tensor.data<T>();  // (N, D, H, W, C)
  T* y = y_tensor.data<T>();        // (N, D, H, W, C)
  T* mean = mean_tensor.data<T>();  // (N, C)
  T* inv_std = inv_std_tensor.data<T>();
  double* chunk_mean = static_cast<double*>(workspace.raw());     // (N, chunks, C)
  double* chunk_m2 = chunk_mean + layout.partials();              // (N, chunks, C)
  T* scale = reinterpret_cast<T*>(chunk_m2 + layout.partials());  // (N, C)
  T* shift = scale + layout.samples * channels;                   // (N, C)

#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t item = 0; item < layout.items(); ++item) {
    const T* chunk = x + layout.offset(item);
    const std::int64_t count = layout.row_end(item) - layout.row_begin(item);
    double* item_mean = chunk_mean + item * channels;
    double* item_m2 = chunk_m2 + item * channels;
    std::fill(item_mean, item_mean + channels, 0.0);
    std::fill(item_m2, item_m2 + channels, 0.0);
    for (std::int64_t row = 0; row < count; ++row)
      for (std::int64_t c = 0; c < channels; ++c) item_mean[c] += static_cast<double>(chunk[row * channels + c]);
    for (std::int64_t c = 0; c < channels; ++c) item_mean[c] /= static_cast<double>(count);
    for (std::int64_t row = 0; row < count; ++row)
      for (std::int64_t c = 0; c < channels; ++c) {
        const double deviation = static_cast<double>(chunk[row * channels + c]) - item_mean[c];
        item_m2[c] += deviation * deviation;
      }
  }

#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t index = 0; index < layout.samples * channels; ++index) {
    const std::int64_t sample = index / channels, channel = index % channels;
    double count = 0, running_mean = 0, running_m2 = 0;
    for (std::int64_t chunk = 0; chunk < layout.plan.chunks; ++chunk) {
      const std::int64_t partial = (sample * layout.plan.chunks + chunk) * channels + channel;
      const double chunk_count = static_cast<double>(layout.chunk_rows(chunk));
      const double total = count + chunk_count;
      const double delta = chunk_mean[partial] - running_mean;
      running_mean += delta * chunk_count / total;
      running_m2 += chunk_m2[partial] + delta * delta * count * chunk_count / total;
      count = total;
    }
    mean[index] = static_cast<T>(running_mean);
    inv_std[index] = static_cast<T>(1.0 / std::sqrt(running_m2 / static_cast<double>(layout.rows) + eps));
  }
  fill_scale_shift(layout, gamma_tensor.data<T>(), beta_tensor.data<T>(), mean, inv_std, scale, shift);

  const T negative_slope = static_cast<T>(slope);
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t item = 0; item < layout.items(); ++item) {
    const std::int64_t count = layout.row_end(item) - layout.row_begin(item);
    const T* chunk = x + layout.offset(item);
    T* out = y + layout.offset(item);
    const T* sample_scale = scale + item / layout.plan.chunks * channels;
    const T* sample_shift = shift + item / layout.plan.chunks * channels;
    for (std::int64_t row = 0; row < count; ++row)
      for (std::int64_t c = 0; c < channels; ++c) {
        const T z = chunk[row * channels + c] * sample_scale[c] + sample_shift[c];
        out[row * channels + c] = select_if_positive(z, z, z * negative_slope);
      }
  }
}

template <typename T>
void backward(const Tensor& dy_tensor, const Tensor& x_tensor, const Tensor& gamma_tensor, const Tensor& beta_tensor,
              const Tensor& mean_tensor, const Tensor& inv_std_tensor, double slope, Tensor& dx_tensor,
              Tensor& dgamma_tensor, Tensor& dbeta_tensor, Tensor& workspace) {
  const Layout layout(x_tensor);
  const std::int64_t channels = layout.channels, per_channel = layout.samples * channels;
  const bool parallel = x_tensor.numel() >= kParallelValues;
  const T* dy = dy_tensor.data<T>();  // (N, D, H, W, C)
  const T* x = x_tensor.data<T>();    // (N, D, H, W, C)
  const T* gamma = gamma_tensor.data<T>();
  const T* mean = mean_tensor.data<T>();  // (N, C)
  const T* inv_std = inv_std_tensor.data<T>();
  T* dx = dx_tensor.data<T>();
  T* dgamma = dgamma_tensor.data<T>();
  T* dbeta = dbeta_tensor.data<T>();
  double* chunk_dz = static_cast<double*>(workspace.raw());            // (N, chunks, C): Σ dz
  double* chunk_dz_xhat = chunk_dz + layout.partials();                // (N, chunks, C): Σ dz · x̂
  T* scale = reinterpret_cast<T*>(chunk_dz_xhat + layout.partials());  // (N, C) each
  T* shift = scale + per_channel;
  T* dx_scale = shift + per_channel;        // gamma · inv_std
  T* mean_dz = dx_scale + per_channel;      // Σ dz / M
  T* mean_dz_xhat = mean_dz + per_channel;  // Σ dz · x̂ / M
  fill_scale_shift(layout, gamma, beta_tensor.data<T>(), mean, inv_std, scale, shift);
  const T negative_slope = static_cast<T>(slope);

#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t item = 0; item < layout.items(); ++item) {
    const std::int64_t count = layout.row_end(item) - layout.row_begin(item);
    const std::int64_t first = item / layout.plan.chunks * channels;  // (n, 0) in (N, C)
    const T* chunk_x = x + layout.offset(item);
    const T* chunk_dy = dy + layout.offset(item);
    double* item_dz = chunk_dz + item * channels;
    double* item_dz_xhat = chunk_dz_xhat + item * channels;
    std::fill(item_dz, item_dz + channels, 0.0);
    std::fill(item_dz_xhat, item_dz_xhat + channels, 0.0);
    for (std::int64_t row = 0; row < count; ++row)
      for (std::int64_t c = 0; c < channels; ++c) {
        const GradientTerms<T> terms =
            gradient_terms(chunk_x[row * channels + c], chunk_dy[row * channels + c], scale[first + c],
                           shift[first + c], mean[first + c], inv_std[first + c], negative_slope);
        item_dz[c] += static_cast<double>(terms.dz);
        item_dz_xhat[c] += static_cast<double>(terms.dz) * static_cast<double>(terms.xhat);
      }
  }

#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t channel = 0; channel < channels; ++channel) {
    double total_dz = 0, total_dz_xhat = 0;  // over samples, for dbeta and dgamma
    for (std::int64_t sample = 0; sample < layout.samples; ++sample) {
      double sum_dz = 0, sum_dz_xhat = 0;
      for (std::int64_t chunk = 0; chunk < layout.plan.chunks; ++chunk) {
        const std::int64_t partial = (sample * layout.plan.chunks + chunk) * channels + channel;
        sum_dz += chunk_dz[partial];
        sum_dz_xhat += chunk_dz_xhat[partial];
      }
      const std::int64_t index = sample * channels + channel;
      dx_scale[index] = gamma[channel] * inv_std[index];
      mean_dz[index] = static_cast<T>(sum_dz / static_cast<double>(layout.rows));
      mean_dz_xhat[index] = static_cast<T>(sum_dz_xhat / static_cast<double>(layout.rows));
      total_dz += sum_dz;
      total_dz_xhat += sum_dz_xhat;
    }
    dbeta[channel] = static_cast<T>(total_dz);
    dgamma[channel] = static_cast<T>(total_dz_xhat);
  }

#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t item = 0; item < layout.items(); ++item) {
    const std::int64_t count = layout.row_end(item) - layout.row_begin(item);
    const std::int64_t first = item / layout.plan.chunks * channels;
    const T* chunk_x = x + layout.offset(item);
    const T* chunk_dy = dy + layout.offset(item);
    T* chunk_dx = dx + layout.offset(item);
    for (std::int64_t row = 0; row < count; ++row)
      for (std::int64_t c = 0; c < channels; ++c) {
        const GradientTerms<T> terms =
            gradient_terms(chunk_x[row * channels + c], chunk_dy[row * channels + c], scale[first + c],
                           shift[first + c], mean[first + c], inv_std[first + c], negative_slope);
        chunk_dx[row * channels + c] =
            dx_scale[first + c] * (terms.dz - mean_dz[first + c] - terms.xhat * mean_dz_xhat[first + c]);
      }
  }
}

}  // namespace

void instance_norm_leaky_relu_forward(const Context&, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      double eps, double slope, Tensor& y, Tensor& mean, Tensor& inv_std,
                                      Tensor& workspace) {
  if (x.dtype() == DType::f64) {
    forward<double>(x, gamma, beta, eps, slope, y, mean, inv_std, workspace);
  } else {
    forward<float>(x, gamma, beta, eps, slope, y, mean, inv_std, workspace);
  }
}

void instance_norm_leaky_relu_backward(const Context&, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                       const Tensor& beta, const Tensor& mean, const Tensor& inv_std, double slope,
                                       Tensor& dx, Tensor& dgamma, Tensor& dbeta, Tensor& workspace) {
  if (x.dtype() == DType::f64) {
    backward<double>(dy, x, gamma, beta, mean, inv_std, slope, dx, dgamma, dbeta, workspace);
  } else {
    backward<float>(dy, x, gamma, beta, mean, inv_std, slope, dx, dgamma, dbeta, workspace);
  }
}

}  // namespace nnuc::cpu
