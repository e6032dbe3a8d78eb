#include "nn/predict/predictor.h"

#include <chrono>
#include <cstring>
#include <map>

namespace nnuc::nn {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void load_weights(UNet& network, const std::vector<std::pair<std::string, Tensor>>& weights, const Context& ctx,
                  const std::string& where) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, tensor] : weights) by_name[name] = &tensor;
  const std::vector<NamedParameter> parameters = network.parameters();
  NNUC_CHECK(by_name.size() == parameters.size(), where, ": ", by_name.size(), " weight tensors for a network of ",
             parameters.size(), " parameters");
  for (const NamedParameter& parameter : parameters) {
    const auto found = by_name.find(parameter.name);
    NNUC_CHECK(found != by_name.end(), where, ": no weights for parameter '", parameter.name, "'");
    Tensor target = parameter.var->value();
    const Tensor& stored = *found->second;
    NNUC_CHECK(stored.shape() == target.shape() && stored.dtype() == target.dtype(), where, ": weights '",
               parameter.name, "' are ", stored.describe(), " but the network expects ", target.describe());
    target.copy_from(stored, ctx);
  }
}

}  // namespace

PredictorModel::PredictorModel(PredictorModelSpec spec, Device device, int cuda_index)
    : spec_(std::move(spec)), device_(device), cuda_index_(cuda_index) {
  NNUC_CHECK(device == Device::CPU || device == Device::CUDA, "PredictorModel: device ", device_name(device),
             ", expected CPU or CUDA");
  NNUC_CHECK(!spec_.folds.empty() && spec_.folds.size() == spec_.fold_weights.size(), spec_.folder, ": ",
             spec_.folds.size(), " folds with ", spec_.fold_weights.size(), " sets of weights");
  if (device == Device::CUDA) owned_context_ = Context::cuda(cuda_index);
  const Context& ctx = device == Device::CUDA ? *owned_context_ : Context::cpu();
  UNetConfig config = spec_.network;
  config.deep_supervision = false;
  spec_.network = config;
  for (std::size_t f = 0; f < spec_.folds.size(); ++f) {
    auto network = std::make_unique<UNet>(ctx, config, DType::f32, 0);
    load_weights(*network, spec_.fold_weights[f], ctx, spec_.folder + " fold " + spec_.folds[f]);
    networks_.push_back(std::move(network));
  }
  ctx.synchronize();           // the weights are complete before any session's stream reads them
  spec_.fold_weights.clear();  // the host copies are no longer needed
  spec_.fold_weights.shrink_to_fit();
}

PredictorModel::~PredictorModel() = default;

std::vector<UNet*> PredictorModel::networks() const {
  std::vector<UNet*> out;
  for (const auto& network : networks_) out.push_back(network.get());
  return out;
}

PredictorSession::PredictorSession(std::shared_ptr<const PredictorModel> model, PredictOptions options)
    : model_(std::move(model)), options_(options) {
  NNUC_CHECK(model_ != nullptr, "PredictorSession: no model");
  NNUC_CHECK(options_.step_size > 0 && options_.step_size <= 1, "PredictorSession: step size ", options_.step_size,
             ", expected in (0, 1]");
  if (model_->device() == Device::CUDA) {
    owned_context_ = Context::cuda(model_->cuda_index());
    owned_context_->set_deterministic(options_.deterministic);
    context_ = owned_context_.get();
  } else {
    context_ = &Context::cpu();
  }
}

PredictorSession::~PredictorSession() = default;

class PredictorSession::InUse {
 public:
  InUse(const PredictorSession& session, const char* call) : session_(session) {
    const std::thread::id me = std::this_thread::get_id();
    std::thread::id idle{};
    if (!session.user_.compare_exchange_strong(idle, me, std::memory_order_acquire) && idle != me) {
      NNUC_THROW(InvalidInput, "PredictorSession::", call, " of the model in ", session.model_->spec().folder,
                 ": the session is in use by another thread; a session serves one thread at a time, so create "
                 "one PredictorSession per thread over the shared PredictorModel");
    }
    ++session.user_depth_;
  }
  ~InUse() {
    if (--session_.user_depth_ == 0) session_.user_.store(std::thread::id{}, std::memory_order_release);
  }
  InUse(const InUse&) = delete;
  InUse& operator=(const InUse&) = delete;

 private:
  const PredictorSession& session_;
};

Tensor append_one_hot(const Tensor& data, const Tensor& seg, const std::vector<int>& labels) {
  NNUC_CHECK(data.rank() == 4 && data.dtype() == DType::f32 && data.device() == Device::CPU,
             "append_one_hot: data must be f32 (C, b0, b1, b2) on the host, got ", data.describe());
  NNUC_CHECK(seg.rank() == 3 && seg.dtype() == DType::i16 && seg.dim(0) == data.dim(1) && seg.dim(1) == data.dim(2) &&
                 seg.dim(2) == data.dim(3),
             "append_one_hot: seg must be i16 of the data's spatial shape, got ", seg.describe(), " for ",
             data.describe());
  const std::int64_t channels = data.dim(0), voxels = seg.numel();
  Tensor out = Tensor::empty_cpu(
      Shape{channels + static_cast<std::int64_t>(labels.size()), data.dim(1), data.dim(2), data.dim(3)}, DType::f32);
  std::memcpy(out.data<float>(), data.data<float>(), data.bytes());
  const std::int16_t* s = seg.data<std::int16_t>();
  for (std::size_t l = 0; l < labels.size(); ++l) {
    float* channel = out.data<float>() + (channels + static_cast<std::int64_t>(l)) * voxels;
    const int label = labels[l];
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < voxels; ++i) channel[i] = s[i] == label ? 1.0f : 0.0f;
  }
  return out;
}

data::PreprocessedCase PredictorSession::preprocess(const data::LoadedCase& input) const {
  const PredictorModelSpec& spec = model_->spec();
  NNUC_CHECK(input.image.defined() && input.image.rank() == 4 && input.image.dtype() == DType::f32, "case ",
             input.identifier, ": the image must be f32 (C, a0, a1, a2), got ",
             input.image.defined() ? input.image.describe() : std::string("nothing"));
  NNUC_CHECK(input.image.dim(0) == spec.image_channels, "case ", input.identifier, ": ", input.image.dim(0),
             " image channels, but the model in ", spec.folder, " expects ", spec.image_channels);
  const bool cascade = !spec.previous_stage.empty();
  NNUC_CHECK(!cascade || input.seg.defined(), "case ", input.identifier, ": configuration ", spec.configuration,
             " is a cascade stage and needs the prediction of ", spec.previous_stage, " for this case");
  data::LoadedCase source = input;
  if (!cascade) source.seg = Tensor();
  data::PreprocessingPlan plan = spec.preprocessing;
  plan.sampling_classes.clear();  // no class locations at inference
  plan.keep_mask_seg = false;     // a cascade stage has the previous stage's seg; nothing else uses one
  data::PreprocessedCase preprocessed = data::preprocess_case(source, plan);
  if (cascade) preprocessed.data = append_one_hot(preprocessed.data, preprocessed.seg, spec.previous_stage_labels);
  preprocessed.seg = Tensor();
  return preprocessed;
}

Tensor PredictorSession::logits(const Tensor& data, SlidingWindowStats* stats,
                                const std::function<void(std::int64_t, std::int64_t)>& progress,
                                const CancelFlag* cancel) const {
  const InUse in_use(*this, "logits");
  const PredictorModelSpec& spec = model_->spec();
  NNUC_CHECK(data.rank() == 4 && data.dim(0) == spec.network.input_channels, "predictor of ", spec.folder,
             ": preprocessed data ", data.describe(), " for a network of ", spec.network.input_channels,
             " input channels");
  SlidingWindowOptions window;
  window.patch = spec.patch;
  window.is_2d = spec.is_2d;
  window.step_size = options_.step_size;
  window.use_mirroring = options_.use_mirroring && !spec.mirror_axes.empty();
  window.mirror_axes = spec.mirror_axes;
  window.tile_batch = options_.tile_batch;
  window.activations = context_->device() == Device::CUDA && options_.mixed_precision ? DType::bf16 : DType::f32;
  window.accumulate_on_device = options_.accumulate_on_device;
  return predict_sliding_window(*context_, model_->networks(), data, window, stats, progress, cancel);
}

Prediction PredictorSession::predict_preprocessed(const Tensor& data, const data::CaseProperties& properties,
                                                  const CancelFlag* cancel) const {
  const InUse in_use(*this, "predict_preprocessed");
  Prediction prediction;
  prediction.properties = properties;
  throw_if_cancelled(cancel, "before the network");
  auto start = std::chrono::steady_clock::now();
  const Tensor logits_ = logits(data, &prediction.stats, nullptr, cancel);
  prediction.network_seconds = seconds_since(start);
  throw_if_cancelled(cancel, "before the export");
  start = std::chrono::steady_clock::now();
  data::ExportedPrediction exported =
      data::export_prediction(logits_, properties, model_->spec().export_plan, options_.save_probabilities);
  prediction.segmentation = std::move(exported.segmentation);
  prediction.probabilities = std::move(exported.probabilities);
  prediction.export_seconds = seconds_since(start);
  return prediction;
}

Prediction PredictorSession::predict(const data::LoadedCase& input, const CancelFlag* cancel) const {
  const InUse in_use(*this, "predict");
  throw_if_cancelled(cancel, "before preprocessing");
  const auto start = std::chrono::steady_clock::now();
  const data::PreprocessedCase preprocessed = preprocess(input);
  const double preprocess_seconds = seconds_since(start);
  Prediction prediction = predict_preprocessed(preprocessed.data, preprocessed.properties, cancel);
  prediction.preprocess_seconds = preprocess_seconds;
  return prediction;
}

}  // namespace nnuc::nn
