// Config schema error paths: every message is one line naming where (file:line:column,
// the file, or the --set), the dotted key, and what was expected.
#include <gtest/gtest.h>

#include "attnlab/core/error.h"
#include "attnlab/io/config_schema.h"
#include "attnlab/io/nearest.h"
#include "harness/temp_dir.h"
#include "io/config_test_structs.h"

namespace attnlab::config {
namespace {

using test::ExperimentCfg;

std::string parse_error(const std::string& text, const std::vector<std::string>& sets = {},
                        const std::string& source = "configs/x.toml") {
  try {
    parse_config_text<ExperimentCfg>(text, source, sets);
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
    return m;
  }
  return "(no error)";
}

TEST(EditDistance, KnownValues) {
  EXPECT_EQ(io::edit_distance("", ""), 0u);
  EXPECT_EQ(io::edit_distance("abc", ""), 3u);
  EXPECT_EQ(io::edit_distance("", "abc"), 3u);
  EXPECT_EQ(io::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(io::edit_distance("d_modle", "d_model"), 2u);
  EXPECT_EQ(io::edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(io::nearest_name("n_head", {"name", "n_heads", "rope_base"}), "n_heads");
  EXPECT_EQ(io::nearest_name("x", {}), "");
  EXPECT_TRUE(io::is_plausible_typo("model.d_modle", "model.d_model"));
  EXPECT_FALSE(io::is_plausible_typo("wibble", "lr"));
}

// ---- unknown keys ----

TEST(ConfigErrors, UnknownKeyTheBriefsExample) {
  EXPECT_EQ(parse_error("[model]\nd_model = 64\nd_modle = 3\n"),
            "configs/x.toml:3:1: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
}

TEST(ConfigErrors, UnknownKeysAtEveryDepth) {
  EXPECT_EQ(parse_error("seeed = 3\n"), "configs/x.toml:1:1: unknown key 'seeed' (did you mean 'seed'?)");
  EXPECT_EQ(parse_error("[model.mixer]\nn_head = 8\n"),
            "configs/x.toml:2:1: unknown key 'model.mixer.n_head' (did you mean 'model.mixer.n_heads'?)");
  EXPECT_EQ(parse_error("model.mixer.rope_bsae = 8.0\n"),
            "configs/x.toml:1:13: unknown key 'model.mixer.rope_bsae' (did you mean 'model.mixer.rope_base'?)");
  // A misspelt section is reported by its first key, with the section fixed.
  EXPECT_EQ(parse_error("[modle]\nd_model = 3\n"),
            "configs/x.toml:2:1: unknown key 'modle.d_model' (did you mean 'model.d_model'?)");
  EXPECT_EQ(parse_error("[trian]\n"), "configs/x.toml:1:2: unknown key 'trian' (did you mean 'train'?)");
}

TEST(ConfigErrors, UnknownKeyFarFromAnyListsTheSection) {
  EXPECT_EQ(parse_error("[train]\nwibble_wobble = 1\n"),
            "configs/x.toml:2:1: unknown key 'train.wibble_wobble' (valid keys in 'train': lr, betas, steps, "
            "out_dir, tags)");
  EXPECT_EQ(parse_error("completely_different = 1\n"),
            "configs/x.toml:1:1: unknown key 'completely_different' (valid keys: name, seed, model, train)");
}

TEST(ConfigErrors, KeysOfAnInactiveSectionAreUnknown) {
  // retention options only exist when the mixer is a retention mixer.
  std::string e = parse_error("[model.mixer]\nname = \"softmax\"\n[model.mixer.retention]\ngamma = 0.5\n");
  EXPECT_EQ(e, "configs/x.toml:4:1: unknown key 'model.mixer.retention.gamma' (valid keys in 'model.mixer': "
               "name, n_heads, rope_base)");
  EXPECT_EQ(parse_error("[model.mixer]\nname = \"retention\"\n[model.mixer.retention]\ngamma = 0.5\n"), "(no error)");
}

TEST(ConfigErrors, UnknownKeysFromSet) {
  EXPECT_EQ(parse_error("", {"model.d_modle=3"}),
            "--set model.d_modle=3: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
  EXPECT_EQ(parse_error("", {"modle.d_model=3"}),
            "--set modle.d_model=3: unknown key 'modle.d_model' (did you mean 'model.d_model'?)");
  EXPECT_EQ(parse_error("[train]\nlr = 0.1\n", {"train.lrr=3e-4"}),
            "--set train.lrr=3e-4: unknown key 'train.lrr' (did you mean 'train.lr'?)");
}

// ---- wrong types ----

TEST(ConfigErrors, WrongTypeNamesKeyFileExpectedAndFound) {
  EXPECT_EQ(parse_error("[model]\nd_model = \"64\"\n"),
            "configs/x.toml:2:11: model.d_model: expected an integer, found a string \"64\"");
  EXPECT_EQ(parse_error("[model]\nd_model = 64.5\n"),
            "configs/x.toml:2:11: model.d_model: expected an integer, found a float 64.5");
  EXPECT_EQ(parse_error("[train]\nlr = true\n"),
            "configs/x.toml:2:6: train.lr: expected a number, found a boolean true");
  EXPECT_EQ(parse_error("[model]\ntie_embeddings = 1\n"),
            "configs/x.toml:2:18: model.tie_embeddings: expected a boolean (true or false), found an integer 1");
  EXPECT_EQ(parse_error("name = 3\n"), "configs/x.toml:1:8: name: expected a string, found an integer 3");
  EXPECT_EQ(parse_error("[model.mixer]\nname = 3\n"),
            "configs/x.toml:2:8: model.mixer.name: expected a string, found an integer 3");
  EXPECT_EQ(parse_error("seed = 1979-05-27\n"), "configs/x.toml:1:8: seed: expected an integer, found a date");
  EXPECT_EQ(parse_error("seed = [1]\n"), "configs/x.toml:1:8: seed: expected an integer, found an array");
  EXPECT_EQ(parse_error("seed = { a = 1 }\n"), "configs/x.toml:1:8: seed: expected an integer, found a table");
}

TEST(ConfigErrors, WrongTypesInLists) {
  EXPECT_EQ(parse_error("[model]\nwindows = 3\n"),
            "configs/x.toml:2:11: model.windows: expected an array of integers, found an integer 3");
  EXPECT_EQ(parse_error("[model]\nwindows = [1, \"a\"]\n"),
            "configs/x.toml:2:11: model.windows[1]: expected an integer, found a string \"a\"");
  EXPECT_EQ(parse_error("[train]\nbetas = [0.9, \"x\"]\n"),
            "configs/x.toml:2:9: train.betas[1]: expected a number, found a string \"x\"");
  EXPECT_EQ(parse_error("[train]\nbetas = \"0.9\"\n"),
            "configs/x.toml:2:9: train.betas: expected an array of numbers, found a string \"0.9\"");
  EXPECT_EQ(parse_error("[train]\ntags = [1]\n"),
            "configs/x.toml:2:8: train.tags[0]: expected a string, found an integer 1");
  EXPECT_EQ(parse_error("[train]\ntags = \"a\"\n"),
            "configs/x.toml:2:8: train.tags: expected an array of strings, found a string \"a\"");
}

TEST(ConfigErrors, ScalarWhereASectionBelongs) {
  EXPECT_EQ(parse_error("model = 3\n"), "configs/x.toml:1:9: model: expected a section (table), found an integer 3");
  EXPECT_EQ(parse_error("[[model]]\nd_model = 3\n"),
            "configs/x.toml:1:1: model: expected a section (table), found an array");
}

TEST(ConfigErrors, WrongTypeFromSet) {
  EXPECT_EQ(parse_error("", {"model.d_model=abc"}),
            "--set model.d_model=abc: model.d_model: expected an integer, found a string \"abc\"");
  EXPECT_EQ(parse_error("", {"train.lr=fast"}),
            "--set train.lr=fast: train.lr: expected a number, found a string \"fast\"");
  EXPECT_EQ(parse_error("", {"model.windows=[1, 2.5]"}),
            "--set model.windows=[1, 2.5]: model.windows[1]: expected an integer, found a float 2.5");
  EXPECT_EQ(parse_error("", {"model.d_model.x=3"}),
            "--set model.d_model.x=3: model.d_model: expected an integer, found a table");
  EXPECT_EQ(parse_error("[model]\nd_model = 64\n", {"model.d_model.x=3"}),
            "--set model.d_model.x=3: 'model.d_model' holds an integer 64, not a section");
}

TEST(ConfigErrors, LongStringsAreShortenedInMessages) {
  std::string e = parse_error("seed = \"" + std::string(100, 'z') + "\"\n");
  EXPECT_NE(e.find("found a string \"" + std::string(40, 'z') + "...\""), std::string::npos) << e;
}

// ---- rules ----

TEST(ConfigErrors, RuleViolationsNameKeyValueAndRule) {
  EXPECT_EQ(parse_error("[model]\nd_model = -3\n"), "configs/x.toml:2:11: model.d_model = -3: must be > 0");
  EXPECT_EQ(parse_error("[model]\nn_layers = 100\n"), "configs/x.toml:2:12: model.n_layers = 100: must be in [1, 64]");
  EXPECT_EQ(parse_error("[model]\nwindows = [16, 0]\n"), "configs/x.toml:2:11: model.windows[1] = 0: must be > 0");
  EXPECT_EQ(parse_error("[train]\nbetas = [0.9, 1.0]\n"),
            "configs/x.toml:2:9: train.betas[1] = 1.0: must be in [0, 1)");
  EXPECT_EQ(parse_error("[train]\nsteps = -1\n"), "configs/x.toml:2:9: train.steps = -1: must be >= 0");
  EXPECT_EQ(parse_error("[train]\nout_dir = \"\"\n"), "configs/x.toml:2:11: train.out_dir = \"\": must not be empty");
  EXPECT_EQ(parse_error("[train]\ntags = [\"ok\", \"has space\"]\n"),
            "configs/x.toml:2:8: train.tags[1] = \"has space\": must not contain spaces");
  EXPECT_EQ(parse_error("[model.mixer]\nname = \"retention\"\nretention.gamma = 1.5\n"),
            "configs/x.toml:3:19: model.mixer.retention.gamma = 1.5: must be in [0, 1)");
  EXPECT_EQ(parse_error("", {"model.d_model=-3"}), "--set model.d_model=-3: model.d_model = -3: must be > 0");
}

TEST(ConfigErrors, ChecksAcrossFields) {
  EXPECT_EQ(parse_error("[model]\nd_model = 60\n[model.mixer]\nn_heads = 8\n"),
            "configs/x.toml:2:11: model.d_model = 60: must be divisible by mixer.n_heads");
  EXPECT_EQ(parse_error("[model.mixer]\nn_heads = 5\n"),
            "configs/x.toml: model.d_model (the default): must be divisible by mixer.n_heads");
  EXPECT_EQ(parse_error("", {"model.d_model=30"}), "--set model.d_model=30: model.d_model = 30: must be divisible by mixer.n_heads");
}

struct BadDefault {
  int64_t width = 0;  // must be set by the user
  template <class V> void visit(V& v) { v.field("width", width, "required", positive()); }
};

TEST(ConfigErrors, DefaultsAreCheckedToo) {
  try {
    parse_config_text<BadDefault>("", "configs/y.toml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "configs/y.toml: width = 0 (the default): must be > 0");
  }
  EXPECT_EQ(parse_config_text<BadDefault>("width = 2", "configs/y.toml").width, 2);
}

TEST(ConfigErrors, ChoicesNameTheChoicesAndTheNearest) {
  EXPECT_EQ(parse_error("[model.mixer]\nname = \"sofmax\"\n"),
            "configs/x.toml:2:8: model.mixer.name = \"sofmax\": must be one of \"softmax\", \"diff\", \"retention\" "
            "(did you mean \"softmax\"?)");
  EXPECT_EQ(parse_error("", {"model.mixer.name=xyz"}),
            "--set model.mixer.name=xyz: model.mixer.name = \"xyz\": must be one of \"softmax\", \"diff\", \"retention\"");
}

// ---- malformed text, files and --set flags ----

TEST(ConfigErrors, SyntaxErrorsGiveLineAndColumn) {
  std::string e = parse_error("[model\nd_model = 3\n");
  EXPECT_EQ(e.rfind("configs/x.toml:1:7: TOML syntax error: ", 0), 0u) << e;
  e = parse_error("a = 1\nb = 2\nc = = 3\n");
  EXPECT_EQ(e.rfind("configs/x.toml:3:5: TOML syntax error: ", 0), 0u) << e;
  e = parse_error("[model]\nd_model = 1\nd_model = 2\n");
  EXPECT_EQ(e.rfind("configs/x.toml:3:", 0), 0u) << e;
  EXPECT_NE(e.find("TOML syntax error"), std::string::npos) << e;
  EXPECT_NE(e.find("d_model"), std::string::npos) << e;
  e = parse_error("name = \"unterminated\n");
  EXPECT_EQ(e.rfind("configs/x.toml:1:", 0), 0u) << e;
}

TEST(ConfigErrors, MissingAndMalformedFiles) {
  testing::TempDir dir;
  std::string path = dir.file("absent.toml");
  try {
    parse_config_file<ExperimentCfg>(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot open '" + path + "' for reading: No such file or directory");
  }
  testing::write_plain(dir.file("bad.toml"), "# ok\n[train]\nlr = 0.1.2\n");
  try {
    parse_config_file<ExperimentCfg>(dir.file("bad.toml"));
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind(dir.file("bad.toml") + ":3:", 0), 0u) << m;
    EXPECT_NE(m.find("TOML syntax error"), std::string::npos) << m;
  }
  testing::write_plain(dir.file("typo.toml"), "[model]\nd_modle = 3\n");
  try {
    parse_config_file<ExperimentCfg>(dir.file("typo.toml"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("typo.toml") + ":2:1: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
  }
}

TEST(ConfigErrors, MalformedSetFlags) {
  EXPECT_EQ(parse_error("", {"train.lr"}), "--set train.lr: expected key=value (for example --set train.lr=3e-4)");
  EXPECT_EQ(parse_error("", {"=3"}),
            "--set =3: '' is not a dotted key (names of letters, digits, '_' and '-' joined by '.')");
  EXPECT_EQ(parse_error("", {"model..d_model=3"}),
            "--set model..d_model=3: 'model..d_model' is not a dotted key (names of letters, digits, '_' and '-' "
            "joined by '.')");
  EXPECT_EQ(parse_error("", {"model.d model=3"}).rfind("--set model.d model=3: 'model.d model' is not a dotted key", 0), 0u);
}

// ---- mistakes in a schema itself ----

struct BadName {
  int64_t x = 0;
  template <class V> void visit(V& v) { v.field("has space", x, ""); }
};
struct BadString {
  std::string s = "ok\xff";
  template <class V> void visit(V& v) { v.field("s", s, ""); }
};

TEST(ConfigErrors, SchemaMistakesAreReportedByTheWriterAndLister) {
  try {
    to_toml(BadName{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "config schema: field name 'has space' must be a bare TOML key (letters, digits, '_' and '-')");
  }
  EXPECT_THROW(list_fields<BadName>(), Error);
  try {
    to_toml(BadString{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "config: s holds a string that is not valid UTF-8");
  }
}

}  // namespace
}  // namespace attnlab::config
