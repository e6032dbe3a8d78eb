// Convolution entry points: argument checks, output and scratch allocation, device dispatch.
#include "kernels/conv/conv.h"

#include <algorithm>
#include <string>

#include "kernels/conv/conv_chunk.h"
#include "kernels/conv/conv_internal.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/core/allocator.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"

namespace nnuc {

using namespace conv_detail;

ConvGeometry same_padding_geometry(std::array<int, 3> kernel, std::array<int, 3> stride) {
  ConvGeometry geometry;
  geometry.kernel = kernel;
  geometry.stride = stride;
  for (std::size_t axis = 0; axis < 3; ++axis) geometry.padding[axis] = (kernel[axis] - 1) / 2;
  return geometry;
}

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::forward: return "forward";
    case ConvPass::backward_data: return "backward_data";
    case ConvPass::backward_weight: return "backward_weight";
    case ConvPass::backward_bias: return "backward_bias";
  }
  return "unknown";
}

namespace {

std::string triple(const std::array<int, 3>& values) {
  return "(" + std::to_string(values[0]) + ", " + std::to_string(values[1]) + ", " + std::to_string(values[2]) + ")";
}

void check_rank5(const Shape& shape, const char* name, const char* layout) {
  NNUC_CHECK(shape.rank() == 5, "conv: ", name, " must be rank 5 ", layout, ", got ", shape.str());
  for (int axis = 0; axis < 5; ++axis)
    NNUC_CHECK(shape[axis] >= 1, "conv: ", name, " ", shape.str(), " has an empty axis ", axis);
}

}  // namespace

Shape conv_output_shape(const Shape& x, const Shape& w, const ConvGeometry& geometry) {
  check_rank5(x, "x", "(N, D, H, W, Ci)");
  check_rank5(w, "w", "(Co, kD, kH, kW, Ci)");
  NNUC_CHECK(w[4] == x[Activation::C], "conv: w ", w.str(), " has Ci = ", w[4], " but x ", x.str(), " has ",
             x[Activation::C], " channels");
  Shape y{x[0], 1, 1, 1, w[0]};
  for (int axis = 0; axis < 3; ++axis) {
    const std::size_t a = static_cast<std::size_t>(axis);
    NNUC_CHECK(geometry.kernel[a] == w[1 + axis], "conv: geometry.kernel ", triple(geometry.kernel),
               " does not match w ", w.str(), " (Co, kD, kH, kW, Ci)");
    NNUC_CHECK(geometry.stride[a] >= 1, "conv: geometry.stride ", triple(geometry.stride), " must be >= 1");
    NNUC_CHECK(geometry.padding[a] >= 0, "conv: geometry.padding ", triple(geometry.padding), " must be >= 0");
    const std::int64_t span = x[1 + axis] + 2 * static_cast<std::int64_t>(geometry.padding[a]) - geometry.kernel[a];
    NNUC_CHECK(span >= 0, "conv: x ", x.str(), " padded by ", triple(geometry.padding), " is smaller than the kernel ",
               triple(geometry.kernel), " along axis ", 1 + axis);
    y[1 + axis] = span / geometry.stride[a] + 1;
  }
  return y;
}

namespace conv_detail {

void check_dtype_supported(DType dtype, const Context& ctx, const char* op) {
  const Device device = ctx.models();
  const bool supported = device == Device::CUDA ? (dtype == DType::f32 || dtype == DType::bf16)
                                                : (dtype == DType::f32 || dtype == DType::f64);
  NNUC_CHECK(supported, op, ": dtype ", dtype_name(dtype), " is not supported on ", device_name(device),
             " (CPU: f32, f64; CUDA: f32, bf16)");
}

void check_data_dtype(const Tensor& tensor, const Context& ctx, const char* op, const char* name) {
  check_defined(tensor, name);
  check_device(tensor, ctx, name);
  const Device device = ctx.models();
  const DType dtype = tensor.dtype();
  const bool supported = device == Device::CUDA ? (dtype == DType::f32 || dtype == DType::bf16)
                                                : (dtype == DType::f32 || dtype == DType::f64);
  NNUC_CHECK(supported, op, ": ", name, " is ", tensor.describe(), "; ", device_name(device),
             " convolutions take f32 or ", device == Device::CUDA ? "bf16" : "f64");
}

void check_bias(const Tensor& bias, DType data, std::int64_t co, const Context& ctx, const char* op) {
  if (!bias.defined()) return;
  check_device(bias, ctx, "bias");
  const DType expected = data == DType::f64 ? DType::f64 : DType::f32;
  NNUC_CHECK(bias.dtype() == expected, op, ": bias must be ", dtype_name(expected), " for ", dtype_name(data),
             " data, got ", bias.describe());
  NNUC_CHECK(bias.rank() == 1 && bias.dim(0) == co, op, ": bias must have shape (", co, "), got ", bias.describe());
}

std::vector<Tensor> allocate_scratch(const std::vector<ScratchBuffer>& buffers, const Context& ctx) {
  std::vector<Tensor> scratch;
  scratch.reserve(buffers.size());
  for (const ScratchBuffer& buffer : buffers)
    scratch.push_back(Tensor::empty(Shape{buffer.elements}, buffer.dtype, ctx));
  return scratch;
}

Tensor allocate_workspace(std::size_t bytes, const Context& ctx) {
  if (bytes == 0) return Tensor();
  return Tensor::empty(Shape{static_cast<std::int64_t>(bytes)}, DType::u8, ctx);
}

std::int64_t cuda_bias_grad_chunks(std::int64_t rows) {
  // 256 rows per chunk at least (a 32 x 8 block reads each row once), at most 1024 chunks.
  constexpr std::int64_t kMinRowsPerChunk = 256, kMaxChunks = 1024;
  return std::max<std::int64_t>(1, std::min(kMaxChunks, (rows + kMinRowsPerChunk - 1) / kMinRowsPerChunk));
}

ConvGeometry transpose_geometry(std::array<int, 3> stride) {
  ConvGeometry geometry;
  geometry.kernel = stride;
  geometry.stride = stride;
  geometry.padding = {0, 0, 0};
  return geometry;
}

namespace {

// CUDA model of one cuDNN call: the cached plan's workspace, else the cap it will be chosen under.
std::size_t cuda_call_workspace(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry,
                                DType dtype, const Context& ctx) {
  const ConvPlanKey key = ConvPlanKey::make(pass, x, w, geometry, dtype, ctx.workspace_cap(), ctx.deterministic());
  if (std::optional<ConvPlan> plan = ctx.conv_plans().find(key)) return plan->workspace_bytes;
  return ctx.workspace_cap();
}

// What a CUDA pass allocates besides its output (conv_cuda.cpp): the staging buffer of a split
// convolution (conv_chunk.h), alive through the pass, then each call's workspace, one at a time.
struct CudaPassScratch {
  std::size_t staging_bytes = 0;    // rounded
  std::size_t workspace_bytes = 0;  // rounded, the largest call's
};

CudaPassScratch cuda_pass_scratch(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry,
                                  DType dtype, const Context& ctx) {
  const ConvChunking plan = plan_conv_chunks(x, w, geometry, ctx.conv_element_limit());
  CudaPassScratch scratch;
  scratch.staging_bytes = rounded_allocation_bytes(static_cast<std::size_t>(plan.staging_elements) * dtype_size(dtype));
  for (const ConvChunk& chunk : plan.chunks) {
    const std::size_t bytes = cuda_call_workspace(pass, chunk.x_shape(x), w, chunk.geometry(geometry), dtype, ctx);
    scratch.workspace_bytes = std::max(scratch.workspace_bytes, rounded_allocation_bytes(bytes));
  }
  return scratch;
}

// One convolution pass on ctx's device. CPU: allocates the plan's scratch and runs `run_cpu`; CUDA:
// runs `run_cuda` (which allocates its cuDNN workspace); Meta: allocates what the modelled device would.
// x and w are the convolution's input and weight shapes.
template <typename RunCpu, typename RunCuda>
void dispatch_pass(ConvPass pass, const Context& ctx, const Shape& x, const Shape& w, const ConvGeometry& geometry,
                   DType dtype, RunCpu run_cpu, [[maybe_unused]] RunCuda run_cuda) {
  switch (ctx.device()) {
    case Device::CPU: {
      const CpuConvPlan plan = cpu_conv_plan(pass, x, w, geometry, dtype, cpu_threads());
      std::vector<Tensor> scratch = allocate_scratch(plan.buffers, ctx);
      run_cpu(plan, scratch);
      return;
    }
    case Device::CUDA: NNUC_IF_CUDA(run_cuda()); return;
    case Device::Meta:
      if (ctx.models() == Device::CPU) {
        allocate_scratch(cpu_conv_plan(pass, x, w, geometry, dtype, cpu_threads()).buffers, ctx);
      } else {
        const CudaPassScratch scratch = cuda_pass_scratch(pass, x, w, geometry, dtype, ctx);
        const Tensor staging = allocate_workspace(scratch.staging_bytes, ctx);
        allocate_workspace(scratch.workspace_bytes, ctx);
      }
      return;
  }
}

}  // namespace

void forward_into(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                  const ConvGeometry& geometry, Tensor& y) {
  dispatch_pass(
      ConvPass::forward, ctx, x.shape(), w.shape(), geometry, x.dtype(),
      [&](const CpuConvPlan& plan, std::vector<Tensor>& scratch) {
        cpu::conv_forward(x, w, bias, geometry, plan, scratch, y);
      },
      [&] {
#ifdef NNUC_WITH_CUDA
        cuda::conv_forward(ctx, x, w, geometry, y);
        if (bias.defined()) cuda::add_bias(ctx, y, bias);
#endif
      });
}

void backward_data_into(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                        Tensor& dx) {
  dispatch_pass(
      ConvPass::backward_data, ctx, dx.shape(), w.shape(), geometry, dy.dtype(),
      [&](const CpuConvPlan& plan, std::vector<Tensor>& scratch) {
        cpu::conv_backward_data(dy, w, geometry, plan, scratch, dx);
      },
      [&] {
#ifdef NNUC_WITH_CUDA
        cuda::conv_backward_data(ctx, dy, w, geometry, dx);
#endif
      });
}

void backward_weight_into(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                          Tensor& dw) {
  dispatch_pass(
      ConvPass::backward_weight, ctx, x.shape(), dw.shape(), geometry, x.dtype(),
      [&](const CpuConvPlan& plan, std::vector<Tensor>& scratch) {
        cpu::conv_backward_weight(x, dy, geometry, plan, scratch, dw);
      },
      [&] {
#ifdef NNUC_WITH_CUDA
        cuda::conv_backward_weight(ctx, x, dy, geometry, dw);
#endif
      });
}

void add_bias_into(const Context& ctx, Tensor& y, const Tensor& bias) {
  switch (ctx.device()) {
    case Device::CPU: cpu::add_bias(y, bias); return;
    case Device::CUDA: NNUC_IF_CUDA(cuda::add_bias(ctx, y, bias)); return;
    case Device::Meta: return;
  }
}

}  // namespace conv_detail

Tensor conv_forward(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const ConvGeometry& geometry) {
  NNUC_RANGE("conv_forward");
  check_data_dtype(x, ctx, "conv_forward", "x");
  check_data_dtype(w, ctx, "conv_forward", "w");
  NNUC_CHECK(w.dtype() == x.dtype(), "conv_forward: w is ", w.describe(), " but x is ", x.describe(),
             " (same dtype required)");
  const Shape y_shape = conv_output_shape(x.shape(), w.shape(), geometry);
  check_bias(bias, x.dtype(), w.dim(0), ctx, "conv_forward");
  Tensor y = Tensor::empty(y_shape, x.dtype(), ctx);  // (N, Do, Ho, Wo, Co)
  forward_into(ctx, x, w, bias, geometry, y);
  return y;
}

Tensor conv_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                          const Shape& x_shape) {
  NNUC_RANGE("conv_backward_data");
  check_data_dtype(dy, ctx, "conv_backward_data", "dy");
  check_data_dtype(w, ctx, "conv_backward_data", "w");
  NNUC_CHECK(w.dtype() == dy.dtype(), "conv_backward_data: w is ", w.describe(), " but dy is ", dy.describe(),
             " (same dtype required)");
  const Shape y_shape = conv_output_shape(x_shape, w.shape(), geometry);
  NNUC_CHECK(dy.shape() == y_shape, "conv_backward_data: dy must have shape ", y_shape.str(), " (conv of x_shape ",
             x_shape.str(), " with w ", w.shape().str(), "), got ", dy.describe());
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), ctx);  // (N, D, H, W, Ci)
  backward_data_into(ctx, dy, w, geometry, dx);
  return dx;
}

Tensor conv_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                            const Shape& w_shape) {
  NNUC_RANGE("conv_backward_weight");
  check_data_dtype(x, ctx, "conv_backward_weight", "x");
  check_data_dtype(dy, ctx, "conv_backward_weight", "dy");
  NNUC_CHECK(dy.dtype() == x.dtype(), "conv_backward_weight: dy is ", dy.describe(), " but x is ", x.describe(),
             " (same dtype required)");
  const Shape y_shape = conv_output_shape(x.shape(), w_shape, geometry);
  NNUC_CHECK(dy.shape() == y_shape, "conv_backward_weight: dy must have shape ", y_shape.str(), " (conv of x ",
             x.shape().str(), " with w_shape ", w_shape.str(), "), got ", dy.describe());
  Tensor dw = Tensor::empty(w_shape, x.dtype(), ctx);  // (Co, kD, kH, kW, Ci)
  backward_weight_into(ctx, x, dy, geometry, dw);
  return dw;
}

Tensor conv_backward_bias(const Context& ctx, const Tensor& dy) {
  NNUC_RANGE("conv_backward_bias");
  check_data_dtype(dy, ctx, "conv_backward_bias", "dy");
  check_rank5(dy.shape(), "dy", "(N, D, H, W, Co)");
  const std::int64_t co = dy.dim(Activation::C);
  Tensor db = Tensor::empty(Shape{co}, dy.dtype() == DType::f64 ? DType::f64 : DType::f32, ctx);  // (Co)
  switch (ctx.device()) {
    case Device::CPU: {
      const CpuConvPlan plan = cpu_bias_grad_plan(dy.shape(), cpu_threads());
      std::vector<Tensor> scratch = allocate_scratch(plan.buffers, ctx);
      cpu::conv_backward_bias(dy, plan, scratch, db);
      break;
    }
    case Device::CUDA: NNUC_IF_CUDA(cuda::conv_backward_bias(ctx, dy, db)); break;
    case Device::Meta:
      if (ctx.models() == Device::CPU) {
        allocate_scratch(cpu_bias_grad_plan(dy.shape(), cpu_threads()).buffers, ctx);
      } else {
        Tensor partials = Tensor::empty(Shape{cuda_bias_grad_chunks(dy.numel() / co) * co}, DType::f32, ctx);
      }
      break;
  }
  return db;
}

namespace {

std::size_t buffers_bytes(const std::vector<ScratchBuffer>& buffers) {
  std::size_t total = 0;
  for (const ScratchBuffer& buffer : buffers)
    total += rounded_allocation_bytes(static_cast<std::size_t>(buffer.elements) * dtype_size(buffer.dtype));
  return total;
}

}  // namespace

std::size_t conv_workspace_bytes(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry,
                                 DType dtype, const Context& ctx) {
  check_dtype_supported(dtype, ctx, "conv_workspace_bytes");
  const Shape y = conv_output_shape(x, w, geometry);
  if (ctx.models() == Device::CPU) {
    if (pass == ConvPass::backward_bias) return buffers_bytes(cpu_bias_grad_plan(y, cpu_threads()).buffers);
    return buffers_bytes(cpu_conv_plan(pass, x, w, geometry, dtype, cpu_threads()).buffers);
  }
  if (pass == ConvPass::backward_bias) {
    const std::int64_t co = y[Activation::C];
    return rounded_allocation_bytes(static_cast<std::size_t>(cuda_bias_grad_chunks(y.numel() / co) * co) *
                                    sizeof(float));
  }
  const CudaPassScratch scratch = cuda_pass_scratch(pass, x, w, geometry, dtype, ctx);
  return scratch.staging_bytes + scratch.workspace_bytes;
}

}  // namespace nnuc
