#include "nn/pth/postprocessing_pickle.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <vector>

#include "kernels/core/error.h"
#include "nn/pth/pickle.h"

namespace nnuc::nn {

namespace {

using Json = nlohmann::ordered_json;
using pickle::Kind;
using pickle::Pickle;
using pickle::Value;

constexpr const char* kModule = "nnunetv2.postprocessing.remove_connected_components.";

std::vector<std::uint8_t> read_bounded(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) NNUC_THROW(IoError, path, ": cannot be opened for reading");
  std::vector<std::uint8_t> bytes(kMaxPostprocessingPickleBytes + 1);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) NNUC_THROW(IoError, path, ": read failed");
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  if (bytes.size() > kMaxPostprocessingPickleBytes)
    NNUC_THROW(IoError, path, ": larger than ", kMaxPostprocessingPickleBytes,
               " bytes; expected nnU-Net's postprocessing.pkl (a few hundred bytes)");
  return bytes;
}

// A label (an int) or a list of labels (a list or tuple of ints) as JSON; `what` names the entry.
Json labels_json(const Pickle& pickled, const Value& value, const std::string& what) {
  if (value.kind == Kind::Int) return value.integer;
  NNUC_CHECK(value.kind == Kind::List || value.kind == Kind::Tuple, what, " is a ", pickle::kind_name(value.kind),
             "; expected a label (int) or labels (a list or tuple of ints)");
  Json labels = Json::array();
  for (std::size_t i = 0; i < value.items.size(); ++i) {
    const Value& item = pickled.at(value.items[i]);
    NNUC_CHECK(item.kind == Kind::Int, what, "[", i, "] is a ", pickle::kind_name(item.kind), "; expected an int");
    labels.push_back(item.integer);
  }
  return labels;
}

// Python identifiers and dotted names only (what nnU-Net's names and keys are): anything else is named
// by its length, so a damaged name never reaches a JSON document or a terminal as raw bytes.
bool is_plain_name(const std::string& text) {
  return !text.empty() && text.size() <= 256 && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

std::string printable(const std::string& text) {
  return is_plain_name(text) ? text : "a name of " + std::to_string(text.size()) + " bytes that is not a Python name";
}

}  // namespace

bool looks_like_pickle(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[2] = {0, 0};
  in.read(reinterpret_cast<char*>(head), 2);
  return in.gcount() == 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
}

Json read_postprocessing_pickle(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_bounded(path);
  const Pickle pickled = pickle::parse_pickle(bytes.data(), bytes.size(), path);
  const Value& root = pickled.at(pickled.root);
  NNUC_CHECK((root.kind == Kind::Tuple || root.kind == Kind::List) && root.items.size() == 2, path, ": holds a ",
             pickle::kind_name(root.kind), " of ", root.items.size(),
             " items; expected nnU-Net's postprocessing.pkl, a pair (functions, kwargs)");
  const Value& functions = pickled.at(root.items[0]);
  const Value& kwargs = pickled.at(root.items[1]);
  NNUC_CHECK(functions.kind == Kind::List && kwargs.kind == Kind::List, path,
             ": expected a list of functions and a list of kwargs dicts, got a ", pickle::kind_name(functions.kind),
             " and a ", pickle::kind_name(kwargs.kind));
  NNUC_CHECK(functions.items.size() == kwargs.items.size(), path, ": ", functions.items.size(), " functions but ",
             kwargs.items.size(), " kwargs dicts");
  Json document = Json::object();
  document["postprocessing_fns"] = Json::array();
  document["postprocessing_kwargs"] = Json::array();
  for (std::size_t i = 0; i < functions.items.size(); ++i) {
    const Value& function = pickled.at(functions.items[i]);
    NNUC_CHECK(function.kind == Kind::Global, path, ": function ", i, " is a ", pickle::kind_name(function.kind),
               "; expected a function of ", kModule);
    const std::string& name = function.text;
    const std::string module(kModule);
    NNUC_CHECK(is_plain_name(name) && name.size() > module.size() && name.compare(0, module.size(), module) == 0, path,
               ": function ", i, " is ", printable(name), "; expected a function of ", kModule);
    document["postprocessing_fns"].push_back(name.substr(module.size()));

    const std::string what = path + ": kwargs " + std::to_string(i);
    const Value& dict = pickled.at(kwargs.items[i]);
    NNUC_CHECK(dict.kind == Kind::Dict, what, " is a ", pickle::kind_name(dict.kind), "; expected a dict");
    Json entry = Json::object();
    for (std::size_t k = 0; k + 1 < dict.items.size(); k += 2) {
      const Value& key = pickled.at(dict.items[k]);
      NNUC_CHECK(key.kind == Kind::String && is_plain_name(key.text), what, " has the key ",
                 key.kind == Kind::String ? printable(key.text) : std::string("of kind ") + pickle::kind_name(key.kind),
                 "; expected the string \"labels_or_regions\"");
      entry[key.text] = labels_json(pickled, pickled.at(dict.items[k + 1]), what + "." + key.text);
    }
    document["postprocessing_kwargs"].push_back(std::move(entry));
  }
  return document;
}

}  // namespace nnuc::nn
