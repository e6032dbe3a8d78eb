// Tolerance: how far a CUDA result may lie from the CPU result of the same op on the same inputs.
// The one tolerance type of every op (kernels/*, data/augment): each op header declares its
// constants next to the op (k<Op>Tolerance<F32|Bf16>...), for f32 and for bf16 separately.
#pragma once

namespace nnuc {

// An element passes when |cuda - cpu| <= atol + rtol * |cpu|. Where a long reduction cancels to
// values near zero, the op's header says that its atol scales (by max |cpu| of the output, or by the
// square root of the number of terms), and the tests apply it so.
struct Tolerance {
  double atol;
  double rtol;
};

}  // namespace nnuc
