// Convolutions of channels-last activations: 3-D (and 2-D as D = 1) convolution with any kernel,
// stride and zero padding per axis, its three backward passes, and the transposed convolution with
// kernel == stride that the U-Net decoder uses for upsampling.
//
// Layouts (kernels/README.md):
//   activations          (N, D, H, W, C)             channels-last, row-major
//   conv weight           (Co, kD, kH, kW, Ci)        cuDNN's NHWC filter format ("KTRSC")
//   transposed weight     (Ci, sD, sH, sW, Co)        the weight of the conv that it inverts
//   bias                  (Co)                        f32 (f64 when the data is f64, CPU only)
// Geometry axes are (D, H, W). Output size per axis: floor((in + 2 p - k) / s) + 1 (cross-correlation,
// no dilation, no groups).
//
// Devices and dtypes:
//   CPU  f32, f64: im2col in tiles of voxels + GEMM, OpenMP over tiles; the GEMM is a packed AVX2 + FMA
//        micro-kernel for f32 on CPUs that have it (chosen at run time, conv_gemm.h), Eigen otherwise.
//   CUDA f32 (reference mode: FMA math, no TF32) and bf16 (mixed mode: f32 accumulation, tensor
//        cores): cuDNN with an algorithm chosen once per shape under ctx.workspace_cap() (and only
//        deterministic ones when ctx.deterministic(); kernels/conv/conv_plan.h); tensors beyond
//        ctx.conv_element_limit() elements are split into several cuDNN calls along the batch, then
//        along D (kernels/conv/conv_chunk.h); bias add / bias gradient are small hand-written kernels.
//   Meta allocates the outputs and the scratch the modelled device would (conv_workspace_bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/core/context.h"
#include "kernels/core/shape.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// Kernel, stride and zero padding per axis (D, H, W). 2-D convolutions use kernel[0] = 1, stride[0] = 1,
// padding[0] = 0.
struct ConvGeometry {
  std::array<int, 3> kernel{1, 1, 1};
  std::array<int, 3> stride{1, 1, 1};
  std::array<int, 3> padding{0, 0, 0};
};

// nnU-Net's convolution: padding (k - 1) / 2 per axis, so that the output size is ceil(in / stride).
ConvGeometry same_padding_geometry(std::array<int, 3> kernel, std::array<int, 3> stride);

// The passes of one convolution, for workspace queries and plan caching.
enum class ConvPass : std::uint8_t { forward, backward_data, backward_weight, backward_bias };
const char* conv_pass_name(ConvPass pass);

// CUDA vs CPU tolerances, element-wise: |cuda - cpu| <= atol * max|cpu| + rtol * |cpu|, where cpu is the
// f32 CPU result on the same (for bf16: bf16-rounded) inputs. atol is relative to the largest magnitude
// of the reference because a long reduction (k^3 * C terms) cancels to values near zero.
//   f32: cuDNN may pick Winograd or FFT algorithms (FMA math, no TF32): a few ulp of the reduction.
//   bf16: the output is rounded to bf16 (2^-9 relative) and cuDNN may keep bf16 intermediates.
constexpr Tolerance kConvToleranceF32{2e-4, 1e-4};
constexpr Tolerance kConvToleranceBF16{1.5e-2, 1.5e-2};

// ---- Shape rules -----------------------------------------------------------------------------

// y = conv(x, w): (N, Do, Ho, Wo, Co) with Do = floor((D + 2 pD - kD) / sD) + 1, etc.
// requires: x rank 5 (N, D, H, W, Ci); w rank 5 (Co, kD, kH, kW, Ci) with (kD, kH, kW) == geometry.kernel;
//           stride >= 1, padding >= 0, every output extent >= 1. Throws InvalidInput naming the argument.
Shape conv_output_shape(const Shape& x, const Shape& w, const ConvGeometry& geometry);

// y = conv_transpose(x, w): (N, D sD, H sH, W sW, Co) for x (N, D, H, W, Ci), w (Ci, sD, sH, sW, Co).
Shape conv_transpose_output_shape(const Shape& x, const Shape& w, std::array<int, 3> stride);

// ---- Convolution -----------------------------------------------------------------------------

// y[n, o, co] = bias[co] + sum_{k, ci} x[n, o * s - p + k, ci] * w[co, k, ci]   (o, k, s, p per axis;
// taps that fall into the padding read zero).
// requires: x (N, D, H, W, Ci), w (Co, kD, kH, kW, Ci) of x's dtype, both on ctx's device;
//           bias undefined or (Co) f32 (f64 with f64 data); dtype f32/f64 on CPU, f32/bf16 on CUDA.
// ensures: returns y (N, Do, Ho, Wo, Co) of x's dtype; nothing is saved (autograd keeps x and w).
Tensor conv_forward(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const ConvGeometry& geometry);

// dx[n, i, ci] = sum_{k, co : i = o * s - p + k} dy[n, o, co] * w[co, k, ci]   (the adjoint of conv in x).
// requires: dy (N, Do, Ho, Wo, Co) == conv_output_shape(x_shape, w.shape(), geometry); w as for forward.
// ensures: returns dx of shape x_shape and dy's dtype; input voxels that no output reads get 0.
Tensor conv_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                          const Shape& x_shape);

// dw[co, k, ci] = sum_{n, o} dy[n, o, co] * x[n, o * s - p + k, ci]   (the adjoint of conv in w).
// requires: x (N, D, H, W, Ci) and dy == conv_output_shape(x.shape(), w_shape, geometry), same dtype.
// ensures: returns dw of shape w_shape and x's dtype (accumulated in f32 or wider, rounded once).
Tensor conv_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                            const Shape& w_shape);

// db[co] = sum_{n, d, h, w} dy[n, d, h, w, co].
// requires: dy rank 5 (N, D, H, W, Co) of a dtype the device supports.
// ensures: returns db (Co): f32 for f32/bf16 dy, f64 for f64 dy; summed in f64 (CPU) or f32 (CUDA).
Tensor conv_backward_bias(const Context& ctx, const Tensor& dy);

// ---- Transposed convolution with kernel == stride (decoder upsampling) -----------------------

// y[n, i * s + a, co] = bias[co] + sum_ci x[n, i, ci] * w[ci, a, co]   (a in [0, s) per axis; no overlap).
// It is the adjoint in its input of conv with kernel = stride = s, padding 0 and weight w.
// requires: x (N, D, H, W, Ci), w (Ci, sD, sH, sW, Co) of x's dtype, stride >= 1; bias as conv_forward.
// ensures: returns y (N, D sD, H sH, W sW, Co) of x's dtype.
Tensor conv_transpose_forward(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                              std::array<int, 3> stride);

// dx[n, i, ci] = sum_{a, co} dy[n, i * s + a, co] * w[ci, a, co].
// requires: dy (N, D sD, H sH, W sW, Co), w (Ci, sD, sH, sW, Co) of dy's dtype.
// ensures: returns dx (N, D, H, W, Ci).
Tensor conv_transpose_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, std::array<int, 3> stride);

// dw[ci, a, co] = sum_{n, i} x[n, i, ci] * dy[n, i * s + a, co].
// requires: x (N, D, H, W, Ci), dy (N, D sD, H sH, W sW, Co) of x's dtype.
// ensures: returns dw (Ci, sD, sH, sW, Co) of x's dtype. The bias gradient is conv_backward_bias(dy).
Tensor conv_transpose_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy, std::array<int, 3> stride);

// ---- Memory model ----------------------------------------------------------------------------

// Bytes of scratch (beyond inputs and the returned tensor) that the given pass of conv(x, w) allocates
// on ctx's device, counted as the allocator counts them (each buffer rounded to 512 bytes). On a Meta
// context: what the modelled device allocates.
//   CPU: im2col tiles per thread, per-thread partial weight gradients, the reordered weight of the
//        backward-data pass, per-thread bias partials; a pure function of shapes, dtype and
//        omp_get_max_threads().
//   CUDA: the workspace of the algorithm cached in ctx.conv_plans() for this pass, shape, dtype, cap
//        and determinism; ctx.workspace_cap() while none is cached; plus the bias-gradient partials.
//        A convolution with more than ctx.conv_element_limit() elements in a tensor runs in pieces
//        (kernels/conv/conv_chunk.h): the largest piece's workspace, plus the staging buffer of the
//        pieces that read the zero padding.
// requires: x (N, D, H, W, Ci), w (Co, kD, kH, kW, Ci) valid for geometry; dtype supported on the device.
std::size_t conv_workspace_bytes(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry,
                                 DType dtype, const Context& ctx);

// The same for the transposed convolution's passes (x (N, D, H, W, Ci), w (Ci, sD, sH, sW, Co)).
std::size_t conv_transpose_workspace_bytes(ConvPass pass, const Shape& x, const Shape& w, std::array<int, 3> stride,
                                           DType dtype, const Context& ctx);

}  // namespace nnuc
