// Splitting a convolution into pieces that one convolution library call can take.
//
// cuDNN's legacy descriptors take int sizes: no tensor of one call may hold more than
// Context::conv_element_limit() elements (INT_MAX by default). A convolution y = conv(x, w) whose x or
// y holds more runs as several calls, each on a dense block of x and of y:
//   whole samples  the batch is split into runs of consecutive samples (the D padding stays as it is);
//   rows           a sample that alone is too large is split along D. A piece computes output rows
//                  [o0, o1) of one sample from the input window [o0 s - p, (o1 - 1) s - p + k) (s, p, k
//                  along D) with no D padding. The output rows whose window reaches into the zero
//                  padding (the first ceil(p / s) rows, and the last rows whose window passes the end)
//                  form their own small pieces, whose window is staged in a zero-filled buffer.
// The passes run the pieces as:
//   forward          y rows = conv(x window)                                    (disjoint outputs)
//   backward data    whole samples: dx block = conv^T(dy block) (disjoint). Rows: dx is zeroed and each
//                    piece adds conv^T(dy rows) into its window (neighbouring windows overlap by k - s
//                    rows); a staged window goes through the buffer (copy in, add, copy back).
//   backward weight  dw = the sum over pieces: the first writes, the others add (cuDNN beta = 1).
// Before any piece runs, every piece's algorithm is chosen (cudnnFind writes into the output it is
// given), so no partial result is overwritten afterwards.
//
// plan_conv_chunks is a pure function of the shapes, and run_conv_chunks drives a backend (cuDNN on
// CUDA; the CPU convolution in tests), so the whole splitting logic is tested on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/conv/conv.h"

namespace nnuc {

// One call of a split convolution y = conv(x, w), with x (N, D, H, W, Ci) and y (N, Do, Ho, Wo, Co).
struct ConvChunk {
  std::int64_t sample_begin = 0;  // samples [sample_begin, sample_begin + samples)
  std::int64_t samples = 0;
  std::int64_t out_begin = 0;  // output rows (along D) [out_begin, out_begin + out_rows) of y
  std::int64_t out_rows = 0;
  std::int64_t in_begin = 0;  // input rows (along D) the call reads, in x's coordinates: with pad_d == 0
  std::int64_t in_rows = 0;   //   the window may start before 0 or end after D (zero padding)
  int pad_d = 0;              // D padding of the call: the geometry's for whole samples, 0 for rows

  // The window reaches into the zero padding: the call reads a staged copy of it.
  bool staged(std::int64_t depth) const { return in_begin < 0 || in_begin + in_rows > depth; }
  Shape x_shape(const Shape& x) const { return Shape{samples, in_rows, x[2], x[3], x[4]}; }
  Shape y_shape(const Shape& y) const { return Shape{samples, out_rows, y[2], y[3], y[4]}; }
  ConvGeometry geometry(const ConvGeometry& whole) const {
    ConvGeometry piece = whole;
    piece.padding[0] = pad_d;
    return piece;
  }
};

struct ConvChunking {
  std::vector<ConvChunk> chunks;      // in execution order; one chunk when nothing is too large
  bool split_rows = false;            // chunks are row ranges of single samples
  std::int64_t staging_elements = 0;  // elements of the staging buffer (the largest staged window), or 0
};

// The pieces of conv(x, w) under `max_elements` elements per tensor per call.
// requires: x, w valid for geometry (conv_output_shape), max_elements >= 1.
// ensures: every output row of every sample lies in exactly one chunk; every chunk's x window, y rows
//   and w hold at most max_elements elements; the batch is split before any sample is (whole-sample
//   chunks differ by at most one sample); staged windows only at the first and last rows.
// Throws InvalidInput naming the shapes when no split fits: w alone, or the window of a single output
// row, holds more than max_elements elements.
ConvChunking plan_conv_chunks(const Shape& x, const Shape& w, const ConvGeometry& geometry, std::int64_t max_elements);

// A dense (N, D, H, W, C) block of device memory, or a weight (Co, kD, kH, kW, Ci).
struct ConvBlock {
  void* data = nullptr;
  Shape shape;
};

// What a device provides to run a split convolution. Blocks are named after the convolution
// y = conv(x, w) for every pass: backward data writes x (dx) from y (dy); backward weight writes w (dw).
class ConvChunkBackend {
 public:
  virtual ~ConvChunkBackend() = default;
  // Chooses (and caches) the algorithm of one call. May overwrite the pass's output block.
  virtual void prepare(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y,
                       const ConvGeometry& geometry) = 0;
  // One call of the pass; accumulate: add to what the output block holds (cuDNN beta = 1), else
  // overwrite it. Forward never accumulates.
  virtual void run(ConvPass pass, const ConvBlock& x, const ConvBlock& w, const ConvBlock& y,
                   const ConvGeometry& geometry, bool accumulate) = 0;
  virtual void copy(void* destination, const void* source, std::size_t bytes) = 0;
  virtual void zero(void* destination, std::size_t bytes) = 0;
};

// Runs pass `pass` (forward, backward_data or backward_weight) of conv(x, w) = y chunk by chunk.
// requires: plan == plan_conv_chunks(x.shape, w.shape, geometry, limit); the output block of the pass
//   allocated; staging holds plan.staging_elements elements (may be null when that is 0);
//   element_bytes is the size of the data's dtype.
void run_conv_chunks(ConvPass pass, const ConvChunking& plan, ConvChunkBackend& backend, const ConvBlock& x,
                     const ConvBlock& w, const ConvBlock& y, const ConvGeometry& geometry, std::size_t element_bytes,
                     void* staging);

}  // namespace nnuc
