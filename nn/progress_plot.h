// progress.png of a training run (spec §6.8), drawn with cairo:
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

#include <string>

#include "nn/trainer_log.h"

namespace nnuc::nn {

// Draws the log's epochs into a PNG at `path`, written atomically (temp file beside it, then
// rename). An empty log gives empty axes. Throws IoError naming the path when it cannot be written.
void draw_progress_png(const TrainingLog& log, const std::string& path);

}  // namespace nnuc::nn
