// CPU-only builds (NNUC_CUDA=OFF): the CUDA entry points of the loss family exist and say why they
// cannot run, so that the device switch links; a CUDA Context cannot be created in such a build.
#ifndef NNUC_WITH_CUDA  // (file name must not end in _cuda.cpp: those build only with CUDA)

#include "kernels/loss/loss_impl.h"

namespace nnuc::cuda {

namespace {
[[noreturn]] void built_without_cuda(const char* op) {
  NNUC_THROW(CudaError, op, ": nnuc was built without CUDA (configure with -DNNUC_CUDA=ON)");
}
}  // namespace

void softmax_channels(const Context&, const Tensor&, const Tensor&) { built_without_cuda("softmax_channels"); }
void argmax_channels(const Context&, const Tensor&, const Tensor&) { built_without_cuda("argmax_channels"); }
void softmax_loss_forward(const Context&, const Tensor&, const Tensor&, int, const loss_detail::SumOutputs&,
                          const Tensor&) {
  built_without_cuda("dice_ce_forward");
}
void softmax_loss_backward(const Context&, const Tensor&, const Tensor&, int, const loss_detail::BackwardTerms&,
                           const Tensor&) {
  built_without_cuda("dice_ce_backward");
}
void region_loss_forward(const Context&, const Tensor&, const Tensor&, RegionIgnore, const loss_detail::SumOutputs&,
                         const Tensor&) {
  built_without_cuda("region_loss_forward");
}
void region_loss_backward(const Context&, const Tensor&, const Tensor&, RegionIgnore, const loss_detail::BackwardTerms&,
                          const Tensor&) {
  built_without_cuda("region_loss_backward");
}

}  // namespace nnuc::cuda

#endif  // NNUC_WITH_CUDA
