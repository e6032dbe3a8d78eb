// CaseProperties <-> JSON (preprocess_case.h), shared by the preprocessed store and CASE.json.
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "data/preprocess/preprocess_case.h"
#include "kernels/core/error.h"

namespace nnuc::data {

namespace {

template <typename Array>
nlohmann::json triple(const Array& values) {
  return nlohmann::json::array({values[0], values[1], values[2]});
}

template <typename T>
T field(const nlohmann::json& object, const char* key, const std::string& source) {
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    NNUC_THROW(IoError, "'", source, "': properties field '", key, "' is missing or malformed (", e.what(), ")");
  }
}

void check_spacing(const Spacing3& spacing, const char* key, const std::string& source) {
  for (double value : spacing)
    if (!std::isfinite(value) || value <= 0)
      NNUC_THROW(IoError, "'", source, "': properties field '", key, "' is ", triple(spacing).dump(),
                 "; expected 3 finite values > 0");
}

void check_shape(const Shape3& shape, const char* key, const std::string& source) {
  for (std::int64_t size : shape)
    if (size < 1)
      NNUC_THROW(IoError, "'", source, "': properties field '", key, "' is ", triple(shape).dump(),
                 "; expected 3 sizes >= 1");
}

}  // namespace

nlohmann::json case_properties_to_json(const CaseProperties& properties) {
  nlohmann::json json = nlohmann::json::object();
  json["spacing"] = triple(properties.spacing);
  json["shape_before_cropping"] = triple(properties.shape_before_cropping);
  nlohmann::json bbox = nlohmann::json::array();
  for (int axis = 0; axis < 3; ++axis)
    bbox.push_back({properties.bbox_used_for_cropping.begin[axis], properties.bbox_used_for_cropping.end[axis]});
  json["bbox_used_for_cropping"] = bbox;
  json["shape_after_cropping_and_before_resampling"] = triple(properties.shape_after_cropping_and_before_resampling);
  json["spacing_after_resampling"] = triple(properties.spacing_after_resampling);
  json["reader_properties"] = properties.reader_properties;
  return json;
}

CaseProperties case_properties_from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) NNUC_THROW(IoError, "'", source, "': the case properties are not a JSON object");
  CaseProperties properties;
  properties.spacing = field<Spacing3>(json, "spacing", source);
  check_spacing(properties.spacing, "spacing", source);
  properties.shape_before_cropping = field<Shape3>(json, "shape_before_cropping", source);
  check_shape(properties.shape_before_cropping, "shape_before_cropping", source);
  const auto bbox = field<std::vector<std::array<std::int64_t, 2>>>(json, "bbox_used_for_cropping", source);
  if (bbox.size() != 3)
    NNUC_THROW(IoError, "'", source, "': properties field 'bbox_used_for_cropping' has ", bbox.size(),
               " axes; expected 3 [begin, end] pairs");
  for (int axis = 0; axis < 3; ++axis) {
    const auto [begin, end] = bbox[static_cast<std::size_t>(axis)];
    if (begin < 0 || begin >= end || end > properties.shape_before_cropping[axis])
      NNUC_THROW(IoError, "'", source, "': properties field 'bbox_used_for_cropping' axis ", axis, " is [", begin, ", ",
                 end, "); expected 0 <= begin < end <= shape_before_cropping ", properties.shape_before_cropping[axis]);
    properties.bbox_used_for_cropping.begin[axis] = begin;
    properties.bbox_used_for_cropping.end[axis] = end;
  }
  properties.shape_after_cropping_and_before_resampling =
      field<Shape3>(json, "shape_after_cropping_and_before_resampling", source);
  if (properties.shape_after_cropping_and_before_resampling != properties.bbox_used_for_cropping.shape())
    NNUC_THROW(IoError, "'", source, "': properties field 'shape_after_cropping_and_before_resampling' is ",
               triple(properties.shape_after_cropping_and_before_resampling).dump(),
               "; expected the shape of bbox_used_for_cropping ",
               triple(properties.bbox_used_for_cropping.shape()).dump());
  properties.spacing_after_resampling = field<Spacing3>(json, "spacing_after_resampling", source);
  check_spacing(properties.spacing_after_resampling, "spacing_after_resampling", source);
  properties.reader_properties = field<nlohmann::json>(json, "reader_properties", source);
  if (!properties.reader_properties.is_object())
    NNUC_THROW(IoError, "'", source, "': properties field 'reader_properties' is not a JSON object");
  return properties;
}

}  // namespace nnuc::data
