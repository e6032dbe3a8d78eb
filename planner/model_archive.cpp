#include "planner/model_archive.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <regex>
#include <set>

#include "data/dataset/atomic_file.h"
#include "data/export/zip_error.h"
#include "kernels/core/error.h"
#include "planner/model_selection.h"

namespace nnuc::planner {

namespace {

namespace fs = std::filesystem;

constexpr zip_uint64_t kMaxMembers = 1u << 20;  // a results tree of a few datasets holds thousands
constexpr std::size_t kCopyChunk = 1u << 20;

bool is_file(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

// The files of an export in archive order, each with its name relative to the results root.
class ExportList {
 public:
  explicit ExportList(fs::path root) : root_(std::move(root)) {}
  void add(const fs::path& file) {
    const std::string name = file.lexically_relative(root_).generic_string();
    if (seen_.insert(name).second) files_.emplace_back(file, name);
  }
  void add_if_present(const fs::path& file) {
    if (is_file(file)) add(file);
  }
  // Every plain file directly in `folder` except names for which `skip` is true.
  template <typename Skip>
  void add_folder_files(const fs::path& folder, Skip&& skip) {
    std::error_code error;
    if (!fs::is_directory(folder, error)) return;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder))
      if (entry.is_regular_file() && !skip(entry.path().filename().string())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) add(file);
  }
  const std::vector<std::pair<fs::path, std::string>>& files() const { return files_; }

 private:
  fs::path root_;
  std::set<std::string> seen_;
  std::vector<std::pair<fs::path, std::string>> files_;
};

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// The checkpoint file of `name` in a fold: the name as given when it has an extension, else its
// .nnuc file where one exists, else its .pth file. Empty when none exists.
fs::path checkpoint_file(const fs::path& fold, const std::string& name) {
  if (fs::path(name).has_extension()) return is_file(fold / name) ? fold / name : fs::path();
  for (const char* extension : {".nnuc", ".pth"})
    if (is_file(fold / (name + extension))) return fold / (name + extension);
  return {};
}

// The model identifiers (<T>__<P>__<C>) of an ensemble folder "ensemble___<m1>___<m2>___<folds>".
std::vector<std::string> ensemble_members(const std::string& folder_name) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = folder_name.find("___", start);
    parts.push_back(folder_name.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 3;
  }
  if (parts.size() < 3 || parts.front() != "ensemble") return {};
  return std::vector<std::string>(parts.begin() + 1, parts.end() - 1);
}

std::string octal(zip_uint32_t value) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + (value & 7u)));
    value >>= 3;
  } while (value != 0);
  return "0" + digits;
}

using Archive = std::unique_ptr<zip_t, void (*)(zip_t*)>;

void discard(zip_t* archive) {
  if (archive != nullptr) zip_discard(archive);
}

}  // namespace

std::string unsafe_member_reason(const std::string& name) {
  if (name.empty()) return "an empty name";
  if (name.front() == '/') return "an absolute path";
  for (const unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "a control character";
    if (c == '\\') return "a backslash (names use '/')";
    if (c == ':') return "a ':' (a drive letter or stream name)";
  }
  std::size_t start = 0;
  int component = 0;
  while (start < name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, end - start);
    if (part == "..") return "a '..' component";
    if (part.empty() || part == ".") return "an empty or '.' component";
    static const std::regex dataset_folder("Dataset[0-9]{3}_.+");
    if (component == 0 && !std::regex_match(part, dataset_folder))
      return "a first folder that is not DatasetXXX_Name (the archive is not an nnU-Net model archive)";
    ++component;
    start = end + 1;
  }
  if (component < 2 && name.back() != '/') return "a file outside a DatasetXXX_Name folder";
  return {};
}

ModelExportResult export_model_zip(const std::string& results_root, const std::string& dataset_name,
                                   const std::string& zip_path, const ModelExportOptions& options) {
  const fs::path root = fs::absolute(results_root).lexically_normal();
  const fs::path dataset = root / dataset_name;
  NNUC_CHECK(fs::is_directory(dataset), dataset.string(), ": no such results folder (nothing trained for ",
             dataset_name, " under ", root.string(), ")");
  NNUC_CHECK(!options.configurations.empty() && !options.folds.empty() && !options.checkpoints.empty(),
             "export_model_zip: configurations, folds and checkpoints must not be empty");
  ModelExportResult result;
  ExportList list(root);
  std::set<std::string> exported_models;
  for (const std::string& configuration : options.configurations) {
    const std::string identifier = options.trainer + "__" + options.plans + "__" + configuration;
    const fs::path model = dataset / identifier;
    if (!fs::is_directory(model)) {
      NNUC_CHECK(!options.strict, model.string(), ": configuration ", configuration,
                 " has no trained model (name the trained ones with -c, or pass --not_strict)");
      result.skipped.push_back(configuration + ": no folder " + model.string());
      continue;
    }
    for (const char* required : {"plans.json", "dataset.json"})
      NNUC_CHECK(is_file(model / required), (model / required).string(), ": missing; the model folder is incomplete");
    for (const std::string& fold : options.folds) {
      const fs::path fold_folder = model / ("fold_" + fold);
      NNUC_CHECK(fs::is_directory(fold_folder), fold_folder.string(), ": fold ", fold,
                 " was asked for but is not trained (-f names the folds)");
      list.add_if_present(fold_folder / "debug.json");
      for (const std::string& checkpoint : options.checkpoints) {
        const fs::path file = checkpoint_file(fold_folder, checkpoint);
        if (file.empty()) {
          NNUC_CHECK(!options.strict, fold_folder.string(), ": no checkpoint '", checkpoint,
                     "' (.nnuc or .pth; -chk names the checkpoints, --not_strict skips missing ones)");
          result.skipped.push_back(identifier + "/fold_" + fold + ": no " + checkpoint);
          continue;
        }
        list.add(file);
      }
      list.add_if_present(fold_folder / "progress.png");
      list.add_if_present(fold_folder / "network_architecture.pdf");
      if (options.export_crossval_predictions) {
        list.add_folder_files(fold_folder / "validation", [](const std::string& name) {
          return ends_with(name, ".npz") || ends_with(name, ".pkl");
        });
      } else {
        list.add_if_present(fold_folder / "validation" / "summary.json");
      }
    }
    const fs::path crossval = model / crossval_folder_name(options.folds);
    if (options.export_crossval_predictions) {
      list.add_folder_files(crossval, [](const std::string&) { return false; });
    } else {
      for (const char* name : {"summary.json", "postprocessing.pkl", "postprocessing.json"})
        list.add_if_present(crossval / name);
    }
    list.add(model / "plans.json");
    list.add_if_present(model / "dataset_fingerprint.json");
    list.add(model / "dataset.json");
    exported_models.insert(identifier);
  }
  NNUC_CHECK(!exported_models.empty(), dataset.string(), ": none of the configurations asked for is trained");

  // Ensembles whose members are all exported here.
  std::error_code error;
  if (fs::is_directory(dataset / "ensembles", error)) {
    std::vector<fs::path> ensembles;
    for (const auto& entry : fs::directory_iterator(dataset / "ensembles"))
      if (entry.is_directory()) ensembles.push_back(entry.path());
    std::sort(ensembles.begin(), ensembles.end());
    for (const fs::path& ensemble : ensembles) {
      const std::vector<std::string> members = ensemble_members(ensemble.filename().string());
      if (members.empty() || !std::all_of(members.begin(), members.end(),
                                          [&](const std::string& member) { return exported_models.count(member) > 0; }))
        continue;
      if (options.export_crossval_predictions) {
        list.add_folder_files(ensemble, [](const std::string&) { return false; });
      } else {
        for (const char* name : {"summary.json", "postprocessing.pkl", "postprocessing.json"})
          list.add_if_present(ensemble / name);
      }
    }
  }
  for (const char* name : {"inference_information.json", "inference_instructions.txt", "inference_information.txt"})
    list.add_if_present(dataset / name);

  // libzip writes the archive to a temp file next to zip_path and renames it on zip_close.
  int code = 0;
  Archive archive(zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code), discard);
  if (!archive) NNUC_THROW(IoError, zip_path, ": cannot create the archive: ", data::zip_error_text(code));
  for (const auto& [file, name] : list.files()) {
    zip_source_t* source = zip_source_file(archive.get(), file.c_str(), 0, -1);
    if (source == nullptr) NNUC_THROW(IoError, file.string(), ": cannot be read: ", zip_strerror(archive.get()));
    const zip_int64_t index = zip_file_add(archive.get(), name.c_str(), source, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (index < 0) {
      zip_source_free(source);
      NNUC_THROW(IoError, zip_path, ": cannot add '", name, "': ", zip_strerror(archive.get()));
    }
    result.members.push_back(name);
    result.bytes += static_cast<std::uint64_t>(fs::file_size(file));
  }
  if (zip_close(archive.get()) != 0)
    NNUC_THROW(IoError, zip_path, ": writing the archive failed: ", zip_strerror(archive.get()));
  archive.release();  // zip_close freed it
  return result;
}

ModelInstallResult install_model_zip(const std::string& zip_path, const std::string& results_root) {
  int code = 0;
  Archive archive(zip_open(zip_path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code), discard);
  if (!archive) NNUC_THROW(IoError, zip_path, ": cannot be read as a zip archive: ", data::zip_error_text(code));
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  NNUC_CHECK(count > 0, zip_path, ": the archive is empty");
  NNUC_CHECK(static_cast<zip_uint64_t>(count) <= kMaxMembers, zip_path, ": ", count, " members; at most ", kMaxMembers,
             " are accepted");

  // Every member is checked before anything is written.
  struct Member {
    zip_uint64_t index;
    std::string name;
    zip_uint64_t size;
    bool folder;
  };
  std::vector<Member> members;
  std::set<std::string> names;
  for (zip_uint64_t index = 0; index < static_cast<zip_uint64_t>(count); ++index) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive.get(), index, ZIP_FL_ENC_GUESS, &stat) != 0 || (stat.valid & ZIP_STAT_NAME) == 0 ||
        (stat.valid & ZIP_STAT_SIZE) == 0)
      NNUC_THROW(IoError, zip_path, ": member ", index, " cannot be read: ", zip_strerror(archive.get()));
    const std::string name = stat.name;
    const std::string reason = unsafe_member_reason(name);
    NNUC_CHECK(reason.empty(), zip_path, ": member '", name, "' is refused: ", reason, "; nothing was installed");
    zip_uint8_t system = 0;
    zip_uint32_t attributes = 0;
    if (zip_file_get_external_attributes(archive.get(), index, 0, &system, &attributes) == 0 &&
        system == ZIP_OPSYS_UNIX) {
      const zip_uint32_t type = (attributes >> 16) & 0170000u;
      NNUC_CHECK(type == 0 || type == 0100000u || type == 0040000u, zip_path, ": member '", name,
                 "' is refused: it is a symbolic link or special file (file type ", octal(type),
                 "); nothing was installed");
    }
    const bool folder = name.back() == '/';
    const std::string key = folder ? name.substr(0, name.size() - 1) : name;
    NNUC_CHECK(names.insert(key).second, zip_path, ": member '", name, "' appears twice; nothing was installed");
    members.push_back({index, name, stat.size, folder});
  }
  for (const Member& member : members)  // a file and a folder of the same name, in either order
    if (!member.folder)
      for (const Member& other : members)
        NNUC_CHECK(other.name.compare(0, member.name.size() + 1, member.name + "/") != 0, zip_path, ": member '",
                   other.name, "' lies below the file '", member.name, "'; nothing was installed");

  ModelInstallResult result;
  const fs::path root = fs::absolute(results_root).lexically_normal();
  fs::create_directories(root);
  std::set<std::string> models;
  std::vector<unsigned char> buffer(kCopyChunk);
  for (const Member& member : members) {
    const fs::path target = root / fs::path(member.name).relative_path();
    if (member.folder) {
      fs::create_directories(target);
      continue;
    }
    fs::create_directories(target.parent_path());
    const bool existed = fs::exists(target);
    zip_file_t* file = zip_fopen_index(archive.get(), member.index, 0);
    if (file == nullptr)
      NNUC_THROW(IoError, zip_path, ": cannot open member '", member.name, "': ", zip_strerror(archive.get()));
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(file, zip_fclose);
    data::write_file_atomic(target.string(), [&](int fd, const std::string& temp) {
      zip_uint64_t done = 0;
      for (;;) {
        const zip_int64_t got = zip_fread(file, buffer.data(), buffer.size());
        if (got < 0)  // libzip checks the CRC-32 when the member ends
          NNUC_THROW(IoError, zip_path, ": member '", member.name, "' is corrupt: ", zip_file_strerror(file));
        if (got == 0) break;
        done += static_cast<zip_uint64_t>(got);
        if (done > member.size)
          NNUC_THROW(IoError, zip_path, ": member '", member.name, "' holds more than the ", member.size,
                     " bytes its directory entry declares");
        data::write_all(fd, buffer.data(), static_cast<std::size_t>(got), temp);
      }
      if (done != member.size)
        NNUC_THROW(IoError, zip_path, ": member '", member.name, "' holds ", done, " bytes; its directory entry says ",
                   member.size);
    });
    result.files.push_back(target.string());
    result.replaced += existed ? 1 : 0;
    // DatasetXXX_Name/<T>__<P>__<C>/plans.json marks a model folder.
    const fs::path name(member.name);
    if (name.filename() == "plans.json" && std::distance(name.begin(), name.end()) == 3 &&
        name.parent_path().filename().string().find("__") != std::string::npos)
      models.insert(target.parent_path().string());
  }
  result.model_folders.assign(models.begin(), models.end());
  return result;
}

}  // namespace nnuc::planner
