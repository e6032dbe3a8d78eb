#include "autograd/tape.h"

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/elementwise.h"

namespace nnuc::autograd {

Var::Var(Tensor value, bool requires_grad) : value_(std::move(value)), cell_(std::make_shared<GradCell>()) {
  cell_->requires_grad = requires_grad;
}

void Var::set_value(Tensor value) {
  NNUC_CHECK(value.shape() == value_.shape() && value.dtype() == value_.dtype(), "set_value: ", value.describe(),
             " does not match ", value_.describe());
  value_ = std::move(value);
}

std::vector<Var> Tape::record(const char* op_name, const std::vector<Var>& inputs, std::vector<Tensor> outputs,
                              BackwardFn backward) {
  bool any_requires = false;
  for (const Var& input : inputs) any_requires = any_requires || input.requires_grad();
  std::vector<Var> wrapped;
  wrapped.reserve(outputs.size());
  for (Tensor& output : outputs) wrapped.emplace_back(std::move(output), false);
  if (!recording_ || !any_requires) return wrapped;  // the closure (and what it saved) dies here
  Node node{op_name, {}, {}, std::move(backward)};
  for (const Var& input : inputs) node.inputs.push_back(input.cell());
  for (Var& output : wrapped) {
    output.cell()->requires_grad = true;
    output.cell()->is_leaf = false;
    node.outputs.push_back(output.cell());
  }
  nodes_.push_back(std::move(node));
  return wrapped;
}

Var Tape::record(const char* op_name, const std::vector<Var>& inputs, Tensor output, BackwardFn backward) {
  std::vector<Tensor> outputs;
  outputs.push_back(std::move(output));
  return record(op_name, inputs, std::move(outputs), std::move(backward)).front();
}

void accumulate_grad(const Context& ctx, Tensor& target, Tensor gradient) {
  if (!target.defined()) {
    target = std::move(gradient);
    return;
  }
  axpy(ctx, target, 1.0, gradient);
}

void Tape::backward(const Var& root, Tensor seed) {
  NNUC_RANGE("autograd_backward");
  NNUC_CHECK(root.requires_grad(), "backward: the root does not require a gradient (nothing recorded it)");
  if (!seed.defined()) {
    NNUC_CHECK(root.value().numel() == 1, "backward: a seed is required for a non-scalar root ",
               root.value().describe());
    seed = Tensor::empty(root.value().shape(), root.value().dtype(), *ctx_);
    fill(*ctx_, seed, 1.0);
  }
  accumulate_grad(*ctx_, root.cell()->grad, std::move(seed));
  for (auto node = nodes_.rbegin(); node != nodes_.rend(); ++node) {
    std::vector<Tensor> output_grads;
    bool any_grad = false;
    for (const auto& output : node->outputs) {
      output_grads.push_back(output->grad);
      any_grad = any_grad || output->grad.defined();
      if (!output->retain_grad) output->grad = Tensor();  // consumed by this node
    }
    std::vector<bool> needs;
    for (const auto& input : node->inputs) needs.push_back(input->requires_grad);
    if (any_grad) {
      NNUC_RANGE(node->op_name);
      std::vector<Tensor> input_grads = node->backward(output_grads, needs);
      NNUC_CHECK(input_grads.size() == node->inputs.size(), "backward of ", node->op_name, " returned ",
                 input_grads.size(), " gradients for ", node->inputs.size(), " inputs");
      output_grads.clear();
      for (std::size_t index = 0; index < input_grads.size(); ++index) {
        if (!needs[index] || !input_grads[index].defined()) continue;
        accumulate_grad(*ctx_, node->inputs[index]->grad, std::move(input_grads[index]));
      }
    }
    node->backward = nullptr;  // frees what the node saved
    node->inputs.clear();
    node->outputs.clear();
  }
  nodes_.clear();
}

}  // namespace nnuc::autograd
