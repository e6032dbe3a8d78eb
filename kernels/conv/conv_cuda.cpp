// cuDNN convolution passes on channels-last tensors (legacy convolution API of cuDNN 9).
//
// Descriptors: activations (N, D, H, W, C) are described with dims in cuDNN's logical order
// (N, C, D, H, W) and explicit NDHWC strides; weights (Co, kD, kH, kW, Ci) as a 5-D filter in
// CUDNN_TENSOR_NHWC format with dims (Co, Ci, kD, kH, kW). Cross-correlation, no dilation.
//
// Math: f32 (reference mode) runs with CUDNN_FMA_MATH, which keeps TF32 tensor cores out, and any
// algorithm that reports tensor-op math is skipped. bf16 (mixed mode) computes in f32
// (CUDNN_DATA_FLOAT compute type) with CUDNN_TENSOR_OP_MATH, executing with the math type the chosen
// algorithm reported.
//
// Lifecycle per call: describe -> plan (cached per pass, shape, dtype and cap in ctx.conv_plans();
// on a miss, cuDNN's heuristic list, then, when the cache benchmarks, cudnnFind*Ex times the
// candidates with a workspace of at most the cap) -> workspace through Tensor::empty -> execute on
// ctx's stream.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <string>
#include <vector>

#include "kernels/conv/conv_internal.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"

namespace nnuc::cuda {
namespace {

// Move-free owner of one cuDNN descriptor.
template <typename Handle, cudnnStatus_t (*Destroy)(Handle)>
class Descriptor {
 public:
  explicit Descriptor(cudnnStatus_t (*create)(Handle*)) { CUDNN_CHECK(create(&handle_)); }
  ~Descriptor() {
    if (handle_ != nullptr) CUDNN_CHECK_PRINT(Destroy(handle_));
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

using TensorDescriptor = Descriptor<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
using FilterDescriptor = Descriptor<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor = Descriptor<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor>;

cudnnDataType_t cudnn_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: NNUC_THROW(InvalidInput, "cuDNN convolution: dtype ", dtype_name(dtype), " is not f32 or bf16");
  }
}

int to_int(std::int64_t value, const Shape& shape) {
  NNUC_CHECK(value <= INT_MAX, "cuDNN convolution: tensor ", shape.str(), " has more than INT_MAX elements");
  return static_cast<int>(value);
}

// The descriptors of one convolution y = conv(x, w), shared by its three passes.
struct ConvCall {
  TensorDescriptor x{cudnnCreateTensorDescriptor};
  FilterDescriptor w{cudnnCreateFilterDescriptor};
  ConvolutionDescriptor conv{cudnnCreateConvolutionDescriptor};
  TensorDescriptor y{cudnnCreateTensorDescriptor};
  DType dtype;

  ConvCall(const Shape& x_shape, const Shape& w_shape, const Shape& y_shape, const ConvGeometry& geometry,
           DType data_dtype)
      : dtype(data_dtype) {
    describe_activation(x, x_shape);
    describe_activation(y, y_shape);
    to_int(w_shape.numel(), w_shape);
    const int filter_dims[5] = {static_cast<int>(w_shape[0]), static_cast<int>(w_shape[4]), static_cast<int>(w_shape[1]),
                                static_cast<int>(w_shape[2]), static_cast<int>(w_shape[3])};
    CUDNN_CHECK(cudnnSetFilterNdDescriptor(w.get(), cudnn_dtype(dtype), CUDNN_TENSOR_NHWC, 5, filter_dims));
    const int dilation[3] = {1, 1, 1};
    CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(conv.get(), 3, geometry.padding.data(), geometry.stride.data(),
                                                dilation, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    set_math(dtype == DType::f32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH);
  }

  void set_math(cudnnMathType_t math) const { CUDNN_CHECK(cudnnSetConvolutionMathType(conv.get(), math)); }

  void describe_activation(const TensorDescriptor& descriptor, const Shape& shape) const {
    to_int(shape.numel(), shape);
    const int n = static_cast<int>(shape[0]), d = static_cast<int>(shape[1]), h = static_cast<int>(shape[2]),
              w_extent = static_cast<int>(shape[3]), c = static_cast<int>(shape[4]);
    const int dims[5] = {n, c, d, h, w_extent};                                   // logical N, C, D, H, W
    const int strides[5] = {d * h * w_extent * c, 1, h * w_extent * c, w_extent * c, c};  // NDHWC memory
    CUDNN_CHECK(cudnnSetTensorNdDescriptor(descriptor.get(), cudnn_dtype(dtype), 5, dims, strides));
  }
};

bool is_tensor_op(cudnnMathType_t math) {
  return math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// The largest workspace among the successful candidates that fit the cap (what cudnnFind*Ex may use).
template <typename Perf>
std::size_t find_workspace_bytes(const std::vector<Perf>& candidates, int returned, std::size_t cap) {
  std::size_t bytes = 0;
  for (int index = 0; index < returned; ++index) {
    const Perf& candidate = candidates[static_cast<std::size_t>(index)];
    if (candidate.status == CUDNN_STATUS_SUCCESS && candidate.memory <= cap) bytes = std::max(bytes, candidate.memory);
  }
  return bytes;
}

// The first candidate (heuristic or timing order) that succeeded, suits the dtype's math policy and
// whose workspace, queried with the math type it will run with, fits the cap.
template <typename Perf, typename WorkspaceQuery>
ConvPlan choose(const std::vector<Perf>& candidates, int returned, const ConvCall& call, std::size_t cap,
                WorkspaceQuery workspace_of, const char* op, const Shape& x_shape, const Shape& w_shape) {
  for (int index = 0; index < returned; ++index) {
    const Perf& candidate = candidates[static_cast<std::size_t>(index)];
    if (candidate.status != CUDNN_STATUS_SUCCESS) continue;
    if (call.dtype == DType::f32 && is_tensor_op(candidate.mathType)) continue;
    const cudnnMathType_t math = call.dtype == DType::f32 ? CUDNN_FMA_MATH : candidate.mathType;
    call.set_math(math);
    std::size_t bytes = 0;
    if (workspace_of(candidate.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > cap) continue;
    return ConvPlan{static_cast<int>(candidate.algo), static_cast<int>(math), bytes};
  }
  NNUC_THROW(CudaError, op, ": cuDNN has no algorithm for x ", x_shape.str(), ", w ", w_shape.str(), " (",
             dtype_name(call.dtype), ") within the workspace cap of ", cap, " bytes");
}

ConvPlan forward_plan(const Context& ctx, const ConvCall& call, const ConvPlanKey& key, const Tensor& x,
                      const Tensor& w, Tensor& y) {
  ConvPlanCache& cache = ctx.conv_plans();
  if (std::optional<ConvPlan> cached = cache.find(key)) return *cached;
  cudnnHandle_t handle = ctx.cudnn();
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> candidates(static_cast<std::size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, call.x.get(), call.w.get(), call.conv.get(), call.y.get(),
                                                     count, &returned, candidates.data()));
  if (cache.benchmark) {
    const std::size_t bytes = find_workspace_bytes(candidates, returned, key.workspace_cap);
    Tensor workspace = conv_detail::allocate_workspace(bytes, ctx);
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle, call.x.get(), x.raw(), call.w.get(), w.raw(),
                                                       call.conv.get(), call.y.get(), y.raw(), count, &returned,
                                                       candidates.data(), workspace.raw(), bytes));
  }
  auto workspace_of = [&](cudnnConvolutionFwdAlgo_t algo, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(handle, call.x.get(), call.w.get(), call.conv.get(), call.y.get(),
                                                   algo, bytes);
  };
  const ConvPlan plan = choose(candidates, returned, call, key.workspace_cap, workspace_of, "conv_forward",
                               x.shape(), w.shape());
  cache.insert(key, plan);
  return plan;
}

ConvPlan backward_data_plan(const Context& ctx, const ConvCall& call, const ConvPlanKey& key, const Tensor& dy,
                            const Tensor& w, Tensor& dx) {
  ConvPlanCache& cache = ctx.conv_plans();
  if (std::optional<ConvPlan> cached = cache.find(key)) return *cached;
  cudnnHandle_t handle = ctx.cudnn();
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> candidates(static_cast<std::size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, call.w.get(), call.y.get(), call.conv.get(),
                                                          call.x.get(), count, &returned, candidates.data()));
  if (cache.benchmark) {
    const std::size_t bytes = find_workspace_bytes(candidates, returned, key.workspace_cap);
    Tensor workspace = conv_detail::allocate_workspace(bytes, ctx);
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, call.w.get(), w.raw(), call.y.get(), dy.raw(),
                                                            call.conv.get(), call.x.get(), dx.raw(), count, &returned,
                                                            candidates.data(), workspace.raw(), bytes));
  }
  auto workspace_of = [&](cudnnConvolutionBwdDataAlgo_t algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, call.w.get(), call.y.get(), call.conv.get(),
                                                        call.x.get(), algo, bytes);
  };
  const ConvPlan plan = choose(candidates, returned, call, key.workspace_cap, workspace_of, "conv_backward_data",
                               dx.shape(), w.shape());
  cache.insert(key, plan);
  return plan;
}

ConvPlan backward_weight_plan(const Context& ctx, const ConvCall& call, const ConvPlanKey& key, const Tensor& x,
                              const Tensor& dy, Tensor& dw) {
  ConvPlanCache& cache = ctx.conv_plans();
  if (std::optional<ConvPlan> cached = cache.find(key)) return *cached;
  cudnnHandle_t handle = ctx.cudnn();
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> candidates(static_cast<std::size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, call.x.get(), call.y.get(), call.conv.get(),
                                                            call.w.get(), count, &returned, candidates.data()));
  if (cache.benchmark) {
    const std::size_t bytes = find_workspace_bytes(candidates, returned, key.workspace_cap);
    Tensor workspace = conv_detail::allocate_workspace(bytes, ctx);
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, call.x.get(), x.raw(), call.y.get(), dy.raw(),
                                                              call.conv.get(), call.w.get(), dw.raw(), count,
                                                              &returned, candidates.data(), workspace.raw(), bytes));
  }
  auto workspace_of = [&](cudnnConvolutionBwdFilterAlgo_t algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, call.x.get(), call.y.get(), call.conv.get(),
                                                          call.w.get(), algo, bytes);
  };
  const ConvPlan plan = choose(candidates, returned, call, key.workspace_cap, workspace_of, "conv_backward_weight",
                               x.shape(), dw.shape());
  cache.insert(key, plan);
  return plan;
}

}  // namespace

void conv_forward(const Context& ctx, const Tensor& x, const Tensor& w, const ConvGeometry& geometry, Tensor& y) {
  NNUC_RANGE("conv_forward:cudnn");
  const ConvCall call(x.shape(), w.shape(), y.shape(), geometry, x.dtype());
  const ConvPlanKey key =
      ConvPlanKey::make(ConvPass::forward, x.shape(), w.shape(), geometry, x.dtype(), ctx.workspace_cap());
  const ConvPlan plan = forward_plan(ctx, call, key, x, w, y);
  call.set_math(static_cast<cudnnMathType_t>(plan.math_type));
  Tensor workspace = conv_detail::allocate_workspace(plan.workspace_bytes, ctx);
  const float alpha = 1.0f, beta = 0.0f;  // scaling factors are float for f32 and bf16 data
  CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &alpha, call.x.get(), x.raw(), call.w.get(), w.raw(),
                                      call.conv.get(), static_cast<cudnnConvolutionFwdAlgo_t>(plan.algorithm),
                                      workspace.raw(), plan.workspace_bytes, &beta, call.y.get(), y.raw()));
}

void conv_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                        Tensor& dx) {
  NNUC_RANGE("conv_backward_data:cudnn");
  const ConvCall call(dx.shape(), w.shape(), dy.shape(), geometry, dy.dtype());
  const ConvPlanKey key =
      ConvPlanKey::make(ConvPass::backward_data, dx.shape(), w.shape(), geometry, dy.dtype(), ctx.workspace_cap());
  const ConvPlan plan = backward_data_plan(ctx, call, key, dy, w, dx);
  call.set_math(static_cast<cudnnMathType_t>(plan.math_type));
  Tensor workspace = conv_detail::allocate_workspace(plan.workspace_bytes, ctx);
  const float alpha = 1.0f, beta = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &alpha, call.w.get(), w.raw(), call.y.get(), dy.raw(),
                                           call.conv.get(), static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algorithm),
                                           workspace.raw(), plan.workspace_bytes, &beta, call.x.get(), dx.raw()));
}

void conv_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                          Tensor& dw) {
  NNUC_RANGE("conv_backward_weight:cudnn");
  const ConvCall call(x.shape(), dw.shape(), dy.shape(), geometry, x.dtype());
  const ConvPlanKey key =
      ConvPlanKey::make(ConvPass::backward_weight, x.shape(), dw.shape(), geometry, x.dtype(), ctx.workspace_cap());
  const ConvPlan plan = backward_weight_plan(ctx, call, key, x, dy, dw);
  call.set_math(static_cast<cudnnMathType_t>(plan.math_type));
  Tensor workspace = conv_detail::allocate_workspace(plan.workspace_bytes, ctx);
  const float alpha = 1.0f, beta = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &alpha, call.x.get(), x.raw(), call.y.get(), dy.raw(),
                                             call.conv.get(),
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algorithm),
                                             workspace.raw(), plan.workspace_bytes, &beta, call.w.get(), dw.raw()));
}

}  // namespace nnuc::cuda
