// Configs are data (DESIGN.md convention 6): a config struct declares its fields ONCE, in
// a visit() template, and gets TOML parsing, validation, writing and documentation from
// that one list.
//
//   struct MixerConfig {
//     std::string name = "softmax";
//     int64_t n_heads = 4;
//     template <class V> void visit(V& v) {
//       v.choice("name", name, {"softmax", "retention"}, "token mixer");
//       v.field("n_heads", n_heads, "attention heads", config::positive());
//     }
//   };
//   struct ModelConfig {
//     int64_t d_model = 64;
//     MixerConfig mixer;
//     template <class V> void visit(V& v) {
//       v.field("d_model", d_model, "model width", config::positive());
//       v.section("mixer", mixer, "the token mixer");
//       v.check(d_model % mixer.n_heads == 0, "d_model", "must be divisible by mixer.n_heads");
//     }
//   };
//   auto cfg = config::parse_config_file<ModelConfig>("configs/x.toml", {"mixer.n_heads=8"});
//   std::string text = config::to_toml(cfg);           // parses back to the same struct
//   for (auto& f : config::list_fields<ModelConfig>()) ...  // name, type, default, doc
//
// Field types: bool, int64_t, double, std::string, std::vector<int64_t>,
// std::vector<double>, std::vector<std::string>, choice strings and nested sections.
// visit() runs top to bottom while reading, so a check() or a section chosen by an `if`
// sees the values of the fields declared above it.
//
// Errors are one line: where (file:line:column, the file, or the --set that gave the
// value), the dotted key, and what was expected:
//   configs/x.toml:3:1: unknown key 'model.d_modle' (did you mean 'model.d_model'?)
//   configs/x.toml:2:11: model.d_model: expected an integer, found a string "64"
//   --set model.d_model=-3: model.d_model = -3: must be > 0
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace attnlab::config {

// ---- validation rules ----
// A rule states what it demands in words ("must be > 0") and tests numbers (ints, floats
// and each element of number lists), strings (strings, choices and each element of string
// lists) and/or lengths (of lists and strings). A test left empty does not apply.
struct Rule {
  std::string text;
  std::function<bool(double)> number;
  std::function<bool(std::string_view)> string;
  std::function<bool(size_t)> count;
};
Rule positive();                         // > 0
Rule non_negative();                     // >= 0
Rule at_least(double lo);                // >= lo
Rule at_most(double hi);                 // <= hi
Rule in_range(double lo, double hi);     // lo <= x <= hi
Rule in_half_open(double lo, double hi); // lo <= x < hi (probabilities, betas)
Rule non_empty();                        // strings and lists
Rule number_rule(std::string text, std::function<bool(double)> ok);
Rule string_rule(std::string text, std::function<bool(std::string_view)> ok);

enum class Kind { Bool, Int, Float, String, Choice, IntList, FloatList, StringList, Section };
const char* kind_name(Kind k);  // "bool", "int", "float", "string", "choice", "int[]", ...

// One declared field (or section), as `attnlab list` shows it.
struct FieldInfo {
  std::string key;    // dotted path: "model.mixer.name"
  Kind kind = Kind::Bool;
  std::string value;  // TOML text of the value (the default, from list_fields<C>()); "" for sections
  std::string doc;
  std::vector<std::string> choices;
  std::vector<std::string> rules;  // the rules' texts
};

// An aligned table of fields: key, type, default, doc (choices and rules appended).
std::string format_fields(const std::vector<FieldInfo>& fields);

namespace detail {

using ValueRef = std::variant<bool*, int64_t*, double*, std::string*, std::vector<int64_t>*,
                              std::vector<double>*, std::vector<std::string>*>;
using Rules = std::initializer_list<const Rule*>;

template <class T>
inline constexpr bool is_field_type =
    std::is_same_v<T, bool> || std::is_same_v<T, int64_t> || std::is_same_v<T, double> ||
    std::is_same_v<T, std::string> || std::is_same_v<T, std::vector<int64_t>> ||
    std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<std::string>>;

template <class T>
ValueRef value_ref(const T& v) {
  static_assert(is_field_type<T>,
                "config fields are bool, int64_t, double, std::string, or std::vector of int64_t, "
                "double or std::string; use v.section() for nested structs");
  return ValueRef(const_cast<T*>(&v));  // writers and listers only read through it
}

std::string join_key(const std::string& prefix, std::string_view name);
std::string format_value(const ValueRef& v);  // TOML text
// Throws naming `where` and `key` when the value breaks a rule or is not one of `choices`.
// `note` follows the value in the message (" (the default)").
void validate_value(const std::string& where, const std::string& key, const ValueRef& v,
                    const std::vector<std::string>* choices, Rules rules, std::string_view note = {});

struct ReadContext;  // the parsed document and the --set overrides (config_schema.cpp)

// One table of the document being read into one struct.
class ReadScope {
 public:
  ReadScope(ReadContext* ctx, const void* table, std::string prefix)
      : ctx_(ctx), table_(table), prefix_(std::move(prefix)) {}
  void read(std::string_view name, const ValueRef& v, const std::vector<std::string>* choices, Rules rules);
  ReadScope enter(std::string_view name);
  void check(bool ok, std::string_view key, std::string_view rule);
  // Reports the first key of this table that no field or section claimed.
  void finish();

 private:
  ReadContext* ctx_;
  const void* table_;  // const toml::table*, null when the section is absent
  std::string prefix_;
  std::vector<std::string> seen_;
};

// A parsed TOML document with --set overrides applied, ready to be read into a struct.
class Document {
 public:
  // Throws "source:line:column: TOML syntax error: ..." on malformed text.
  Document(std::string_view text, const std::string& source);
  ~Document();
  Document(Document&&) noexcept;
  // Applies "dotted.key=value" assignments; the value is TOML (a bare word is a string).
  void apply_sets(const std::vector<std::string>& sets);
  // Lists the keys a struct would accept now, for "did you mean" suggestions.
  void set_known_keys(std::function<std::vector<FieldInfo>()> known);
  ReadScope root();

 private:
  std::unique_ptr<ReadContext> ctx_;
};

}  // namespace detail

// ---- the visitors a config struct's visit() is called with ----

class Reader {
 public:
  explicit Reader(detail::ReadScope& scope) : scope_(scope) {}
  template <class T, class... R>
  void field(std::string_view name, T& value, std::string_view /*doc*/, const R&... rules) {
    static_assert((std::is_same_v<R, Rule> && ...), "field rules are config::Rule values");
    scope_.read(name, detail::value_ref(value), nullptr, {&rules...});
  }
  void choice(std::string_view name, std::string& value, const std::vector<std::string>& choices,
              std::string_view /*doc*/) {
    scope_.read(name, detail::value_ref(value), &choices, {});
  }
  template <class S>
  void section(std::string_view name, S& sub, std::string_view /*doc*/ = {}) {
    detail::ReadScope child = scope_.enter(name);
    Reader r(child);
    sub.visit(r);
    child.finish();
  }
  void check(bool ok, std::string_view key, std::string_view rule) { scope_.check(ok, key, rule); }

 private:
  detail::ReadScope& scope_;
};

// Checks a struct built in code (rules, choices, checks); errors name `source`.
class Validator {
 public:
  Validator(std::string source, std::string prefix) : source_(std::move(source)), prefix_(std::move(prefix)) {}
  template <class T, class... R>
  void field(std::string_view name, T& value, std::string_view, const R&... rules) {
    detail::validate_value(source_, detail::join_key(prefix_, name), detail::value_ref(value), nullptr,
                           {&rules...});
  }
  void choice(std::string_view name, std::string& value, const std::vector<std::string>& choices,
              std::string_view) {
    detail::validate_value(source_, detail::join_key(prefix_, name), detail::value_ref(value), &choices, {});
  }
  template <class S>
  void section(std::string_view name, S& sub, std::string_view = {}) {
    Validator v(source_, detail::join_key(prefix_, name));
    sub.visit(v);
  }
  void check(bool ok, std::string_view key, std::string_view rule);

 private:
  std::string source_, prefix_;
};

// Collects every field's key, kind, value, doc, choices and rules.
class Lister {
 public:
  explicit Lister(std::string prefix = "") : prefix_(std::move(prefix)) {}
  template <class T, class... R>
  void field(std::string_view name, T& value, std::string_view doc, const R&... rules) {
    add(name, detail::value_ref(value), doc, nullptr, {&rules...});
  }
  void choice(std::string_view name, std::string& value, const std::vector<std::string>& choices,
              std::string_view doc) {
    add(name, detail::value_ref(value), doc, &choices, {});
  }
  template <class S>
  void section(std::string_view name, S& sub, std::string_view doc = {}) {
    add_section(name, doc);
    Lister l(detail::join_key(prefix_, name));
    sub.visit(l);
    for (auto& f : l.fields) fields.push_back(std::move(f));
  }
  void check(bool, std::string_view, std::string_view) {}

  std::vector<FieldInfo> fields;

 private:
  void add(std::string_view name, const detail::ValueRef& v, std::string_view doc,
           const std::vector<std::string>* choices, detail::Rules rules);
  void add_section(std::string_view name, std::string_view doc);
  std::string prefix_;
};

// Writes TOML text: each struct's own fields, then its sections as [dotted.headers], each
// key preceded by its doc as a comment.
class Writer {
 public:
  Writer(std::string prefix, bool with_docs) : prefix_(std::move(prefix)), docs_(with_docs) {}
  template <class T, class... R>
  void field(std::string_view name, T& value, std::string_view doc, const R&... rules) {
    add(name, detail::value_ref(value), doc, nullptr, {&rules...});
  }
  void choice(std::string_view name, std::string& value, const std::vector<std::string>& choices,
              std::string_view doc) {
    add(name, detail::value_ref(value), doc, &choices, {});
  }
  template <class S>
  void section(std::string_view name, S& sub, std::string_view doc = {}) {
    Writer w(detail::join_key(prefix_, name), docs_);
    sub.visit(w);
    add_section(doc, w.text());
  }
  void check(bool, std::string_view, std::string_view) {}
  // The TOML text of everything visited (with the [header] for a nested struct).
  std::string text() const;

 private:
  void add(std::string_view name, const detail::ValueRef& v, std::string_view doc,
           const std::vector<std::string>* choices, detail::Rules rules);
  void add_section(std::string_view doc, const std::string& body);
  std::string prefix_;
  bool docs_;
  std::string own_, children_;
};

// ---- entry points ----

// Parses TOML `text` (named `source` in errors) into a C, starting from C's defaults,
// with `sets` ("dotted.key=value") applied on top.
template <class C>
C parse_config_text(std::string_view text, const std::string& source,
                    const std::vector<std::string>& sets = {}) {
  detail::Document doc(text, source);
  C cfg{};
  doc.set_known_keys([&cfg] {
    Lister l;
    cfg.visit(l);
    return l.fields;
  });
  doc.apply_sets(sets);
  detail::ReadScope root = doc.root();
  Reader r(root);
  cfg.visit(r);
  root.finish();
  return cfg;
}

// Reads and parses a file; a missing file is one line naming it and the OS reason.
std::string read_config_file(const std::string& path);
template <class C>
C parse_config_file(const std::string& path, const std::vector<std::string>& sets = {}) {
  return parse_config_text<C>(read_config_file(path), path, sets);
}

template <class C>
std::string to_toml(const C& cfg, bool with_docs = true) {
  Writer w("", with_docs);
  const_cast<C&>(cfg).visit(w);
  return w.text();
}

// `base` with `sets` applied (e.g. a config loaded from a checkpoint, then --set flags).
template <class C>
C apply_overrides(const C& base, const std::vector<std::string>& sets, const std::string& source = "config") {
  return parse_config_text<C>(to_toml(base, false), source, sets);
}

template <class C>
std::vector<FieldInfo> list_fields(const C& cfg = C{}) {
  Lister l;
  const_cast<C&>(cfg).visit(l);
  return l.fields;
}

template <class C>
void validate_config(const C& cfg, const std::string& source = "config") {
  Validator v(source, "");
  const_cast<C&>(cfg).visit(v);
}

}  // namespace attnlab::config
