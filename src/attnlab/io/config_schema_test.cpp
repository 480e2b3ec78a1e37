// Config schema: parsing, overrides, writing (round trip), listing and validation.
// The error paths are in config_errors_test.cpp.
#include "attnlab/io/config_schema.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attnlab/core/error.h"
#include "attnlab/io/safetensors.h"
#include "harness/temp_dir.h"
#include "io/config_test_structs.h"

namespace attnlab::config {
namespace {

using test::ExperimentCfg;
using test::MixerCfg;
using test::ModelCfg;
using test::TrainCfg;

TEST(ConfigSchema, EmptyTextGivesDefaults) {
  EXPECT_EQ(parse_config_text<ExperimentCfg>("", "x.toml"), ExperimentCfg{});
  EXPECT_EQ(parse_config_text<ExperimentCfg>("# only a comment\n\n", "x.toml"), ExperimentCfg{});
}

TEST(ConfigSchema, ParsesEveryFieldType) {
  const char* text = R"(
name = "long-ctx"
seed = -7

[model]
d_model = 96
n_layers = 3
tie_embeddings = false
windows = [1, 3, 63, 127, 1000]

[model.mixer]
name = "retention"
n_heads = 6
rope_base = 500000

[model.mixer.retention]
gamma = 0.5

[train]
lr = 1            # an integer is accepted for a float
betas = [0.8, 0.999]
steps = 0
out_dir = "runs/a b"
tags = ["x", "y-2"]
)";
  ExperimentCfg c = parse_config_text<ExperimentCfg>(text, "x.toml");
  EXPECT_EQ(c.name, "long-ctx");
  EXPECT_EQ(c.seed, -7);
  EXPECT_EQ(c.model.d_model, 96);
  EXPECT_EQ(c.model.n_layers, 3);
  EXPECT_FALSE(c.model.tie_embeddings);
  EXPECT_EQ(c.model.windows, (std::vector<int64_t>{1, 3, 63, 127, 1000}));
  EXPECT_EQ(c.model.mixer.name, "retention");
  EXPECT_EQ(c.model.mixer.n_heads, 6);
  EXPECT_EQ(c.model.mixer.rope_base, 500000.0);
  EXPECT_EQ(c.model.mixer.retention.gamma, 0.5);
  EXPECT_EQ(c.train.lr, 1.0);
  EXPECT_EQ(c.train.betas, (std::vector<double>{0.8, 0.999}));
  EXPECT_EQ(c.train.steps, 0);
  EXPECT_EQ(c.train.out_dir, "runs/a b");
  EXPECT_EQ(c.train.tags, (std::vector<std::string>{"x", "y-2"}));
}

TEST(ConfigSchema, DottedKeysAndInlineTablesAreTheSameTables) {
  ExperimentCfg a = parse_config_text<ExperimentCfg>("model.d_model = 128\nmodel.mixer.n_heads = 8\n", "a.toml");
  ExperimentCfg b = parse_config_text<ExperimentCfg>("model = { d_model = 128, mixer = { n_heads = 8 } }\n", "b.toml");
  EXPECT_EQ(a.model.d_model, 128);
  EXPECT_EQ(a.model.mixer.n_heads, 8);
  EXPECT_EQ(a, b);
}

TEST(ConfigSchema, ReadsFiles) {
  testing::TempDir dir;
  testing::write_plain(dir.file("c.toml"), "[train]\nsteps = 5\n");
  ExperimentCfg c = parse_config_file<ExperimentCfg>(dir.file("c.toml"), {"train.lr=0.5"});
  EXPECT_EQ(c.train.steps, 5);
  EXPECT_EQ(c.train.lr, 0.5);
}

// ---- --set overrides ----

TEST(ConfigOverrides, ValuesParseAsToml) {
  const char* text = "[train]\nlr = 0.1\n[model.mixer]\nname = \"diff\"\n";
  ExperimentCfg c = parse_config_text<ExperimentCfg>(
      text, "x.toml",
      {"train.lr=3e-4", "model.windows=[5, 7]", "train.tags=[\"a\", \"b\"]", "model.tie_embeddings=false",
       "train.betas = [0.5, 0.25]", "seed=-3"});
  EXPECT_EQ(c.train.lr, 3e-4);
  EXPECT_EQ(c.model.windows, (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(c.train.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(c.model.tie_embeddings);
  EXPECT_EQ(c.train.betas, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(c.seed, -3);
  EXPECT_EQ(c.model.mixer.name, "diff");  // untouched by the sets
}

TEST(ConfigOverrides, StringsQuotedOrBare) {
  for (const char* set : {"model.mixer.name=\"retention\"", "model.mixer.name=retention"}) {
    ExperimentCfg c = parse_config_text<ExperimentCfg>("", "x.toml", {set});
    EXPECT_EQ(c.model.mixer.name, "retention") << set;
  }
  // A value that reads as another TOML type is still a string for a string field.
  ExperimentCfg c = parse_config_text<ExperimentCfg>("", "x.toml", {"name=2024", "train.out_dir=1e-3", "train.tags=[]"});
  EXPECT_EQ(c.name, "2024");
  EXPECT_EQ(c.train.out_dir, "1e-3");
  EXPECT_TRUE(c.train.tags.empty());
  c = parse_config_text<ExperimentCfg>("", "x.toml", {"name="});
  EXPECT_EQ(c.name, "");
  c = parse_config_text<ExperimentCfg>("", "x.toml", {"name=a=b"});  // the first '=' splits
  EXPECT_EQ(c.name, "a=b");
}

TEST(ConfigOverrides, LaterSetsWinAndSectionsAreCreated) {
  ExperimentCfg c = parse_config_text<ExperimentCfg>(
      "", "x.toml", {"model.d_model=32", "model.d_model=48", "model.mixer.name=retention",
                     "model.mixer.retention.gamma=0.75"});
  EXPECT_EQ(c.model.d_model, 48);
  EXPECT_EQ(c.model.mixer.retention.gamma, 0.75);
  // A whole section as an inline table.
  c = parse_config_text<ExperimentCfg>("[model]\nd_model = 8\n", "x.toml", {"model={n_layers = 5}"});
  EXPECT_EQ(c.model.n_layers, 5);
  EXPECT_EQ(c.model.d_model, 64) << "the set replaced the whole [model] table";
}

TEST(ConfigOverrides, ApplyOverridesOnAStruct) {
  ExperimentCfg base;
  base.model.d_model = 256;
  base.train.tags = {"base"};
  ExperimentCfg c = apply_overrides(base, {"train.steps=7", "train.tags=[\"x\"]"});
  EXPECT_EQ(c.model.d_model, 256);
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_EQ(c.train.tags, (std::vector<std::string>{"x"}));
  EXPECT_EQ(apply_overrides(base, {}), base);
}

// ---- writing ----

ExperimentCfg odd_config() {
  ExperimentCfg c;
  c.name = "quote\" back\\slash\nnew\tline \x01 ctrl \x7f del \xce\xbb \xf0\x9f\x98\x80 '#' [x]";
  c.seed = std::numeric_limits<int64_t>::min();
  c.model.d_model = std::numeric_limits<int64_t>::max() - 1;  // divisible by... n_heads 1
  c.model.mixer.n_heads = 1;
  c.model.windows.clear();
  for (int64_t i = 0; i < 1000; ++i) c.model.windows.push_back(i * 7 + 1);
  c.model.mixer.name = "retention";
  c.model.mixer.rope_base = 1.0 / 3.0;
  c.model.mixer.retention.gamma = 0.1;
  c.train.lr = 5e-324;  // the smallest subnormal
  c.train.betas = {0.0, 1e-300, 0.1, 0.30000000000000004, 0.9999999999999999};
  c.train.steps = 0;
  c.train.out_dir = "x";
  c.train.tags = {"", "a", "\"", "\\", "#", "\xe2\x9c\x93"};
  return c;
}

TEST(ConfigWriter, RoundTripGivesTheSameStruct) {
  ExperimentCfg c = odd_config();
  for (bool docs : {true, false}) {
    std::string text = to_toml(c, docs);
    ExperimentCfg back = parse_config_text<ExperimentCfg>(text, "written.toml");
    EXPECT_EQ(back, c) << text;
    EXPECT_EQ(to_toml(back, docs), text);
  }
}

// No rules, so every double is allowed.
struct Floats {
  std::vector<double> xs;
  double one = 0;
  template <class V> void visit(V& v) {
    v.field("xs", xs, "");
    v.field("one", one, "");
  }
};

TEST(ConfigWriter, FloatsRoundTripExactly) {
  std::vector<double> vals = {0.0, -0.0, 0.1, 1.0 / 3.0, 1e-300, 5e-324, 2.2250738585072014e-308,
                              1e300, 1.7976931348623157e308, 123456789012345680.0, 3e-4, -2.5,
                              std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  Floats f;
  f.xs = vals;
  for (double v : vals) {
    f.one = v;
    Floats back = parse_config_text<Floats>(to_toml(f), "f.toml");
    ASSERT_EQ(back.xs.size(), vals.size());
    for (size_t i = 0; i < vals.size(); ++i) {
      EXPECT_EQ(back.xs[i], vals[i]) << i;
      EXPECT_EQ(std::signbit(back.xs[i]), std::signbit(vals[i])) << i;
    }
    EXPECT_EQ(back.one, v);
    EXPECT_EQ(std::signbit(back.one), std::signbit(v));
  }
  f.xs = {std::nan("")};
  EXPECT_TRUE(std::isnan(parse_config_text<Floats>(to_toml(f), "f.toml").xs[0]));
}

TEST(ConfigWriter, LayoutOfDefaults) {
  std::string expect = R"(# experiment name
name = "exp"
# random seed
seed = 1

# model shape
[model]
# model width; must be > 0
d_model = 64
# number of blocks; must be in [1, 64]
n_layers = 2
# share input and output embeddings
tie_embeddings = true
# local attention windows; must be > 0
windows = [16, 32]

# the token mixer
[model.mixer]
# token mixer (one of: softmax diff retention)
name = "softmax"
# attention heads; must be > 0
n_heads = 4
# RoPE base frequency; must be > 0
rope_base = 10000.0

[train]
# peak learning rate; must be > 0
lr = 0.0003
# Adam betas; must be in [0, 1)
betas = [0.9, 0.95]
# optimizer steps; must be >= 0
steps = 1000
# output directory; must not be empty
out_dir = "runs/default"
# free-form labels; must not contain spaces
tags = []
)";
  EXPECT_EQ(to_toml(ExperimentCfg{}), expect);
  std::string bare = to_toml(ExperimentCfg{}, false);
  EXPECT_EQ(bare.find('#'), std::string::npos);
  EXPECT_EQ(bare.substr(0, 20), "name = \"exp\"\nseed = ");
}

TEST(ConfigWriter, ConditionalSectionAppearsWithItsChoice) {
  ExperimentCfg c;
  EXPECT_EQ(to_toml(c).find("[model.mixer.retention]"), std::string::npos);
  c.model.mixer.name = "retention";
  std::string text = to_toml(c);
  EXPECT_NE(text.find("# retention options\n[model.mixer.retention]\n# decay per step; must be in [0, 1)\ngamma = 0.96875\n"),
            std::string::npos)
      << text;
}

// ---- listing ----

TEST(ConfigLister, EveryFieldInDeclarationOrder) {
  std::vector<FieldInfo> fields = list_fields<ExperimentCfg>();
  std::vector<std::string> keys;
  for (const auto& f : fields) keys.push_back(f.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "seed", "model", "model.d_model", "model.n_layers",
                                             "model.tie_embeddings", "model.windows", "model.mixer",
                                             "model.mixer.name", "model.mixer.n_heads", "model.mixer.rope_base",
                                             "train", "train.lr", "train.betas", "train.steps", "train.out_dir",
                                             "train.tags"}));
  const FieldInfo& name = fields[8];
  EXPECT_EQ(name.kind, Kind::Choice);
  EXPECT_EQ(name.value, "\"softmax\"");
  EXPECT_EQ(name.doc, "token mixer");
  EXPECT_EQ(name.choices, (std::vector<std::string>{"softmax", "diff", "retention"}));
  EXPECT_EQ(fields[2].kind, Kind::Section);
  EXPECT_EQ(fields[2].doc, "model shape");
  EXPECT_EQ(fields[4].rules, (std::vector<std::string>{"must be in [1, 64]"}));
  EXPECT_EQ(fields[12].kind, Kind::Float);
  EXPECT_EQ(fields[12].value, "0.0003");
  EXPECT_EQ(fields[13].kind, Kind::FloatList);
  EXPECT_EQ(fields[6].kind, Kind::IntList);
  EXPECT_EQ(fields[16].kind, Kind::StringList);
  EXPECT_EQ(fields[5].kind, Kind::Bool);
  EXPECT_EQ(fields[1].kind, Kind::Int);
  EXPECT_EQ(fields[0].kind, Kind::String);
  // The list follows the values: a retention mixer shows its options.
  ExperimentCfg r;
  r.model.mixer.name = "retention";
  EXPECT_EQ(list_fields(r).size(), fields.size() + 2);
}

TEST(ConfigLister, FormatsAnAlignedTable) {
  std::string table = format_fields(list_fields<ExperimentCfg>());
  EXPECT_NE(table.find("model.mixer.name       choice    \"softmax\"       token mixer (one of: softmax diff retention)\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("model.n_layers         int       2               number of blocks [must be in [1, 64]]\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("model                  section                   model shape\n"), std::string::npos) << table;
}

TEST(ConfigLister, KindNames) {
  EXPECT_STREQ(kind_name(Kind::Bool), "bool");
  EXPECT_STREQ(kind_name(Kind::Int), "int");
  EXPECT_STREQ(kind_name(Kind::Float), "float");
  EXPECT_STREQ(kind_name(Kind::String), "string");
  EXPECT_STREQ(kind_name(Kind::Choice), "choice");
  EXPECT_STREQ(kind_name(Kind::IntList), "int[]");
  EXPECT_STREQ(kind_name(Kind::FloatList), "float[]");
  EXPECT_STREQ(kind_name(Kind::StringList), "string[]");
  EXPECT_STREQ(kind_name(Kind::Section), "section");
}

// ---- validating structs built in code ----

TEST(ConfigValidate, AcceptsDefaultsAndNamesTheBrokenRule) {
  EXPECT_NO_THROW(validate_config(ExperimentCfg{}));
  auto message = [](const ExperimentCfg& c) {
    try {
      validate_config(c, "trainer config");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  ExperimentCfg c;
  c.model.n_layers = 0;
  EXPECT_EQ(message(c), "trainer config: model.n_layers = 0: must be in [1, 64]");
  c = {};
  c.train.betas = {0.9, 1.5};
  EXPECT_EQ(message(c), "trainer config: train.betas[1] = 1.5: must be in [0, 1)");
  c = {};
  c.model.mixer.name = "flash";
  EXPECT_EQ(message(c), "trainer config: model.mixer.name = \"flash\": must be one of \"softmax\", \"diff\", \"retention\"");
  c = {};
  c.model.d_model = 30;
  EXPECT_EQ(message(c), "trainer config: model.d_model: must be divisible by mixer.n_heads");
  c = {};
  c.model.mixer.name = "retention";
  c.model.mixer.retention.gamma = 1.0;
  EXPECT_EQ(message(c), "trainer config: model.mixer.retention.gamma = 1.0: must be in [0, 1)");
  c = {};
  c.train.out_dir.clear();
  EXPECT_EQ(message(c), "trainer config: train.out_dir = \"\": must not be empty");
}

// The checkpoint pattern: the config travels as TOML text in the safetensors metadata and
// comes back as the same struct, then --set flags apply on top.
TEST(ConfigInCheckpoint, RoundTripThroughSafetensorsMetadata) {
  testing::TempDir dir;
  ExperimentCfg c = odd_config();
  std::string path = dir.file("step_100.safetensors");
  io::save_safetensors(path, {{"embed.weight", Tensor::full({3, 5}, 0.5)}},
                       {{"config", to_toml(c)}, {"step", "100"}});
  io::SafetensorsFile f = io::load_safetensors(path);
  ExperimentCfg back = parse_config_text<ExperimentCfg>(f.metadata.at("config"), path + " [config]");
  EXPECT_EQ(back, c);
  ExperimentCfg resumed = apply_overrides(back, {"train.steps=200"}, path + " [config]");
  EXPECT_EQ(resumed.train.steps, 200);
  EXPECT_EQ(resumed.model, c.model);
}

}  // namespace
}  // namespace attnlab::config
