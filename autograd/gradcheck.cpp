#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "kernels/core/random.h"

namespace nnuc::autograd {

namespace {

Tensor random_like(const Shape& shape, Rng& rng) {
  std::vector<double> values(static_cast<std::size_t>(shape.numel()));
  for (double& value : values) value = 2 * rng.uniform() - 1;
  return Tensor::from_vector(shape, values);
}

// s = <f(inputs), r>, no tape recording.
double projected(const GraphFn& f, const std::vector<Tensor>& inputs, const Tensor& projection) {
  Tape tape(Context::cpu());
  tape.set_recording(false);
  std::vector<Var> vars;
  for (const Tensor& input : inputs) vars.emplace_back(input, false);
  const std::vector<double> out = f(tape, vars).value().to_vector<double>();
  const double* r = projection.data<double>();
  double total = 0;
  for (std::size_t index = 0; index < out.size(); ++index) total += out[index] * r[index];
  return total;
}

struct Analytic {
  Tensor projection;
  std::vector<Tensor> grads;
};

Analytic analytic_gradients(const GraphFn& f, const std::vector<Tensor>& inputs, const std::vector<bool>& requires,
                            Rng& rng) {
  for (const Tensor& input : inputs)
    NNUC_CHECK(input.dtype() == DType::f64 && input.device() == Device::CPU,
               "gradcheck inputs must be f64 on CPU, got ", input.describe());
  Tape tape(Context::cpu());
  std::vector<Var> vars;
  for (std::size_t index = 0; index < inputs.size(); ++index) vars.emplace_back(inputs[index], requires[index]);
  Var out = f(tape, vars);
  NNUC_CHECK(out.value().dtype() == DType::f64, "gradcheck: the graph's output must be f64, got ",
             out.value().describe());
  Analytic result{random_like(out.shape(), rng), {}};
  tape.backward(out, result.projection.copy_to(Context::cpu()));
  for (std::size_t index = 0; index < inputs.size(); ++index) result.grads.push_back(vars[index].grad());
  return result;
}

}  // namespace

GradcheckResult gradcheck(const GraphFn& f, const std::vector<Tensor>& inputs, const std::vector<bool>& requires,
                          const GradcheckOptions& options) {
  NNUC_CHECK(inputs.size() == requires.size(), "gradcheck: ", inputs.size(), " inputs, ", requires.size(), " flags");
  Rng rng(options.seed);
  const Analytic analytic = analytic_gradients(f, inputs, requires, rng);
  GradcheckResult result;
  std::vector<Tensor> perturbed;
  for (const Tensor& input : inputs) perturbed.push_back(input.copy_to(Context::cpu()));
  for (std::size_t which = 0; which < inputs.size(); ++which) {
    if (!requires[which]) continue;
    double* values = perturbed[which].data<double>();
    const Tensor& grad = analytic.grads[which];
    for (std::int64_t index = 0; index < inputs[which].numel(); ++index) {
      const double original = values[index];
      values[index] = original + options.step;
      const double plus = projected(f, perturbed, analytic.projection);
      values[index] = original - options.step;
      const double minus = projected(f, perturbed, analytic.projection);
      values[index] = original;
      const double numeric = (plus - minus) / (2 * options.step);
      const double exact = grad.defined() ? grad.data<double>()[index] : 0.0;
      const double error = std::fabs(exact - numeric);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (!(error <= options.atol + options.rtol * std::fabs(numeric)) && result.ok) {
        result.ok = false;
        std::ostringstream out;
        out << "input " << which << " element " << index << ": analytic " << exact << ", numeric " << numeric;
        result.failure = out.str();
      }
    }
  }
  return result;
}

GradcheckResult directional_gradcheck(const GraphFn& f, const std::vector<Tensor>& inputs,
                                      const std::vector<bool>& requires, const GradcheckOptions& options) {
  NNUC_CHECK(inputs.size() == requires.size(), "gradcheck: ", inputs.size(), " inputs, ", requires.size(), " flags");
  Rng rng(options.seed);
  const Analytic analytic = analytic_gradients(f, inputs, requires, rng);
  std::vector<Tensor> plus, minus;
  double predicted = 0;
  for (std::size_t which = 0; which < inputs.size(); ++which) {
    plus.push_back(inputs[which].copy_to(Context::cpu()));
    minus.push_back(inputs[which].copy_to(Context::cpu()));
    if (!requires[which]) continue;
    const Tensor direction = random_like(inputs[which].shape(), rng);
    const double* v = direction.data<double>();
    const Tensor& grad = analytic.grads[which];
    for (std::int64_t index = 0; index < inputs[which].numel(); ++index) {
      plus[which].data<double>()[index] += options.step * v[index];
      minus[which].data<double>()[index] -= options.step * v[index];
      if (grad.defined()) predicted += grad.data<double>()[index] * v[index];
    }
  }
  const double numeric =
      (projected(f, plus, analytic.projection) - projected(f, minus, analytic.projection)) / (2 * options.step);
  GradcheckResult result;
  result.max_abs_error = std::fabs(predicted - numeric);
  if (!(result.max_abs_error <= options.atol + options.rtol * std::fabs(numeric))) {
    result.ok = false;
    std::ostringstream out;
    out << "directional derivative: analytic " << predicted << ", numeric " << numeric;
    result.failure = out.str();
  }
  return result;
}

}  // namespace nnuc::autograd
