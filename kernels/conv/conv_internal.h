// Internals shared by the convolution entry points (conv.cpp, conv_transpose.cpp), the CPU
// implementation (conv_cpu.cpp) and the CUDA one (conv_cuda.cpp, conv_bias.cu). Not a public header.
//
// cpu:: and cuda:: functions assume arguments already validated by the public entry point and write
// into outputs it allocated. The CPU ones also receive their scratch, allocated by the entry point from
// cpu_conv_plan() so that a Meta context allocates the very same buffers.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::conv_detail {

// One scratch allocation: `elements` of `dtype`.
struct ScratchBuffer {
  std::int64_t elements = 0;
  DType dtype = DType::f32;
};

// How the CPU runs one pass: tiles of `tile_rows` voxels (rows of the im2col matrix), at most `threads`
// OpenMP threads, and the scratch buffers it needs in this order:
//   forward:         [col tiles: threads * tile_rows * kvol * Ci]                     (none if pointwise)
//   backward_data:   [dy-col tiles: threads * tile_rows * max_taps * Co] (none if the gather is the
//                    identity), [dx tiles: threads * tile_rows * Ci] (only with a stride > 1),
//                    [phase-ordered weight: kvol * Co * Ci] (only when a stride phase has > 1 tap)
//   backward_weight: [col tiles as forward], [partial dw: (threads - 1) * Co * kvol * Ci]
//   backward_bias:   [partial sums: threads * Co in f64]
// With avx2 the weight is packed into 16-column panels instead (conv_gemm.h):
//   forward:         [col tiles], [packed w^T: kvol Ci x Co]
//   backward_data:   [dy-col tiles], [dx tiles], [packed per-phase weights: kvol Co x Ci in total]
//   backward_weight: [col tiles], [partial dw^T: threads * kvol Ci * Co]
// The in-place path of unit-stride same-padding passes on AVX-512 (direct_conv_applies) uses the same
// buffers: the packed weight, and the col tiles for the border rows of each line and their results.
struct CpuConvPlan {
  int threads = 1;
  std::int64_t tile_rows = 1;
  bool avx2 = false;  // f32 on an AVX2 + FMA CPU: the packed micro-kernel GEMM and its buffers below
  std::vector<ScratchBuffer> buffers;
};

// Threads the CPU kernels use: omp_get_max_threads().
int cpu_threads();

// The CPU plan of a pass of conv(x, w): a pure function of the shapes, dtype and thread count.
CpuConvPlan cpu_conv_plan(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry, DType dtype,
                          int threads);

// The CPU plan of conv_backward_bias(dy): per-thread f64 partial sums.
CpuConvPlan cpu_bias_grad_plan(const Shape& dy, int threads);

// CUDA bias gradient: rows are split into this many chunks; each chunk writes Co f32 partial sums
// (scratch of chunks * Co f32), which a second kernel adds up in a fixed order (deterministic).
std::int64_t cuda_bias_grad_chunks(std::int64_t rows);

// The convolution that a transposed convolution with kernel == stride inverts: kernel = stride, pad 0.
ConvGeometry transpose_geometry(std::array<int, 3> stride);

// Allocates the buffers of `plan` on ctx (Meta included) in order.
std::vector<Tensor> allocate_scratch(const std::vector<ScratchBuffer>& buffers, const Context& ctx);
// Allocates `bytes` of u8 workspace on ctx, or returns an undefined tensor for 0 bytes.
Tensor allocate_workspace(std::size_t bytes, const Context& ctx);

// Device dispatch of the three convolution passes into allocated outputs (shared by the convolution
// and the transposed convolution entry points; arguments already validated). On Meta they allocate
// the scratch the modelled device would and compute nothing.
void forward_into(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                  const ConvGeometry& geometry, Tensor& y);
void backward_data_into(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                        Tensor& dx);
void backward_weight_into(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                          Tensor& dw);
// y[., co] += bias[co] on ctx's device (nothing on Meta).
void add_bias_into(const Context& ctx, Tensor& y, const Tensor& bias);

// Argument checks shared by the entry points; messages start with `op`.
// The dtype of `tensor` is one the device (or the device a Meta context models) computes in.
void check_data_dtype(const Tensor& tensor, const Context& ctx, const char* op, const char* name);
// bias is undefined, or (co) of the bias dtype for `data` (f64 for f64 data, else f32), on ctx's device.
void check_bias(const Tensor& bias, DType data, std::int64_t co, const Context& ctx, const char* op);
void check_dtype_supported(DType dtype, const Context& ctx, const char* op);

}  // namespace nnuc::conv_detail

namespace nnuc::cpu {

using conv_detail::CpuConvPlan;

// y = conv(x, w) (+ bias when defined). y is (N, Do, Ho, Wo, Co), allocated.
void conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& geometry,
                  const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& y);
// dx = conv^T(dy) in x; every element of dx is written.
void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& geometry, const CpuConvPlan& plan,
                        std::vector<Tensor>& scratch, Tensor& dx);
// dw = conv^T(dy) in w.
void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& geometry, const CpuConvPlan& plan,
                          std::vector<Tensor>& scratch, Tensor& dw);
// db[co] = sum over voxels of dy[., co].
void conv_backward_bias(const Tensor& dy, const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& db);
// y[., co] += bias[co].
void add_bias(Tensor& y, const Tensor& bias);

}  // namespace nnuc::cpu

#ifdef NNUC_WITH_CUDA
namespace nnuc::cuda {

// cuDNN convolution passes (no bias). Each splits the convolution into calls within
// ctx.conv_element_limit() (conv_chunk.h; one call when nothing is too large), chooses (or finds cached)
// each call's algorithm under ctx.workspace_cap() (deterministic ones only when ctx.deterministic()),
// allocates the staging buffer and each call's workspace through Tensor::empty and queues the calls on
// ctx's stream.
void conv_forward(const Context& ctx, const Tensor& x, const Tensor& w, const ConvGeometry& geometry, Tensor& y);
void conv_backward_data(const Context& ctx, const Tensor& dy, const Tensor& w, const ConvGeometry& geometry,
                        Tensor& dx);
void conv_backward_weight(const Context& ctx, const Tensor& x, const Tensor& dy, const ConvGeometry& geometry,
                          Tensor& dw);
// db (f32) = per-channel sums of dy (f32 or bf16), with scratch of cuda_bias_grad_chunks(rows) * Co f32.
void conv_backward_bias(const Context& ctx, const Tensor& dy, Tensor& db);
// y[., co] += bias[co] (bias f32; y f32 or bf16, rounded once).
void add_bias(const Context& ctx, Tensor& y, const Tensor& bias);

}  // namespace nnuc::cuda
#endif
