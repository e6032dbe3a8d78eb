// Splitting convolutions for cuDNN's 32-bit sizes (kernels/conv/conv_chunk.h), proven on the CPU:
// the plan's invariants (coverage, windows, limits, staging only at the padded ends), and the CPU
// convolution run piece by piece under tiny element limits equal to the whole convolution for
// forward, backward data, backward weight and the transposed convolution. The CPU backend scribbles
// NaN into the output a call is prepared for, as cudnnFind does, so a partial sum written before
// the preparation ends fails. Also the Meta accounting of a split CUDA convolution.
#include "kernels/conv/conv_chunk.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/conv/conv_internal.h"
#include "kernels/core/allocator.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

struct Case {
  const char* name;
  Shape x;  // (N, D, H, W, Ci)
  int co;
  ConvGeometry geometry;
};

std::vector<Case> cases() {
  return {
      {"k3_s1_p1_batch2", Shape{2, 9, 5, 4, 3}, 4, ConvGeometry{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}}},
      {"k3_s2_p1_odd", Shape{1, 11, 6, 5, 2}, 3, ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}},
      {"k5_s1_p2", Shape{2, 8, 4, 4, 2}, 2, ConvGeometry{{5, 3, 3}, {1, 1, 1}, {2, 1, 1}}},
      {"k1x3x3_2d_like", Shape{1, 6, 7, 5, 3}, 2, ConvGeometry{{1, 3, 3}, {1, 1, 1}, {0, 1, 1}}},
      {"k2_s3_gaps", Shape{1, 10, 4, 4, 2}, 2, ConvGeometry{{2, 3, 3}, {3, 1, 1}, {0, 1, 1}}},
      {"k3_s2_p1_tiny_depth", Shape{1, 2, 5, 5, 2}, 2, ConvGeometry{{3, 3, 3}, {2, 1, 1}, {1, 1, 1}}},
      {"k3_s1_p2_wide_pad", Shape{1, 5, 3, 3, 2}, 3, ConvGeometry{{3, 3, 3}, {1, 1, 1}, {2, 1, 1}}},
      {"transpose_geometry_k2_s2", Shape{3, 6, 4, 4, 3}, 5, ConvGeometry{{2, 2, 2}, {2, 2, 2}, {0, 0, 0}}},
  };
}

Shape weight_shape(const Case& c) {
  return Shape{c.co, c.geometry.kernel[0], c.geometry.kernel[1], c.geometry.kernel[2], c.x[4]};
}

// Limits from "no split" down to the smallest that a split can meet (one output row per call).
std::vector<std::int64_t> limits(const Shape& x, const Shape& w, const ConvGeometry& geometry) {
  const Shape y = conv_output_shape(x, w, geometry);
  const std::int64_t row_x = x[2] * x[3] * x[4], row_y = y[2] * y[3] * y[4];
  const std::int64_t sample = std::max(x.numel() / x[0], y.numel() / y[0]);
  const std::int64_t smallest = std::max({w.numel(), geometry.kernel[0] * row_x, row_y});
  std::vector<std::int64_t> all;
  for (std::int64_t limit : {std::max(x.numel(), y.numel()), sample, sample - 1, smallest, 2 * smallest + 7})
    if (std::find(all.begin(), all.end(), std::max(limit, smallest)) == all.end())
      all.push_back(std::max(limit, smallest));
  return all;
}

std::string describe(const ConvChunk& c) {
  return "chunk samples " + std::to_string(c.sample_begin) + "+" + std::to_string(c.samples) + " out " +
         std::to_string(c.out_begin) + "+" + std::to_string(c.out_rows) + " in " + std::to_string(c.in_begin) + "+" +
         std::to_string(c.in_rows) + " pad " + std::to_string(c.pad_d);
}

TEST(ConvChunk, PlanCoversEveryOutputRowOnceWithinTheLimit) {
  for (const Case& c : cases()) {
    const Shape w = weight_shape(c);
    const Shape y = conv_output_shape(c.x, w, c.geometry);
    const std::int64_t depth = c.x[1], s = c.geometry.stride[0], k = c.geometry.kernel[0], p = c.geometry.padding[0];
    for (std::int64_t limit : limits(c.x, w, c.geometry)) {
      SCOPED_TRACE(std::string(c.name) + " limit " + std::to_string(limit));
      const ConvChunking plan = plan_conv_chunks(c.x, w, c.geometry, limit);
      std::vector<int> covered(static_cast<std::size_t>(y[0] * y[1]), 0);
      std::int64_t staging = 0;
      for (const ConvChunk& chunk : plan.chunks) {
        SCOPED_TRACE(describe(chunk));
        EXPECT_LE(chunk.x_shape(c.x).numel(), limit);
        EXPECT_LE(chunk.y_shape(y).numel(), limit);
        // The call itself is a valid convolution producing exactly the chunk's rows.
        EXPECT_EQ(conv_output_shape(chunk.x_shape(c.x), w, chunk.geometry(c.geometry)), chunk.y_shape(y));
        if (plan.split_rows) {
          EXPECT_EQ(chunk.samples, 1);
          EXPECT_EQ(chunk.pad_d, 0);
          EXPECT_EQ(chunk.in_begin, chunk.out_begin * s - p);
          EXPECT_EQ(chunk.in_rows, (chunk.out_rows - 1) * s + k);
          // Staged pieces hold only rows whose own window reaches into the padding.
          if (chunk.staged(depth)) {
            staging = std::max(staging, chunk.x_shape(c.x).numel());
            for (std::int64_t o = chunk.out_begin; o < chunk.out_begin + chunk.out_rows; ++o)
              EXPECT_TRUE(o * s - p < 0 || o * s - p + k > depth) << "row " << o << " staged without need";
          }
        } else {
          EXPECT_EQ(chunk.out_begin, 0);
          EXPECT_EQ(chunk.out_rows, y[1]);
          EXPECT_EQ(chunk.in_begin, 0);
          EXPECT_EQ(chunk.in_rows, depth);
          EXPECT_EQ(chunk.pad_d, p);
          EXPECT_FALSE(chunk.staged(depth));
        }
        for (std::int64_t n = chunk.sample_begin; n < chunk.sample_begin + chunk.samples; ++n)
          for (std::int64_t o = chunk.out_begin; o < chunk.out_begin + chunk.out_rows; ++o)
            ++covered[static_cast<std::size_t>(n * y[1] + o)];
      }
      EXPECT_EQ(plan.staging_elements, staging);
      for (int count : covered) EXPECT_EQ(count, 1);
      const std::int64_t sample = std::max(c.x.numel() / c.x[0], y.numel() / y[0]);
      EXPECT_EQ(plan.split_rows, sample > limit);
      if (std::max(c.x.numel(), y.numel()) <= limit) {
        EXPECT_EQ(plan.chunks.size(), 1u);
      }
      if (!plan.split_rows) {  // the fewest whole-sample calls, differing by at most one sample
        const std::int64_t per_call = limit / sample;
        EXPECT_EQ(static_cast<std::int64_t>(plan.chunks.size()), (c.x[0] + per_call - 1) / per_call);
        for (const ConvChunk& chunk : plan.chunks) EXPECT_GE(chunk.samples, plan.chunks.front().samples - 1);
      }
    }
  }
}

TEST(ConvChunk, ImpossibleSplitsAreClearErrors) {
  const Shape x{1, 8, 16, 16, 4}, w{8, 3, 3, 3, 4};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  EXPECT_ERROR_MENTIONS(plan_conv_chunks(x, w, g, 800), "weight (8, 3, 3, 3, 4) holds 864 elements");
  EXPECT_ERROR_MENTIONS(plan_conv_chunks(x, w, g, 2000), "cannot be split into calls of at most 2000 elements");
  EXPECT_NO_THROW(plan_conv_chunks(x, w, g, 3 * 16 * 16 * 4));
  EXPECT_ERROR_MENTIONS(plan_conv_chunks(x, w, g, 0), "max_elements = 0");
}

// Runs each call with nnuc's CPU convolution on f64 copies of the blocks.
class CpuBackend final : public ConvChunkBackend {
 public:
  explicit CpuBackend(std::int64_t limit) : limit_(limit) {}

  void prepare(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y,
               const ConvGeometry& geometry) override {
    EXPECT_EQ(conv_output_shape(x.shape, w.shape, geometry), y.shape);
    const ConvBlock& output = pass == ConvPass::forward ? y : pass == ConvPass::backward_data ? x : w;
    std::fill_n(static_cast<double*>(output.data), output.shape.numel(), std::numeric_limits<double>::quiet_NaN());
  }

  void run(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y, const ConvGeometry& geometry,
           bool accumulate) override {
    ++calls;
    // One thread: the calls are tiny and many, and OpenMP's team start-up dominates them on a busy machine.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    run_one(pass, x, w, y, geometry, accumulate);
    omp_set_num_threads(threads);
  }

  void copy(void* destination, const void* source, std::size_t bytes) override {
    std::memmove(destination, source, bytes);
  }
  void zero(void* destination, std::size_t bytes) override { std::memset(destination, 0, bytes); }

  int calls = 0;

 private:
  void run_one(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y, const ConvGeometry& geometry,
               bool accumulate) {
    EXPECT_LE(x.shape.numel(), limit_);
    EXPECT_LE(y.shape.numel(), limit_);
    const Context& cpu = Context::cpu();
    switch (pass) {
      case ConvPass::forward:
        EXPECT_FALSE(accumulate);
        store(conv_forward(cpu, tensor(x), tensor(w), Tensor(), geometry), y, accumulate);
        break;
      case ConvPass::backward_data:
        store(conv_backward_data(cpu, tensor(y), tensor(w), geometry, x.shape), x, accumulate);
        break;
      case ConvPass::backward_weight:
        store(conv_backward_weight(cpu, tensor(x), tensor(y), geometry, w.shape), w, accumulate);
        break;
      case ConvPass::backward_bias: ADD_FAILURE() << "bias pass"; break;
    }
  }
  static Tensor tensor(const ConvBlock& block) {
    const double* data = static_cast<const double*>(block.data);
    return Tensor::from_vector(block.shape, std::vector<double>(data, data + block.shape.numel()));
  }
  static void store(const Tensor& result, const ConvBlock& block, bool accumulate) {
    ASSERT_EQ(result.shape(), block.shape);
    double* out = static_cast<double*>(block.data);
    const double* values = result.data<double>();
    for (std::int64_t i = 0; i < result.numel(); ++i) out[i] = accumulate ? out[i] + values[i] : values[i];
  }
  std::int64_t limit_;
};

// The output of pass `pass` of conv(x, w) = y run chunk by chunk under `limit`; the inputs are given,
// the output tensor is allocated here.
Tensor run_chunked(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& geometry,
                   std::int64_t limit, int* calls) {
  const ConvChunking plan = plan_conv_chunks(x.shape(), w.shape(), geometry, limit);
  Tensor out = Tensor::empty_cpu(pass == ConvPass::forward         ? y.shape()
                                 : pass == ConvPass::backward_data ? x.shape()
                                                                   : w.shape(),
                                 DType::f64);
  const Tensor staging = Tensor::empty_cpu(Shape{std::max<std::int64_t>(1, plan.staging_elements)}, DType::f64);
  CpuBackend backend(limit);
  ConvBlock xb{(pass == ConvPass::backward_data ? out : x).raw(), x.shape()};
  ConvBlock wb{(pass == ConvPass::backward_weight ? out : w).raw(), w.shape()};
  ConvBlock yb{(pass == ConvPass::forward ? out : y).raw(), y.shape()};
  run_conv_chunks(pass, plan, backend, xb, wb, yb, geometry, sizeof(double), staging.raw());
  *calls = backend.calls;
  return out;
}

::testing::AssertionResult matches(const Tensor& actual, const Tensor& expected) {
  double scale = 0;
  for (double value : expected.to_vector<double>()) scale = std::max(scale, std::fabs(value));
  return testing::all_close(actual, expected, 1e-12 * scale, 1e-12);
}

TEST(ConvChunk, ChunkedCpuConvolutionEqualsTheWholeOne) {
  const Context& cpu = Context::cpu();
  for (const Case& c : cases()) {
    const Shape w_shape = weight_shape(c);
    const Shape y_shape = conv_output_shape(c.x, w_shape, c.geometry);
    const Tensor x = testing::random_uniform(c.x, DType::f64);
    const Tensor w = testing::random_uniform(w_shape, DType::f64);
    const Tensor dy = testing::random_uniform(y_shape, DType::f64);
    const Tensor y = conv_forward(cpu, x, w, Tensor(), c.geometry);
    const Tensor dx = conv_backward_data(cpu, dy, w, c.geometry, c.x);
    const Tensor dw = conv_backward_weight(cpu, x, dy, c.geometry, w_shape);
    for (std::int64_t limit : limits(c.x, w_shape, c.geometry)) {
      SCOPED_TRACE(std::string(c.name) + " limit " + std::to_string(limit));
      const std::size_t chunks = plan_conv_chunks(c.x, w_shape, c.geometry, limit).chunks.size();
      int calls = 0;
      EXPECT_TRUE(matches(run_chunked(ConvPass::forward, x, w, y, c.geometry, limit, &calls), y));
      EXPECT_EQ(static_cast<std::size_t>(calls), chunks);
      EXPECT_TRUE(matches(run_chunked(ConvPass::backward_data, x, w, dy, c.geometry, limit, &calls), dx));
      EXPECT_TRUE(matches(run_chunked(ConvPass::backward_weight, x, w, dy, c.geometry, limit, &calls), dw));
    }
  }
}

// The transposed convolution runs as the convolution it inverts (conv_transpose.cpp): its forward is
// that convolution's backward data, its backward data the forward, its weight gradient the weight
// gradient with the roles of x and dy swapped.
TEST(ConvChunk, ChunkedTransposedConvolutionEqualsTheWholeOne) {
  const Context& cpu = Context::cpu();
  const std::array<int, 3> stride{2, 2, 1};
  const Tensor xt = testing::random_uniform(Shape{2, 5, 3, 4, 6}, DType::f64);  // (N, D, H, W, Ci)
  const Tensor w = testing::random_uniform(Shape{6, 2, 2, 1, 3}, DType::f64);   // (Ci, sD, sH, sW, Co)
  const Shape yt_shape = conv_transpose_output_shape(xt.shape(), w.shape(), stride);
  const Tensor dyt = testing::random_uniform(yt_shape, DType::f64);
  const ConvGeometry g = conv_detail::transpose_geometry(stride);
  const Tensor yt = conv_transpose_forward(cpu, xt, w, Tensor(), stride);
  const Tensor dxt = conv_transpose_backward_data(cpu, dyt, w, stride);
  const Tensor dwt = conv_transpose_backward_weight(cpu, xt, dyt, stride);
  // As the convolution c: input (N, 2D, 2H, W, Co) = yt's shape, output xt's shape.
  for (std::int64_t limit : limits(yt_shape, w.shape(), g)) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    int calls = 0;
    const Tensor unused_x = Tensor::empty_cpu(yt_shape, DType::f64);
    EXPECT_TRUE(matches(run_chunked(ConvPass::backward_data, unused_x, w, xt, g, limit, &calls), yt));
    EXPECT_TRUE(matches(run_chunked(ConvPass::forward, dyt, w, dxt, g, limit, &calls), dxt));
    EXPECT_TRUE(matches(run_chunked(ConvPass::backward_weight, dyt, w, xt, g, limit, &calls), dwt));
  }
}

// A Meta context modelling CUDA splits as the device would: a convolution beyond the limit
// allocates its output, the staging buffer of the padded end pieces and the cap (no plan cached),
// and conv_workspace_bytes reports the same; a limit no split meets is an error, as on the device.
TEST(ConvChunk, MetaCudaAccountsTheStagingBufferOfASplitConvolution) {
  auto meta = Context::meta(Device::CUDA);
  meta->set_workspace_cap(std::size_t{1} << 20);
  const Shape x{1, 16, 8, 8, 4}, w{4, 3, 3, 3, 4};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const std::int64_t limit = 5 * 8 * 8 * 4;  // windows of 5 rows: 3 output rows per piece
  meta->set_conv_element_limit(limit);
  const ConvChunking plan = plan_conv_chunks(x, w, g, limit);
  ASSERT_TRUE(plan.split_rows);
  EXPECT_EQ(plan.staging_elements, 3 * 8 * 8 * 4);  // the first and last pieces: one row each, 3-row windows
  const std::size_t staging = rounded_allocation_bytes(static_cast<std::size_t>(plan.staging_elements) * 2);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight}) {
    SCOPED_TRACE(conv_pass_name(pass));
    EXPECT_EQ(conv_workspace_bytes(pass, x, w, g, DType::bf16, *meta), staging + (std::size_t{1} << 20));
  }
  const Tensor mx = Tensor::empty(x, DType::bf16, *meta), mw = Tensor::empty(w, DType::bf16, *meta);
  const testing::PeakAndOutput forward =
      testing::peak_and_output_of(Device::Meta, [&] { return conv_forward(*meta, mx, mw, Tensor(), g); });
  EXPECT_EQ(forward.peak, forward.output + staging + (std::size_t{1} << 20));
  meta->set_conv_element_limit(2 * 8 * 8 * 4);
  EXPECT_ERROR_MENTIONS(conv_forward(*meta, mx, mw, Tensor(), g), "cannot be split");
  // The default limit (INT_MAX) leaves this convolution whole: no staging.
  meta->set_conv_element_limit(kDefaultConvElementLimit);
  EXPECT_EQ(conv_workspace_bytes(ConvPass::forward, x, w, g, DType::bf16, *meta), std::size_t{1} << 20);
}

}  // namespace
}  // namespace nnuc
