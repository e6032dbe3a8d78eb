// A small tape autograd over nnuc's kernels.
//
// Var: a tensor value, its gradient and whether it requires one. Tape: nodes appended in forward
// order; backward() replays them in reverse. Each node's backward closure holds only what its
// backward needs and is destroyed right after it runs; the gradient of an intermediate Var is
// released as soon as the node that produced it has consumed it. Gradients are computed only for
// inputs that need them and accumulated "set on first, add after".
//
// No-grad mode (inference): a Tape that is not recording keeps nothing. Measure mode: the same code
// run with a Meta Context — every op allocates what it would on the modelled device and computes
// nothing, so the allocator's peak is the real step's peak.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::autograd {

// The gradient side of a Var, shared by the Var's copies and by the tape's nodes. Nodes hold
// cells, never values: a value stays alive only as long as the user or a backward closure needs it.
struct GradCell {
  Tensor grad;  // undefined until a gradient arrives
  bool requires_grad = false;
  bool is_leaf = true;       // created by the user (parameters, inputs), not by an op
  bool retain_grad = false;  // keep the gradient of a non-leaf (leaves always keep theirs)
};

// A value and its gradient cell. Copies share both.
class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return value_.defined(); }
  const Tensor& value() const { return value_; }
  const Tensor& grad() const { return cell_->grad; }
  Tensor& grad() { return cell_->grad; }
  bool requires_grad() const { return cell_ && cell_->requires_grad; }
  void set_retain_grad(bool retain) { cell_->retain_grad = retain; }
  const Shape& shape() const { return value_.shape(); }
  const std::shared_ptr<GradCell>& cell() const { return cell_; }
  // Replaces the value (same shape and dtype), e.g. after an optimizer step; keeps the cell.
  void set_value(Tensor value);

 private:
  friend class Tape;
  Tensor value_;
  std::shared_ptr<GradCell> cell_;
};

// Input gradients of a node, computed from its output gradients. `needs[i]` says whether input i
// wants a gradient; entries for inputs that do not may be left undefined.
using BackwardFn =
    std::function<std::vector<Tensor>(const std::vector<Tensor>& output_grads, const std::vector<bool>& needs)>;

class Tape {
 public:
  explicit Tape(const Context& ctx) : ctx_(&ctx) {}
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  const Context& ctx() const { return *ctx_; }
  // False in no-grad mode: ops then record nothing and their outputs require no gradient.
  bool recording() const { return recording_; }
  void set_recording(bool recording) { recording_ = recording; }

  // Wraps op outputs: when recording and any input requires a gradient, appends a node whose
  // backward is `backward` and marks the outputs as requiring gradients.
  std::vector<Var> record(const char* op_name, const std::vector<Var>& inputs, std::vector<Tensor> outputs,
                          BackwardFn backward);
  Var record(const char* op_name, const std::vector<Var>& inputs, Tensor output, BackwardFn backward);

  // Reverse replay from `root` with d(root)/d(root) = `seed` (a ones tensor when undefined; root
  // must then have one element). Leaves that require gradients end with .grad() set; the tape is
  // empty afterwards.
  void backward(const Var& root, Tensor seed = Tensor());

  std::size_t size() const { return nodes_.size(); }
  void clear() { nodes_.clear(); }

 private:
  struct Node {
    const char* op_name;
    std::vector<std::shared_ptr<GradCell>> inputs;
    std::vector<std::shared_ptr<GradCell>> outputs;
    BackwardFn backward;
  };
  const Context* ctx_;
  bool recording_ = true;
  std::vector<Node> nodes_;
};

// Scoped no-grad mode for a tape.
class NoGradGuard {
 public:
  explicit NoGradGuard(Tape& tape) : tape_(tape), previous_(tape.recording()) { tape.set_recording(false); }
  ~NoGradGuard() { tape_.set_recording(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  Tape& tape_;
  bool previous_;
};

// Adds `gradient` into `target` ("set on first, add after").
void accumulate_grad(const Context& ctx, Tensor& target, Tensor gradient);

}  // namespace nnuc::autograd
