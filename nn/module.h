// Module: named parameters (f32 master values, f64 for double-precision checks), named buffers and
// child modules, in a fixed order so that names, checkpoints and initialization are deterministic.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tape.h"

namespace nnuc::nn {

using autograd::Tape;
using autograd::Var;

struct NamedParameter {
  std::string name;  // "encoder.stages.0.blocks.0.conv.weight"
  Var* var;
};

struct NamedBuffer {
  std::string name;
  Tensor* tensor;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its children, depth-first in registration order.
  std::vector<NamedParameter> parameters();
  std::vector<NamedBuffer> buffers();
  std::int64_t parameter_count();

 protected:
  Var& register_parameter(std::string name, Tensor value);
  Tensor& register_buffer(std::string name, Tensor value);
  template <typename M>
  M& register_module(std::string name, std::unique_ptr<M> module) {
    M& reference = *module;
    children_.emplace_back(std::move(name), std::move(module));
    return reference;
  }

 private:
  void collect(const std::string& prefix, std::vector<NamedParameter>& out);
  void collect_buffers(const std::string& prefix, std::vector<NamedBuffer>& out);

  std::vector<std::pair<std::string, std::unique_ptr<Var>>> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

}  // namespace nnuc::nn
