// The pickle reader (nn/pth/pickle.h) on hand-written opcodes: what it builds, and the bounds it keeps
// on hostile bytes (memo, stack, marks, lengths, value count), plus random damage to a real data.pkl.
#include "nn/pth/pickle.h"

#include <filesystem>

#include "nn/pth/pth_reader.h"
#include "tests/support/test_support.h"

namespace nnuc::nn::pickle {
namespace {

using namespace std::string_literals;

Pickle parse(const std::string& bytes, const ParseLimits& limits = {}) {
  return parse_pickle(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "test.pkl", limits);
}

std::string error_of(const std::string& bytes, const ParseLimits& limits = {}) {
  return testing::io_error_of([&] { parse(bytes, limits); });
}
#define EXPECT_PICKLE_ERROR(bytes, text)                                          \
  do {                                                                            \
    const std::string message_ = error_of(bytes);                                 \
    EXPECT_NE(message_.find(text), std::string::npos) << "message: " << message_; \
  } while (0)

const std::string kProto = "\x80\x02"s;

TEST(Pickle, BuildsDictsListsTuplesAndScalars) {
  // {'a': [1, -2, 70000, 1.5, None, True, 'xy'], 'b': (3,), 'c': 2**40}
  const std::string bytes = kProto +
                            "}q\x00(X\x01\x00\x00\x00"s
                            "a]q\x01(K\x01J\xfe\xff\xff\xffJ\x70\x11\x01\x00"s +
                            "G\x3f\xf8\x00\x00\x00\x00\x00\x00"s + "N\x88\x8c\x02xyeX\x01\x00\x00\x00"s +
                            "bK\x03\x85X\x01\x00\x00\x00"s
                            "c\x8a\x06"s +
                            "\x00\x00\x00\x00\x00\x01"s + "u."s;
  const Pickle p = parse(bytes);
  const Value& root = p.at(p.root);
  ASSERT_EQ(root.kind, Kind::Dict);
  const Value* a = p.find(root, "a"s);
  ASSERT_TRUE(a != nullptr && a->kind == Kind::List);
  ASSERT_EQ(a->items.size(), 7u);
  EXPECT_EQ(p.at(a->items[0]).integer, 1);
  EXPECT_EQ(p.at(a->items[1]).integer, -2);
  EXPECT_EQ(p.at(a->items[2]).integer, 70000);
  EXPECT_EQ(p.at(a->items[3]).real, 1.5);
  EXPECT_EQ(p.at(a->items[4]).kind, Kind::None);
  EXPECT_EQ(p.at(a->items[5]).kind, Kind::Bool);
  EXPECT_EQ(p.at(a->items[6]).text, "xy"s);
  const Value* b = p.find(root, "b"s);
  ASSERT_TRUE(b != nullptr && b->kind == Kind::Tuple && b->items.size() == 1);
  EXPECT_EQ(p.at(b->items[0]).integer, 3);
  EXPECT_EQ(p.find(root, "c"s)->integer, std::int64_t{1} << 40);
  EXPECT_EQ(p.find(root, "d"s), nullptr);
}

TEST(Pickle, GlobalsAreNamedNeverCalled) {
  // os.system('touch x') as protocol 2 writes it, and an unknown class instantiated by NEWOBJ.
  const Pickle p = parse(kProto + "cos\nsystem\nX\x07\x00\x00\x00touch x\x85R."s);
  EXPECT_EQ(p.at(p.root).kind, Kind::Opaque);
  EXPECT_EQ(p.at(p.root).text, "os.system"s);
  const Pickle q = parse(kProto + "cmymodule\nThing\n)\x81}b."s);
  EXPECT_EQ(q.at(q.root).text, "mymodule.Thing"s);
  // _codecs.encode(str, 'latin1') is how protocol 2 writes bytes.
  const Pickle r = parse(kProto + "c_codecs\nencode\nX\x03\x00\x00\x00\xc3\xa9z\x8c\x06latin1\x86R."s);
  EXPECT_EQ(r.at(r.root).kind, Kind::Bytes);
  EXPECT_EQ(r.at(r.root).text, "\xe9z"s);
}

TEST(Pickle, SharedAndCyclicValuesNeedNoRecursion) {
  // l = []; l.append(l): a list that holds itself.
  const Pickle p = parse(kProto +
                         "]q\x00h\x00"s
                         "a."s);
  ASSERT_EQ(p.at(p.root).items.size(), 1u);
  EXPECT_EQ(p.at(p.root).items[0], p.root);
  // 200000 nested 1-tuples.
  const Pickle q = parse(kProto + "N"s + std::string(200000, '\x85') + "."s);
  EXPECT_EQ(q.at(q.root).kind, Kind::Tuple);
}

TEST(Pickle, RefusesHostileBytesWithTheOffsetAndOpcode) {
  EXPECT_PICKLE_ERROR(kProto + "h\x05."s, "test.pkl: pickle byte 2 (opcode BINGET): memo has no entry 5"s);
  EXPECT_PICKLE_ERROR(kProto + "j\xff\xff\xff\xff."s, "memo has no entry 4294967295"s);
  EXPECT_PICKLE_ERROR(kProto + "."s, "(opcode STOP): stack underflow"s);
  EXPECT_PICKLE_ERROR(kProto + "](a."s, "(opcode APPEND): stack underflow"s);  // pops below the MARK
  EXPECT_PICKLE_ERROR(kProto + "]t."s, "no MARK"s);
  EXPECT_PICKLE_ERROR(kProto + "q\x00"s, "stack underflow"s);
  EXPECT_PICKLE_ERROR(kProto + "X\xff\xff\xff\x7f"s, "needs 2147483647 bytes but only 0 remain"s);
  EXPECT_PICKLE_ERROR(kProto + "\x8d\xff\xff\xff\xff\xff\xff\xff\xff"s, "needs 18446744073709551615 bytes"s);
  EXPECT_PICKLE_ERROR(kProto + "\x95\x00\x00\x00\x00\x00\x01\x00\x00N."s, "frame of"s);
  EXPECT_PICKLE_ERROR(kProto + "N"s, "ends without STOP"s);
  EXPECT_PICKLE_ERROR(std::string(), "ends without STOP"s);
  EXPECT_PICKLE_ERROR(kProto + "\xff"s, "(opcode 0xff): not a pickle opcode"s);
  EXPECT_PICKLE_ERROR(kProto + "I12\n."s, "(opcode INT): opcode not supported"s);
  EXPECT_PICKLE_ERROR("\x80\x09N."s, "protocol 9"s);
  EXPECT_PICKLE_ERROR(kProto + "](K\x01K\x02u."s, "sets items of a list"s);
  EXPECT_PICKLE_ERROR(kProto + "}(K\x01u."s, "odd number"s);
  EXPECT_PICKLE_ERROR(kProto + "NN\x85R."s, "calls a None"s);
  EXPECT_PICKLE_ERROR(kProto + "cos\nsystem"s, "not terminated by a newline"s);
  EXPECT_PICKLE_ERROR(kProto + "NQ."s, "persistent id is not torch's"s);
  EXPECT_PICKLE_ERROR(kProto +
                          "(X\x07\x00\x00\x00storagectorch\nEvilStorage\nX\x01\x00\x00\x00"s
                          "0X\x03\x00\x00\x00"s
                          "cpuK\x01tQ."s,
                      "storage type torch.EvilStorage is not one nnuc reads"s);
  ParseLimits limits;
  limits.max_values = 10;
  const std::string message = error_of(kProto + std::string(20, ']') + "."s, limits);
  EXPECT_NE(message.find("more than 10 values"s), std::string::npos) << message;
}

TEST(Pickle, RejectsMalformedTensorsAtTheCall) {
  const std::string storage =
      "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"s
      "0X\x03\x00\x00\x00"s
      "cpuK\x06tQ"s;
  const std::string rebuild = "ctorch._utils\n_rebuild_tensor_v2\n("s;
  const Pickle good = parse(kProto + rebuild + storage + "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89tR."s);
  ASSERT_EQ(good.at(good.root).kind, Kind::Tensor);
  const TensorRef& ref = good.tensors.at(static_cast<std::size_t>(good.at(good.root).integer));
  EXPECT_EQ(ref.size, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(good.storages.at(ref.storage).numel, 6);
  EXPECT_PICKLE_ERROR(kProto + rebuild + storage + "K\x00K\x02\x85K\x03K\x01\x86\x89tR."s,
                      "1 dimensions but its stride 2"s);
  EXPECT_PICKLE_ERROR(kProto + rebuild + storage + "J\xff\xff\xff\xff)\x29\x89tR."s, "offset is not an int >= 0"s);
  EXPECT_PICKLE_ERROR(kProto + rebuild + "NK\x00))\x89tR."s, "tensor storage is a None"s);
}

// Random damage to a real nnU-Net data.pkl: every outcome is a value tree or an IoError.
TEST(Pickle, SurvivesRandomDamageToARealCheckpoint) {
  const std::filesystem::path file = std::filesystem::path(__FILE__).parent_path() / "fixtures"s / "nnunet_pth"s /
                                     "Dataset990_PthTiny"s / "nnUNetTrainer__nnUNetPlans__2d"s / "fold_0"s /
                                     "checkpoint_final.pth"s;
  const ZipArchive zip(file.string());
  const std::vector<std::uint8_t> original = zip.read("checkpoint_final/data.pkl"s, kMaxPickleBytes);
  ASSERT_GT(original.size(), 1000u);
  auto& rng = testing::rng();
  int parsed = 0, refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::uint8_t> bytes = original;
    if (trial % 3 == 0) {
      bytes.resize(rng() % bytes.size());
    } else {
      for (int flips = 1 + static_cast<int>(rng() % 8); flips > 0; --flips)
        bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
    }
    try {
      parse_pickle(bytes.data(), bytes.size(), "damaged.pkl"s);
      ++parsed;
    } catch (const IoError&) {
      ++refused;
    }
  }
  EXPECT_EQ(parsed + refused, 300);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace nnuc::nn::pickle
