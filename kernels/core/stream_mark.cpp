#include "kernels/core/stream_mark.h"

#include "kernels/core/context.h"
#include "kernels/core/error.h"

#ifdef NNUC_WITH_CUDA
#include "kernels/core/cuda_check.h"
#endif

namespace nnuc {

StreamMark StreamMark::record(const Context& ctx) {
  StreamMark mark;
#ifdef NNUC_WITH_CUDA
  if (ctx.device() != Device::CUDA) return mark;
  cudaEvent_t event = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  mark.event_ =
      std::shared_ptr<void>(event, [](void* e) { CUDA_CHECK_PRINT(cudaEventDestroy(static_cast<cudaEvent_t>(e))); });
  CUDA_CHECK(cudaEventRecord(event, static_cast<cudaStream_t>(ctx.stream())));
#else
  (void)ctx;
#endif
  return mark;
}

void StreamMark::wait() const {
#ifdef NNUC_WITH_CUDA
  if (event_) CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_.get())));
#endif
}

bool StreamMark::passed() const {
#ifdef NNUC_WITH_CUDA
  if (!event_) return true;
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event_.get()));
  if (status == cudaErrorNotReady) {
    (void)cudaGetLastError();  // cudaErrorNotReady is not an error state; clear it anyway
    return false;
  }
  CUDA_CHECK(status);
#endif
  return true;
}

}  // namespace nnuc
