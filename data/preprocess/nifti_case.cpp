#include "data/preprocess/nifti_case.h"

#include <algorithm>
#include <cstring>
#include <future>

#include "kernels/core/error.h"

namespace nnuc::data {

LoadedCase read_nifti_case(const std::string& identifier, const std::vector<std::string>& image_files,
                           const std::string& label_file) {
  NNUC_CHECK(!image_files.empty(), "case '", identifier, "': no image files");
  // Every file at once, one thread each: inflating a .nii.gz is serial, so a case takes as long as its
  // slowest file rather than the sum. The futures are read in file order, so an error names the first
  // file that failed, as reading one after the other would (a future's destructor waits for its thread).
  std::vector<std::future<NiftiImage>> pending;
  for (std::size_t index = 1; index < image_files.size(); ++index)
    pending.push_back(std::async(std::launch::async, [&image_files, index] { return read_nifti(image_files[index]); }));
  std::future<NiftiLabel> pending_label;
  if (!label_file.empty())
    pending_label = std::async(std::launch::async, [&label_file] { return read_nifti_label(label_file); });
  std::vector<NiftiImage> images;
  std::int64_t channels = 0;
  for (std::size_t index = 0; index < image_files.size(); ++index) {
    images.push_back(index == 0 ? read_nifti(image_files.front()) : pending[index - 1].get());
    const std::string& file = image_files[index];
    const NiftiImage& image = images.back();
    const NiftiImage& first = images.front();
    NNUC_CHECK(image.voxels.shape()[1] == first.voxels.shape()[1] &&
                   image.voxels.shape()[2] == first.voxels.shape()[2] &&
                   image.voxels.shape()[3] == first.voxels.shape()[3],
               "case '", identifier, "': '", file, "' has shape ", image.voxels.describe(), ", '", image_files.front(),
               "' has ", first.voxels.describe(), " (all channels must have the same shape)");
    NNUC_CHECK(image.geometry.spacing == first.geometry.spacing, "case '", identifier, "': '", file, "' has spacing (",
               image.geometry.spacing[0], ", ", image.geometry.spacing[1], ", ", image.geometry.spacing[2], "), '",
               image_files.front(), "' has (", first.geometry.spacing[0], ", ", first.geometry.spacing[1], ", ",
               first.geometry.spacing[2], ") (all channels must have the same spacing)");
    channels += image.voxels.dim(0);
  }
  const Tensor& first = images.front().voxels;
  const std::int64_t volume = first.dim(1) * first.dim(2) * first.dim(3);
  LoadedCase result;
  result.identifier = identifier;
  result.image = Tensor::empty_cpu(Shape{channels, first.dim(1), first.dim(2), first.dim(3)}, DType::f32);
  std::int64_t offset = 0;
  for (const NiftiImage& image : images) {
    const std::size_t bytes = image.voxels.bytes();
    if (bytes > 0) std::memcpy(result.image.data<float>() + offset, image.voxels.data<float>(), bytes);
    offset += image.voxels.dim(0) * volume;
  }
  result.spacing = images.front().geometry.spacing;
  if (images.front().geometry.dim[0] == 2) {
    // A 2-D image: nnU-Net's SimpleITK reader gives it the spacing (999 * max in-plane, s1, s2) so that
    // the planner never resamples across "slices".
    result.spacing[0] = 999.0 * std::max(result.spacing[1], result.spacing[2]);
  }
  result.reader_properties = {{"reader", "nifti"}, {"geometry", nifti_geometry_to_json(images.front().geometry)}};
  if (!label_file.empty()) {
    NiftiLabel label = pending_label.get();
    NNUC_CHECK(label.labels.shape() == (Shape{first.dim(1), first.dim(2), first.dim(3)}), "case '", identifier, "': '",
               label_file, "' has shape ", label.labels.describe(), ", the images have (", first.dim(1), ", ",
               first.dim(2), ", ", first.dim(3), ")");
    result.seg = label.labels;
  }
  return result;
}

nlohmann::json nifti_geometry_to_json(const NiftiGeometry& g) {
  return {{"spacing", g.spacing},
          {"origin", g.origin},
          {"direction", g.direction},
          {"affine", g.affine},
          {"source", nifti_transform_source_name(g.source)},
          {"nifti_version", g.nifti_version},
          {"dim", g.dim},
          {"pixdim", g.pixdim},
          {"qform_code", g.qform_code},
          {"sform_code", g.sform_code},
          {"quatern", {g.quatern_b, g.quatern_c, g.quatern_d}},
          {"qoffset", {g.qoffset_x, g.qoffset_y, g.qoffset_z}},
          {"srow", g.srow},
          {"xyzt_units", g.xyzt_units}};
}

NiftiGeometry nifti_geometry_from_json(const nlohmann::json& json) {
  NiftiGeometry g;
  try {
    g.spacing = json.at("spacing").get<std::array<double, 3>>();
    g.origin = json.at("origin").get<std::array<double, 3>>();
    g.direction = json.at("direction").get<std::array<std::array<double, 3>, 3>>();
    g.affine = json.at("affine").get<std::array<std::array<double, 4>, 3>>();
    const std::string source = json.at("source").get<std::string>();
    bool known = false;
    for (NiftiTransformSource s :
         {NiftiTransformSource::sform, NiftiTransformSource::qform, NiftiTransformSource::pixdim}) {
      if (source == nifti_transform_source_name(s)) {
        g.source = s;
        known = true;
      }
    }
    NNUC_CHECK(known, "NIfTI geometry: unknown transform source '", source, "'");
    g.nifti_version = json.at("nifti_version").get<int>();
    g.dim = json.at("dim").get<std::array<std::int64_t, 8>>();
    g.pixdim = json.at("pixdim").get<std::array<double, 8>>();
    g.qform_code = json.at("qform_code").get<int>();
    g.sform_code = json.at("sform_code").get<int>();
    const auto quatern = json.at("quatern").get<std::array<double, 3>>();
    g.quatern_b = quatern[0];
    g.quatern_c = quatern[1];
    g.quatern_d = quatern[2];
    const auto qoffset = json.at("qoffset").get<std::array<double, 3>>();
    g.qoffset_x = qoffset[0];
    g.qoffset_y = qoffset[1];
    g.qoffset_z = qoffset[2];
    g.srow = json.at("srow").get<std::array<std::array<double, 4>, 3>>();
    g.xyzt_units = json.at("xyzt_units").get<int>();
  } catch (const nlohmann::json::exception& e) {
    NNUC_THROW(InvalidInput, "NIfTI geometry JSON is missing or has a malformed field: ", e.what());
  }
  return g;
}

}  // namespace nnuc::data
