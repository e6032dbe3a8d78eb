#include "data/synth/anatomy.h"

#include <algorithm>
#include <cmath>

#include "kernels/core/error.h"

namespace nnuc::data::synth {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kMriTissue = 400.0;  // channel-0 intensity of plain tissue in MRI scenes

// Intensities of one tissue in every channel. Channel 0 gets `base`; other channels get a
// contrast factor drawn once per dataset (so a tissue looks alike in every case), then every value
// is jittered per case by ±`jitter` (relative).
class Palette {
 public:
  Palette(const SynthConfig& config, Rng& case_random)
      : channels_(config.num_channels),
        dataset_random_(derive_seed(config.seed, 0xDA7A5E7ull)),
        case_random_(case_random) {}

  std::vector<double> mri(double base, double jitter = 0.04) {
    std::vector<double> values(static_cast<std::size_t>(channels_));
    for (int c = 0; c < channels_; ++c) {
      const double contrast = c == 0 ? 1.0 : dataset_random_.uniform(0.45, 1.7);
      values[static_cast<std::size_t>(c)] = base * contrast * (1.0 + case_random_.uniform(-jitter, jitter));
    }
    return values;
  }

  // CT: channel c > 0 is another contrast phase; enhancement scales the difference to water.
  std::vector<double> ct(double hounsfield, double jitter_hu = 6.0) {
    std::vector<double> values(static_cast<std::size_t>(channels_));
    for (int c = 0; c < channels_; ++c) {
      const double enhancement = c == 0 ? 1.0 : dataset_random_.uniform(0.6, 1.5);
      values[static_cast<std::size_t>(c)] = hounsfield * enhancement + case_random_.uniform(-jitter_hu, jitter_hu);
    }
    return values;
  }

  std::vector<double> constant(double value) const {
    return std::vector<double>(static_cast<std::size_t>(channels_), value);
  }

 private:
  int channels_;
  Rng dataset_random_;
  Rng& case_random_;
};

std::vector<Wave> random_waves(Rng& random, int count, double amplitude) {
  std::vector<Wave> waves;
  for (int w = 0; w < count; ++w) {
    Wave wave;
    for (double& f : wave.frequency) f = random.uniform(-3.0, 3.0);
    wave.amplitude = amplitude * random.uniform(0.4, 1.0);
    wave.phase = random.uniform(0.0, 2 * kPi);
    waves.push_back(wave);
  }
  return waves;
}

Mat3 random_rotation(Rng& random, double max_angle) {
  const double a = random.uniform(-max_angle, max_angle);
  const double b = random.uniform(-max_angle, max_angle);
  const double c = random.uniform(-max_angle, max_angle);
  return rotation3(a, b, c);
}

double max_spacing(const Canvas& canvas) { return std::max({canvas.spacing[0], canvas.spacing[1], canvas.spacing[2]}); }

// Intensity of foreground class k: alternately darker and brighter than tissue, so neighbours differ.
std::vector<double> class_intensity(const SynthConfig& config, Palette& palette, int k) {
  const bool brighter = k % 2 == 1;
  Rng choice(derive_seed(config.seed, 0xC1A55ull + static_cast<std::uint64_t>(k)));
  if (config.modality == Modality::ct) {
    const double delta = choice.uniform(70.0, 180.0);
    return palette.ct(brighter ? 40.0 + delta : 40.0 - delta);
  }
  const double factor = brighter ? choice.uniform(1.35, 1.9) : choice.uniform(0.35, 0.7);
  return palette.mri(kMriTissue * factor);
}

bool all_classes_present(const Canvas& canvas, int num_classes, std::int64_t minimum) {
  const std::vector<std::int64_t> counts = count_labels(canvas, num_classes);
  for (int k = 1; k <= num_classes; ++k) {
    if (counts[static_cast<std::size_t>(k)] < minimum) return false;
  }
  return true;
}

Canvas generic_attempt(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random) {
  const bool ct = config.modality == Modality::ct;
  Palette palette(config, random);
  Canvas canvas(plan.shape, plan.spacing, palette.constant(ct ? -1000.0 : 0.0));
  const Vec3 extent = canvas.extent();
  // Smallest radii that keep a structure visible: 1.5 voxels along each axis; tubes at least 0.6 of
  // the thickest spacing (a thinner tube may fall between two thick slices).
  const Vec3 min_radius{1.5 * canvas.spacing[0], 1.5 * canvas.spacing[1], 1.5 * canvas.spacing[2]};
  const double min_tube_radius =
      std::max(0.6 * max_spacing(canvas), 1.2 * std::min({canvas.spacing[0], canvas.spacing[1], canvas.spacing[2]}));

  Ellipsoid body;
  body.center = canvas.center();
  for (int a = 0; a < 3; ++a) body.radii[a] = 0.45 * extent[a] * random.uniform(0.92, 1.0);
  body.waves = random_waves(random, 2, 0.04);
  paint_ellipsoid(canvas, body, Appearance{ct ? palette.ct(40.0) : palette.mri(kMriTissue), 0});

  Ellipsoid previous;
  bool previous_is_ellipsoid = false;
  for (int k = 1; k <= config.num_classes; ++k) {
    const StructureKind kind = config.structures[static_cast<std::size_t>(k - 1) % config.structures.size()];
    const Appearance appearance{class_intensity(config, palette, k), k};
    if (kind == StructureKind::tube) {
      const double body_min = std::min({body.radii[0], body.radii[1], body.radii[2]});
      Vec3 direction{random.normal(), random.normal(), random.normal()};
      const double norm =
          std::sqrt(direction[0] * direction[0] + direction[1] * direction[1] + direction[2] * direction[2]);
      Tube tube;
      const int points = 5;
      for (int p = 0; p < points; ++p) {
        const double t = -0.6 + 1.2 * p / (points - 1);
        Vec3 point;
        for (int a = 0; a < 3; ++a) {
          const double wobble = (p == 0 || p == points - 1) ? 0.0 : random.uniform(-0.15, 0.15) * body.radii[a];
          point[a] = body.center[a] + t * direction[a] / norm * body.radii[a] + wobble;
        }
        tube.centerline.push_back(point);
        tube.radii.push_back(std::max(min_tube_radius, random.uniform(0.08, 0.12) * body_min));
      }
      paint_tube(canvas, tube, appearance);
      previous_is_ellipsoid = false;
      continue;
    }
    Ellipsoid e;
    if (kind == StructureKind::nested && previous_is_ellipsoid) {
      for (int a = 0; a < 3; ++a) {
        e.radii[a] = std::max(min_radius[a], previous.radii[a] * random.uniform(0.4, 0.55));
        e.center[a] = previous.center[a];
      }
      for (int r = 0; r < 3; ++r) {
        const double shift = random.uniform(-0.2, 0.2) * previous.radii[r];
        for (int a = 0; a < 3; ++a) e.center[a] += previous.axes[r][a] * shift;
      }
      e.axes = previous.axes;
      e.waves = random_waves(random, 2, 0.05);
    } else {
      for (int a = 0; a < 3; ++a) {
        e.radii[a] = std::max(min_radius[a], body.radii[a] * random.uniform(0.18, 0.3));
        e.center[a] = body.center[a] + random.uniform(-0.4, 0.4) * (body.radii[a] - e.radii[a]);
      }
      e.axes = random_rotation(random, kPi / 4);
      e.waves = random_waves(random, 2, 0.08);
    }
    paint_ellipsoid(canvas, e, appearance);
    previous = e;
    previous_is_ellipsoid = true;
  }
  return canvas;
}

}  // namespace

Canvas paint_generic_scene(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    Canvas canvas = generic_attempt(config, plan, random);
    if (all_classes_present(canvas, config.num_classes, 4)) return canvas;
  }
  NNUC_THROW(InvalidInput, "synthetic scene: could not fit ", config.num_classes, " classes into shape (",
             plan.shape[0], ", ", plan.shape[1], ", ", plan.shape[2], "); expected a larger shape or fewer classes");
}

Canvas paint_hippocampus_scene(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random) {
  Palette palette(config, random);
  Canvas canvas(plan.shape, plan.spacing, palette.mri(kMriTissue * 1.05));
  const Vec3 extent = canvas.extent();
  const Vec3 center = canvas.center();
  const double scale = extent[0] / 36.0;  // anatomy sized for the Task04 median crop

  Ellipsoid white_matter;
  white_matter.center = Vec3{center[0] - 0.3 * extent[0], center[1], center[2] + 0.2 * extent[2]};
  white_matter.radii = Vec3{0.33 * extent[0], 0.65 * extent[1], 0.35 * extent[2]};
  white_matter.axes = random_rotation(random, 0.15);
  white_matter.waves = random_waves(random, 3, 0.08);
  paint_ellipsoid(canvas, white_matter, Appearance{palette.mri(kMriTissue * 1.4), 0});

  // Hippocampus centerline along a1 (anterior → posterior), bent like a banana.
  const double length = random.uniform(0.62, 0.74) * extent[1];
  const double bend = random.uniform(0.05, 0.12) * extent[0];
  const double drift = random.uniform(-0.12, 0.12) * extent[2];
  const double head_radius = random.uniform(4.2, 5.5) * scale;
  const double tail_radius = random.uniform(2.0, 2.8) * scale;
  const Vec3 hippocampus_center{center[0] + random.uniform(0.0, 0.1) * extent[0], center[1],
                                center[2] + random.uniform(-0.06, 0.06) * extent[2]};
  Tube hippocampus, horn;
  const int points = 9;
  for (int p = 0; p < points; ++p) {
    const double t = static_cast<double>(p) / (points - 1);
    const Vec3 point{hippocampus_center[0] + bend * ((2 * t - 1) * (2 * t - 1) - 0.5),
                     hippocampus_center[1] - length / 2 + length * t, hippocampus_center[2] + drift * (t - 0.5)};
    const double radius = tail_radius + (head_radius - tail_radius) * std::pow(1.0 - t, 0.7);
    hippocampus.centerline.push_back(point);
    hippocampus.radii.push_back(radius);
    horn.centerline.push_back(Vec3{point[0] - radius - 1.2 * scale, point[1], point[2] + 0.3 * radius});
    horn.radii.push_back(random.uniform(1.0, 1.8) * scale);
  }
  Ellipsoid amygdala;
  amygdala.center = hippocampus.centerline.front();
  amygdala.center[1] -= head_radius + random.uniform(2.0, 4.0) * scale;
  amygdala.radii = Vec3{head_radius * 1.1, random.uniform(3.5, 5.0) * scale, head_radius * 1.2};
  amygdala.waves = random_waves(random, 2, 0.06);
  paint_ellipsoid(canvas, amygdala, Appearance{palette.mri(kMriTissue * 0.97), 0});
  paint_tube(canvas, horn, Appearance{palette.mri(kMriTissue * 0.3), 0});
  Appearance hippocampus_look{palette.mri(kMriTissue * 0.9), 1};
  hippocampus_look.split_at = random.uniform(0.38, 0.5);
  hippocampus_look.label_after_split = 2;
  paint_tube(canvas, hippocampus, hippocampus_look);
  return canvas;
}

Canvas paint_spleen_scene(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random) {
  Palette palette(config, random);
  Canvas canvas(plan.shape, plan.spacing, palette.constant(-1000.0));
  const Vec3 extent = canvas.extent();  // (z, y, x) in mm
  const Vec3 center = canvas.center();
  const double infinite = 100.0 * extent[0];  // cylinders along z

  Ellipsoid body;
  body.center = Vec3{center[0], center[1] + 0.02 * extent[1], center[2]};
  body.radii = Vec3{infinite, random.uniform(0.28, 0.34) * extent[1], random.uniform(0.38, 0.44) * extent[2]};
  paint_ellipsoid(canvas, body, Appearance{palette.ct(-100.0), 0});
  Ellipsoid inner = body;
  const double fat = random.uniform(0.06, 0.14);
  inner.radii = Vec3{infinite, body.radii[1] * (1 - fat), body.radii[2] * (1 - fat * 0.8)};
  paint_ellipsoid(canvas, inner, Appearance{palette.ct(40.0), 0});

  auto organ = [&](double z, double y, double x, double rz, double ry, double rx, double hounsfield, int label) {
    Ellipsoid e;
    e.center = Vec3{center[0] + z * extent[0], center[1] + y * extent[1], center[2] + x * extent[2]};
    e.radii = Vec3{std::min(rz, 0.45 * extent[0] + 20.0), ry * extent[1], rx * extent[2]};
    e.axes = random_rotation(random, 0.2);
    e.waves = random_waves(random, 3, 0.06);
    paint_ellipsoid(canvas, e, Appearance{palette.ct(hounsfield), label});
    return e;
  };
  organ(random.uniform(0.05, 0.2), random.uniform(-0.1, 0.0), random.uniform(-0.22, -0.15), random.uniform(70, 95),
        random.uniform(0.2, 0.25), random.uniform(0.15, 0.19), 60.0, 0);  // liver
  for (double side : {-1.0, 1.0}) {                                       // kidneys
    organ(random.uniform(-0.25, -0.1), random.uniform(0.1, 0.15), side * random.uniform(0.11, 0.14),
          random.uniform(45, 60), random.uniform(0.06, 0.075), random.uniform(0.045, 0.055), 160.0, 0);
  }
  auto vertical_tube = [&](double y, double x, double radius, double hounsfield) {
    Tube tube;
    for (double z : {-0.1, 0.5, 1.1}) {
      tube.centerline.push_back(Vec3{z * extent[0], center[1] + y * extent[1] + random.uniform(-2, 2),
                                     center[2] + x * extent[2] + random.uniform(-2, 2)});
      tube.radii.push_back(radius);
    }
    paint_tube(canvas, tube, Appearance{palette.ct(hounsfield), 0});
    return tube;
  };
  const double spine_radius = random.uniform(0.035, 0.045) * extent[2];
  vertical_tube(0.22, 0.0, spine_radius, 450.0);
  vertical_tube(0.22, 0.0, 0.6 * spine_radius, 220.0);
  const Tube aorta = vertical_tube(0.1, 0.03, random.uniform(0.024, 0.03) * extent[2], 170.0);

  Ellipsoid spleen;
  spleen.center =
      Vec3{center[0] + random.uniform(-0.08, 0.08) * extent[0], center[1] + random.uniform(0.05, 0.12) * extent[1],
           center[2] + random.uniform(0.18, 0.24) * extent[2]};
  spleen.radii = Vec3{std::min(random.uniform(45, 65), 0.45 * extent[0] + 10.0), random.uniform(0.09, 0.12) * extent[1],
                      random.uniform(0.045, 0.065) * extent[2]};
  spleen.axes = rotation3(random.uniform(-0.5, -0.2), random.uniform(-0.15, 0.15), random.uniform(-0.15, 0.15));
  spleen.waves = random_waves(random, 3, 0.06);

  Tube splenic_vessel;  // from the aorta to the spleen's hilum
  const Vec3 start = aorta.centerline[1];
  const double z_start = spleen.center[0] + random.uniform(-10, 10);
  for (int p = 0; p <= 4; ++p) {
    const double t = p / 4.0;
    splenic_vessel.centerline.push_back(Vec3{z_start + (spleen.center[0] - z_start) * t,
                                             start[1] + (spleen.center[1] - start[1]) * t - 8.0 * std::sin(kPi * t),
                                             start[2] + (spleen.center[2] - start[2]) * t});
    splenic_vessel.radii.push_back(random.uniform(2.5, 3.5));
  }
  paint_tube(canvas, splenic_vessel, Appearance{palette.ct(170.0), 0});
  paint_ellipsoid(canvas, spleen, Appearance{palette.ct(random.uniform(100.0, 130.0)), 1});
  return canvas;
}

// ---- modality finishes --------------------------------------------------------------------------

namespace {

// Smooth separable field: Σ_t amplitude_t · cos(f0 x0 + φ0) · cos(f1 x1 + φ1) · cos(f2 x2 + φ2).
std::vector<float> smooth_field(const Canvas& canvas, Rng& random, int terms, double wavelength_min,
                                double wavelength_max) {
  std::vector<float> field(static_cast<std::size_t>(canvas.voxels()), 0.0f);
  for (int t = 0; t < terms; ++t) {
    std::array<std::vector<double>, 3> factor;
    for (int a = 0; a < 3; ++a) {
      const double frequency = 2 * kPi / random.uniform(wavelength_min, wavelength_max);
      const double phase = random.uniform(0.0, 2 * kPi);
      factor[static_cast<std::size_t>(a)].resize(static_cast<std::size_t>(canvas.shape[a]));
      for (std::int64_t i = 0; i < canvas.shape[a]; ++i) {
        factor[static_cast<std::size_t>(a)][static_cast<std::size_t>(i)] =
            std::cos(frequency * i * canvas.spacing[a] + phase);
      }
    }
    const double amplitude = random.uniform(0.5, 1.0) / terms;
    std::size_t index = 0;
    for (std::int64_t k = 0; k < canvas.shape[0]; ++k) {
      for (std::int64_t j = 0; j < canvas.shape[1]; ++j) {
        const double kj = amplitude * factor[0][static_cast<std::size_t>(k)] * factor[1][static_cast<std::size_t>(j)];
        for (std::int64_t i = 0; i < canvas.shape[2]; ++i) {
          field[index++] += static_cast<float>(kj * factor[2][static_cast<std::size_t>(i)]);
        }
      }
    }
  }
  return field;
}

// log of a smooth multiplicative bias field: separable quadratic, peak |value| ≈ strength.
std::vector<float> log_bias_field(const Canvas& canvas, Rng& random, double strength) {
  std::array<std::vector<double>, 3> part;
  for (int a = 0; a < 3; ++a) {
    const double linear = random.uniform(-1.0, 1.0), quadratic = random.uniform(-1.0, 1.0);
    part[static_cast<std::size_t>(a)].resize(static_cast<std::size_t>(canvas.shape[a]));
    for (std::int64_t i = 0; i < canvas.shape[a]; ++i) {
      const double x = canvas.shape[a] > 1 ? 2.0 * i / (canvas.shape[a] - 1) - 1.0 : 0.0;
      part[static_cast<std::size_t>(a)][static_cast<std::size_t>(i)] =
          strength / 6.0 * (linear * x + quadratic * x * x);
    }
  }
  std::vector<float> field(static_cast<std::size_t>(canvas.voxels()));
  std::size_t index = 0;
  for (std::int64_t k = 0; k < canvas.shape[0]; ++k) {
    for (std::int64_t j = 0; j < canvas.shape[1]; ++j) {
      for (std::int64_t i = 0; i < canvas.shape[2]; ++i) {
        field[index++] =
            static_cast<float>(part[0][static_cast<std::size_t>(k)] + part[1][static_cast<std::size_t>(j)] +
                               part[2][static_cast<std::size_t>(i)]);
      }
    }
  }
  return field;
}

}  // namespace

void finish_mri(Canvas& canvas, const SynthConfig& config, double reference_intensity, std::uint64_t seed) {
  const std::int64_t slice = canvas.shape[1] * canvas.shape[2];
  for (std::size_t c = 0; c < canvas.channels.size(); ++c) {
    Rng random(derive_seed(seed, c));
    const std::vector<float> texture = smooth_field(canvas, random, 3, 6.0, 30.0);
    const std::vector<float> bias = log_bias_field(canvas, random, config.bias_field);
    const double sigma = config.noise * reference_intensity;
    std::vector<float>& values = canvas.channels[c];
    for (std::int64_t k = 0; k < canvas.shape[0]; ++k) {
      Rng noise(derive_seed(seed, 0x100000ull * (c + 1) + static_cast<std::uint64_t>(k)));
      for (std::int64_t v = k * slice; v < (k + 1) * slice; ++v) {
        const std::size_t index = static_cast<std::size_t>(v);
        const double signal = values[index] * (1.0 + 0.05 * texture[index]) * std::exp(bias[index]);
        const double real = signal + sigma * noise.normal();
        const double imaginary = sigma * noise.normal();
        values[index] = static_cast<float>(std::sqrt(real * real + imaginary * imaginary));
      }
    }
  }
}

void finish_ct(Canvas& canvas, const SynthConfig& config, std::uint64_t seed) {
  const std::int64_t slice = canvas.shape[1] * canvas.shape[2];
  for (std::size_t c = 0; c < canvas.channels.size(); ++c) {
    Rng random(derive_seed(seed, c));
    const std::vector<float> texture = smooth_field(canvas, random, 3, 8.0, 40.0);
    std::vector<float>& values = canvas.channels[c];
    for (std::int64_t k = 0; k < canvas.shape[0]; ++k) {
      Rng noise(derive_seed(seed, 0x100000ull * (c + 1) + static_cast<std::uint64_t>(k)));
      for (std::int64_t v = k * slice; v < (k + 1) * slice; ++v) {
        const std::size_t index = static_cast<std::size_t>(v);
        double value = values[index];
        if (value > -500.0) value += 12.0 * texture[index];
        value += config.noise * noise.normal();
        values[index] = static_cast<float>(std::clamp(std::nearbyint(value), -1024.0, 3071.0));
      }
    }
  }
}

}  // namespace nnuc::data::synth
