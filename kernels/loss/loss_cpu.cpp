// CPU implementations of kernels/loss/loss.h: the readable specification of softmax, argmax, CE and
// the soft-Dice sums. Per-voxel math in the logits' type, sums in f64 (per-thread partials added in
// thread order). OpenMP over voxels.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/loss/loss_impl.h"

namespace nnuc::cpu {

namespace {

using loss_detail::BackwardTerms;
using loss_detail::SumOutputs;

struct Geometry {
  std::int64_t samples, voxels_per_sample, classes;
  explicit Geometry(const Shape& logits)
      : samples(logits[0]), voxels_per_sample(logits[1] * logits[2] * logits[3]), classes(logits[4]) {}
  std::int64_t voxels() const { return samples * voxels_per_sample; }
};

// probabilities[c] = exp(x[c] − max) / Σ_k exp(x[k] − max). Returns max and log Σ_k exp(x[k] − max),
// so that −log p[t] = (max − x[t]) + log_sum keeps its precision for large logits.
template <typename T>
struct SoftmaxStats {
  T max, log_sum;
};
template <typename T>
SoftmaxStats<T> softmax_voxel(const T* x, std::int64_t classes, T* probabilities) {
  T max = x[0];
  for (std::int64_t c = 1; c < classes; ++c) max = std::max(max, x[c]);
  T sum = 0;
  for (std::int64_t c = 0; c < classes; ++c) {
    probabilities[c] = std::exp(x[c] - max);
    sum += probabilities[c];
  }
  const T inverse = T(1) / sum;
  for (std::int64_t c = 0; c < classes; ++c) probabilities[c] *= inverse;
  return {max, std::log(sum)};
}

template <typename T>
void softmax_typed(const Tensor& logits, const Tensor& probabilities) {
  const Geometry g(logits.shape());
  const T* x = logits.data<T>();
  T* p = probabilities.data<T>();
#pragma omp parallel for schedule(static)
  for (std::int64_t voxel = 0; voxel < g.voxels(); ++voxel)
    softmax_voxel(x + voxel * g.classes, g.classes, p + voxel * g.classes);
}

template <typename T>
void argmax_typed(const Tensor& logits, const Tensor& classes_out) {
  const Geometry g(logits.shape());
  const T* x = logits.data<T>();
  std::int16_t* out = classes_out.data<std::int16_t>();
#pragma omp parallel for schedule(static)
  for (std::int64_t voxel = 0; voxel < g.voxels(); ++voxel) {
    const T* v = x + voxel * g.classes;
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < g.classes; ++c)
      if (v[c] > v[best]) best = c;  // strict: ties keep the lowest index
    out[voxel] = static_cast<std::int16_t>(best);
  }
}

template <typename T>
void write_sums_typed(const std::vector<double>& partials, std::int64_t samples, std::int64_t classes,
                      const SumOutputs& out) {
  const std::int64_t per_sample = 3 * classes;
  const std::int64_t width = samples * per_sample + 2;
  std::vector<double> total(static_cast<std::size_t>(width), 0.0);
  for (std::size_t thread = 0; thread < partials.size() / static_cast<std::size_t>(width); ++thread)
    for (std::int64_t i = 0; i < width; ++i) total[i] += partials[thread * width + i];
  if (out.loss_sum.defined()) {
    out.loss_sum.data<T>()[0] = static_cast<T>(total[width - 2]);
    out.counted.data<T>()[0] = static_cast<T>(total[width - 1]);
  }
  if (!out.dice()) return;
  for (std::int64_t n = 0; n < samples; ++n)
    for (std::int64_t c = 0; c < classes; ++c) {
      const double* sample = total.data() + n * per_sample;
      out.intersection.data<T>()[n * classes + c] = static_cast<T>(sample[c]);
      out.prediction.data<T>()[n * classes + c] = static_cast<T>(sample[classes + c]);
      out.target.data<T>()[n * classes + c] = static_cast<T>(sample[2 * classes + c]);
    }
}

}  // namespace

void write_sums(const std::vector<double>& partials, std::int64_t samples, std::int64_t classes,
                const SumOutputs& out) {
  const Tensor& any = out.loss_sum.defined() ? out.loss_sum : out.intersection;
  if (any.dtype() == DType::f64) return write_sums_typed<double>(partials, samples, classes, out);
  write_sums_typed<float>(partials, samples, classes, out);
}

namespace {

template <typename T>
void forward_typed(const Tensor& logits, const Tensor& labels, int ignore_label, const SumOutputs& out) {
  const Geometry g(logits.shape());
  const T* x = logits.data<T>();
  const std::int16_t* label_of = labels.data<std::int16_t>();
  const bool dice = out.dice();
  // Per thread: [n][I(K), P(K), G(K)] then the CE sum and the count.
  const std::int64_t per_sample = 3 * g.classes;
  const std::int64_t width = g.samples * per_sample + 2;
  std::vector<double> partials(static_cast<std::size_t>(omp_get_max_threads() * width), 0.0);
#pragma omp parallel
  {
    std::vector<double> acc(static_cast<std::size_t>(width), 0.0);  // thread-local: no false sharing
    std::vector<T> p(static_cast<std::size_t>(g.classes));
#pragma omp for schedule(static)
    for (std::int64_t voxel = 0; voxel < g.voxels(); ++voxel) {
      const int label = label_of[voxel];
      if (ignore_label >= 0 && label == ignore_label) continue;
      const T* v = x + voxel * g.classes;
      const SoftmaxStats<T> stats = softmax_voxel(v, g.classes, p.data());
      acc[width - 2] += static_cast<double>((stats.max - v[label]) + stats.log_sum);
      acc[width - 1] += 1;
      if (!dice) continue;
      double* sample = acc.data() + (voxel / g.voxels_per_sample) * per_sample;
      for (std::int64_t c = 0; c < g.classes; ++c) sample[g.classes + c] += static_cast<double>(p[c]);
      sample[label] += static_cast<double>(p[label]);
      sample[2 * g.classes + label] += 1;
    }
    std::copy(acc.begin(), acc.end(), partials.begin() + omp_get_thread_num() * width);
  }
  write_sums(partials, g.samples, g.classes, out);
}

template <typename T>
void backward_typed(const Tensor& logits, const Tensor& labels, int ignore_label, const BackwardTerms& terms,
                    const Tensor& grad_logits) {
  const Geometry g(logits.shape());
  const T* x = logits.data<T>();
  const std::int16_t* label_of = labels.data<std::int16_t>();
  T* grad = grad_logits.data<T>();
  const T scale = static_cast<T>(terms.scale_on_host());
  const T* grad_i = terms.dice() ? terms.grad_intersection.data<T>() : nullptr;  // (N, K)
  const T* grad_p = terms.dice() ? terms.grad_prediction.data<T>() : nullptr;
#pragma omp parallel
  {
    std::vector<T> p(static_cast<std::size_t>(g.classes));
    std::vector<T> dice_grad(static_cast<std::size_t>(g.classes), T(0));  // ∂L/∂p on this voxel
#pragma omp for schedule(static)
    for (std::int64_t voxel = 0; voxel < g.voxels(); ++voxel) {
      const int label = label_of[voxel];
      T* out = grad + voxel * g.classes;
      if (ignore_label >= 0 && label == ignore_label) {
        std::fill(out, out + g.classes, T(0));
        continue;
      }
      softmax_voxel(x + voxel * g.classes, g.classes, p.data());
      T dot = 0;  // Σ_k p[k]·g[k]
      if (grad_i != nullptr) {
        const std::int64_t row = (voxel / g.voxels_per_sample) * g.classes;
        for (std::int64_t c = 0; c < g.classes; ++c) {
          dice_grad[c] = grad_p[row + c] + (c == label ? grad_i[row + c] : T(0));
          dot += p[c] * dice_grad[c];
        }
      }
      for (std::int64_t c = 0; c < g.classes; ++c) {
        const T onehot = c == label ? T(1) : T(0);
        out[c] = scale * (p[c] - onehot) + p[c] * (dice_grad[c] - dot);
      }
    }
  }
}

}  // namespace

void softmax_channels(const Tensor& logits, const Tensor& probabilities) {
  if (logits.dtype() == DType::f64) return softmax_typed<double>(logits, probabilities);
  softmax_typed<float>(logits, probabilities);
}

void argmax_channels(const Tensor& logits, const Tensor& classes) {
  if (logits.dtype() == DType::f64) return argmax_typed<double>(logits, classes);
  argmax_typed<float>(logits, classes);
}

void softmax_loss_forward(const Tensor& logits, const Tensor& labels, int ignore_label, const SumOutputs& out) {
  if (logits.dtype() == DType::f64) return forward_typed<double>(logits, labels, ignore_label, out);
  forward_typed<float>(logits, labels, ignore_label, out);
}

void softmax_loss_backward(const Tensor& logits, const Tensor& labels, int ignore_label, const BackwardTerms& terms,
                           const Tensor& grad_logits) {
  if (logits.dtype() == DType::f64) return backward_typed<double>(logits, labels, ignore_label, terms, grad_logits);
  backward_typed<float>(logits, labels, ignore_label, terms, grad_logits);
}

}  // namespace nnuc::cpu
