// `nnuc demo`: the main job on the bundled default data. Today: write the tiny synthetic dataset
// (deterministic from its seed), verify, fingerprint, plan and preprocess it, then run the kernel and
// training self-check. Training and prediction join as they land.
#pragma once

namespace nnuc::tools {
int run_demo(int argc, char** argv);
}
