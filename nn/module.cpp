#include "nn/module.h"

namespace nnuc::nn {

Var& Module::register_parameter(std::string name, Tensor value) {
  parameters_.emplace_back(std::move(name), std::make_unique<Var>(std::move(value), true));
  return *parameters_.back().second;
}

Tensor& Module::register_buffer(std::string name, Tensor value) {
  buffers_.emplace_back(std::move(name), std::make_unique<Tensor>(std::move(value)));
  return *buffers_.back().second;
}

void Module::collect(const std::string& prefix, std::vector<NamedParameter>& out) {
  for (auto& [name, var] : parameters_) out.push_back({prefix + name, var.get()});
  for (auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

void Module::collect_buffers(const std::string& prefix, std::vector<NamedBuffer>& out) {
  for (auto& [name, tensor] : buffers_) out.push_back({prefix + name, tensor.get()});
  for (auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

std::vector<NamedParameter> Module::parameters() {
  std::vector<NamedParameter> out;
  collect("", out);
  return out;
}

std::vector<NamedBuffer> Module::buffers() {
  std::vector<NamedBuffer> out;
  collect_buffers("", out);
  return out;
}

std::int64_t Module::parameter_count() {
  std::int64_t count = 0;
  for (const NamedParameter& parameter : parameters()) count += parameter.var->value().numel();
  return count;
}

}  // namespace nnuc::nn
