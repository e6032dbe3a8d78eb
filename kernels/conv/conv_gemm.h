// The f32 GEMM behind the CPU convolutions on x86-64 CPUs with AVX2 + FMA (internal header).
//
// Why not Eigen here: on the development machine (Zen 3) Eigen's f32 GEMM reaches ~30-40 GFLOP/s per
// core on the convolution shapes (it repacks the weight on every tile call and its 24x4 kernel leaves
// Co = 32 half-used), while oneDNN's direct convolution reaches ~60. This is a BLIS-style kernel:
// a 6 x 16 register tile (12 ymm accumulators, 2 B vectors, 1 broadcast), K blocks of 256, the B
// operand (the convolution weight) packed once per call into 16-column panels. Compiled with
// target("avx2,fma") attributes and chosen at run time (has_avx2_fma()), so the library needs no
// -march flag; elsewhere (and for f64) the convolutions use Eigen.
#pragma once

#include <cstdint>

namespace nnuc::cpu {

// True when this CPU runs AVX2 and FMA (checked once).
bool has_avx2_fma();
// True when this CPU runs AVX-512F (checked once). gemm_f32_avx2 then uses 512-bit micro tiles (same
// products and sums in the same order per element: the same bits as the 256-bit tiles).
bool has_avx512f();
// Test hook: false makes gemm_f32_avx2 use the 256-bit tiles even where AVX-512 exists (both paths
// are then testable on one machine). Default true.
void gemm_allow_avx512(bool allowed);
bool gemm_uses_avx512();  // has_avx512f() and allowed

constexpr std::int64_t kGemmPanelWidth = 16;  // columns per packed B panel (2 ymm)

// A (M x K): element (i, k) at data[i * row_stride + k * k_stride].
struct GemmA {
  const float* data;
  std::int64_t row_stride;
  std::int64_t k_stride;
};

// B (K x N): packed (panels of kGemmPanelWidth columns, zero-padded; element (k, j) of panel p at
// data[(p * K + k) * kGemmPanelWidth + j]) or plain (element (k, j) at data[k * k_stride + j]).
struct GemmB {
  const float* data;
  std::int64_t k_stride;
  bool packed;
};

// Elements of B (K x N) packed into panels.
constexpr std::int64_t packed_b_elements(std::int64_t k, std::int64_t n) {
  return (n + kGemmPanelWidth - 1) / kGemmPanelWidth * kGemmPanelWidth * k;
}

// C (M x N, element (i, j) at c[i * c_row + j]) = A B, or += A B when `accumulate`. One thread.
// requires: has_avx2_fma().
void gemm_f32_avx2(std::int64_t m, std::int64_t n, std::int64_t k, GemmA a, GemmB b, float* c, std::int64_t c_row,
                   bool accumulate);

// One K segment of an indirect A (gemm_f32_segments_avx512): for this segment, row i of A starts at
// a + a_offset + i * a_row (`length` consecutive values), and B's rows b_row .. b_row + length - 1 go
// with it. A convolution's taps as segments read the input in place, without an im2col copy.
struct GemmSegment {
  std::int64_t a_offset;
  std::int64_t b_row;
};

// C (M x N, element (i, j) at c[i * c_row + j]) = sum over segments s of
// A_s (M x length) . B[b_row_s : b_row_s + length, :] (+ C when `accumulate`), where A_s(i, k) is
// a[a_offset_s + i * a_row + k] and B is packed in panels of `panel_rows` rows (conv_gemm.h's layout
// with K = panel_rows). Every element is summed in registers over all segments, in segment order, then
// stored once. One thread. requires: gemm_uses_avx512().
void gemm_f32_segments_avx512(std::int64_t m, std::int64_t n, std::int64_t length, const GemmSegment* segments,
                              int segment_count, const float* a, std::int64_t a_row, const float* b_packed,
                              std::int64_t panel_rows, float* c, std::int64_t c_row, bool accumulate);

}  // namespace nnuc::cpu
