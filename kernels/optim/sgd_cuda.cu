// CUDA SGD step: the CPU function of sgd_cpu.cpp as one multi-tensor launch per 36 parameters.
// Every f32 operation is rounded separately (__fmul_rn / __fadd_rn) so the result equals the CPU's.
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/elementwise/multi_tensor.cuh"
#include "kernels/optim/sgd_impl.h"

namespace nnuc::cuda {

namespace {

constexpr std::int64_t kSgdChunk = 16384;

struct SgdArgs {
  float lr, momentum, weight_decay;
  bool nesterov, first_step;
  const float* grad_scale;       // nullptr: none
  const float* skip_if_nonzero;  // nullptr: never skip
};

template <typename G>
__device__ void sgd_chunk(float* w, const G* grad, float* buf, std::int64_t begin, std::int64_t end, const SgdArgs& a,
                          float grad_scale) {
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float weight = w[i];
    float g = to_float(grad[i]);
    if (a.grad_scale != nullptr) g = __fmul_rn(g, grad_scale);
    if (a.weight_decay != 0.0f) g = __fadd_rn(g, __fmul_rn(a.weight_decay, weight));
    float d = g;
    if (a.momentum != 0.0f) {
      const float b = a.first_step ? g : __fadd_rn(__fmul_rn(a.momentum, buf[i]), g);
      buf[i] = b;
      d = a.nesterov ? __fadd_rn(g, __fmul_rn(a.momentum, b)) : b;
    }
    w[i] = __fadd_rn(weight, __fmul_rn(-a.lr, d));
  }
}

// Lists: 0 params (f32), 1 grads (f32 or bf16), 2 momentum buffers (f32).
__global__ void sgd_kernel(const TensorChunks<3> pack, const SgdArgs args) {
  if (args.skip_if_nonzero != nullptr && *args.skip_if_nonzero != 0.0f) return;  // NaN != 0 skips too
  std::int64_t begin = 0, end = 0;
  const int t = locate_chunk(pack, static_cast<int>(blockIdx.x), kSgdChunk, begin, end);
  const float grad_scale = args.grad_scale != nullptr ? *args.grad_scale : 1.0f;
  float* w = static_cast<float*>(pack.data[0][t]);
  float* buf = static_cast<float*>(pack.data[2][t]);
  if (pack.dtype[1][t] == DType::bf16)
    sgd_chunk(w, static_cast<const __nv_bfloat16*>(pack.data[1][t]), buf, begin, end, args, grad_scale);
  else
    sgd_chunk(w, static_cast<const float*>(pack.data[1][t]), buf, begin, end, args, grad_scale);
}

}  // namespace

void sgd_step(const Context& ctx, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& options, bool first_step,
              const Tensor& grad_scale, const Tensor& skip_if_nonzero) {
  NNUC_RANGE("sgd_step");
  SgdArgs args{};
  args.lr = static_cast<float>(options.lr);
  args.momentum = static_cast<float>(options.momentum);
  args.weight_decay = static_cast<float>(options.weight_decay);
  args.nesterov = options.nesterov;
  args.first_step = first_step;
  args.grad_scale = grad_scale.defined() ? static_cast<const float*>(grad_scale.raw()) : nullptr;
  args.skip_if_nonzero = skip_if_nonzero.defined() ? static_cast<const float*>(skip_if_nonzero.raw()) : nullptr;
  for (const TensorChunks<3>& pack : pack_tensor_chunks<3>({&params, &grads, &momentum_buffers}, kSgdChunk)) {
    sgd_kernel<<<pack_blocks(pack), kThreads, 0, stream_of(ctx)>>>(pack, args);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace nnuc::cuda
