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
// Size: descriptors take int sizes, so a convolution whose tensors hold more than
// ctx.conv_element_limit() elements runs as several calls (conv_chunk.h); this file is the backend
// that runs one call.
//
// Lifecycle per call: describe (the descriptors of a shape are made once and kept in ctx.conv_plans()'
// call states, shared by the three passes) -> plan (cached per pass, shape, dtype, cap and determinism in
// ctx.conv_plans(); on a miss, cuDNN's heuristic list, then, when the cache benchmarks and the mode is
// not deterministic, cudnnFind*Ex times the candidates with a workspace of at most the cap;
// choose_conv_plan picks; when nothing fits the cap, the smallest workspace beyond it) -> workspace
// through Tensor::empty, falling back to an algorithm with a smaller workspace on OutOfMemory ->
// execute on ctx's stream with beta 0 (overwrite) or 1 (add to the output).
#include <algorithm>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_chunk.h"
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

// conv_chunk.h keeps every call within the limit; this guards the descriptors all the same.
void check_int_sized(const Shape& shape) {
  NNUC_CHECK(shape.numel() <= INT_MAX, "cuDNN convolution: tensor ", shape.str(), " has more than INT_MAX elements");
}

// The descriptors of one call y = conv(x, w), shared by its three passes.
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
    check_int_sized(w_shape);
    const int filter_dims[5] = {static_cast<int>(w_shape[0]), static_cast<int>(w_shape[4]),
                                static_cast<int>(w_shape[1]), static_cast<int>(w_shape[2]),
                                static_cast<int>(w_shape[3])};
    CUDNN_CHECK(cudnnSetFilterNdDescriptor(w.get(), cudnn_dtype(dtype), CUDNN_TENSOR_NHWC, 5, filter_dims));
    const int dilation[3] = {1, 1, 1};
    CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(conv.get(), 3, geometry.padding.data(), geometry.stride.data(),
                                                dilation, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    reset_math();
  }

  void set_math(cudnnMathType_t math) const { CUDNN_CHECK(cudnnSetConvolutionMathType(conv.get(), math)); }
  // The math type candidates are searched under: FMA for f32, tensor ops allowed for bf16.
  void reset_math() const { set_math(dtype == DType::f32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH); }

  void describe_activation(const TensorDescriptor& descriptor, const Shape& shape) const {
    check_int_sized(shape);
    const int n = static_cast<int>(shape[0]), d = static_cast<int>(shape[1]), h = static_cast<int>(shape[2]),
              w_extent = static_cast<int>(shape[3]), c = static_cast<int>(shape[4]);
    const int dims[5] = {n, c, d, h, w_extent};                                           // logical N, C, D, H, W
    const int strides[5] = {d * h * w_extent * c, 1, h * w_extent * c, w_extent * c, c};  // NDHWC memory
    CUDNN_CHECK(cudnnSetTensorNdDescriptor(descriptor.get(), cudnn_dtype(dtype), 5, dims, strides));
  }
};

bool is_tensor_op(cudnnMathType_t math) {
  return math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// The workspace of `algorithm` for `pass` under the call's current math type.
cudnnStatus_t workspace_size(ConvPass pass, cudnnHandle_t handle, const ConvCall& call, int algorithm,
                             std::size_t* bytes) {
  switch (pass) {
    case ConvPass::forward:
      return cudnnGetConvolutionForwardWorkspaceSize(handle, call.x.get(), call.w.get(), call.conv.get(), call.y.get(),
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(algorithm), bytes);
    case ConvPass::backward_data:
      return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, call.w.get(), call.y.get(), call.conv.get(),
                                                          call.x.get(),
                                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm), bytes);
    case ConvPass::backward_weight:
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(
          handle, call.x.get(), call.y.get(), call.conv.get(), call.w.get(),
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm), bytes);
    case ConvPass::backward_bias: break;
  }
  return CUDNN_STATUS_BAD_PARAM;
}

// cuDNN's performance records as ConvCandidates, each workspace queried with the math type the
// candidate would run with (f32: FMA; tensor-op candidates of f32 are left unqueried and unusable).
template <typename Perf>
std::vector<ConvCandidate> to_candidates(ConvPass pass, cudnnHandle_t handle, const ConvCall& call,
                                         const std::vector<Perf>& records, int returned) {
  std::vector<ConvCandidate> candidates;
  for (int index = 0; index < returned; ++index) {
    const Perf& record = records[static_cast<std::size_t>(index)];
    ConvCandidate candidate;
    candidate.algorithm = static_cast<int>(record.algo);
    candidate.tensor_op = is_tensor_op(record.mathType);
    candidate.deterministic = record.determinism == CUDNN_DETERMINISTIC;
    const cudnnMathType_t math = call.dtype == DType::f32 ? CUDNN_FMA_MATH : record.mathType;
    candidate.math_type = static_cast<int>(math);
    if (record.status == CUDNN_STATUS_SUCCESS && !(call.dtype == DType::f32 && candidate.tensor_op)) {
      call.set_math(math);
      candidate.usable =
          workspace_size(pass, handle, call, candidate.algorithm, &candidate.workspace_bytes) == CUDNN_STATUS_SUCCESS;
    }
    candidates.push_back(candidate);
  }
  return candidates;
}

// cuDNN's heuristic candidates for the call, best first, queried under the search math type (the
// cached descriptor may carry the math type of the last algorithm run).
std::vector<ConvCandidate> heuristic_candidates(ConvPass pass, cudnnHandle_t handle, const ConvCall& call) {
  call.reset_math();
  int count = 0, returned = 0;
  switch (pass) {
    case ConvPass::forward: {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> records(static_cast<std::size_t>(count));
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, call.x.get(), call.w.get(), call.conv.get(),
                                                         call.y.get(), count, &returned, records.data()));
      return to_candidates(pass, handle, call, records, returned);
    }
    case ConvPass::backward_data: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> records(static_cast<std::size_t>(count));
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, call.w.get(), call.y.get(), call.conv.get(),
                                                              call.x.get(), count, &returned, records.data()));
      return to_candidates(pass, handle, call, records, returned);
    }
    case ConvPass::backward_weight: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> records(static_cast<std::size_t>(count));
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, call.x.get(), call.y.get(), call.conv.get(),
                                                                call.w.get(), count, &returned, records.data()));
      return to_candidates(pass, handle, call, records, returned);
    }
    case ConvPass::backward_bias: break;
  }
  return {};
}

// cudnnFind*Ex: times the algorithms that fit `bytes` of workspace and returns them fastest first.
// Writes into the pass's output block.
std::vector<ConvCandidate> timed_candidates(ConvPass pass, cudnnHandle_t handle, const ConvCall& call,
                                            const ConvBlock& x, const ConvBlock& w, const ConvBlock& y, void* workspace,
                                            std::size_t bytes) {
  int count = 0, returned = 0;
  switch (pass) {
    case ConvPass::forward: {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> records(static_cast<std::size_t>(count));
      CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle, call.x.get(), x.data, call.w.get(), w.data,
                                                         call.conv.get(), call.y.get(), y.data, count, &returned,
                                                         records.data(), workspace, bytes));
      return to_candidates(pass, handle, call, records, returned);
    }
    case ConvPass::backward_data: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> records(static_cast<std::size_t>(count));
      CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, call.w.get(), w.data, call.y.get(), y.data,
                                                              call.conv.get(), call.x.get(), x.data, count, &returned,
                                                              records.data(), workspace, bytes));
      return to_candidates(pass, handle, call, records, returned);
    }
    case ConvPass::backward_weight: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> records(static_cast<std::size_t>(count));
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, call.x.get(), x.data, call.y.get(), y.data,
                                                                call.conv.get(), call.w.get(), w.data, count, &returned,
                                                                records.data(), workspace, bytes));
      return to_candidates(pass, handle, call, records, returned);
    }
    case ConvPass::backward_bias: break;
  }
  return {};
}

// One call of cuDNN with a chosen algorithm: output = alpha * result + beta * output.
void execute(ConvPass pass, cudnnHandle_t handle, const ConvCall& call, const ConvPlan& plan, const ConvBlock& x,
             const ConvBlock& w, const ConvBlock& y, void* workspace, float beta) {
  const float alpha = 1.0f;  // scaling factors are float for f32 and bf16 data
  switch (pass) {
    case ConvPass::forward:
      CUDNN_CHECK(cudnnConvolutionForward(handle, &alpha, call.x.get(), x.data, call.w.get(), w.data, call.conv.get(),
                                          static_cast<cudnnConvolutionFwdAlgo_t>(plan.algorithm), workspace,
                                          plan.workspace_bytes, &beta, call.y.get(), y.data));
      return;
    case ConvPass::backward_data:
      CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &alpha, call.w.get(), w.data, call.y.get(), y.data,
                                               call.conv.get(),
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algorithm), workspace,
                                               plan.workspace_bytes, &beta, call.x.get(), x.data));
      return;
    case ConvPass::backward_weight:
      CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &alpha, call.x.get(), x.data, call.y.get(), y.data,
                                                 call.conv.get(),
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algorithm),
                                                 workspace, plan.workspace_bytes, &beta, call.w.get(), w.data));
      return;
    case ConvPass::backward_bias: return;
  }
}

// The largest workspace among the allowed candidates (what cudnnFind*Ex may use).
std::size_t find_workspace_bytes(const std::vector<ConvCandidate>& candidates, const ConvChoicePolicy& policy) {
  std::size_t bytes = 0;
  for (const ConvCandidate& candidate : candidates)
    if (conv_candidate_allowed(candidate, policy, policy.workspace_cap))
      bytes = std::max(bytes, candidate.workspace_bytes);
  return bytes;
}

// Runs single cuDNN calls for run_conv_chunks on ctx's stream.
class CudnnBackend final : public ConvChunkBackend {
 public:
  CudnnBackend(const Context& ctx, DType dtype) : ctx_(ctx), dtype_(dtype) {
    policy_.workspace_cap = ctx.workspace_cap();
    policy_.allow_tensor_op = dtype != DType::f32;
    policy_.deterministic_only = ctx.deterministic();
  }

  void prepare(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y,
               const ConvGeometry& geometry) override {
    const ConvPlanKey plan_key = key(pass, x, w, geometry);
    const std::shared_ptr<const ConvCall> owner = call_for(plan_key, x, w, y, geometry);
    plan_for(pass, *owner, plan_key, x, w, y);
  }

  void run(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y, const ConvGeometry& geometry,
           bool accumulate) override {
    const ConvPlanKey plan_key = key(pass, x, w, geometry);
    const std::shared_ptr<const ConvCall> owner = call_for(plan_key, x, w, y, geometry);
    const ConvCall& call = *owner;
    ConvPlan plan = plan_for(pass, call, plan_key, x, w, y);
    const ConvPlan chosen = plan;
    const Tensor workspace = acquire_conv_workspace(
        plan, [&](std::size_t bytes) { return conv_detail::allocate_workspace(bytes, ctx_); },
        [&](std::size_t failed_bytes) {
          return workspace_fallbacks(heuristic_candidates(pass, ctx_.cudnn(), call), policy_, failed_bytes);
        });
    if (plan.algorithm != chosen.algorithm || plan.workspace_bytes != chosen.workspace_bytes)
      ctx_.conv_plans().insert(plan_key, plan);  // the smaller workspace from now on
    call.set_math(static_cast<cudnnMathType_t>(plan.math_type));
    execute(pass, ctx_.cudnn(), call, plan, x, w, y, workspace.raw(), accumulate ? 1.0f : 0.0f);
  }

  void copy(void* destination, const void* source, std::size_t bytes) override {
    CUDA_CHECK(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDeviceToDevice, stream()));
  }
  void zero(void* destination, std::size_t bytes) override {
    CUDA_CHECK(cudaMemsetAsync(destination, 0, bytes, stream()));
  }

 private:
  cudaStream_t stream() const { return static_cast<cudaStream_t>(ctx_.stream()); }

  ConvPlanKey key(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvGeometry& geometry) const {
    return ConvPlanKey::make(pass, x.shape, w.shape, geometry, dtype_, policy_.workspace_cap,
                             policy_.deterministic_only);
  }

  // The cached descriptors of this shape (y's shape follows from x, w and the geometry). The math type
  // on the convolution descriptor is set before every use, so sharing it across passes is safe; a
  // Context's CUDA ops are issued from one thread at a time (one stream).
  std::shared_ptr<const ConvCall> call_for(const ConvPlanKey& plan_key, const ConvBlock& x, const ConvBlock& w,
                                           const ConvBlock& y, const ConvGeometry& geometry) const {
    return std::static_pointer_cast<const ConvCall>(ctx_.conv_plans().call_state(plan_key, [&] {
      return std::static_pointer_cast<void>(std::make_shared<ConvCall>(x.shape, w.shape, y.shape, geometry, dtype_));
    }));
  }

  ConvPlan plan_for(ConvPass pass, const ConvCall& call, const ConvPlanKey& plan_key, const ConvBlock& x,
                    const ConvBlock& w, const ConvBlock& y) {
    ConvPlanCache& cache = ctx_.conv_plans();
    if (std::optional<ConvPlan> cached = cache.find(plan_key)) return *cached;
    cudnnHandle_t handle = ctx_.cudnn();
    const std::vector<ConvCandidate> heuristic = heuristic_candidates(pass, handle, call);
    std::vector<ConvCandidate> candidates = heuristic;
    // Timings vary from run to run and so would the choice: deterministic mode takes the heuristics.
    if (cache.benchmark && !policy_.deterministic_only) {
      try {
        const std::size_t bytes = find_workspace_bytes(candidates, policy_);
        const Tensor workspace = conv_detail::allocate_workspace(bytes, ctx_);
        call.reset_math();
        candidates = timed_candidates(pass, handle, call, x, w, y, workspace.raw(), bytes);
      } catch (const OutOfMemory&) {
        // No memory to time the candidates with: keep cuDNN's heuristic order.
      }
    }
    std::optional<ConvPlan> plan = choose_conv_plan(candidates, policy_);
    if (!plan) plan = smallest_workspace_plan(heuristic, policy_);  // nothing within the cap: beyond it
    if (!plan) {
      NNUC_THROW(CudaError, "cuDNN convolution ", conv_pass_name(pass), ": no usable ",
                 policy_.deterministic_only ? "deterministic " : "", "algorithm for x ", x.shape.str(), ", w ",
                 w.shape.str(), " (", dtype_name(dtype_), policy_.allow_tensor_op ? "" : ", FMA math only",
                 "); cuDNN's candidates: ", describe_conv_candidates(heuristic));
    }
    cache.insert(plan_key, *plan);
    return *plan;
  }

  const Context& ctx_;
  DType dtype_;
  ConvChoicePolicy policy_;
};

// Pass `pass` of conv(x, w) = y, split as conv_chunk.h describes when a tensor is too large.
void run_pass(const Context& ctx, ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& y,
              const ConvGeometry& geometry, DType dtype) {
  const ConvChunking plan = plan_conv_chunks(x.shape(), w.shape(), geometry, ctx.conv_element_limit());
  const Tensor staging = plan.staging_elements > 0 ? Tensor::empty(Shape{plan.staging_elements}, dtype, ctx) : Tensor();
  CudnnBackend backend(ctx, dtype);
  run_conv_chunks(pass, plan, backend, ConvBlock{x.raw(), x.shape()}, ConvBlock{w.raw(), w.shape()},
                  ConvBlock{y.raw(), y.shape()}, geometry, dtype_size(dtype), staging.raw());
}

}  // namespace

void conv_forward(const Context& ctx, const Tensor& x, const Tensor& w, const ConvGeometry& geometry, Tensor& y) {
  NNUC_RANGE("conv_forward:cudnn");
  run_pass(ctx, ConvPass::forward, x, w, y, geometry, x.dtype());
}

void conv_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                        Tensor& dx) {
  NNUC_RANGE("conv_backward_data:cudnn");
  run_pass(ctx, ConvPass::backward_data, dx, w, dy, geometry, dy.dtype());
}

void conv_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                          Tensor& dw) {
  NNUC_RANGE("conv_backward_weight:cudnn");
  run_pass(ctx, ConvPass::backward_weight, x, dw, dy, geometry, x.dtype());
}

}  // namespace nnuc::cuda
