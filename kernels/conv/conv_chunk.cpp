#include "kernels/conv/conv_chunk.h"

#include <algorithm>
#include <utility>

#include "kernels/core/error.h"

namespace nnuc {

namespace {

// Splits [begin, end) into `count` runs whose lengths differ by at most one, and calls
// add(first, length) for each in order.
template <typename Add>
void split_evenly(std::int64_t begin, std::int64_t end, std::int64_t count, Add add) {
  const std::int64_t length = end - begin;
  const std::int64_t base = length / count, extra = length % count;
  for (std::int64_t index = 0; index < count; ++index) {
    const std::int64_t run = base + (index < extra ? 1 : 0);
    add(begin, run);
    begin += run;
  }
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

ConvChunking plan_conv_chunks(const Shape& x, const Shape& w, const ConvGeometry& geometry, std::int64_t max_elements) {
  NNUC_CHECK(max_elements >= 1, "plan_conv_chunks: max_elements = ", max_elements, ", expected >= 1");
  const Shape y = conv_output_shape(x, w, geometry);
  NNUC_CHECK(w.numel() <= max_elements, "conv: weight ", w.str(), " holds ", w.numel(), " elements, more than the ",
             max_elements, " that one convolution call takes");
  const std::int64_t batch = x[0], depth = x[1], out_depth = y[1];
  const std::int64_t row_x = x[2] * x[3] * x[4], row_y = y[2] * y[3] * y[4];
  const std::int64_t per_sample = std::max(depth * row_x, out_depth * row_y);
  const int pad = geometry.padding[0];
  ConvChunking plan;

  if (per_sample <= max_elements) {  // whole samples, as many per call as fit
    const std::int64_t calls = ceil_div(batch, max_elements / per_sample);
    split_evenly(0, batch, calls, [&](std::int64_t first, std::int64_t samples) {
      plan.chunks.push_back(ConvChunk{first, samples, 0, out_depth, 0, depth, pad});
    });
    return plan;
  }

  // Rows of single samples: r output rows read a window of (r - 1) s + k input rows.
  const std::int64_t k = geometry.kernel[0], s = geometry.stride[0];
  NNUC_CHECK(row_y <= max_elements && k * row_x <= max_elements, "conv: x ", x.str(), " -> y ", y.str(),
             " cannot be split into calls of at most ", max_elements, " elements per tensor: one output row along D ",
             "needs ", k * row_x, " input and ", row_y, " output elements");
  const std::int64_t rows = std::min({max_elements / row_y, (max_elements / row_x - k) / s + 1, out_depth});
  // Output rows whose window starts in the front padding, and from where windows pass the end.
  const std::int64_t front = std::min(out_depth, ceil_div(pad, s));
  const std::int64_t last_inside = depth + pad - k;  // o s <= last_inside: the window ends inside x
  const std::int64_t back = std::clamp(last_inside < 0 ? 0 : last_inside / s + 1, front, out_depth);
  plan.split_rows = true;
  for (std::int64_t sample = 0; sample < batch; ++sample) {
    for (const auto& [begin, end] :
         {std::pair{std::int64_t{0}, front}, std::pair{front, back}, std::pair{back, out_depth}}) {
      if (end <= begin) continue;
      split_evenly(begin, end, ceil_div(end - begin, rows), [&](std::int64_t first, std::int64_t count) {
        const ConvChunk chunk{sample, 1, first, count, first * s - pad, (count - 1) * s + k, 0};
        if (chunk.staged(depth)) plan.staging_elements = std::max(plan.staging_elements, chunk.in_rows * row_x);
        plan.chunks.push_back(chunk);
      });
    }
  }
  return plan;
}

void run_conv_chunks(ConvPass pass, const ConvChunking& plan, ConvChunkBackend& backend, const ConvBlock& x,
                     const ConvBlock& w, const ConvBlock& y, const ConvGeometry& geometry, std::size_t element_bytes,
                     void* staging) {
  NNUC_CHECK(pass != ConvPass::backward_bias, "run_conv_chunks: the bias gradient is not a convolution call");
  const std::int64_t depth = x.shape[1], out_depth = y.shape[1];
  const std::size_t row_x = static_cast<std::size_t>(x.shape[2] * x.shape[3] * x.shape[4]) * element_bytes;
  const std::size_t row_y = static_cast<std::size_t>(y.shape[2] * y.shape[3] * y.shape[4]) * element_bytes;
  auto at = [](void* base, std::int64_t rows, std::size_t row_bytes) -> void* {
    return static_cast<char*>(base) + static_cast<std::size_t>(rows) * row_bytes;
  };
  auto x_block = [&](const ConvChunk& c) {
    return ConvBlock{c.staged(depth) ? staging : at(x.data, c.sample_begin * depth + c.in_begin, row_x),
                     c.x_shape(x.shape)};
  };
  auto y_block = [&](const ConvChunk& c) {
    return ConvBlock{at(y.data, c.sample_begin * out_depth + c.out_begin, row_y), c.y_shape(y.shape)};
  };
  // A staged window: the rows inside x are [first, first + count), at `offset` rows into the window.
  struct Inside {
    std::int64_t first, count, offset;
  };
  auto inside = [&](const ConvChunk& c) {
    const std::int64_t first = std::max<std::int64_t>(0, c.in_begin);
    const std::int64_t end = std::min(depth, c.in_begin + c.in_rows);
    return Inside{first, std::max<std::int64_t>(0, end - first), first - c.in_begin};
  };
  auto stage_in = [&](const ConvChunk& c) {  // window = zeros, then the rows of x (or dx) it covers
    const Inside rows = inside(c);
    backend.zero(staging, static_cast<std::size_t>(c.in_rows) * row_x);
    if (rows.count > 0)
      backend.copy(at(staging, rows.offset, row_x), at(x.data, c.sample_begin * depth + rows.first, row_x),
                   static_cast<std::size_t>(rows.count) * row_x);
  };
  auto stage_out = [&](const ConvChunk& c) {  // the window's rows inside dx back into dx
    const Inside rows = inside(c);
    if (rows.count > 0)
      backend.copy(at(x.data, c.sample_begin * depth + rows.first, row_x), at(staging, rows.offset, row_x),
                   static_cast<std::size_t>(rows.count) * row_x);
  };

  // Every algorithm first: choosing one may write into the output block.
  for (const ConvChunk& c : plan.chunks) backend.prepare(pass, x_block(c), w, y_block(c), c.geometry(geometry));
  const bool add_rows = pass == ConvPass::backward_data && plan.split_rows;
  if (add_rows) backend.zero(x.data, static_cast<std::size_t>(x.shape.numel()) * element_bytes);
  bool first = true;
  for (const ConvChunk& c : plan.chunks) {
    const bool staged = c.staged(depth);
    const ConvBlock xb = x_block(c), yb = y_block(c);
    const ConvGeometry g = c.geometry(geometry);
    if (staged) stage_in(c);
    switch (pass) {
      case ConvPass::forward: backend.run(pass, xb, w, yb, g, false); break;
      case ConvPass::backward_data: backend.run(pass, xb, w, yb, g, add_rows); break;
      case ConvPass::backward_weight: backend.run(pass, xb, w, yb, g, !first); break;
      case ConvPass::backward_bias: break;
    }
    if (staged && pass == ConvPass::backward_data) stage_out(c);
    first = false;
  }
}

}  // namespace nnuc
