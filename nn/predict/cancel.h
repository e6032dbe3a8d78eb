// Stopping a prediction early from another thread (an embedding pipeline's deadline passed, the study
// was closed): the caller hands a CancelFlag to PredictorSession::predict (or predict_sliding_window)
// and raises it from anywhere; the call throws PredictionCancelled at its next check. The checks come
// before each step (preprocessing, the network, the export) and before every network call of the
// sliding window, so a cancelled call returns after at most one forward pass of one tile batch. The
// session (and its model) stay usable: the next call gives the same result as if none had been
// cancelled.
#pragma once

#include <atomic>
#include <string>

#include "kernels/core/error.h"

namespace nnuc::nn {

class PredictionCancelled : public Error {
 public:
  using Error::Error;
};

class CancelFlag {
 public:
  void cancel() noexcept { raised_.store(true, std::memory_order_release); }
  void reset() noexcept { raised_.store(false, std::memory_order_release); }
  bool cancelled() const noexcept { return raised_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> raised_{false};
};

// Throws PredictionCancelled naming `where` when `flag` is given and raised.
inline void throw_if_cancelled(const CancelFlag* flag, const std::string& where) {
  if (flag != nullptr && flag->cancelled()) NNUC_THROW(PredictionCancelled, "prediction cancelled ", where);
}

}  // namespace nnuc::nn
