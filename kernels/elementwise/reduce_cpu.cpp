// CPU reductions and clipping: the specification the CUDA versions are tested against.
#include <algorithm>
#include <cmath>

#include "kernels/elementwise/convert.h"
#include "kernels/elementwise/reduce_impl.h"

namespace nnuc::cpu {

namespace {

// Below this many elements a pairwise sum adds sequentially.
constexpr std::int64_t kPairwiseBase = 32;

// Pairwise sum in f64 of term(x[i]) over x[0, count): error O(log(count) * eps) relative to the
// sum of magnitudes, in a fixed order.
template <typename T, typename Term>
double pairwise_sum(const T* x, std::int64_t count, Term term) {
  if (count <= kPairwiseBase) {
    double total = 0;
    for (std::int64_t i = 0; i < count; ++i) total += term(x[i]);
    return total;
  }
  const std::int64_t half = count / 2;
  return pairwise_sum(x, half, term) + pairwise_sum(x + half, count - half, term);
}

template <typename T>
double chunk_partial(const T* x, std::int64_t count, ReduceKind kind) {
  switch (kind) {
    case ReduceKind::sum: return pairwise_sum(x, count, [](T v) { return to_f64(v); });
    case ReduceKind::sum_of_squares:
      return pairwise_sum(x, count, [](T v) {
        const double widened = to_f64(v);
        return widened * widened;
      });
    case ReduceKind::nonfinite_count:
      return pairwise_sum(x, count, [](T v) { return std::isfinite(to_f64(v)) ? 0.0 : 1.0; });
  }
  return 0;
}

double tensor_chunk_partial(const Tensor& tensor, std::int64_t begin, std::int64_t count, ReduceKind kind) {
  switch (tensor.dtype()) {
    case DType::f32: return chunk_partial(tensor.data<float>() + begin, count, kind);
    case DType::f64: return chunk_partial(tensor.data<double>() + begin, count, kind);
    case DType::bf16: return chunk_partial(tensor.data<bf16>() + begin, count, kind);
    case DType::f16: return chunk_partial(tensor.data<f16>() + begin, count, kind);
    default: NNUC_THROW(InvalidInput, "reduce: unsupported dtype ", dtype_name(tensor.dtype()));
  }
}

// The clip coefficient exactly as PyTorch evaluates it in f32 (see reduce.h).
float clip_coefficient_value(float total_norm, double max_norm) {
  const float reciprocal = 1.0f / (total_norm + 1e-6f);
  const float coefficient = reciprocal * static_cast<float>(max_norm);
  return coefficient > 1.0f ? 1.0f : coefficient;  // a NaN stays NaN, as torch.clamp
}

}  // namespace

void reduce(const std::vector<Tensor>& tensors, ReduceKind kind, Tensor& workspace, Tensor& out) {
  // chunk_begin[t]: index of tensor t's first chunk among all chunks of the list.
  std::vector<std::int64_t> chunk_begin(tensors.size() + 1, 0);
  for (std::size_t t = 0; t < tensors.size(); ++t)
    chunk_begin[t + 1] = chunk_begin[t] + (tensors[t].numel() + kReduceChunkCpu - 1) / kReduceChunkCpu;
  const std::int64_t chunks = chunk_begin.back();
  double* partials = workspace.data<double>();  // (chunks,)

#pragma omp parallel for schedule(dynamic, 4) if (chunks > 1)
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
    const std::size_t t = static_cast<std::size_t>(std::upper_bound(chunk_begin.begin(), chunk_begin.end(), chunk) -
                                                   chunk_begin.begin()) -
                          1;
    const std::int64_t begin = (chunk - chunk_begin[t]) * kReduceChunkCpu;
    const std::int64_t count = std::min(kReduceChunkCpu, tensors[t].numel() - begin);
    partials[chunk] = tensor_chunk_partial(tensors[t], begin, count, kind);
  }

  const double total = pairwise_sum(partials, chunks, [](double v) { return v; });
  switch (kind) {
    case ReduceKind::sum:
      if (out.dtype() == DType::f64)
        out.data<double>()[0] = total;
      else
        out.data<float>()[0] = static_cast<float>(total);
      break;
    case ReduceKind::sum_of_squares: out.data<float>()[0] = static_cast<float>(std::sqrt(total)); break;
    case ReduceKind::nonfinite_count: out.data<float>()[0] = total > 0 ? 1.0f : 0.0f; break;
  }
}

void clip_coefficient(const Tensor& total_norm, double max_norm, Tensor& out) {
  out.data<float>()[0] = clip_coefficient_value(total_norm.data<float>()[0], max_norm);
}

void clip_by_total_norm(const std::vector<Tensor>& tensors, const Tensor& total_norm, double max_norm) {
  const float coefficient = clip_coefficient_value(total_norm.data<float>()[0], max_norm);
  for (const Tensor& tensor : tensors) {
    const std::int64_t count = tensor.numel();
    if (tensor.dtype() == DType::f64) {
      double* x = tensor.data<double>();
#pragma omp parallel for schedule(static) if (count >= (1 << 15))
      for (std::int64_t i = 0; i < count; ++i) x[i] *= static_cast<double>(coefficient);
    } else {
      float* x = tensor.data<float>();
#pragma omp parallel for schedule(static) if (count >= (1 << 15))
      for (std::int64_t i = 0; i < count; ++i) x[i] *= coefficient;
    }
  }
}

}  // namespace nnuc::cpu
