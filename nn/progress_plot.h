// progress.png of a training run (spec §6.8), drawn with cairo (and write_png_rgb below, the PNG
// writer of the overlay pictures):
//   panel 1: train loss (blue), validation loss (red), pseudo Dice (green, dotted) and its EMA
//            (green, solid) on a second y axis;
//   panel 2: epoch duration in seconds;
//   panel 3: learning rate.
//
// It lives in nn/ beside the trainer, not in tools/: nnU-Net's trainer draws progress.png itself, so
// the results folder is the same whether training runs from `nnuc train` or from the library API,
// and the trainer redraws it at the end of every epoch without a round trip through its caller.
// cairo is linked privately to nnuc_nn (a plain C library; nothing of it appears in this header).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/trainer_log.h"

namespace nnuc::nn {

// Draws the log's epochs into a PNG at `path`, written atomically (temp file beside it, then
// rename). An empty log gives empty axes. Throws IoError naming the path when it cannot be written.
void draw_progress_png(const TrainingLog& log, const std::string& path);

// Writes an RGB picture (height x width x 3 bytes, row-major, row 0 at the top) as an 8-bit RGB PNG,
// atomically (the overlays of nnuc plot-overlay; nnU-Net's matplotlib adds an opaque alpha channel). Throws IoError
// naming the path when it cannot be written. requires: rgb.size() == height * width * 3.
void write_png_rgb(const std::string& path, const std::vector<std::uint8_t>& rgb, std::int64_t height,
                   std::int64_t width);

}  // namespace nnuc::nn
