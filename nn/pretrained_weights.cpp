#include "nn/pretrained_weights.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "kernels/core/error.h"
#include "nn/checkpoint.h"
#include "nn/pth/pth_reader.h"

namespace nnuc::nn {

namespace {

std::string shape_text(const Shape& shape) {
  std::string text = "(";
  for (int axis = 0; axis < shape.rank(); ++axis) text += (axis > 0 ? ", " : "") + std::to_string(shape[axis]);
  return text + ")";
}

// From an nnuc checkpoint: parameters by their nnuc names.
int load_from_nnuc(UNet& network, const std::string& path) {
  const Checkpoint checkpoint = load_checkpoint(path);
  std::vector<std::string> problems;
  std::vector<std::pair<Var*, const Tensor*>> assignments;
  for (const NamedParameter& parameter : network.parameters()) {
    if (is_segmentation_head(parameter.name)) continue;
    const Tensor* stored = checkpoint.find(parameter.name);
    const Shape& expected = parameter.var->value().shape();
    if (stored == nullptr) {
      problems.push_back("missing tensor '" + parameter.name + "' " + shape_text(expected));
    } else if (stored->shape() != expected) {
      problems.push_back("tensor '" + parameter.name + "' is " + shape_text(stored->shape()) + ", this network needs " +
                         shape_text(expected));
    } else {
      assignments.emplace_back(parameter.var, stored);
    }
  }
  if (!problems.empty()) {
    std::string message;
    const std::size_t shown = std::min<std::size_t>(problems.size(), 12);
    for (std::size_t index = 0; index < shown; ++index) message += "\n  " + problems[index];
    if (shown < problems.size()) message += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    NNUC_THROW(
        InvalidInput, path, ": the pretrained weights do not fit this network (", problems.size(), " problem",
        problems.size() == 1 ? "" : "s",
        "; were the plans moved from the pretraining dataset with nnuc move-plans, so that the topology is the same?):",
        message);
  }
  for (const auto& assignment : assignments) {
    const Tensor* stored = assignment.second;  // a plain pointer: lambdas cannot capture a structured binding in C++17
    Tensor target = assignment.first->value();
    if (target.dtype() == stored->dtype()) {
      target.copy_from(*stored, Context::cpu());
    } else {  // f64 networks (gradient checks) from f32 files, or the reverse
      const std::vector<double> values = stored->dtype() == DType::f64 ? stored->to_vector<double>() : [&] {
        const std::vector<float> f = stored->to_vector<float>();
        return std::vector<double>(f.begin(), f.end());
      }();
      const Tensor host = target.dtype() == DType::f64
                              ? Tensor::from_vector(target.shape(), values)
                              : Tensor::from_vector(target.shape(), std::vector<float>(values.begin(), values.end()));
      target.copy_from(host, Context::cpu());
    }
  }
  return static_cast<int>(assignments.size());
}

}  // namespace

int load_pretrained_weights(UNet& network, const std::string& path) {
  char magic[8] = {};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) NNUC_THROW(IoError, path, ": the pretrained weights cannot be read (no such file?)");
    in.read(magic, sizeof magic);
  }
  if (std::memcmp(magic, "NNUCCKPT", 8) == 0) return load_from_nnuc(network, path);
  if (magic[0] == 'P' && magic[1] == 'K')  // a zip archive: torch.save's format
    return load_nnunet_weights(network, read_nnunet_checkpoint(path), path, true);
  NNUC_THROW(IoError, path,
             ": not a checkpoint: expected nnuc's (starts with NNUCCKPT) or nnU-Net's .pth (a zip archive, PK)");
}

}  // namespace nnuc::nn
