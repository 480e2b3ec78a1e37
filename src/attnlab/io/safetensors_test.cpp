#include "attnlab/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "attnlab/core/rng.h"
#include "harness/assert_close.h"
#include "harness/temp_dir.h"

namespace attnlab::io {
namespace {

using ::attnlab::testing::error_of;

using attnlab::testing::read_plain;
using attnlab::testing::TempDir;
using attnlab::testing::write_plain;

// The packed little-endian bytes of a tensor (clone() packs views): what the file must hold.
std::string tensor_bytes(const Tensor& t) {
  Tensor c = t.clone();
  size_t n = size_t(c.numel()) * dtype_size(c.dtype());
  return std::string(static_cast<const char*>(c.storage()->data()), n);
}

// Deterministic values per dtype; integers and exactly representable halves in bf16.
Tensor make_tensor(const Shape& shape, DType dt, int salt) {
  int64_t n = shape_numel(shape);
  // Tensor::from_vector passes an empty vector's null data() to memcpy, which UBSan
  // rejects; a zero-size tensor has no values to fill anyway.
  if (n == 0) return Tensor::empty(shape, dt);
  if (dt == DType::I32) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int32_t(i * 7919 - 100000 + salt);
    return Tensor::from_vector(v, shape);
  }
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double((i * 37 + salt) % 512 - 256) * 0.5 + 1.0 / 3.0;
  if (dt == DType::BF16) {
    for (auto& x : v) x = double(int64_t(x * 2)) / 2;  // halves: exact in bf16 up to 256
  }
  Tensor t64 = Tensor::from_vector(v, shape);
  return t64.to(dt);
}

// ---- an independent reader: the format's rules checked on raw bytes ----
struct HandEntry {
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};
struct HandFile {
  uint64_t header_len;
  nlohmann::ordered_json header;
  std::string data;
};

HandFile hand_parse(const std::string& bytes) {
  HandFile f;
  EXPECT_GE(bytes.size(), 8u);
  f.header_len = 0;
  for (int i = 7; i >= 0; --i) f.header_len = (f.header_len << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_LE(8 + f.header_len, bytes.size());
  std::string text = bytes.substr(8, f.header_len);
  EXPECT_EQ((8 + f.header_len) % 8, 0u) << "data buffer not 8-byte aligned";
  size_t close = text.rfind('}');
  for (size_t i = close + 1; i < text.size(); ++i) EXPECT_EQ(text[i], ' ') << "padding must be spaces";
  EXPECT_LT(text.size() - close - 1, 8u) << "more padding than needed";
  f.header = nlohmann::ordered_json::parse(text);
  f.data = bytes.substr(8 + f.header_len);
  return f;
}

void expect_matches(const HandFile& f, const NamedTensors& tensors, const Metadata& meta) {
  // Tensors appear in the given order, tiling the data buffer from 0 without gaps.
  uint64_t expect_begin = 0;
  size_t i = 0;
  for (auto it = f.header.begin(); it != f.header.end(); ++it) {
    if (it.key() == "__metadata__") {
      EXPECT_EQ(it->get<Metadata>(), meta);
      continue;
    }
    ASSERT_LT(i, tensors.size());
    const auto& [name, t] = tensors[i++];
    EXPECT_EQ(it.key(), name);
    EXPECT_EQ(it->size(), 3u) << "exactly dtype, shape, data_offsets";
    EXPECT_EQ((*it)["dtype"].get<std::string>(), safetensors_dtype_name(t.dtype()));
    EXPECT_EQ((*it)["shape"].get<std::vector<int64_t>>(), t.shape());
    auto offs = (*it)["data_offsets"].get<std::vector<uint64_t>>();
    ASSERT_EQ(offs.size(), 2u);
    EXPECT_EQ(offs[0], expect_begin) << name;
    std::string want = tensor_bytes(t);
    EXPECT_EQ(offs[1] - offs[0], want.size()) << name;
    EXPECT_TRUE(f.data.compare(offs[0], want.size(), want) == 0) << name << ": bytes differ";
    expect_begin = offs[1];
  }
  EXPECT_EQ(i, tensors.size());
  EXPECT_EQ(expect_begin, f.data.size()) << "trailing bytes after the last tensor";
  EXPECT_EQ(meta.empty(), !f.header.contains("__metadata__"));
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

TEST(Safetensors, KnownBytesForOneTensor) {
  TempDir dir;
  std::string path = dir.file("one.safetensors");
  save_safetensors(path, {{"a", Tensor::from_vector(std::vector<float>{1.0f, 2.0f}, {2})}});
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_EQ(header.size(), 54u);  // padded with 2 spaces to 56
  std::string expect = std::string("\x38\0\0\0\0\0\0\0", 8) + header + "  " +
                       std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  EXPECT_EQ(read_plain(path), expect);
}

TEST(Safetensors, RoundTripEveryDtypeAtOddSizes) {
  TempDir dir;
  std::vector<Shape> shapes = {{1}, {3}, {63}, {127}, {1000}, {3, 7}, {2, 3, 5}, {}, {0}, {4, 0, 3}};
  NamedTensors tensors;
  int salt = 0;
  for (DType dt : {DType::F32, DType::F64, DType::BF16, DType::I32})
    for (const auto& s : shapes) {
      tensors.emplace_back(cat("blocks.", salt, ".", safetensors_dtype_name(dt), ".w"), make_tensor(s, dt, salt));
      ++salt;
    }
  Metadata meta = {{"format", "pt"}, {"step", "1234"}, {"config", "name = \"x\"\n[model]\nd = 3\n"},
                   {"unicode", "\xce\xbb = 0.5 \xe2\x9c\x93"}};
  std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, meta);

  expect_matches(hand_parse(read_plain(path)), tensors, meta);

  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.path, path);
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  ASSERT_EQ(f.order.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    const Tensor& got = f.at(name);
    EXPECT_EQ(f.order[i], name) << "zero-size tensors keep their place too";
    EXPECT_EQ(got.dtype(), t.dtype()) << name;
    EXPECT_EQ(got.shape(), t.shape()) << name;
    EXPECT_TRUE(got.is_contiguous()) << name;
    EXPECT_EQ(tensor_bytes(got), tensor_bytes(t)) << name;
    EXPECT_EQ(got.to_vector(), t.to_vector()) << name;
  }
}

TEST(Safetensors, NonContiguousTensorsArePacked) {
  TempDir dir;
  Rng rng(11);
  Tensor base = Tensor::randn({5, 7}, rng, DType::F64);
  Tensor t = base.transpose_raw(0, 1);                            // [7, 5], strided
  Tensor s = Tensor::randn({9, 6}, rng).slice_raw(1, 1, 4);       // [9, 3], row gaps
  Tensor off = Tensor::randn({4, 3}, rng).slice_raw(0, 2, 4);     // contiguous with an offset
  ASSERT_FALSE(t.is_contiguous());
  ASSERT_FALSE(s.is_contiguous());
  NamedTensors tensors = {{"t", t}, {"s", s}, {"off", off}};
  std::string path = dir.file("views.safetensors");
  save_safetensors(path, tensors);
  expect_matches(hand_parse(read_plain(path)), tensors, {});
  SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.at("t").to_vector(), t.to_vector());
  EXPECT_EQ(f.at("s").to_vector(), s.to_vector());
  EXPECT_EQ(f.at("off").to_vector(), off.to_vector());
}

TEST(Safetensors, ReadsFilesWithOffsetsOutOfHeaderOrder) {
  // Other writers may list tensors in any order; the data order is set by the offsets.
  TempDir dir;
  std::string header = R"({"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},)"
                       R"("a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  std::string len(8, '\0');
  len[0] = char(header.size());
  int32_t vals[2] = {-5, 77};
  write_plain(dir.file("x.safetensors"), len + header + std::string(reinterpret_cast<char*>(vals), 8));
  SafetensorsFile f = load_safetensors(dir.file("x.safetensors"));
  EXPECT_EQ(f.at("a").item(), -5);
  EXPECT_EQ(f.at("b").item(), 77);
  EXPECT_EQ(f.order, (std::vector<std::string>{"a", "b"}));
}

TEST(Safetensors, OverwriteIsAtomicAndFailedWriteKeepsOldFile) {
  TempDir dir;
  std::string path = dir.file("ckpt.safetensors");
  Tensor a = make_tensor({3, 3}, DType::F32, 1);
  save_safetensors(path, {{"a", a}});
  std::string before = read_plain(path);
  std::string e = error_of([&] { save_safetensors(path, {{"x", a}, {"x", a}}); });
  EXPECT_HAS(e, "cannot write '" + path + "'");
  EXPECT_HAS(e, "'x' appears twice");
  EXPECT_EQ(read_plain(path), before);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ckpt.safetensors"});
  Tensor b = make_tensor({2}, DType::F64, 2);
  save_safetensors(path, {{"b", b}});
  SafetensorsFile f = load_safetensors(path);
  EXPECT_FALSE(f.contains("a"));
  EXPECT_EQ(f.at("b").to_vector(), b.to_vector());
}

TEST(SafetensorsWriteErrors, BadNamesAndTensors) {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  Tensor a = make_tensor({2}, DType::F32, 0);
  std::string e = error_of([&] { save_safetensors(path, {{"", a}}); });
  EXPECT_HAS(e, path);
  EXPECT_HAS(e, "empty name");
  e = error_of([&] { save_safetensors(path, {{"__metadata__", a}}); });
  EXPECT_HAS(e, "'__metadata__' is reserved");
  e = error_of([&] { save_safetensors(path, {{"u", Tensor()}}); });
  EXPECT_HAS(e, "tensor 'u' is undefined");
  e = error_of([&] { save_safetensors(path, {{"bad\xff", a}}); });
  EXPECT_HAS(e, "not valid UTF-8");
  e = error_of([&] { save_safetensors(path, {{"a", a}}, {{"k", "\xc3"}}); });
  EXPECT_HAS(e, "not valid UTF-8");
  e = error_of([&] { save_safetensors(dir.file("missing/dir/x.safetensors"), {{"a", a}}); });
  EXPECT_HAS(e, "No such file or directory");
  EXPECT_TRUE(dir.list().empty());
}

TEST(SafetensorsReadErrors, MissingNameSuggestsNearest) {
  TempDir dir;
  std::string path = dir.file("m.safetensors");
  Tensor a = make_tensor({2}, DType::F32, 0);
  save_safetensors(path, {{"blocks.0.mixer.wq.weight", a}, {"head.weight", a}});
  SafetensorsFile f = load_safetensors(path);
  std::string e = error_of([&] { f.at("blocks.0.mixer.wk.weight"); });
  EXPECT_HAS(e, path + ": no tensor named 'blocks.0.mixer.wk.weight' (did you mean 'blocks.0.mixer.wq.weight'?)");
  e = error_of([&] { f.at("zzz"); });
  EXPECT_HAS(e, "no tensor named 'zzz' (the file holds 2 tensors)");
}

// ---- malformed files: each gives one error naming the file and the problem ----

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xFF);
  return s;
}
std::string with_header(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

struct BadCase {
  const char* what;
  std::string bytes;
  std::vector<std::string> expect;  // substrings of the message
};

TEST(SafetensorsReadErrors, EveryMalformedFile) {
  std::string d16(16, '\x01');
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offs) {
    return cat("\"", name, "\":{\"dtype\":\"", dtype, "\",\"shape\":", shape, ",\"data_offsets\":", offs, "}");
  };
  std::vector<BadCase> cases = {
      {"empty", "", {"not a safetensors file: 0 bytes, shorter than the 8-byte header length"}},
      {"short", "abcde", {"5 bytes, shorter than the 8-byte header length"}},
      {"length past end", le64(100) + "{}", {"header length 100 runs past the end of the file (10 bytes)"}},
      {"huge length", le64(~uint64_t(0)) + "{}", {"header length 18446744073709551615 runs past the end"}},
      {"not an object", with_header("[1, 2]  ", ""), {"does not start with '{'"}},
      {"zero length", le64(0), {"does not start with '{'"}},
      {"invalid json", with_header("{\"a\": {\"dtype\"   ", ""), {"invalid JSON in the header", "parse error"}},
      {"trailing garbage", with_header("{} x", ""), {"invalid JSON in the header"}},
      {"unknown dtype", with_header(cat("{", entry("w", "F33", "[4]", "[0,16]"), "}"), d16),
       {"tensor 'w': unknown dtype 'F33' (attnlab reads F32, F64, BF16, I32)"}},
      {"unsupported dtype", with_header(cat("{", entry("w", "F16", "[8]", "[0,16]"), "}"), d16),
       {"tensor 'w': dtype 'F16' is not supported"}},
      {"dtype not string", with_header(R"({"w":{"dtype":4,"shape":[4],"data_offsets":[0,16]}})", d16),
       {"tensor 'w': dtype must be a string, found a non-negative integer"}},
      {"missing field", with_header(R"({"w":{"dtype":"F32","shape":[4]}})", d16),
       {"tensor 'w' has no 'data_offsets'"}},
      {"unknown field", with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":1}})", d16),
       {"tensor 'w' has an unknown field 'x'"}},
      {"entry not object", with_header(R"({"w":[1,2]})", ""), {"tensor 'w' must be an object", "found an array"}},
      {"negative shape", with_header(cat("{", entry("w", "F32", "[-4]", "[0,16]"), "}"), d16),
       {"tensor 'w' shape[0] must be a non-negative integer, found a negative integer (-4)"}},
      {"fractional shape", with_header(cat("{", entry("w", "F32", "[4.0]", "[0,16]"), "}"), d16),
       {"tensor 'w' shape[0] must be a non-negative integer, found a fractional number"}},
      {"shape not array", with_header(cat("{", entry("w", "F32", "4", "[0,16]"), "}"), d16),
       {"tensor 'w' shape must be an array of non-negative integers"}},
      {"three offsets", with_header(cat("{", entry("w", "F32", "[4]", "[0,8,16]"), "}"), d16),
       {"tensor 'w': data_offsets must hold 2 numbers [begin, end], found 3"}},
      {"end before begin", with_header(cat("{", entry("w", "F32", "[4]", "[16,0]"), "}"), d16),
       {"tensor 'w': data_offsets [16, 0] end before they begin"}},
      {"shape/offsets mismatch", with_header(cat("{", entry("w", "F32", "[3]", "[0,16]"), "}"), d16),
       {"tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 16] hold 16"}},
      {"shape overflow",
       with_header(cat("{", entry("w", "F64", "[4294967296,4294967296]", "[0,16]"), "}"), d16),
       {"tensor 'w': shape [4294967296,4294967296] is too large"}},
      {"past end of data", with_header(cat("{", entry("w", "F32", "[8]", "[0,32]"), "}"), d16),
       {"tensor 'w': data_offsets [0, 32] run past the end of the data buffer (16 bytes)"}},
      {"overlap",
       with_header(cat("{", entry("a", "F32", "[3]", "[0,12]"), ",", entry("b", "F32", "[2]", "[8,16]"), "}"), d16),
       {"tensors 'a' [0, 12] and 'b' [8, 16] overlap"}},
      {"gap",
       with_header(cat("{", entry("a", "F32", "[2]", "[0,8]"), ",", entry("b", "F32", "[1]", "[12,16]"), "}"), d16),
       {"bytes [8, 12) of the data buffer belong to no tensor (a gap before 'b')"}},
      {"trailing bytes", with_header(cat("{", entry("a", "F32", "[2]", "[0,8]"), "}"), d16),
       {"the data buffer holds 16 bytes but the tensors cover 8 (8 trailing bytes belong to no tensor)"}},
      {"duplicate name",
       with_header(cat("{", entry("a", "F32", "[2]", "[0,8]"), ",", entry("a", "F32", "[2]", "[8,16]"), "}"), d16),
       {"duplicate tensor name 'a' in the header"}},
      {"duplicate field", with_header(R"({"a":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d16),
       {"duplicate key 'dtype' in the header"}},
      {"metadata not object", with_header(R"({"__metadata__":[1]})", ""),
       {"__metadata__ must be an object of strings, found an array"}},
      {"metadata value not string", with_header(R"({"__metadata__":{"step":3}})", ""),
       {"__metadata__ 'step' must be a string, found a non-negative integer"}},
  };
  TempDir dir;
  int i = 0;
  for (const auto& c : cases) {
    std::string path = dir.file(cat("bad", i++, ".safetensors"));
    write_plain(path, c.bytes);
    std::string e = error_of([&] { load_safetensors(path); });
    EXPECT_EQ(e.rfind(path + ": ", 0), 0u) << c.what << ": the message must start with the file: " << e;
    for (const auto& want : c.expect) EXPECT_HAS(e, want) << " (case: " << c.what << ")";
    EXPECT_EQ(e.find('\n'), std::string::npos) << c.what << ": one line";
  }
}

TEST(SafetensorsReadErrors, HeaderLargerThanTheLimit) {
  // A sparse file just past the 100 MB header limit: nothing is written but the length.
  TempDir dir;
  std::string path = dir.file("sparse.safetensors");
  write_plain(path, le64(100'000'001));
  std::filesystem::resize_file(path, 8 + 100'000'001);
  std::string e = error_of([&] { load_safetensors(path); });
  EXPECT_HAS(e, path + ": header length 100000001 exceeds the limit of 100000000 bytes");
}

TEST(SafetensorsReadErrors, MissingFileAndDirectory) {
  TempDir dir;
  std::string path = dir.file("absent.safetensors");
  std::string e = error_of([&] { load_safetensors(path); });
  EXPECT_HAS(e, "cannot open '" + path + "' for reading: No such file or directory");
  e = error_of([&] { load_safetensors(dir.path()); });
  EXPECT_HAS(e, "cannot read '" + dir.path() + "': Is a directory");
}

// Writes the fixture that tests/io/check_safetensors.py reads with the reference
// implementation (CTest test io_safetensors_python_reader). The values follow formulas
// the script recomputes: f32 i/7, f64 -i/3, i32 i*1000-7, bf16 (i%64-32)/4, and a packed
// transpose. Without the environment variable it writes to a temporary directory and
// only self-checks.
TEST(SafetensorsPython, WriteFixture) {
  TempDir tmp;
  const char* env = std::getenv("ATTNLAB_SAFETENSORS_FIXTURE_DIR");
  std::string out = env && *env ? env : tmp.path();
  std::filesystem::create_directories(out);

  auto ramp = [](int64_t n, double scale, double shift) {
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = (double(i) + shift) * scale;
    return v;
  };
  std::vector<float> f32(63 * 5);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = float(i) / 7.0f;  // correctly rounded in both
  std::vector<double> f64(127);
  for (size_t i = 0; i < f64.size(); ++i) f64[i] = -double(i) / 3.0;
  std::vector<int32_t> i32(1000);
  for (size_t i = 0; i < i32.size(); ++i) i32[i] = int32_t(i) * 1000 - 7;
  Tensor grid = Tensor::from_vector(ramp(12, 1.0, 0.0), {3, 4}).to(DType::F32);
  std::vector<double> bf16_vals(1000);  // quarters in [-8, 8): exact in bfloat16
  for (size_t i = 0; i < bf16_vals.size(); ++i) bf16_vals[i] = (double(i % 64) - 32.0) / 4.0;

  NamedTensors main = {
      {"embed.weight", Tensor::from_vector(f32, {63, 5})},
      {"blocks.0.mixer.scale", Tensor::from_vector(f64, {127})},
      {"tokens", Tensor::from_vector(i32, {10, 100})},
      {"transposed", grid.transpose_raw(0, 1)},  // [4, 3]: packed on write
      {"scalar", Tensor::full({}, 2.5, DType::F64)},
      {"empty", Tensor::empty({0, 3}, DType::F32)},
  };
  Metadata meta = {{"format", "pt"}, {"step", "42"}};
  save_safetensors(out + "/main.safetensors", main, meta);
  expect_matches(hand_parse(read_plain(out + "/main.safetensors")), main, meta);

  NamedTensors bf = {
      {"bf16", Tensor::from_vector(bf16_vals, {1000}).to(DType::BF16)},
      {"after", Tensor::from_vector(std::vector<float>{1.5f, -2.0f, 3.25f}, {3})},
  };
  save_safetensors(out + "/bf16.safetensors", bf, {{"dtype", "bf16"}});
  expect_matches(hand_parse(read_plain(out + "/bf16.safetensors")), bf, {{"dtype", "bf16"}});
}

}  // namespace
}  // namespace attnlab::io
