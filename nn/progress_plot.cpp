#include "nn/progress_plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset/atomic_file.h"
#include "kernels/core/error.h"

namespace nnuc::nn {
namespace {

constexpr int kWidth = 1200;
constexpr int kPanelHeight = 600;
constexpr double kLeft = 90, kRight = 90, kTop = 30, kBottom = 60;

struct Color {
  double r, g, b;
};
constexpr Color kBlue{0.12, 0.47, 0.71}, kRed{0.84, 0.15, 0.16}, kGreen{0.17, 0.63, 0.17};

struct Series {
  std::vector<double> values;  // one per epoch; NaN values break the line
  Color color;
  bool dotted;
  const char* label;
};

struct Range {
  double low = 0, high = 1;
};

// Finite min/max of the series, widened when flat; [0, 1] when there is nothing finite.
Range range_of(const std::vector<const Series*>& series) {
  double low = INFINITY, high = -INFINITY;
  for (const Series* s : series)
    for (double v : s->values)
      if (std::isfinite(v)) {
        low = std::min(low, v);
        high = std::max(high, v);
      }
  if (!std::isfinite(low)) return {0, 1};
  if (high - low < 1e-12) {
    const double pad = std::max(std::fabs(low) * 0.05, 1e-6);
    return {low - pad, high + pad};
  }
  const double pad = (high - low) * 0.05;
  return {low - pad, high + pad};
}

class Panel {
 public:
  Panel(cairo_t* cr, double top, int epochs) : cr_(cr), epochs_(std::max(epochs, 1)) {
    x0_ = kLeft;
    x1_ = kWidth - kRight;
    y0_ = top + kTop;
    y1_ = top + kPanelHeight - kBottom;
  }

  double x(double epoch) const { return x0_ + (x1_ - x0_) * (epochs_ <= 1 ? 0.5 : epoch / (epochs_ - 1)); }
  double y(double value, const Range& r) const { return y1_ - (y1_ - y0_) * (value - r.low) / (r.high - r.low); }

  void frame(const char* x_label, const char* y_label, const Range& left, const Range* right, const char* right_label) {
    cairo_set_source_rgb(cr_, 0, 0, 0);
    cairo_set_line_width(cr_, 1.0);
    cairo_rectangle(cr_, x0_, y0_, x1_ - x0_, y1_ - y0_);
    cairo_stroke(cr_);
    cairo_set_font_size(cr_, 13);
    for (int tick = 0; tick <= 5; ++tick) {
      const double value = left.low + (left.high - left.low) * tick / 5.0;
      text(x0_ - 8, y(value, left), number(value), 1.0, 0.5);
      if (right != nullptr) {
        const double right_value = right->low + (right->high - right->low) * tick / 5.0;
        text(x1_ + 8, y(right_value, *right), number(right_value), 0.0, 0.5);
      }
    }
    const int step = std::max(1, (epochs_ + 9) / 10);
    for (int epoch = 0; epoch < epochs_; epoch += step) text(x(epoch), y1_ + 6, std::to_string(epoch), 0.5, 0.0);
    cairo_set_font_size(cr_, 15);
    text((x0_ + x1_) / 2, y1_ + 30, x_label, 0.5, 0.0);
    vertical_text(20, (y0_ + y1_) / 2, y_label);
    if (right_label != nullptr) vertical_text(kWidth - 20, (y0_ + y1_) / 2, right_label);
  }

  void plot(const Series& series, const Range& r) {
    cairo_set_source_rgb(cr_, series.color.r, series.color.g, series.color.b);
    cairo_set_line_width(cr_, 2.5);
    const double dash[] = {2.0, 4.0};
    cairo_set_dash(cr_, series.dotted ? dash : nullptr, series.dotted ? 2 : 0, 0);
    bool drawing = false;
    for (std::size_t e = 0; e < series.values.size(); ++e) {
      const double v = series.values[e];
      if (!std::isfinite(v)) {
        drawing = false;
        continue;
      }
      if (drawing)
        cairo_line_to(cr_, x(static_cast<double>(e)), y(v, r));
      else
        cairo_move_to(cr_, x(static_cast<double>(e)), y(v, r));
      drawing = true;
      if (series.values.size() == 1) cairo_line_to(cr_, x(0) + 1, y(v, r));
    }
    cairo_stroke(cr_);
    cairo_set_dash(cr_, nullptr, 0, 0);
  }

  void legend(const std::vector<const Series*>& series) {
    double row = y0_ + 18;
    cairo_set_font_size(cr_, 14);
    // A white box under the entries, so that curves passing behind do not hide them.
    cairo_set_source_rgba(cr_, 1, 1, 1, 0.85);
    cairo_rectangle(cr_, x0_ + 6, y0_ + 6, 250, 20.0 * static_cast<double>(series.size()) + 4);
    cairo_fill(cr_);
    for (const Series* s : series) {
      cairo_set_source_rgb(cr_, s->color.r, s->color.g, s->color.b);
      cairo_set_line_width(cr_, 2.5);
      const double dash[] = {2.0, 4.0};
      cairo_set_dash(cr_, s->dotted ? dash : nullptr, s->dotted ? 2 : 0, 0);
      cairo_move_to(cr_, x0_ + 12, row);
      cairo_line_to(cr_, x0_ + 52, row);
      cairo_stroke(cr_);
      cairo_set_dash(cr_, nullptr, 0, 0);
      cairo_set_source_rgb(cr_, 0, 0, 0);
      text(x0_ + 60, row, s->label, 0.0, 0.5);
      row += 20;
    }
  }

 private:
  static std::string number(double value) {
    char out[32];
    std::snprintf(out, sizeof out, "%.3g", value);
    return out;
  }
  // Text anchored at (x, y): ax/ay = 0 left/top, 0.5 centre, 1 right/bottom.
  void text(double x, double y, const std::string& s, double ax, double ay) {
    cairo_text_extents_t extents;
    cairo_text_extents(cr_, s.c_str(), &extents);
    cairo_move_to(cr_, x - extents.width * ax - extents.x_bearing, y - extents.height * ay - extents.y_bearing);
    cairo_show_text(cr_, s.c_str());
  }
  void vertical_text(double x, double y, const std::string& s) {
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, -M_PI / 2);
    text(0, 0, s, 0.5, 0.5);
    cairo_restore(cr_);
  }

  cairo_t* cr_;
  int epochs_;
  double x0_, x1_, y0_, y1_;
};

std::vector<double> durations(const TrainingLog& log) {
  std::vector<double> out;
  for (std::size_t e = 0; e < log.epochs(); ++e)
    out.push_back(log.epoch_end_timestamps[e] - log.epoch_start_timestamps[e]);
  return out;
}

// Encodes `surface` as PNG in memory and writes it to `path` atomically.
void write_surface_png(cairo_surface_t* surface, const std::string& path) {
  cairo_surface_flush(surface);
  std::string png;
  const cairo_status_t status = cairo_surface_write_to_png_stream(
      surface,
      [](void* closure, const unsigned char* bytes, unsigned int length) {
        static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(bytes), length);
        return CAIRO_STATUS_SUCCESS;
      },
      &png);
  if (status != CAIRO_STATUS_SUCCESS) NNUC_THROW(IoError, "cannot draw ", path, ": ", cairo_status_to_string(status));
  data::write_file_atomic(path, png);
}

}  // namespace

void draw_progress_png(const TrainingLog& log, const std::string& path) {
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, kWidth, 3 * kPanelHeight), &cairo_surface_destroy);
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> context(cairo_create(surface.get()), &cairo_destroy);
  cairo_t* cr = context.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  const int epochs = static_cast<int>(log.epochs());

  const Series train{log.train_losses, kBlue, false, "loss_tr"};
  const Series validation{log.val_losses, kRed, false, "loss_val"};
  const Series dice{log.mean_fg_dice, kGreen, true, "pseudo dice"};
  const Series ema{log.ema_fg_dice, kGreen, false, "pseudo dice (mov. avg.)"};
  Panel losses(cr, 0, epochs);
  const Range loss_range = range_of({&train, &validation});
  const Range dice_range = range_of({&dice, &ema});
  losses.frame("epoch", "loss", loss_range, &dice_range, "pseudo dice");
  losses.plot(train, loss_range);
  losses.plot(validation, loss_range);
  losses.plot(dice, dice_range);
  losses.plot(ema, dice_range);
  losses.legend({&train, &validation, &dice, &ema});

  const Series duration{durations(log), kBlue, false, "epoch duration"};
  Panel time(cr, kPanelHeight, epochs);
  const Range time_range = range_of({&duration});
  time.frame("epoch", "time [s]", time_range, nullptr, nullptr);
  time.plot(duration, time_range);
  time.legend({&duration});

  const Series lr{log.lrs, kBlue, false, "learning rate"};
  Panel rate(cr, 2.0 * kPanelHeight, epochs);
  const Range lr_range = range_of({&lr});
  rate.frame("epoch", "learning rate", lr_range, nullptr, nullptr);
  rate.plot(lr, lr_range);
  rate.legend({&lr});

  write_surface_png(surface.get(), path);
}

void write_png_rgb(const std::string& path, const std::vector<std::uint8_t>& rgb, std::int64_t height,
                   std::int64_t width) {
  NNUC_CHECK(height > 0 && width > 0 && height <= 32767 && width <= 32767, "cannot write ", path, ": a picture of ",
             height, " x ", width, " pixels (expected 1 to 32767 each: cairo's limit)");
  NNUC_CHECK(rgb.size() == static_cast<std::size_t>(height * width * 3), "write_png_rgb: ", rgb.size(), " bytes for ",
             height, " x ", width, " RGB pixels");
  const std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width), static_cast<int>(height)),
      cairo_surface_destroy);
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    NNUC_THROW(IoError, "cannot write ", path, ": ", cairo_status_to_string(cairo_surface_status(surface.get())));
  cairo_surface_flush(surface.get());
  unsigned char* pixels = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  for (std::int64_t y = 0; y < height; ++y) {
    auto* row = reinterpret_cast<std::uint32_t*>(pixels + y * stride);
    for (std::int64_t x = 0; x < width; ++x) {
      const std::uint8_t* rgb_pixel = rgb.data() + (y * width + x) * 3;
      row[x] = 0xFF000000u | (std::uint32_t{rgb_pixel[0]} << 16) | (std::uint32_t{rgb_pixel[1]} << 8) | rgb_pixel[2];
    }
  }
  cairo_surface_mark_dirty(surface.get());
  write_surface_png(surface.get(), path);
}

}  // namespace nnuc::nn
