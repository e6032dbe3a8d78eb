#include "nn/pth/nnunet_weights.h"

#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "kernels/core/context.h"

namespace nnuc::nn {

namespace {

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream stream(name);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool is_index(const std::string& part) {
  return !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
}

std::string shape_text(const std::vector<std::int64_t>& dims) {
  std::string out = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + (dims.size() == 1 ? ",)" : ")");
}

std::vector<std::int64_t> dims_of(const Shape& shape) {
  std::vector<std::int64_t> dims;
  for (int axis = 0; axis < shape.rank(); ++axis) dims.push_back(shape[axis]);
  return dims;
}

// nnU-Net's shape of an nnuc parameter of shape `nnuc` in a `dim`-d network (see the header).
std::vector<std::int64_t> torch_shape(const Shape& nnuc, int dim) {
  if (nnuc.rank() != 5) return dims_of(nnuc);
  if (dim == 2 && nnuc[1] == 1) return {nnuc[0], nnuc[4], nnuc[2], nnuc[3]};
  return {nnuc[0], nnuc[4], nnuc[1], nnuc[2], nnuc[3]};
}

// torch (A, B, K...) row-major -> nnuc (A, K..., B): moves axis 1 last. Identity for rank < 3.
std::vector<double> to_nnuc_layout(const Tensor& torch_tensor) {
  const std::vector<float> in = torch_tensor.to_vector<float>();
  std::vector<double> out(in.size());
  if (torch_tensor.rank() < 3) {
    std::copy(in.begin(), in.end(), out.begin());
    return out;
  }
  const std::int64_t a_count = torch_tensor.dim(0), b_count = torch_tensor.dim(1);
  const std::int64_t k_count = torch_tensor.numel() / std::max<std::int64_t>(a_count * b_count, 1);
  for (std::int64_t a = 0; a < a_count; ++a)
    for (std::int64_t b = 0; b < b_count; ++b)
      for (std::int64_t k = 0; k < k_count; ++k)
        out[static_cast<std::size_t>((a * k_count + k) * b_count + b)] =
            in[static_cast<std::size_t>((a * b_count + b) * k_count + k)];
  return out;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

}  // namespace

std::string canonical_nnunet_name(const std::string& torch_name) {
  std::string name = torch_name;
  for (const char* wrapper : {"module.", "_orig_mod."}) {
    if (starts_with(name, wrapper)) name = name.substr(std::strlen(wrapper));
  }
  if (starts_with(name, "decoder.encoder.")) name = name.substr(std::strlen("decoder."));
  std::vector<std::string> parts = split(name);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "all_modules" && is_index(parts[i + 1])) {
      const std::string module = parts[i + 1] == "0" ? "conv" : "norm";
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(i));
      parts[i] = module;
    }
  }
  return join(parts, 0);
}

std::string nnunet_parameter_name(const UNetConfig& config, const std::string& nnuc_name) {
  const std::vector<std::string> parts = split(nnuc_name);
  NNUC_INTERNAL_ASSERT(parts.size() >= 3, "not a UNet parameter name: ", nnuc_name);
  if (parts[0] == "stem") return "encoder.stem.convs.0." + join(parts, 1);
  if (parts[0] == "encoder" && parts.size() >= 5) {
    const std::string stage = parts[1], block = parts[2];
    if (config.encoder == EncoderKind::Plain)
      return "encoder.stages." + stage + ".0.convs." + block + "." + join(parts, 3);
    if (parts[3] == "skip") {
      const Triple& stride = config.strides.at(static_cast<std::size_t>(std::stoi(stage)));
      const bool pooled = block == "0" && (stride[0] > 1 || stride[1] > 1 || stride[2] > 1);
      return "encoder.stages." + stage + ".blocks." + block + ".skip." + (pooled ? "1." : "0.") + join(parts, 4);
    }
    return "encoder.stages." + stage + ".blocks." + block + "." + join(parts, 3);
  }
  if (parts[0] == "decoder") {
    const std::string& stage = parts[1];
    if (parts[2] == "transpconv") return "decoder.transpconvs." + stage + "." + join(parts, 3);
    if (parts[2] == "seg_head") return "decoder.seg_layers." + stage + "." + join(parts, 3);
    return "decoder.stages." + stage + ".convs." + parts[2] + "." + join(parts, 3);
  }
  NNUC_INTERNAL_ASSERT(false, "not a UNet parameter name: ", nnuc_name);
  return {};
}

int load_nnunet_weights(UNet& network, const NnunetCheckpoint& checkpoint, const std::string& source, bool pretrained) {
  std::vector<std::string> problems;
  // Canonical name -> (tensor, the name it came under).
  std::map<std::string, std::pair<const Tensor*, std::string>> tensors;
  int dim = 0;  // 2 or 3: the rank of nnU-Net's conv weights minus 2
  for (const auto& [name, tensor] : checkpoint.network_weights) {
    const std::string canonical = canonical_nnunet_name(name);
    const auto [found, inserted] = tensors.emplace(canonical, std::make_pair(&tensor, name));
    if (!inserted && !same_values(*found->second.first, tensor)) {
      problems.push_back("'" + name + "' " + shape_text(dims_of(tensor.shape())) + " should be the same tensor as '" +
                         found->second.second + "' " + shape_text(dims_of(found->second.first->shape())) +
                         " but holds other values");
    }
    if (dim == 0 && (tensor.rank() == 4 || tensor.rank() == 5)) dim = tensor.rank() - 2;
  }
  if (dim == 0) dim = 3;

  struct Assignment {
    Var* parameter;
    const Tensor* source;
  };
  std::vector<Assignment> assignments;
  std::set<std::string> claimed;
  for (const NamedParameter& parameter : network.parameters()) {
    if (pretrained && is_segmentation_head(parameter.name)) continue;
    const std::string torch_name = nnunet_parameter_name(network.config(), parameter.name);
    const std::vector<std::int64_t> expected = torch_shape(parameter.var->value().shape(), dim);
    const auto found = tensors.find(torch_name);
    if (found == tensors.end()) {
      problems.push_back("missing tensor '" + torch_name + "' " + shape_text(expected) + " (nnuc parameter '" +
                         parameter.name + "')");
      continue;
    }
    claimed.insert(torch_name);
    const Tensor& tensor = *found->second.first;
    const std::vector<std::int64_t> actual = dims_of(tensor.shape());
    if (actual != expected) {
      problems.push_back("tensor '" + found->second.second + "' is " + shape_text(actual) + " but nnuc's network (" +
                         parameter.name + ") needs " + shape_text(expected));
      continue;
    }
    assignments.push_back({parameter.var, &tensor});
  }
  for (const auto& [canonical, entry] : tensors) {
    if (claimed.count(canonical) == 0 && !pretrained) {
      problems.push_back("unexpected tensor '" + entry.second + "' " + shape_text(dims_of(entry.first->shape())) +
                         " (no parameter of nnuc's " +
                         (network.config().encoder == EncoderKind::Plain ? "PlainConvUNet" : "ResidualEncoderUNet") +
                         " takes it)");
    }
  }
  if (!problems.empty()) {
    std::string message;
    const std::size_t shown = std::min<std::size_t>(problems.size(), 12);
    for (std::size_t i = 0; i < shown; ++i) message += "\n  " + problems[i];
    if (shown < problems.size()) message += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    NNUC_THROW(InvalidInput, source, ": nnU-Net's network_weights do not fit nnuc's network (", problems.size(),
               " problem", problems.size() == 1 ? "" : "s",
               "; is the plans/dataset configuration the one the model "
               "was trained with?):",
               message);
  }

  for (const Assignment& assignment : assignments) {
    Tensor target = assignment.parameter->value();
    const std::vector<double> values = to_nnuc_layout(*assignment.source);
    Tensor host = target.dtype() == DType::f64
                      ? Tensor::from_vector(target.shape(), values)
                      : Tensor::from_vector(target.shape(), std::vector<float>(values.begin(), values.end()));
    NNUC_CHECK(host.dtype() == target.dtype(), source, ": nnuc parameters are f32 or f64, got ", target.describe());
    target.copy_from(host, Context::cpu());
  }
  return static_cast<int>(assignments.size());
}

}  // namespace nnuc::nn
