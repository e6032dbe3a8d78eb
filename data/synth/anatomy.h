// The scenes behind the synthetic presets (internal to data/synth): each paints one case's anatomy
// into a canvas, then the modality's finish adds texture, bias field and noise.
#pragma once

#include "data/synth/structures.h"
#include "data/synth/synth.h"
#include "kernels/core/random.h"

namespace nnuc::data::synth {

// Generic scene: a body ellipsoid holding one structure per foreground class (ellipsoid, tube, or an
// ellipsoid nested in the previous class's ellipsoid), per config.structures.
Canvas paint_generic_scene(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random);
// Brain crop around a curved hippocampus (labels 1 anterior, 2 posterior), white matter, temporal horn.
Canvas paint_hippocampus_scene(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random);
// Abdominal CT slab: body with fat, liver, kidneys, spine, aorta, splenic vessel, spleen (label 1).
Canvas paint_spleen_scene(const SynthConfig& config, const CaseGeometryPlan& plan, Rng& random);

// MRI finish: texture × bias field, then Rician noise of sigma noise·reference per channel.
void finish_mri(Canvas& canvas, const SynthConfig& config, double reference_intensity, std::uint64_t seed);
// CT finish: additive texture inside the body, Gaussian noise (sigma = noise HU), integer HU in
// [-1024, 3071].
void finish_ct(Canvas& canvas, const SynthConfig& config, std::uint64_t seed);

}  // namespace nnuc::data::synth
