// Tolerance: how far a CUDA result may lie from the CPU result of the same op on the same inputs.
// Each op header declares its own constants next to the op, for f32 and for bf16 separately.
#pragma once

namespace nnuc {

// An element passes when |cuda - cpu| <= atol + rtol * |cpu|.
struct Tolerance {
  double atol;
  double rtol;
};

}  // namespace nnuc
