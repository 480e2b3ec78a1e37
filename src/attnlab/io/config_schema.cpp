#include "attnlab/io/config_schema.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <map>

#include <toml++/toml.h>

#include "attnlab/core/error.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/io/nearest.h"

namespace attnlab::config {

// ---- rules ----

namespace {

std::string num_text(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

}  // namespace

Rule positive() { return number_rule("must be > 0", [](double x) { return x > 0; }); }
Rule non_negative() { return number_rule("must be >= 0", [](double x) { return x >= 0; }); }
Rule at_least(double lo) {
  return number_rule("must be >= " + num_text(lo), [lo](double x) { return x >= lo; });
}
Rule at_most(double hi) {
  return number_rule("must be <= " + num_text(hi), [hi](double x) { return x <= hi; });
}
Rule in_range(double lo, double hi) {
  return number_rule("must be in [" + num_text(lo) + ", " + num_text(hi) + "]",
                     [lo, hi](double x) { return x >= lo && x <= hi; });
}
Rule in_half_open(double lo, double hi) {
  return number_rule("must be in [" + num_text(lo) + ", " + num_text(hi) + ")",
                     [lo, hi](double x) { return x >= lo && x < hi; });
}
Rule non_empty() {
  Rule r;
  r.text = "must not be empty";
  r.count = [](size_t n) { return n > 0; };
  return r;
}
Rule number_rule(std::string text, std::function<bool(double)> ok) {
  Rule r;
  r.text = std::move(text);
  r.number = std::move(ok);
  return r;
}
Rule string_rule(std::string text, std::function<bool(std::string_view)> ok) {
  Rule r;
  r.text = std::move(text);
  r.string = std::move(ok);
  return r;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "string";
    case Kind::Choice: return "choice";
    case Kind::IntList: return "int[]";
    case Kind::FloatList: return "float[]";
    case Kind::StringList: return "string[]";
    case Kind::Section: return "section";
  }
  return "?";
}

std::string format_fields(const std::vector<FieldInfo>& fields) {
  constexpr size_t kMaxValue = 32;  // long defaults are cut so the doc column stays visible
  size_t wk = 0, wt = 0, wv = 0;
  std::vector<std::string> values;
  for (const auto& f : fields) {
    std::string v = f.value.size() > kMaxValue ? f.value.substr(0, kMaxValue - 3) + "..." : f.value;
    wk = std::max(wk, f.key.size());
    wt = std::max(wt, std::string_view(kind_name(f.kind)).size());
    wv = std::max(wv, v.size());
    values.push_back(std::move(v));
  }
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    std::string line = f.key + std::string(wk - f.key.size() + 2, ' ');
    line += kind_name(f.kind);
    line += std::string(wt - std::string_view(kind_name(f.kind)).size() + 2, ' ');
    line += values[i] + std::string(wv - values[i].size() + 2, ' ');
    line += f.doc;
    if (!f.choices.empty()) {
      line += " (one of:";
      for (const auto& c : f.choices) line += " " + c;
      line += ")";
    }
    for (const auto& r : f.rules) line += " [" + r + "]";
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

namespace detail {

namespace {

bool valid_utf8(std::string_view s) {
  static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;  // continuation bytes
    if (c < 0x80) n = 0;
    else if ((c >> 5) == 0x6) n = 1;
    else if ((c >> 4) == 0xE) n = 2;
    else if ((c >> 3) == 0x1E) n = 3;
    else return false;
    if (n > s.size() - i - 1) return false;
    uint32_t cp = n == 0 ? c : (c & (0x3Fu >> n));
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// Shortest text that reads back to the same double, always recognisable as a TOML float;
// plain digits for exponents in [-4, 16) as Python's repr does (0.0003, not 3e-04).
std::string toml_double(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string s(buf, r.ptr);
  int exp10 = std::atoi(s.c_str() + s.find('e') + 1);
  if (exp10 >= -4 && exp10 < 16) {
    r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed);
    s.assign(buf, r.ptr);
  }
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

template <class T, class F>
std::string toml_list(const std::vector<T>& v, F&& one) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + one(v[i]);
  return out + "]";
}

std::string toml_scalar(bool b) { return b ? "true" : "false"; }
std::string toml_scalar(int64_t i) { return std::to_string(i); }
std::string toml_scalar(double d) { return toml_double(d); }
std::string toml_scalar(const std::string& s) { return toml_string(s); }

template <class... F> struct overloaded : F... { using F::operator()...; };
template <class... F> overloaded(F...) -> overloaded<F...>;

Kind kind_of(const ValueRef& v, bool choice) {
  if (choice) return Kind::Choice;
  static const Kind kinds[] = {Kind::Bool, Kind::Int, Kind::Float, Kind::String,
                               Kind::IntList, Kind::FloatList, Kind::StringList};
  return kinds[v.index()];
}

bool is_bare_key(std::string_view k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void check_field_name(std::string_view name, const std::string& key) {
  ATTNLAB_CHECK(is_bare_key(name), "config schema: field name '", key,
                "' must be a bare TOML key (letters, digits, '_' and '-')");
}

// Throws when `ok` fails on the value or an element of it.
void check_rule(const std::string& where, const std::string& key, const ValueRef& v, const Rule& r,
                std::string_view note) {
  auto fail = [&](const std::string& k, const std::string& value) {
    throw Error(cat(where, ": ", k, " = ", value, note, ": ", r.text));
  };
  auto numbers = [&](const auto& list) {
    if (r.count && !r.count(list.size())) fail(key, toml_list(list, [](auto x) { return toml_scalar(x); }));
    if (!r.number) return;
    for (size_t i = 0; i < list.size(); ++i)
      if (!r.number(double(list[i]))) fail(cat(key, "[", i, "]"), toml_scalar(list[i]));
  };
  std::visit(overloaded{
                 [&](bool*) {},
                 [&](int64_t* p) {
                   if (r.number && !r.number(double(*p))) fail(key, toml_scalar(*p));
                 },
                 [&](double* p) {
                   if (r.number && !r.number(*p)) fail(key, toml_scalar(*p));
                 },
                 [&](std::string* p) {
                   if ((r.string && !r.string(*p)) || (r.count && !r.count(p->size())))
                     fail(key, toml_string(*p));
                 },
                 [&](std::vector<int64_t>* p) { numbers(*p); },
                 [&](std::vector<double>* p) { numbers(*p); },
                 [&](std::vector<std::string>* p) {
                   if (r.count && !r.count(p->size())) fail(key, format_value(v));
                   if (!r.string) return;
                   for (size_t i = 0; i < p->size(); ++i)
                     if (!r.string((*p)[i])) fail(cat(key, "[", i, "]"), toml_string((*p)[i]));
                 },
             },
             v);
}

}  // namespace

std::string join_key(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

std::string format_value(const ValueRef& v) {
  return std::visit(overloaded{
                        [](bool* p) { return toml_scalar(*p); },
                        [](int64_t* p) { return toml_scalar(*p); },
                        [](double* p) { return toml_scalar(*p); },
                        [](std::string* p) { return toml_scalar(*p); },
                        [](auto* list) {
                          return toml_list(*list, [](const auto& x) { return toml_scalar(x); });
                        },
                    },
                    v);
}

void validate_value(const std::string& where, const std::string& key, const ValueRef& v,
                    const std::vector<std::string>* choices, Rules rules, std::string_view note) {
  if (choices) {
    const std::string& s = *std::get<std::string*>(v);
    if (std::find(choices->begin(), choices->end(), s) == choices->end()) {
      std::string list;
      for (size_t i = 0; i < choices->size(); ++i) list += (i ? ", " : "") + toml_string((*choices)[i]);
      std::string near = io::nearest_name(s, *choices);
      std::string hint = !near.empty() && io::is_plausible_typo(s, near) ? cat(" (did you mean ", toml_string(near), "?)") : "";
      throw Error(cat(where, ": ", key, " = ", toml_string(s), note, ": must be one of ", list, hint));
    }
  }
  for (const Rule* r : rules) check_rule(where, key, v, *r, note);
}

// ---- reading ----

struct ReadContext {
  std::string source;
  toml::table root;
  std::map<std::string, std::string> set_label;  // dotted key -> "--set key=value"
  std::map<std::string, std::string> set_raw;    // dotted key -> the value's text as typed
  std::function<std::vector<FieldInfo>()> known;

  // Where a value came from: the --set that gave it (or an enclosing table), else the
  // file position, else the file.
  std::string where(const std::string& dotted, const toml::source_region* r) const {
    for (std::string k = dotted;;) {
      auto it = set_label.find(k);
      if (it != set_label.end()) return it->second;
      size_t dot = k.rfind('.');
      if (dot == std::string::npos) break;
      k.resize(dot);
    }
    // A table that a deeper --set created (--set a.b.c=1 makes a.b).
    auto below = set_label.lower_bound(dotted + ".");
    if (below != set_label.end() && below->first.rfind(dotted + ".", 0) == 0) return below->second;
    if (r && r->begin) return cat(source, ":", r->begin.line, ":", r->begin.column);
    return source;
  }
};

namespace {

// The TOML text of a node's value, shortened; containers are named, not printed.
std::string value_text(const toml::node& n) {
  constexpr size_t kMaxShown = 40;
  switch (n.type()) {
    case toml::node_type::string: {
      std::string s = n.as_string()->get();
      if (s.size() > kMaxShown) s = s.substr(0, kMaxShown) + "...";
      return toml_string(s);
    }
    case toml::node_type::integer: return toml_scalar(n.as_integer()->get());
    case toml::node_type::floating_point: return toml_double(n.as_floating_point()->get());
    case toml::node_type::boolean: return toml_scalar(n.as_boolean()->get());
    case toml::node_type::array: return "[...]";
    case toml::node_type::table: return "{...}";
    default: return "";
  }
}

std::string found_text(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string " + value_text(n);
    case toml::node_type::integer: return "an integer " + value_text(n);
    case toml::node_type::floating_point: return "a float " + value_text(n);
    case toml::node_type::boolean: return "a boolean " + value_text(n);
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

[[noreturn]] void type_error(const std::string& where, const std::string& key, const char* expected,
                             const toml::node& n) {
  throw Error(cat(where, ": ", key, ": expected ", expected, ", found ", found_text(n)));
}

// Converts one scalar node; `key` names it in errors.
void convert(const std::string& where, const std::string& key, const toml::node& n, bool& out) {
  if (!n.is_boolean()) type_error(where, key, "a boolean (true or false)", n);
  out = n.as_boolean()->get();
}
void convert(const std::string& where, const std::string& key, const toml::node& n, int64_t& out) {
  if (!n.is_integer()) type_error(where, key, "an integer", n);
  out = n.as_integer()->get();
}
void convert(const std::string& where, const std::string& key, const toml::node& n, double& out) {
  if (n.is_integer()) {
    out = double(n.as_integer()->get());
    return;
  }
  if (!n.is_floating_point()) type_error(where, key, "a number", n);
  out = n.as_floating_point()->get();
}
void convert(const std::string& where, const std::string& key, const toml::node& n, std::string& out) {
  if (!n.is_string()) type_error(where, key, "a string", n);
  out = n.as_string()->get();
}

template <class T>
void convert_list(const std::string& where, const std::string& key, const toml::node& n,
                  std::vector<T>& out, const char* expected) {
  if (!n.is_array()) type_error(where, key, expected, n);
  const toml::array& a = *n.as_array();
  std::vector<T> v(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    T x{};
    convert(where, cat(key, "[", i, "]"), a[i], x);
    v[i] = std::move(x);
  }
  out = std::move(v);
}

// The first value under a table, so an unknown [section] is reported by a full key.
const toml::node* first_leaf(const toml::table& t, std::string& dotted, const toml::source_region*& region) {
  for (auto&& [k, n] : t) {
    dotted += "." + std::string(k.str());
    region = &k.source();
    if (n.is_table() && !n.as_table()->empty()) return first_leaf(*n.as_table(), dotted, region);
    return &n;
  }
  return nullptr;
}

}  // namespace

void ReadScope::read(std::string_view name, const ValueRef& v, const std::vector<std::string>* choices,
                     Rules rules) {
  seen_.emplace_back(name);
  std::string key = join_key(prefix_, name);
  const auto* tbl = static_cast<const toml::table*>(table_);
  const toml::node* n = tbl ? tbl->get(name) : nullptr;
  if (!n) {
    validate_value(ctx_->source, key, v, choices, rules, " (the default)");
    return;
  }
  std::string where = ctx_->where(key, &n->source());
  auto raw = ctx_->set_raw.find(key);
  std::visit(overloaded{
                 [&](std::string* p) {
                   // A --set value meant as a string may have read as another TOML type
                   // (--set data.name=2024): take the text as typed.
                   if (!n->is_string() && raw != ctx_->set_raw.end()) *p = raw->second;
                   else convert(where, key, *n, *p);
                 },
                 [&](std::vector<int64_t>* p) { convert_list(where, key, *n, *p, "an array of integers"); },
                 [&](std::vector<double>* p) { convert_list(where, key, *n, *p, "an array of numbers"); },
                 [&](std::vector<std::string>* p) { convert_list(where, key, *n, *p, "an array of strings"); },
                 [&](auto* p) { convert(where, key, *n, *p); },
             },
             v);
  validate_value(where, key, v, choices, rules);
}

ReadScope ReadScope::enter(std::string_view name) {
  seen_.emplace_back(name);
  std::string key = join_key(prefix_, name);
  const auto* tbl = static_cast<const toml::table*>(table_);
  const toml::node* n = tbl ? tbl->get(name) : nullptr;
  if (!n) return ReadScope(ctx_, nullptr, key);
  if (!n->is_table()) type_error(ctx_->where(key, &n->source()), key, "a section (table)", *n);
  return ReadScope(ctx_, n->as_table(), key);
}

void ReadScope::check(bool ok, std::string_view key, std::string_view rule) {
  if (ok) return;
  std::string dotted = join_key(prefix_, key);
  const auto* tbl = static_cast<const toml::table*>(table_);
  const toml::node* n = tbl ? tbl->at_path(key).node() : nullptr;
  if (!n) throw Error(cat(ctx_->source, ": ", dotted, " (the default): ", rule));
  throw Error(cat(ctx_->where(dotted, &n->source()), ": ", dotted, " = ", value_text(*n), ": ", rule));
}

void ReadScope::finish() {
  const auto* tbl = static_cast<const toml::table*>(table_);
  if (!tbl) return;
  for (auto&& [k, n] : *tbl) {
    if (std::find(seen_.begin(), seen_.end(), k.str()) != seen_.end()) continue;
    std::string dotted = join_key(prefix_, k.str());
    const toml::source_region* region = &k.source();
    if (n.is_table() && !n.as_table()->empty()) first_leaf(*n.as_table(), dotted, region);
    std::vector<std::string> candidates;
    if (ctx_->known)
      for (const auto& f : ctx_->known()) candidates.push_back(f.key);
    std::string near = io::nearest_name(dotted, candidates);
    std::string hint;
    if (!near.empty() && io::is_plausible_typo(dotted, near)) {
      hint = cat(" (did you mean '", near, "'?)");
    } else {
      std::string list;
      for (size_t i = 0; i < seen_.size(); ++i) list += (i ? ", " : "") + seen_[i];
      hint = prefix_.empty() ? cat(" (valid keys: ", list, ")")
                             : cat(" (valid keys in '", prefix_, "': ", list, ")");
    }
    throw Error(cat(ctx_->where(dotted, region), ": unknown key '", dotted, "'", hint));
  }
}

Document::Document(std::string_view text, const std::string& source) : ctx_(std::make_unique<ReadContext>()) {
  ctx_->source = source;
  try {
    ctx_->root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    std::replace(what.begin(), what.end(), '\n', ' ');  // errors are one line
    throw Error(cat(source, ":", e.source().begin.line, ":", e.source().begin.column,
                    ": TOML syntax error: ", what));
  }
}

Document::~Document() = default;
Document::Document(Document&&) noexcept = default;

void Document::set_known_keys(std::function<std::vector<FieldInfo>()> known) { ctx_->known = std::move(known); }

ReadScope Document::root() { return ReadScope(ctx_.get(), &ctx_->root, ""); }

void Document::apply_sets(const std::vector<std::string>& sets) {
  auto trim = [](std::string s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  for (const std::string& s : sets) {
    std::string label = "--set " + s;
    size_t eq = s.find('=');
    ATTNLAB_CHECK(eq != std::string::npos, label, ": expected key=value (for example --set train.lr=3e-4)");
    std::string key = trim(s.substr(0, eq)), raw = trim(s.substr(eq + 1));
    std::vector<std::string> segs;
    for (size_t b = 0;;) {
      size_t d = key.find('.', b);
      segs.push_back(key.substr(b, d == std::string::npos ? std::string::npos : d - b));
      if (d == std::string::npos) break;
      b = d + 1;
    }
    for (const auto& seg : segs)
      ATTNLAB_CHECK(is_bare_key(seg), label, ": '", key,
                    "' is not a dotted key (names of letters, digits, '_' and '-' joined by '.')");

    // The value is TOML when it parses as TOML, else the text itself (--set name=softmax).
    toml::table parsed;
    const toml::node* value = nullptr;
    try {
      parsed = toml::parse("v = " + raw);
      if (parsed.size() == 1) value = parsed.get("v");
    } catch (const toml::parse_error&) {
    }

    toml::table* t = &ctx_->root;
    std::string walked;
    for (size_t i = 0; i + 1 < segs.size(); ++i) {
      walked = join_key(walked, segs[i]);
      toml::node* n = t->get(segs[i]);
      if (!n) {
        t->insert(segs[i], toml::table{});
        n = t->get(segs[i]);
      }
      ATTNLAB_CHECK(n->is_table(), label, ": '", walked, "' holds ", found_text(*n), ", not a section");
      t = n->as_table();
    }
    if (value) value->visit([&](const auto& v) { t->insert_or_assign(segs.back(), v); });
    else t->insert_or_assign(segs.back(), raw);
    ctx_->set_label[key] = label;
    ctx_->set_raw[key] = raw;
  }
}

}  // namespace detail

// ---- the visitors' out-of-line parts ----

void Validator::check(bool ok, std::string_view key, std::string_view rule) {
  ATTNLAB_CHECK(ok, source_, ": ", detail::join_key(prefix_, key), ": ", rule);
}

void Lister::add(std::string_view name, const detail::ValueRef& v, std::string_view doc,
                 const std::vector<std::string>* choices, detail::Rules rules) {
  FieldInfo f;
  f.key = detail::join_key(prefix_, name);
  detail::check_field_name(name, f.key);
  f.kind = detail::kind_of(v, choices != nullptr);
  f.value = detail::format_value(v);
  f.doc = std::string(doc);
  if (choices) f.choices = *choices;
  for (const Rule* r : rules) f.rules.push_back(r->text);
  fields.push_back(std::move(f));
}

void Lister::add_section(std::string_view name, std::string_view doc) {
  FieldInfo f;
  f.key = detail::join_key(prefix_, name);
  detail::check_field_name(name, f.key);
  f.kind = Kind::Section;
  f.doc = std::string(doc);
  fields.push_back(std::move(f));
}

namespace {

std::string comment(std::string_view text) {
  std::string out = "# ";
  for (char c : text) out += c == '\n' ? std::string("\n# ") : std::string(1, c);
  return out + "\n";
}

}  // namespace

void Writer::add(std::string_view name, const detail::ValueRef& v, std::string_view doc,
                 const std::vector<std::string>* choices, detail::Rules rules) {
  std::string key = detail::join_key(prefix_, name);
  detail::check_field_name(name, key);
  auto check_utf8 = [&](const std::string& s) {
    ATTNLAB_CHECK(detail::valid_utf8(s), "config: ", key, " holds a string that is not valid UTF-8");
  };
  if (auto* s = std::get_if<std::string*>(&v)) check_utf8(**s);
  if (auto* l = std::get_if<std::vector<std::string>*>(&v))
    for (const auto& s : **l) check_utf8(s);
  if (docs_) {
    std::string text(doc);
    if (choices) {
      text += text.empty() ? "one of:" : " (one of:";
      for (const auto& c : *choices) text += " " + c;
      if (!doc.empty()) text += ")";
    }
    for (const Rule* r : rules) text += (text.empty() ? "" : "; ") + r->text;
    if (!text.empty()) own_ += comment(text);
  }
  own_ += std::string(name) + " = " + detail::format_value(v) + "\n";
}

void Writer::add_section(std::string_view doc, const std::string& body) {
  children_ += "\n";
  if (docs_ && !doc.empty()) children_ += comment(doc);
  children_ += body;
}

std::string Writer::text() const {
  std::string out = prefix_.empty() ? "" : "[" + prefix_ + "]\n";
  out += own_ + children_;
  if (prefix_.empty() && own_.empty() && !out.empty() && out[0] == '\n') out.erase(0, 1);
  return out;
}

std::string read_config_file(const std::string& path) { return io::read_file(path); }

}  // namespace attnlab::config
