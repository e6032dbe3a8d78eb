// StreamMark: a point in a Context's queue of work (a CUDA event), so the host can wait for the work
// queued before it and no more, e.g. before reusing a host buffer that an asynchronous copy reads
// (Tensor::copy_from_async).
#pragma once

#include <memory>

namespace nnuc {

class Context;

class StreamMark {
 public:
  StreamMark() = default;  // a mark already passed

  // The current end of ctx's stream. Off CUDA an already passed mark: CPU work is done when its call
  // returns, and a Meta context does none. Throws CudaError when the event cannot be made.
  static StreamMark record(const Context& ctx);

  // Blocks until the stream has passed the mark (at once for a passed mark). Throws CudaError naming
  // the failure of work before it.
  void wait() const;
  // Whether the stream has passed the mark, without blocking.
  bool passed() const;

 private:
  std::shared_ptr<void> event_;  // cudaEvent_t, destroyed with the last copy; null: passed
};

}  // namespace nnuc
