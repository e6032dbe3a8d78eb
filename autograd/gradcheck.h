// Gradient checks in double precision on the CPU (central differences).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tape.h"

namespace nnuc::autograd {

using GraphFn = std::function<Var(Tape& tape, const std::vector<Var>& inputs)>;

struct GradcheckOptions {
  double step = 1e-6;  // central-difference step
  double atol = 1e-7;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
  std::uint64_t seed = 1;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string failure;  // first failing element: input, index, analytic, numeric
};

// Element-wise check: for the scalar s = <f(inputs), r> with a random projection r, compares
// ds/dinput from backward with central differences for every element of every input whose
// `requires[i]` is true. Inputs must be f64 CPU tensors; f must be deterministic.
GradcheckResult gradcheck(const GraphFn& f, const std::vector<Tensor>& inputs, const std::vector<bool>& requires,
                          const GradcheckOptions& options = {});

// Directional check for large graphs: for a random direction v over all inputs that require a
// gradient, compares Σ grad·v with (s(x + h v) − s(x − h v)) / 2h.
GradcheckResult directional_gradcheck(const GraphFn& f, const std::vector<Tensor>& inputs,
                                      const std::vector<bool>& requires, const GradcheckOptions& options = {});

}  // namespace nnuc::autograd
