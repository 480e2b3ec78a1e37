// LRA tasks: generated ListOps expressions evaluate (by an independent stack evaluator) to
// their labels and respect the generator's rules; Pathfinder labels equal connectivity
// of the two markers by flood fill on the rendered image; files round-trip; generation is
// deterministic in the seed; the classifier's pooling ignores padding.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "attnlab/autograd/node.h"
#include "attnlab/lra/classifier.h"
#include "attnlab/lra/dataset.h"
#include "attnlab/model/config.h"
#include "attnlab/ops/ops.h"
#include "harness/assert_close.h"
#include "harness/temp_dir.h"

namespace attnlab::lra {
namespace {

TEST(ListOps, EvaluatorOnHandWrittenExpressions) {
  EXPECT_EQ(evaluate_listops(listops_words("[MAX 2 9 [MIN 4 7 ] 0 ]")), 9);
  EXPECT_EQ(evaluate_listops(listops_words("( ( [MED 1 ) 2 3 4 ] )")), 2);  // int(2.5)
  EXPECT_EQ(evaluate_listops(listops_words("[MED 7 1 5 ]")), 5);
  EXPECT_EQ(evaluate_listops(listops_words("[SM 5 6 7 ]")), 8);
  EXPECT_EQ(evaluate_listops(listops_words("[MIN [SM 9 9 ] [MAX 3 1 ] ]")), 3);
  EXPECT_EQ(listops_words("( ( [SM 5 ) 6 ] )"), (std::vector<std::string>{"[SM", "5", "6", "X"}));
  EXPECT_EQ(listops_tokens("[SM 0 9 ]"), (std::vector<int32_t>{14, 1, 10, 15}));
}

TEST(ListOps, GeneratedExpressionsFollowTheRulesAndEvaluateToTheirLabels) {
  ListOpsOptions opt;
  opt.max_depth = 5;
  opt.max_args = 6;
  opt.min_length = 10;
  opt.max_length = 80;
  Rng rng(3);
  auto ex = generate_listops(opt, 300, rng);
  ASSERT_EQ(ex.size(), 300u);
  std::set<std::string> unique;
  std::set<int> labels;
  for (const auto& e : ex) {
    unique.insert(e.source);
    auto words = listops_words(e.source);
    // values + 2 per operator is the token count after dropping parentheses
    EXPECT_GT(int64_t(words.size()), opt.min_length);
    EXPECT_LT(int64_t(words.size()), opt.max_length);
    EXPECT_EQ(evaluate_listops(words), e.label) << e.source;
    labels.insert(e.label);
    // depth: values sit at depth <= max_depth, so at most max_depth - 1 open operators;
    // every operator has 2..max_args arguments.
    std::vector<int64_t> args;
    size_t deepest = 0;
    for (const auto& w : words) {
      if (w[0] == '[') {
        if (!args.empty()) ++args.back();
        args.push_back(0);
        deepest = std::max(deepest, args.size());
      } else if (w == "X") {
        EXPECT_GE(args.back(), 2);
        EXPECT_LE(args.back(), opt.max_args);
        args.pop_back();
      } else if (!args.empty()) {
        ++args.back();
      }
    }
    EXPECT_LE(int64_t(deepest), opt.max_depth - 1);
  }
  EXPECT_EQ(unique.size(), ex.size());
  EXPECT_GE(labels.size(), 8u);  // the labels spread over the classes
  Rng again(3), other(4);
  EXPECT_EQ(generate_listops(opt, 300, again)[299].source, ex[299].source);
  EXPECT_NE(generate_listops(opt, 5, other)[0].source, ex[0].source);
}

TEST(ListOps, ImpossibleWindowIsAnError) {
  ListOpsOptions opt;
  opt.max_depth = 2;
  opt.max_args = 2;
  opt.min_length = 50;  // depth 2 with 2 args has at most 4 tokens
  Rng rng(1);
  auto msg = ::attnlab::testing::error_of([&] { generate_listops(opt, 2, rng); });
  EXPECT_NE(msg.find("widen the length window"), std::string::npos) << msg;
}

TEST(Pathfinder, LabelIsConnectivityByFloodFill) {
  for (auto opt : {PathfinderOptions::lra32(), PathfinderOptions::lra128()}) {
    Rng rng(11);
    int n = opt.size == 32 ? 200 : 20;
    for (int i = 0; i < n; ++i) {
      int label = i % 2;
      PathfinderImage img = generate_pathfinder(opt, label, rng);
      ASSERT_EQ(int64_t(img.pixels.size()), opt.size * opt.size);
      EXPECT_EQ(img.label, label);
      EXPECT_EQ(pixels_connected(img, img.marker[0], img.marker[1]), label == 1)
          << "size " << opt.size << " image " << i;
      // The image holds more than the two markers' contours (distractors were drawn).
      int64_t lit = 0;
      for (uint8_t p : img.pixels) lit += p > 0;
      EXPECT_GT(lit, 2 * opt.contour_length * int64_t(opt.paddle_length));
    }
  }
}

TEST(Pathfinder, FloodFillSeesDiagonalSteps) {
  PathfinderImage img;
  img.size = 4;
  img.pixels = {255, 0, 0, 0,  //
                0, 255, 0, 0,  //
                0, 0, 0, 255,  //
                0, 0, 0, 255};
  int64_t a[2] = {0, 0}, b[2] = {1, 1}, c[2] = {3, 3};
  EXPECT_TRUE(pixels_connected(img, a, b));
  EXPECT_FALSE(pixels_connected(img, a, c));
}

TEST(LraFiles, GenerateThenReadIsDeterministicAndRoundTrips) {
  ::attnlab::testing::TempDir dir;
  GenerateOptions g;
  g.task = "listops";
  g.train = 30, g.val = 5, g.test = 5;
  g.listops.min_length = 10, g.listops.max_length = 60;
  generate_task(g, dir.path() + "/a");
  generate_task(g, dir.path() + "/b");
  TaskSplit a = read_split(dir.path() + "/a", "listops", "train"), b = read_split(dir.path() + "/b", "listops", "train");
  ASSERT_EQ(a.examples.size(), 30u);
  for (size_t i = 0; i < a.examples.size(); ++i) {
    EXPECT_EQ(a.examples[i].tokens, b.examples[i].tokens);
    EXPECT_EQ(a.examples[i].label, b.examples[i].label);
  }
  EXPECT_EQ(read_split(dir.path() + "/a", "listops", "test").examples.size(), 5u);
  g.task = "pathfinder32";
  g.pathfinder = PathfinderOptions::lra32();
  g.train = 40;
  generate_task(g, dir.path() + "/p");
  TaskSplit p = read_split(dir.path() + "/p", "pathfinder32", "train");
  ASSERT_EQ(p.examples.size(), 40u);
  int ones = 0;
  for (const auto& e : p.examples) {
    EXPECT_EQ(e.tokens.size(), 1024u);
    ones += e.label;
  }
  EXPECT_GT(ones, 8);
  EXPECT_LT(ones, 32);
  auto msg = ::attnlab::testing::error_of([&] { read_split(dir.path() + "/p", "pathfinder128", "train"); });
  EXPECT_NE(msg.find("wants 128"), std::string::npos) << msg;
  msg = ::attnlab::testing::error_of([&] { read_split(dir.path() + "/nowhere", "listops", "val"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

// A causal trunk: padding after a sequence changes nothing before it, so each pooling
// gives the same logits for a sequence alone and inside a padded batch.
TEST(Classifier, PoolingIgnoresPadding) {
  for (std::string mixer : {"softmax", "deer_rnn"})
    for (std::string pooling : {"mean", "max", "last"}) {
      model::ModelConfig cfg;
      cfg.vocab_size = 16, cfg.d_model = 24, cfg.n_layers = 2;
      cfg.mixer = config::parse_config_text<model::MixerConfig>("name = \"" + mixer + "\"", "test");
      Classifier clf(cfg, 10, pooling, 5, DType::F64);
      autograd::NoGradGuard no_grad;
      Tensor alone = Tensor::from_vector(std::vector<int32_t>{3, 4, 5}, {1, 3});
      Tensor batch = Tensor::from_vector(std::vector<int32_t>{3, 4, 5, 0, 0, 1, 2, 3, 4, 5}, {2, 5});
      Tensor la = clf.logits(alone, {3}), lb = clf.logits(batch, {3, 5});
      SCOPED_TRACE(mixer + " " + pooling);
      EXPECT_CLOSE("padded row", la, lb.slice_raw(0, 0, 1), 1e-12);
      // and the pooling is what it says: compare with the trunk's states directly
      Tensor h = clf.trunk().hidden(alone);
      std::vector<double> hv = h.to_vector(), pv = clf.pool(h, {3}).to_vector();
      for (int64_t c = 0; c < 24; ++c) {
        double want = pooling == "last" ? hv[size_t(2 * 24 + c)] : pooling == "mean" ? 0 : -1e300;
        for (int64_t t = 0; t < 3 && pooling != "last"; ++t)
          want = pooling == "mean" ? want + hv[size_t(t * 24 + c)] / 3 : std::max(want, hv[size_t(t * 24 + c)]);
        EXPECT_NEAR(pv[size_t(c)], want, 1e-12);
      }
    }
}

}  // namespace
}  // namespace attnlab::lra
