// Transposed convolution with kernel == stride, as the convolution it inverts.
//
// With w (Ci, sD, sH, sW, Co) read as the weight of a convolution c with kernel = stride = s, pad 0,
// mapping (N, D s, H s, W s, Co) -> (N, D, H, W, Ci):
//   conv_transpose_forward(x)          = c's backward data of x   (+ bias)
//   conv_transpose_backward_data(dy)   = c's forward of dy
//   conv_transpose_backward_weight     = c's backward weight with c's input dy and c's output-gradient x
// so CPU and CUDA reuse the convolution passes (on CUDA: cuDNN backward-data / forward / backward-filter,
// which handle kernel == stride natively; a cuBLAS GEMM + scatter would need its own scratch and kernel).
#include <string>

#include "kernels/conv/conv.h"
#include "kernels/conv/conv_internal.h"
#include "kernels/core/nvtx.h"

namespace nnuc {

using namespace conv_detail;

namespace {

std::string triple(const std::array<int, 3>& values) {
  return "(" + std::to_string(values[0]) + ", " + std::to_string(values[1]) + ", " + std::to_string(values[2]) + ")";
}

void check_stride(std::array<int, 3> stride, const char* op) {
  for (int value : stride) NNUC_CHECK(value >= 1, op, ": stride ", triple(stride), " must be >= 1 on every axis");
}

// The input shape (N, D s, H s, W s, Co) of the convolution that conv_transpose inverts, which is the
// transposed convolution's output shape.
Shape upsampled(const Shape& x, std::int64_t channels, std::array<int, 3> stride) {
  return Shape{x[0], x[1] * stride[0], x[2] * stride[1], x[3] * stride[2], channels};
}

}  // namespace

Shape conv_transpose_output_shape(const Shape& x, const Shape& w, std::array<int, 3> stride) {
  check_stride(stride, "conv_transpose");
  NNUC_CHECK(x.rank() == 5, "conv_transpose: x must be rank 5 (N, D, H, W, Ci), got ", x.str());
  NNUC_CHECK(w.rank() == 5, "conv_transpose: w must be rank 5 (Ci, sD, sH, sW, Co), got ", w.str());
  NNUC_CHECK(w[0] == x[Activation::C], "conv_transpose: w ", w.str(), " has Ci = ", w[0], " but x ", x.str(), " has ",
             x[Activation::C], " channels");
  NNUC_CHECK(w[1] == stride[0] && w[2] == stride[1] && w[3] == stride[2], "conv_transpose: w ", w.str(),
             " must have kernel == stride ", triple(stride));
  const Shape y = upsampled(x, w[4], stride);
  conv_output_shape(y, w, transpose_geometry(stride));  // checks the remaining extents
  return y;
}

Tensor conv_transpose_forward(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                              std::array<int, 3> stride) {
  NNUC_RANGE("conv_transpose_forward");
  check_data_dtype(x, ctx, "conv_transpose_forward", "x");
  check_data_dtype(w, ctx, "conv_transpose_forward", "w");
  NNUC_CHECK(w.dtype() == x.dtype(), "conv_transpose_forward: w is ", w.describe(), " but x is ", x.describe(),
             " (same dtype required)");
  const Shape y_shape = conv_transpose_output_shape(x.shape(), w.shape(), stride);
  check_bias(bias, x.dtype(), w.dim(4), ctx, "conv_transpose_forward");
  Tensor y = Tensor::empty(y_shape, x.dtype(), ctx);  // (N, D sD, H sH, W sW, Co)
  backward_data_into(ctx, x, w, transpose_geometry(stride), y);
  if (bias.defined()) add_bias_into(ctx, y, bias);
  return y;
}

Tensor conv_transpose_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, std::array<int, 3> stride) {
  NNUC_RANGE("conv_transpose_backward_data");
  check_data_dtype(dy, ctx, "conv_transpose_backward_data", "dy");
  check_data_dtype(w, ctx, "conv_transpose_backward_data", "w");
  NNUC_CHECK(w.dtype() == dy.dtype(), "conv_transpose_backward_data: w is ", w.describe(), " but dy is ", dy.describe(),
             " (same dtype required)");
  check_stride(stride, "conv_transpose_backward_data");
  NNUC_CHECK(dy.rank() == 5, "conv_transpose_backward_data: dy must be rank 5 (N, D sD, H sH, W sW, Co), got ",
             dy.describe());
  NNUC_CHECK(w.rank() == 5, "conv_transpose_backward_data: w must be rank 5 (Ci, sD, sH, sW, Co), got ", w.describe());
  for (int axis = 0; axis < 3; ++axis)
    NNUC_CHECK(dy.dim(1 + axis) % stride[static_cast<std::size_t>(axis)] == 0, "conv_transpose_backward_data: dy ",
               dy.describe(), " is not a multiple of stride ", triple(stride), " along axis ", 1 + axis);
  const Shape x_shape{dy.dim(0), dy.dim(1) / stride[0], dy.dim(2) / stride[1], dy.dim(3) / stride[2], w.dim(0)};
  const Shape y_shape = conv_transpose_output_shape(x_shape, w.shape(), stride);
  NNUC_CHECK(dy.shape() == y_shape, "conv_transpose_backward_data: dy must have shape ", y_shape.str(), " for w ",
             w.shape().str(), ", got ", dy.describe());
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), ctx);  // (N, D, H, W, Ci)
  forward_into(ctx, dy, w, Tensor(), transpose_geometry(stride), dx);
  return dx;
}

Tensor conv_transpose_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy,
                                      std::array<int, 3> stride) {
  NNUC_RANGE("conv_transpose_backward_weight");
  check_data_dtype(x, ctx, "conv_transpose_backward_weight", "x");
  check_data_dtype(dy, ctx, "conv_transpose_backward_weight", "dy");
  NNUC_CHECK(dy.dtype() == x.dtype(), "conv_transpose_backward_weight: dy is ", dy.describe(), " but x is ",
             x.describe(), " (same dtype required)");
  check_stride(stride, "conv_transpose_backward_weight");
  NNUC_CHECK(x.rank() == 5, "conv_transpose_backward_weight: x must be rank 5 (N, D, H, W, Ci), got ", x.describe());
  NNUC_CHECK(dy.rank() == 5, "conv_transpose_backward_weight: dy must be rank 5 (N, D sD, H sH, W sW, Co), got ",
             dy.describe());
  const Shape w_shape{x.dim(Activation::C), stride[0], stride[1], stride[2], dy.dim(Activation::C)};
  const Shape y_shape = conv_transpose_output_shape(x.shape(), w_shape, stride);
  NNUC_CHECK(dy.shape() == y_shape, "conv_transpose_backward_weight: dy must have shape ", y_shape.str(), " (x ",
             x.shape().str(), " upsampled by ", triple(stride), "), got ", dy.describe());
  Tensor dw = Tensor::empty(w_shape, x.dtype(), ctx);  // (Ci, sD, sH, sW, Co)
  backward_weight_into(ctx, dy, x, transpose_geometry(stride), dw);
  return dw;
}

std::size_t conv_transpose_workspace_bytes(ConvPass pass, const Shape& x, const Shape& w, std::array<int, 3> stride,
                                           DType dtype, const Context& ctx) {
  const Shape y = conv_transpose_output_shape(x, w, stride);
  const ConvGeometry geometry = transpose_geometry(stride);
  switch (pass) {
    case ConvPass::forward: return conv_workspace_bytes(ConvPass::backward_data, y, w, geometry, dtype, ctx);
    case ConvPass::backward_data: return conv_workspace_bytes(ConvPass::forward, y, w, geometry, dtype, ctx);
    case ConvPass::backward_weight: return conv_workspace_bytes(ConvPass::backward_weight, y, w, geometry, dtype, ctx);
    case ConvPass::backward_bias: {
      // The bias gradient sums dy = y's shape: the same as the bias pass of a 1x1x1 conv producing y.
      const Shape pointwise{y[4], 1, 1, 1, y[4]};
      return conv_workspace_bytes(ConvPass::backward_bias, y, pointwise, ConvGeometry{}, dtype, ctx);
    }
  }
  return 0;
}

}  // namespace nnuc
