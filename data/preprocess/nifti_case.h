// Reading one raw case from NIfTI files into a LoadedCase (case_source.h), the way nnU-Net's image
// readers do (nnunet_method.md §1.4): channel files in order, a 4-D file contributing one channel per
// volume; every channel must have the same shape and spacing (exactly; an error otherwise, as in
// nnU-Net); the label map must have the image's shape. A 2-D file (dim[0] = 2) gets SimpleITKIO's
// spacing (999 * max(s1, s2), s1, s2). The first channel's geometry becomes the
// case's reader_properties (nifti_geometry_to_json), so predictions can be written back with it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/nifti/nifti_io.h"
#include "data/preprocess/case_source.h"

namespace nnuc::data {

// requires: at least one image file; label_file empty for a case without labels.
LoadedCase read_nifti_case(const std::string& identifier, const std::vector<std::string>& image_files,
                           const std::string& label_file);

// Every field of a NiftiGeometry, losslessly (doubles round-trip through JSON).
nlohmann::json nifti_geometry_to_json(const NiftiGeometry& geometry);
// Inverse of nifti_geometry_to_json; InvalidInput naming a missing or malformed field.
NiftiGeometry nifti_geometry_from_json(const nlohmann::json& json);

}  // namespace nnuc::data
