// AVX2 + FMA f32 GEMM for the CPU convolutions (see conv_gemm.h).
//
// Loop nest (BLIS order): K blocks of kKc -> row blocks of A -> 16-column panels of B -> 6-row micro
// tiles. A B micro-panel (kKc x 16 floats = 16 KB; packed on the fly when B is plain) stays in L1
// across the row block's micro tiles; the A block stays in L2 across the panels. A row-major A is read
// in place (6 or 12 row streams); a column-major A (backward weight's col^T) is packed per block into
// 12-row micro panels, which the 12-row tiles read whole and the 6 x 16 tile by halves. Per K step a micro tile does 2
// B loads, 6 broadcasts and 12 FMAs (2 FMA pipes: 6 cycles), so it runs near the FMA peak. A panel with at most 8 live
// columns (Co or Ci of 1-8) runs a 12 x 8 tile instead (1 B load, 12 broadcasts, 12 FMAs per K step): the 6 x 16 tile
// would spend at least half its FMAs on the panel's zero padding. On CPUs with AVX-512 the panels of 9-16 columns run a
// 12 x 16 tile of zmm registers instead (one accumulator per row, twice the FLOPs per instruction), and two
// adjacent panels (a whole one and 1-16 more columns) a 12 x 32 tile (two accumulators per row, each A
// broadcast feeding two FMAs).
#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/conv/conv_gemm.h"
#include "kernels/core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NNUC_HAS_X86 1
#endif

namespace nnuc::cpu {

#ifdef NNUC_HAS_X86

bool has_avx2_fma() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return supported;
}

namespace {
std::atomic<bool> g_avx512_allowed{true};
}  // namespace

bool has_avx512f() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
  }();
  return supported;
}

void gemm_allow_avx512(bool allowed) { g_avx512_allowed.store(allowed); }

bool gemm_uses_avx512() { return has_avx512f() && g_avx512_allowed.load(); }

namespace {

constexpr std::int64_t kMr = 6;
constexpr std::int64_t kMrNarrow = 12;  // rows of a narrow micro tile (row-major A)
constexpr std::int64_t kKc = 256;
constexpr std::int64_t kMc = 72;        // a multiple of kMrNarrow and kMr
constexpr std::int64_t kMcWhole = 320;  // up to this many rows, one row block covers all of A (<= 320 KB)

#define NNUC_AVX2_FMA __attribute__((target("avx2,fma")))

// Lanes j < count of an 8-lane mask.
NNUC_AVX2_FMA inline __m256i lane_mask(int count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes);
}

// Writes 8 accumulated columns to row[0:8] (Edge: the lanes of `mask` only), adding what is there when
// `accumulate`.
template <bool Edge>
NNUC_AVX2_FMA inline void store_columns(float* row, __m256 sum, __m256i mask, bool accumulate) {
  if (Edge) {
    if (accumulate) sum = _mm256_add_ps(sum, _mm256_maskload_ps(row, mask));
    _mm256_maskstore_ps(row, mask, sum);
  } else {
    if (accumulate) sum = _mm256_add_ps(sum, _mm256_loadu_ps(row));
    _mm256_storeu_ps(row, sum);
  }
}

// C[0:R, 0:16] (+)= sum_k A[0:R, k] B[k, 0:16]. Edge: only the first `cols` columns exist.
template <int R, bool Edge>
NNUC_AVX2_FMA void micro_tile(std::int64_t kc, const float* a, std::int64_t a_row, std::int64_t a_k, const float* b,
                              std::int64_t b_k, float* c, std::int64_t c_row, bool accumulate, int cols) {
  __m256 low[R], high[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    low[r] = _mm256_setzero_ps();
    high[r] = _mm256_setzero_ps();
  }
  const __m256i mask_low = lane_mask(Edge ? cols : 8);
  const __m256i mask_high = lane_mask(Edge ? cols - 8 : 8);
  for (std::int64_t step = 0; step < kc; ++step) {
    const __m256 b_low = Edge ? _mm256_maskload_ps(b, mask_low) : _mm256_loadu_ps(b);
    const __m256 b_high = Edge ? _mm256_maskload_ps(b + 8, mask_high) : _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 value = _mm256_broadcast_ss(a + r * a_row);
      low[r] = _mm256_fmadd_ps(value, b_low, low[r]);
      high[r] = _mm256_fmadd_ps(value, b_high, high[r]);
    }
    a += a_k;
    b += b_k;
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    store_columns<Edge>(c + r * c_row, low[r], mask_low, accumulate);
    store_columns<Edge>(c + r * c_row + 8, high[r], mask_high, accumulate);
  }
}

// A panel's last `cols` <= 8 columns (Co or Ci of 1-8 channels, the narrow layers of small networks):
// C[0:R, 0:cols] (+)= sum_k A[0:R, k] B[k, 0:cols] with one ymm accumulator per row, so no FMA works
// on the panel's zero columns 8-15; up to kMrNarrow rows share each B load.
template <int R, bool Edge>
NNUC_AVX2_FMA void micro_tile_narrow(std::int64_t kc, const float* a, std::int64_t a_row, std::int64_t a_k,
                                     const float* b, std::int64_t b_k, float* c, std::int64_t c_row, bool accumulate,
                                     int cols) {
  __m256 sum[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) sum[r] = _mm256_setzero_ps();
  const __m256i mask = lane_mask(Edge ? cols : 8);
  for (std::int64_t step = 0; step < kc; ++step) {
    const __m256 b_low = Edge ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) sum[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * a_row), b_low, sum[r]);
    a += a_k;
    b += b_k;
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) store_columns<Edge>(c + r * c_row, sum[r], mask, accumulate);
}

// The micro tile of `rows` <= R rows (a template per row count, so that the accumulators stay in
// registers): the 12 x 8 narrow tile or the 6 x 16 one.
template <int R, bool Narrow, bool Edge>
NNUC_AVX2_FMA void micro_tile_rows(std::int64_t rows, std::int64_t kc, const float* a, std::int64_t a_row,
                                   std::int64_t a_k, const float* b, std::int64_t b_k, float* c, std::int64_t c_row,
                                   bool accumulate, int cols) {
  if constexpr (R > 1) {
    if (rows < R)
      return micro_tile_rows<R - 1, Narrow, Edge>(rows, kc, a, a_row, a_k, b, b_k, c, c_row, accumulate, cols);
  }
  if constexpr (Narrow) {
    micro_tile_narrow<R, Edge>(kc, a, a_row, a_k, b, b_k, c, c_row, accumulate, cols);
  } else {
    micro_tile<R, Edge>(kc, a, a_row, a_k, b, b_k, c, c_row, accumulate, cols);
  }
}

#define NNUC_AVX512 __attribute__((target("avx512f")))

// The current A element of R rows a_row apart, addressed from one pointer per three rows: row 3g + j
// is bases[g][j * a_row], which x86 addresses as base + index * 4 or * 8 with a_row in one register.
// Twelve rows then need four pointers and one index instead of twelve offsets, which do not fit in
// the general registers beside the loop's other pointers (the compiler spilled them to the stack).
template <int R>
struct RowTriples {
  static constexpr int kGroups = (R + 2) / 3;
  const float* bases[kGroups];
  RowTriples(const float* a, std::int64_t a_row) {
    for (int g = 0; g < kGroups; ++g) bases[g] = a + 3 * g * a_row;
  }
  float at(int r, std::int64_t a_row) const { return bases[r / 3][(r % 3) * a_row]; }
  void advance(std::int64_t a_k) {
    for (int g = 0; g < kGroups; ++g) bases[g] += a_k;
  }
};

// AVX-512: C[0:R, 0:cols] (+)= sum_k A[0:R, k] B[k, 0:16] with one zmm accumulator per row (a whole
// 16-column panel). Per K step 1 B load and R broadcast FMAs: 12 rows keep both FMA ports busy. The
// panel is zero-padded, so B is always loaded whole; only C is masked (Edge: the first `cols` columns).
template <int R, bool Edge>
NNUC_AVX512 void micro_tile_avx512(std::int64_t kc, const float* a, std::int64_t a_row, std::int64_t a_k,
                                   const float* b, std::int64_t b_k, float* c, std::int64_t c_row, bool accumulate,
                                   int cols) {
  __m512 sum[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) sum[r] = _mm512_setzero_ps();
  RowTriples<R> rows(a, a_row);
  for (std::int64_t step = 0; step < kc; ++step) {
    const __m512 b_row = _mm512_loadu_ps(b);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) sum[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows.at(r, a_row)), b_row, sum[r]);
    rows.advance(a_k);
    b += b_k;
  }
  const __mmask16 mask = Edge ? static_cast<__mmask16>((1u << cols) - 1) : static_cast<__mmask16>(0xFFFF);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* row = c + r * c_row;
    if (accumulate) sum[r] = _mm512_add_ps(sum[r], _mm512_maskz_loadu_ps(mask, row));
    _mm512_mask_storeu_ps(row, mask, sum[r]);
  }
}

template <int R, bool Edge>
NNUC_AVX512 void micro_tile_rows_avx512(std::int64_t rows, std::int64_t kc, const float* a, std::int64_t a_row,
                                        std::int64_t a_k, const float* b, std::int64_t b_k, float* c,
                                        std::int64_t c_row, bool accumulate, int cols) {
  if constexpr (R > 1) {
    if (rows < R)
      return micro_tile_rows_avx512<R - 1, Edge>(rows, kc, a, a_row, a_k, b, b_k, c, c_row, accumulate, cols);
  }
  micro_tile_avx512<R, Edge>(kc, a, a_row, a_k, b, b_k, c, c_row, accumulate, cols);
}

// AVX-512, two panels at once: C[0:R, 0:16 + cols] (+)= sum_k A[0:R, k] [B0 | B1][k, :] with two zmm
// accumulators per row (B0 a whole panel; B1's first `cols` columns are live, the rest zero padding).
// Per K step 2 B loads and R broadcasts feed 2R FMAs: at 12 rows 14 loads per 24 FMAs, where the
// one-panel tile needs 13 per 12 and so waits on the two load ports; here the FMA ports set the pace,
// and each A element is read once per 32 columns instead of once per 16. Every element's products
// are summed in the same order as in the other tiles (the same bits).
template <int R, bool Edge>
NNUC_AVX512 void micro_tile_pair_avx512(std::int64_t kc, const float* a, std::int64_t a_row, std::int64_t a_k,
                                        const float* b0, const float* b1, std::int64_t b_k, float* c,
                                        std::int64_t c_row, bool accumulate, int cols) {
  __m512 left[R], right[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) left[r] = right[r] = _mm512_setzero_ps();
  RowTriples<R> rows(a, a_row);
  for (std::int64_t step = 0; step < kc; ++step) {
    const __m512 b_left = _mm512_loadu_ps(b0), b_right = _mm512_loadu_ps(b1);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 value = _mm512_set1_ps(rows.at(r, a_row));
      left[r] = _mm512_fmadd_ps(value, b_left, left[r]);
      right[r] = _mm512_fmadd_ps(value, b_right, right[r]);
    }
    rows.advance(a_k);
    b0 += b_k;
    b1 += b_k;
  }
  const __mmask16 mask = Edge ? static_cast<__mmask16>((1u << cols) - 1) : static_cast<__mmask16>(0xFFFF);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* row = c + r * c_row;
    if (accumulate) {
      left[r] = _mm512_add_ps(left[r], _mm512_loadu_ps(row));
      right[r] = _mm512_add_ps(right[r], _mm512_maskz_loadu_ps(mask, row + kGemmPanelWidth));
    }
    _mm512_storeu_ps(row, left[r]);
    _mm512_mask_storeu_ps(row + kGemmPanelWidth, mask, right[r]);
  }
}

template <int R, bool Edge>
NNUC_AVX512 void micro_tile_pair_rows_avx512(std::int64_t rows, std::int64_t kc, const float* a, std::int64_t a_row,
                                             std::int64_t a_k, const float* b0, const float* b1, std::int64_t b_k,
                                             float* c, std::int64_t c_row, bool accumulate, int cols) {
  if constexpr (R > 1) {
    if (rows < R)
      return micro_tile_pair_rows_avx512<R - 1, Edge>(rows, kc, a, a_row, a_k, b0, b1, b_k, c, c_row, accumulate, cols);
  }
  micro_tile_pair_avx512<R, Edge>(kc, a, a_row, a_k, b0, b1, b_k, c, c_row, accumulate, cols);
}

// AVX-512, indirect A (gemm_f32_segments_avx512): C[0:R, 0:16 (+ 16)] (+)= sum over segments of
// A_s[0:R, 0:length] B[b_row_s ..][:, panel (and the next)]. The accumulators live across all segments:
// a 3 x 3 x 3 convolution's 9 segments of 3 Ci values cost one C store per tile, not nine. Pair: two
// panels (B1 = B0 + panel_rows rows; its first `cols` columns live); else one panel (`cols` live).
template <int R, bool Pair, bool Edge>
NNUC_AVX512 void micro_tile_segments_avx512(const float* a, std::int64_t a_row, const GemmSegment* segments,
                                            int segment_count, std::int64_t length, const float* b0,
                                            std::int64_t panel_rows, float* c, std::int64_t c_row, bool accumulate,
                                            int cols) {
  __m512 left[R], right[Pair ? R : 1];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    left[r] = _mm512_setzero_ps();
    if constexpr (Pair) right[r] = _mm512_setzero_ps();
  }
  const std::int64_t panel_stride = panel_rows * kGemmPanelWidth;
  for (int s = 0; s < segment_count; ++s) {
    RowTriples<R> rows(a + segments[s].a_offset, a_row);
    const float* b = b0 + segments[s].b_row * kGemmPanelWidth;
    for (std::int64_t step = 0; step < length; ++step) {
      const __m512 b_left = _mm512_loadu_ps(b);
      if constexpr (Pair) {
        const __m512 b_right = _mm512_loadu_ps(b + panel_stride);
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
          const __m512 value = _mm512_set1_ps(rows.at(r, a_row));
          left[r] = _mm512_fmadd_ps(value, b_left, left[r]);
          right[r] = _mm512_fmadd_ps(value, b_right, right[r]);
        }
      } else {
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) left[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows.at(r, a_row)), b_left, left[r]);
      }
      rows.advance(1);
      b += kGemmPanelWidth;
    }
  }
  const __mmask16 mask = Edge ? static_cast<__mmask16>((1u << cols) - 1) : static_cast<__mmask16>(0xFFFF);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* row = c + r * c_row;
    if constexpr (Pair) {
      if (accumulate) {
        left[r] = _mm512_add_ps(left[r], _mm512_loadu_ps(row));
        right[r] = _mm512_add_ps(right[r], _mm512_maskz_loadu_ps(mask, row + kGemmPanelWidth));
      }
      _mm512_storeu_ps(row, left[r]);
      _mm512_mask_storeu_ps(row + kGemmPanelWidth, mask, right[r]);
    } else {
      if (accumulate) left[r] = _mm512_add_ps(left[r], _mm512_maskz_loadu_ps(mask, row));
      _mm512_mask_storeu_ps(row, mask, left[r]);
    }
  }
}

template <int R, bool Pair, bool Edge>
NNUC_AVX512 void micro_tile_segments_rows_avx512(std::int64_t rows, const float* a, std::int64_t a_row,
                                                 const GemmSegment* segments, int segment_count, std::int64_t length,
                                                 const float* b0, std::int64_t panel_rows, float* c, std::int64_t c_row,
                                                 bool accumulate, int cols) {
  if constexpr (R > 1) {
    if (rows < R)
      return micro_tile_segments_rows_avx512<R - 1, Pair, Edge>(rows, a, a_row, segments, segment_count, length, b0,
                                                                panel_rows, c, c_row, accumulate, cols);
  }
  micro_tile_segments_avx512<R, Pair, Edge>(a, a_row, segments, segment_count, length, b0, panel_rows, c, c_row,
                                            accumulate, cols);
}

// Copies B[k0 : k0 + kc, n0 : n0 + cols] (plain layout) into a zero-padded kc x 16 panel.
NNUC_AVX2_FMA void pack_panel(const float* b, std::int64_t b_k, std::int64_t kc, int cols, float* panel) {
  if (cols == kGemmPanelWidth) {
    for (std::int64_t step = 0; step < kc; ++step, b += b_k, panel += kGemmPanelWidth) {
      _mm256_store_ps(panel, _mm256_loadu_ps(b));
      _mm256_store_ps(panel + 8, _mm256_loadu_ps(b + 8));
    }
    return;
  }
  const __m256i mask_low = lane_mask(cols), mask_high = lane_mask(cols - 8);
  for (std::int64_t step = 0; step < kc; ++step, b += b_k, panel += kGemmPanelWidth) {
    _mm256_store_ps(panel, _mm256_maskload_ps(b, mask_low));
    _mm256_store_ps(panel + 8, _mm256_maskload_ps(b + 8, mask_high));
  }
}

// Copies A[i0 : i0 + rows, k0 : k0 + kc] into micro panels of kMrNarrow rows: panel g holds, for
// each k, the kMrNarrow values of rows i0 + g kMrNarrow ... (zero past `rows`). Used when A is
// column-major (row stride 1), whose K steps are a row stride apart: packed, a micro tile reads one
// contiguous stream. The 12-row tiles read a whole panel per K step, the 6-row tiles half of one
// (a_k = kMrNarrow either way).
NNUC_AVX2_FMA void pack_a(const float* a, std::int64_t a_k, std::int64_t rows, std::int64_t kc, float* packed) {
  for (std::int64_t g = 0; g < rows; g += kMrNarrow) {
    const std::int64_t count = std::min(kMrNarrow, rows - g);
    const float* source = a + g;
    if (count == kMrNarrow) {
      for (std::int64_t step = 0; step < kc; ++step, source += a_k, packed += kMrNarrow) {
        _mm256_storeu_ps(packed, _mm256_loadu_ps(source));
        _mm_storeu_ps(packed + 8, _mm_loadu_ps(source + 8));
      }
      continue;
    }
    for (std::int64_t step = 0; step < kc; ++step, source += a_k, packed += kMrNarrow) {
      std::int64_t r = 0;
      for (; r < count; ++r) packed[r] = source[r];
      for (; r < kMrNarrow; ++r) packed[r] = 0.0f;
    }
  }
}

}  // namespace

NNUC_AVX2_FMA void gemm_f32_avx2(std::int64_t m, std::int64_t n, std::int64_t k, GemmA a, GemmB b, float* c,
                                 std::int64_t c_row, bool accumulate) {
  alignas(64) float panel[2 * kKc * kGemmPanelWidth];  // up to two plain B micro-panels, packed (2 x 16 KB)
  const bool pack_a_block = a.row_stride == 1 && a.k_stride != 1;
  static_assert(kMc % kMrNarrow == 0 && kMrNarrow % kMr == 0, "packed micro panels hold whole tiles");
  alignas(32) float a_block[kMc * kKc];  // a column-major A block, packed (72 KB)
  const bool avx512 = gemm_uses_avx512();
  // Row blocks: all of a plain A when it is short (each B panel is then read once per K block), else
  // kMc rows (the A block stays in L2 while the B panels stream past it).
  const std::int64_t mc = !pack_a_block && m <= kMcWhole ? m : kMc;
  for (std::int64_t k0 = 0; k0 < k; k0 += kKc) {
    const std::int64_t kc = std::min(kKc, k - k0);
    const bool add = accumulate || k0 > 0;
    for (std::int64_t m0 = 0; m0 < m; m0 += mc) {
      const std::int64_t m_end = std::min(m, m0 + mc);
      if (pack_a_block) pack_a(a.data + m0 + k0 * a.k_stride, a.k_stride, m_end - m0, kc, a_block);
      for (std::int64_t n0 = 0; n0 < n;) {
        const int cols = static_cast<int>(std::min(kGemmPanelWidth, n - n0));
        // AVX-512: a whole panel followed by at least one more column runs as a pair (the 12 x 32 tile);
        // pair_cols: the live columns of the second panel.
        const bool pair = avx512 && n - n0 > kGemmPanelWidth;
        const int pair_cols = pair ? static_cast<int>(std::min(kGemmPanelWidth, n - n0 - kGemmPanelWidth)) : 0;
        const float* b_panel = panel;
        const float* b_next = nullptr;
        if (b.packed) {
          b_panel = b.data + ((n0 / kGemmPanelWidth) * k + k0) * kGemmPanelWidth;
          if (pair) b_next = b_panel + k * kGemmPanelWidth;
        } else {
          pack_panel(b.data + k0 * b.k_stride + n0, b.k_stride, kc, cols, panel);
          if (pair) {
            b_next = panel + kKc * kGemmPanelWidth;
            pack_panel(b.data + k0 * b.k_stride + n0 + kGemmPanelWidth, b.k_stride, kc, pair_cols,
                       panel + kKc * kGemmPanelWidth);
          }
        }
        // Narrow panels (at most 8 live columns) take the one-accumulator-per-row tile, 12 rows at a time.
        const bool narrow = cols <= 8;
        // Narrow panels stay on the 256-bit tile with AVX-512 too: the same instructions per row, and a
        // zmm FMA is never cheaper than a ymm one (half as many per cycle on CPUs with one 512-bit unit).
        const bool zmm = avx512 && (!narrow || pair);
        const std::int64_t row_step = narrow || zmm ? kMrNarrow : kMr;
        for (std::int64_t i0 = m0; i0 < m_end; i0 += row_step) {
          const std::int64_t rows = std::min(row_step, m_end - i0);
          // In a packed block, row i0 is row (i0 - m0) % 12 of micro panel (i0 - m0) / 12 (tiles of 6
          // or 12 rows never cross a panel: kMc is a multiple of 12).
          const std::int64_t in_block = i0 - m0;
          const float* a_tile = pack_a_block ? a_block + in_block / kMrNarrow * kMrNarrow * kc + in_block % kMrNarrow
                                             : a.data + i0 * a.row_stride + k0 * a.k_stride;
          const std::int64_t a_row = pack_a_block ? 1 : a.row_stride;
          const std::int64_t a_k = pack_a_block ? kMrNarrow : a.k_stride;
          float* c_tile = c + i0 * c_row + n0;
          const std::int64_t b_k = kGemmPanelWidth;
          if (pair && pair_cols == kGemmPanelWidth) {
            micro_tile_pair_rows_avx512<kMrNarrow, false>(rows, kc, a_tile, a_row, a_k, b_panel, b_next, b_k, c_tile,
                                                          c_row, add, pair_cols);
          } else if (pair) {
            micro_tile_pair_rows_avx512<kMrNarrow, true>(rows, kc, a_tile, a_row, a_k, b_panel, b_next, b_k, c_tile,
                                                         c_row, add, pair_cols);
          } else if (zmm && cols == kGemmPanelWidth) {
            micro_tile_rows_avx512<kMrNarrow, false>(rows, kc, a_tile, a_row, a_k, b_panel, b_k, c_tile, c_row, add,
                                                     cols);
          } else if (zmm) {
            micro_tile_rows_avx512<kMrNarrow, true>(rows, kc, a_tile, a_row, a_k, b_panel, b_k, c_tile, c_row, add,
                                                    cols);
          } else if (narrow && cols == 8) {
            micro_tile_rows<kMrNarrow, true, false>(rows, kc, a_tile, a_row, a_k, b_panel, b_k, c_tile, c_row, add,
                                                    cols);
          } else if (narrow) {
            micro_tile_rows<kMrNarrow, true, true>(rows, kc, a_tile, a_row, a_k, b_panel, b_k, c_tile, c_row, add,
                                                   cols);
          } else if (cols == kGemmPanelWidth) {
            micro_tile_rows<kMr, false, false>(rows, kc, a_tile, a_row, a_k, b_panel, b_k, c_tile, c_row, add, cols);
          } else {
            micro_tile_rows<kMr, false, true>(rows, kc, a_tile, a_row, a_k, b_panel, b_k, c_tile, c_row, add, cols);
          }
        }
        n0 += pair ? 2 * kGemmPanelWidth : kGemmPanelWidth;
      }
    }
  }
}

NNUC_AVX512 void gemm_f32_segments_avx512(std::int64_t m, std::int64_t n, std::int64_t length,
                                          const GemmSegment* segments, int segment_count, const float* a,
                                          std::int64_t a_row, const float* b_packed, std::int64_t panel_rows, float* c,
                                          std::int64_t c_row, bool accumulate) {
  for (std::int64_t n0 = 0; n0 < n;) {
    const bool pair = n - n0 > kGemmPanelWidth;
    const int cols = static_cast<int>(std::min(kGemmPanelWidth, pair ? n - n0 - kGemmPanelWidth : n - n0));
    const float* b0 = b_packed + (n0 / kGemmPanelWidth) * panel_rows * kGemmPanelWidth;
    for (std::int64_t i0 = 0; i0 < m; i0 += kMrNarrow) {
      const std::int64_t rows = std::min(kMrNarrow, m - i0);
      const float* a_tile = a + i0 * a_row;
      float* c_tile = c + i0 * c_row + n0;
      if (pair && cols == kGemmPanelWidth) {
        micro_tile_segments_rows_avx512<kMrNarrow, true, false>(rows, a_tile, a_row, segments, segment_count, length,
                                                                b0, panel_rows, c_tile, c_row, accumulate, cols);
      } else if (pair) {
        micro_tile_segments_rows_avx512<kMrNarrow, true, true>(rows, a_tile, a_row, segments, segment_count, length, b0,
                                                               panel_rows, c_tile, c_row, accumulate, cols);
      } else if (cols == kGemmPanelWidth) {
        micro_tile_segments_rows_avx512<kMrNarrow, false, false>(rows, a_tile, a_row, segments, segment_count, length,
                                                                 b0, panel_rows, c_tile, c_row, accumulate, cols);
      } else {
        micro_tile_segments_rows_avx512<kMrNarrow, false, true>(rows, a_tile, a_row, segments, segment_count, length,
                                                                b0, panel_rows, c_tile, c_row, accumulate, cols);
      }
    }
    n0 += pair ? 2 * kGemmPanelWidth : kGemmPanelWidth;
  }
}

#else  // not x86: the convolutions use Eigen

bool has_avx2_fma() { return false; }
bool has_avx512f() { return false; }
void gemm_allow_avx512(bool) {}
bool gemm_uses_avx512() { return false; }

void gemm_f32_avx2(std::int64_t, std::int64_t, std::int64_t, GemmA, GemmB, float*, std::int64_t, bool) {
  NNUC_THROW(Error, "gemm_f32_avx2: this CPU has no AVX2 (callers check has_avx2_fma())");
}

void gemm_f32_segments_avx512(std::int64_t, std::int64_t, std::int64_t, const GemmSegment*, int, const float*,
                              std::int64_t, const float*, std::int64_t, float*, std::int64_t, bool) {
  NNUC_THROW(Error, "gemm_f32_segments_avx512: this CPU has no AVX-512 (callers check gemm_uses_avx512())");
}

#endif

}  // namespace nnuc::cpu
