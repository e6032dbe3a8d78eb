// CPU implementations of kernels/loss/region_loss.h: BCE with logits and the sigmoid soft-Dice sums.
// Per-element math in the logits' type, sums in f64 (per-thread partials added in thread order).
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

struct RegionGeometry {
  std::int64_t samples, voxels_per_sample, regions, target_channels;
  bool has_ignore;
  RegionGeometry(const Shape& logits, RegionIgnore ignore)
      : samples(logits[0]),
        voxels_per_sample(logits[1] * logits[2] * logits[3]),
        regions(logits[4]),
        target_channels(logits[4] + (ignore == RegionIgnore::last_target_channel ? 1 : 0)),
        has_ignore(ignore == RegionIgnore::last_target_channel) {}
  std::int64_t voxels() const { return samples * voxels_per_sample; }
  // The voxel's targets are t[0..R); t[R] is the ignore flag when there is one.
  bool ignored(const std::uint8_t* t) const { return has_ignore && t[regions] != 0; }
};

// 1 / (1 + exp(−x)) without overflow for large |x|.
template <typename T>
T sigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// max(x, 0) − x·y + log(1 + exp(−|x|)) = −(y·log s + (1 − y)·log(1 − s)), stable for any x.
template <typename T>
T bce_with_logits(T x, T y) {
  return std::max(x, T(0)) - x * y + std::log1p(std::exp(-std::fabs(x)));
}

template <typename T>
void forward_typed(const Tensor& logits, const Tensor& targets, RegionIgnore ignore, const SumOutputs& out) {
  const RegionGeometry g(logits.shape(), ignore);
  const T* x = logits.data<T>();
  const std::uint8_t* t = targets.data<std::uint8_t>();
  const bool dice = out.dice();
  // Per thread: [n][I(R), P(R), G(R)] then the BCE sum and the count of counted voxels.
  const std::int64_t per_sample = 3 * g.regions;
  const std::int64_t width = g.samples * per_sample + 2;
  std::vector<double> partials(static_cast<std::size_t>(omp_get_max_threads() * width), 0.0);
#pragma omp parallel
  {
    std::vector<double> acc(static_cast<std::size_t>(width), 0.0);  // thread-local: no false sharing
#pragma omp for schedule(static)
    for (std::int64_t voxel = 0; voxel < g.voxels(); ++voxel) {
      const std::uint8_t* target = t + voxel * g.target_channels;
      if (g.ignored(target)) continue;
      const T* v = x + voxel * g.regions;
      double* sample = acc.data() + (voxel / g.voxels_per_sample) * per_sample;
      double bce = 0;
      for (std::int64_t r = 0; r < g.regions; ++r) {
        const T y = target[r] != 0 ? T(1) : T(0);
        bce += static_cast<double>(bce_with_logits(v[r], y));
        if (!dice) continue;
        const double s = static_cast<double>(sigmoid(v[r]));
        sample[g.regions + r] += s;
        if (target[r] != 0) {
          sample[r] += s;
          sample[2 * g.regions + r] += 1;
        }
      }
      acc[width - 2] += bce;
      acc[width - 1] += 1;
    }
    std::copy(acc.begin(), acc.end(), partials.begin() + omp_get_thread_num() * width);
  }
  write_sums(partials, g.samples, g.regions, out);
}

template <typename T>
void backward_typed(const Tensor& logits, const Tensor& targets, RegionIgnore ignore, const BackwardTerms& terms,
                    const Tensor& grad_logits) {
  const RegionGeometry g(logits.shape(), ignore);
  const T* x = logits.data<T>();
  const std::uint8_t* t = targets.data<std::uint8_t>();
  T* grad = grad_logits.data<T>();
  const T scale = static_cast<T>(terms.scale_on_host());
  const T* grad_i = terms.dice() ? terms.grad_intersection.data<T>() : nullptr;  // (N, R)
  const T* grad_p = terms.dice() ? terms.grad_prediction.data<T>() : nullptr;
#pragma omp parallel for schedule(static)
  for (std::int64_t voxel = 0; voxel < g.voxels(); ++voxel) {
    const std::uint8_t* target = t + voxel * g.target_channels;
    T* out = grad + voxel * g.regions;
    if (g.ignored(target)) {
      std::fill(out, out + g.regions, T(0));
      continue;
    }
    const std::int64_t row = (voxel / g.voxels_per_sample) * g.regions;
    for (std::int64_t r = 0; r < g.regions; ++r) {
      const T s = sigmoid(x[voxel * g.regions + r]);
      const bool in_region = target[r] != 0;
      T value = scale * (s - (in_region ? T(1) : T(0)));
      if (grad_i != nullptr) value += (grad_p[row + r] + (in_region ? grad_i[row + r] : T(0))) * s * (T(1) - s);
      out[r] = value;
    }
  }
}

}  // namespace

void region_loss_forward(const Tensor& logits, const Tensor& targets, RegionIgnore ignore, const SumOutputs& out) {
  if (logits.dtype() == DType::f64) return forward_typed<double>(logits, targets, ignore, out);
  forward_typed<float>(logits, targets, ignore, out);
}

void region_loss_backward(const Tensor& logits, const Tensor& targets, RegionIgnore ignore, const BackwardTerms& terms,
                          const Tensor& grad_logits) {
  if (logits.dtype() == DType::f64) return backward_typed<double>(logits, targets, ignore, terms, grad_logits);
  backward_typed<float>(logits, targets, ignore, terms, grad_logits);
}

}  // namespace nnuc::cpu
