#include "attnlab/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "attnlab/io/atomic_file.h"
#include "attnlab/io/nearest.h"

namespace attnlab::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swaps");

namespace {

// The reference implementation refuses headers past this size; so do we, so a corrupt
// length cannot make us parse hundreds of megabytes of garbage.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Every dtype name the format defines, so a file from another tool gets "not supported
// here" rather than "unknown".
const char* const kFormatDtypes[] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32",
                                     "U32", "F32", "F64", "I64", "U64", "F8_E4M3", "F8_E5M2"};

bool dtype_from_name(const std::string& s, DType& out) {
  for (DType t : {DType::F32, DType::F64, DType::BF16, DType::I32}) {
    if (s == safetensors_dtype_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

const char* json_kind(const nlohmann::ordered_json& j) {
  if (j.is_object()) return "an object";
  if (j.is_array()) return "an array";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_null()) return "null";
  if (j.is_number_float()) return "a fractional number";
  if (j.is_number_unsigned()) return "a non-negative integer";
  return "a negative integer";
}

std::string offsets_str(uint64_t b, uint64_t e) { return cat("[", b, ", ", e, "]"); }

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// Reads a list of non-negative integers (a shape or data_offsets) for `what`.
std::vector<uint64_t> read_uint_list(const nlohmann::ordered_json& j, const std::string& src,
                                     const std::string& what) {
  ATTNLAB_CHECK(j.is_array(), src, ": ", what, " must be an array of non-negative integers, found ",
                json_kind(j));
  std::vector<uint64_t> out;
  for (size_t i = 0; i < j.size(); ++i) {
    ATTNLAB_CHECK(j[i].is_number_unsigned(), src, ": ", what, "[", i,
                  "] must be a non-negative integer, found ", json_kind(j[i]), " (", j[i].dump(), ")");
    out.push_back(j[i].get<uint64_t>());
  }
  return out;
}

Entry read_entry(const std::string& name, const nlohmann::ordered_json& j, const std::string& src) {
  std::string where = cat("tensor '", name, "'");
  ATTNLAB_CHECK(j.is_object(), src, ": ", where, " must be an object with dtype, shape and data_offsets, found ",
                json_kind(j));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    ATTNLAB_CHECK(j.contains(field), src, ": ", where, " has no '", field, "'");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    ATTNLAB_CHECK(k == "dtype" || k == "shape" || k == "data_offsets", src, ": ", where,
                  " has an unknown field '", k, "' (expected dtype, shape, data_offsets)");
  }
  Entry e;
  e.name = name;
  const auto& dt = j["dtype"];
  ATTNLAB_CHECK(dt.is_string(), src, ": ", where, ": dtype must be a string, found ", json_kind(dt));
  std::string dts = dt.get<std::string>();
  if (!dtype_from_name(dts, e.dtype)) {
    bool known = std::find(std::begin(kFormatDtypes), std::end(kFormatDtypes), dts) != std::end(kFormatDtypes);
    throw Error(cat(src, ": ", where, (known ? ": dtype '" : ": unknown dtype '"), dts,
                    (known ? "' is not supported" : "'"), " (attnlab reads F32, F64, BF16, I32)"));
  }
  std::vector<uint64_t> shape = read_uint_list(j["shape"], src, where + " shape");
  std::vector<uint64_t> offs = read_uint_list(j["data_offsets"], src, where + " data_offsets");
  ATTNLAB_CHECK(offs.size() == 2, src, ": ", where, ": data_offsets must hold 2 numbers [begin, end], found ",
                offs.size());
  e.begin = offs[0];
  e.end = offs[1];
  ATTNLAB_CHECK(e.begin <= e.end, src, ": ", where, ": data_offsets ", offsets_str(e.begin, e.end),
                " end before they begin");
  // Product of the shape with overflow checks: a corrupt shape must not wrap around to a
  // size that happens to match the offsets.
  uint64_t bytes = dtype_size(e.dtype);
  for (uint64_t d : shape) {
    ATTNLAB_CHECK(d <= uint64_t(INT64_MAX) && (d == 0 || bytes <= UINT64_MAX / d), src, ": ", where,
                  ": shape ", j["shape"].dump(), " is too large");
    bytes *= d;
    e.shape.push_back(int64_t(d));
  }
  ATTNLAB_CHECK(bytes == e.end - e.begin, src, ": ", where, ": shape ", shape_str(e.shape), " of ", dts,
                " needs ", bytes, " bytes but data_offsets ", offsets_str(e.begin, e.end), " hold ",
                e.end - e.begin);
  return e;
}

// Parses the header, remembering the first key that appears twice in one object (the
// JSON library would otherwise silently keep the last).
nlohmann::ordered_json parse_header(std::string_view text, const std::string& src) {
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  int duplicate_depth = 0;
  auto cb = [&](int depth, nlohmann::ordered_json::parse_event_t ev, nlohmann::ordered_json& parsed) {
    using E = nlohmann::ordered_json::parse_event_t;
    if (ev == E::object_start) keys.emplace_back();
    if (ev == E::object_end && !keys.empty()) keys.pop_back();
    if (ev == E::key && !keys.empty() && duplicate.empty()) {
      std::string k = parsed.get<std::string>();
      if (!keys.back().insert(k).second) {
        duplicate = k;
        duplicate_depth = depth;
      }
    }
    return true;
  };
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::ordered_json::exception& e) {
    throw Error(cat(src, ": invalid JSON in the header: ", e.what()));
  }
  if (!duplicate.empty()) {
    throw Error(duplicate_depth <= 1
                    ? cat(src, ": duplicate tensor name '", duplicate, "' in the header")
                    : cat(src, ": duplicate key '", duplicate, "' in the header"));
  }
  ATTNLAB_CHECK(j.is_object(), src, ": the header must be a JSON object, found ", json_kind(j));
  return j;
}

// A read-only mapping of a whole file, unmapped on scope exit.
struct Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) ::munmap(addr, size);
  }
};

}  // namespace

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
  }
  return "?";
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  // ordered_json keeps tensors in the order given, so the header reads like the data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::vector<Tensor> packed;
  packed.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    ATTNLAB_CHECK(!name.empty(), "cannot write '", path, "': a tensor has an empty name");
    ATTNLAB_CHECK(name != "__metadata__", "cannot write '", path,
                  "': '__metadata__' is reserved and cannot name a tensor");
    ATTNLAB_CHECK(!header.contains(name), "cannot write '", path, "': tensor name '", name,
                  "' appears twice");
    ATTNLAB_CHECK(t.defined(), "cannot write '", path, "': tensor '", name, "' is undefined");
    Tensor c = t.contiguous();
    uint64_t bytes = uint64_t(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", safetensors_dtype_name(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    packed.push_back(std::move(c));
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    throw Error(cat("cannot write '", path, "': a tensor name or metadata string is not valid UTF-8 (",
                    e.what(), ")"));
  }
  // The reference writer pads with spaces so the data buffer starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));

  AtomicWriter w(path);
  w.write(len, sizeof len);
  w.write(text);
  for (const Tensor& c : packed) {
    size_t bytes = size_t(c.numel()) * dtype_size(c.dtype());
    if (bytes == 0) continue;
    w.write(static_cast<const char*>(c.storage()->data()) + c.offset() * int64_t(dtype_size(c.dtype())), bytes);
  }
  w.commit();
}

SafetensorsFile parse_safetensors(const void* bytes, size_t size, const std::string& src) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  ATTNLAB_CHECK(size >= 8, src, ": not a safetensors file: ", size,
                " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(p[i]) << (8 * i);
  ATTNLAB_CHECK(n <= size - 8, src, ": header length ", n, " runs past the end of the file (", size,
                " bytes)");
  ATTNLAB_CHECK(n <= kMaxHeaderBytes, src, ": header length ", n, " exceeds the limit of ",
                kMaxHeaderBytes, " bytes");
  std::string_view text(reinterpret_cast<const char*>(p + 8), size_t(n));
  ATTNLAB_CHECK(!text.empty() && text[0] == '{', src,
                ": the header does not start with '{' (not a safetensors file?)");
  // Kept in header order so that zero-size tensors sharing an offset keep their order.
  nlohmann::ordered_json header = parse_header(text, src);

  SafetensorsFile out;
  out.path = src;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      ATTNLAB_CHECK(it->is_object(), src, ": __metadata__ must be an object of strings, found ",
                    json_kind(*it));
      for (auto m = it->begin(); m != it->end(); ++m) {
        ATTNLAB_CHECK(m->is_string(), src, ": __metadata__ '", m.key(), "' must be a string, found ",
                      json_kind(*m));
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(read_entry(it.key(), *it, src));
  }

  // The tensors must tile the data buffer exactly, as the reference reader demands.
  const uint64_t data_size = size - 8 - n;
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    ATTNLAB_CHECK(e.end <= data_size, src, ": tensor '", e.name, "': data_offsets ",
                  offsets_str(e.begin, e.end), " run past the end of the data buffer (", data_size,
                  " bytes)");
    ATTNLAB_CHECK(e.begin >= expect, src, ": tensors '", prev ? prev->name : "", "' ",
                  offsets_str(prev ? prev->begin : 0, expect), " and '", e.name, "' ",
                  offsets_str(e.begin, e.end), " overlap");
    ATTNLAB_CHECK(e.begin == expect, src, ": bytes [", expect, ", ", e.begin,
                  ") of the data buffer belong to no tensor (a gap before '", e.name, "')");
    expect = e.end;
    prev = &e;
  }
  ATTNLAB_CHECK(expect == data_size, src, ": the data buffer holds ", data_size, " bytes but the tensors cover ",
                expect, " (", data_size - expect, " trailing bytes belong to no tensor)");

  const unsigned char* data = p + 8 + n;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.storage()->data(), data + e.begin, size_t(e.end - e.begin));
    out.tensors.emplace(e.name, std::move(t));
    out.order.push_back(e.name);
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ATTNLAB_CHECK(fd >= 0, "cannot open '", path, "' for reading: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
    // Not a plain file (a pipe, a directory) or empty: read_file reports or reads it.
    ::close(fd);
    std::string bytes = read_file(path);
    return parse_safetensors(bytes.data(), bytes.size(), path);
  }
  Mapping m;
  m.size = size_t(st.st_size);
  m.addr = ::mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  ATTNLAB_CHECK(m.addr != MAP_FAILED, "cannot map '", path, "' for reading: ", std::strerror(err));
  ::madvise(m.addr, m.size, MADV_SEQUENTIAL);
  return parse_safetensors(m.addr, m.size, path);
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::string near = nearest_name(name, order);
  if (!near.empty() && is_plausible_typo(name, near))
    throw Error(cat(path, ": no tensor named '", name, "' (did you mean '", near, "'?)"));
  throw Error(cat(path, ": no tensor named '", name, "' (the file holds ", tensors.size(), " tensors)"));
}

}  // namespace attnlab::io
