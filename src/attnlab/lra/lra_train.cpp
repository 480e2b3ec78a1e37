#include "attnlab/lra/lra_train.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "attnlab/autograd/node.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/io/safetensors.h"
#include "attnlab/ops/ops.h"
#include "attnlab/train/adamw.h"
#include "attnlab/train/schedule.h"

namespace attnlab::lra {

namespace {

struct Batch {
  Tensor tokens;                 // [B, T] int32, padded with 0
  std::vector<int64_t> lengths;  // valid tokens per row
  std::vector<int32_t> labels;
};

Batch make_batch(const TaskSplit& data, const std::vector<int64_t>& rows) {
  Batch b;
  int64_t T = 1;
  for (int64_t r : rows) T = std::max<int64_t>(T, int64_t(data.examples[size_t(r)].tokens.size()));
  std::vector<int32_t> tok(rows.size() * size_t(T), 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Example& e = data.examples[size_t(rows[i])];
    std::copy(e.tokens.begin(), e.tokens.end(), tok.begin() + int64_t(i) * T);
    b.lengths.push_back(int64_t(e.tokens.size()));
    b.labels.push_back(e.label);
  }
  b.tokens = Tensor::from_vector(tok, {int64_t(rows.size()), T});
  return b;
}

// Rows of step `step` in a phase: a pure function of (seed, phase, step).
std::vector<int64_t> draw_rows(uint64_t seed, uint64_t phase, int64_t step, int64_t B, int64_t n) {
  Rng rng(seed * 2 + phase, uint64_t(step) * uint64_t(B));
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < B; ++i) rows.push_back(int64_t(rng.next_below(uint64_t(n))));
  return rows;
}

train::ScheduleParams schedule(double peak, double floor, int64_t warmup, int64_t steps) {
  train::ScheduleParams s;
  s.kind = "cosine";
  s.peak = peak;
  s.floor = std::min(floor, peak);
  s.warmup = std::min(warmup, steps);
  s.steps = steps;
  return s;
}

void keep_first(TaskSplit& s, int64_t n) {
  if (n > 0 && n < int64_t(s.examples.size())) s.examples.resize(size_t(n));
}

io::NamedTensors named_params(Classifier& m) {
  io::NamedTensors out;
  for (auto* store : {&m.trunk().params(), &m.head_params()})
    for (const auto& p : store->params()) out.push_back({p->name, p->value.detach()});
  return out;
}

}  // namespace

double accuracy(Classifier& model, const TaskSplit& data, int64_t batch_size, mixers::Form form) {
  autograd::NoGradGuard no_grad;
  int64_t correct = 0, n = int64_t(data.examples.size());
  ATTNLAB_CHECK(n > 0, "lra: the ", data.task, " split to evaluate is empty");
  for (int64_t i = 0; i < n; i += batch_size) {
    std::vector<int64_t> rows;
    for (int64_t r = i; r < std::min(n, i + batch_size); ++r) rows.push_back(r);
    Batch b = make_batch(data, rows);
    Tensor logits = model.logits(b.tokens, b.lengths, form).to(DType::F64);
    const double* z = logits.data<double>();
    int64_t K = logits.size(1);
    for (size_t r = 0; r < rows.size(); ++r) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k)
        if (z[int64_t(r) * K + k] > z[int64_t(r) * K + best]) best = k;
      correct += best == b.labels[r];
    }
  }
  return double(correct) / double(n);
}

LraResult train_lra(LraRunConfig cfg, const std::string& out_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  LraConfig& L = cfg.lra;
  const int64_t vocab = task_vocab(L.task);
  ATTNLAB_CHECK(cfg.model.vocab_size == 0 || cfg.model.vocab_size == vocab, "model.vocab_size = ",
                cfg.model.vocab_size, " but task ", L.task, " has ", vocab, " tokens (leave it 0)");
  cfg.model.vocab_size = vocab;
  TaskSplit train = read_split(L.data, L.task, "train"), val = read_split(L.data, L.task, "val");
  keep_first(train, L.train_examples);
  keep_first(val, L.val_examples);
  ATTNLAB_CHECK(!train.examples.empty(), "lra: ", L.data, " has no training examples");
  std::filesystem::create_directories(out_dir);
  io::write_file_atomic(out_dir + "/config.toml", config::to_toml(cfg));
  std::ofstream metrics(out_dir + "/metrics.jsonl");
  const mixers::Form form = mixers::parse_form(L.form);
  Classifier model(cfg.model, task_classes(L.task), L.pooling, uint64_t(L.seed));
  const int64_t n = int64_t(train.examples.size()), B = L.batch_size;
  train::AdamWParams hp;
  hp.weight_decay = L.weight_decay;
  LraResult res;

  // 1. Self-pretraining: next-token prediction on the training inputs (labels unused).
  if (L.pretrain_steps > 0) {
    train::AdamW opt(model.trunk().params(), hp);
    auto sched = schedule(L.pretrain_lr, L.lr_floor, L.warmup, L.pretrain_steps);
    for (int64_t s = 0; s < L.pretrain_steps; ++s) {
      Batch b = make_batch(train, draw_rows(uint64_t(L.seed), 0, s, B, n));
      const int64_t T = b.tokens.size(1);
      ATTNLAB_CHECK(T >= 2, "lra: self-pretraining needs sequences of at least 2 tokens");
      // inputs t < T-1, targets t+1; padding positions ignored.
      std::vector<int32_t> all = [&] {
        std::vector<int32_t> v(size_t(B * T));
        std::copy_n(b.tokens.data<int32_t>(), B * T, v.begin());
        return v;
      }();
      std::vector<int32_t> in(size_t(B * (T - 1))), tg(size_t(B * (T - 1)));
      for (int64_t r = 0; r < B; ++r)
        for (int64_t t = 0; t + 1 < T; ++t) {
          in[size_t(r * (T - 1) + t)] = all[size_t(r * T + t)];
          tg[size_t(r * (T - 1) + t)] = t + 1 < b.lengths[size_t(r)] ? all[size_t(r * T + t + 1)] : -100;
        }
      model.trunk().params().zero_grads();
      Tensor loss = model.trunk().loss(Tensor::from_vector(in, {B, T - 1}), Tensor::from_vector(tg, {B, T - 1}), form);
      loss.backward();
      if (L.grad_clip > 0) train::clip_grad_norm(model.trunk().params(), L.grad_clip);
      opt.step(train::learning_rate(sched, s));
      res.pretrain_final_loss = loss.item();
      if (s % L.log_every == 0 || s + 1 == L.pretrain_steps) {
        std::printf("pretrain step %5lld  loss %.4f  %.0fs\n", (long long)s, loss.item(), seconds());
        std::fflush(stdout);
        metrics << nlohmann::json{{"phase", "pretrain"}, {"step", s}, {"loss", loss.item()}}.dump() << "\n";
      }
    }
  }

  // 2. Fine-tuning the whole model for classification.
  train::AdamW opt_trunk(model.trunk().params(), hp), opt_head(model.head_params(), hp);
  auto sched = schedule(L.lr, L.lr_floor, L.warmup, L.steps);
  Tensor best_trunk = model.trunk().params().values().clone(), best_head = model.head_params().values().clone();
  res.best_val_accuracy = -1;
  for (int64_t s = 0; s < L.steps; ++s) {
    Batch b = make_batch(train, draw_rows(uint64_t(L.seed), 1, s, B, n));
    model.trunk().params().zero_grads();
    model.head_params().zero_grads();
    Tensor logits = model.logits(b.tokens, b.lengths, form);
    Tensor loss = ops::cross_entropy(logits, Tensor::from_vector(b.labels, {B}));
    loss.backward();
    if (L.grad_clip > 0) {
      train::clip_grad_norm(model.trunk().params(), L.grad_clip);
      train::clip_grad_norm(model.head_params(), L.grad_clip);
    }
    double lr = train::learning_rate(sched, s);
    opt_trunk.step(lr);
    opt_head.step(lr);
    bool eval_now = (s + 1) % L.eval_every == 0 || s + 1 == L.steps;
    if (s % L.log_every == 0 && !eval_now) {
      std::printf("finetune step %5lld  loss %.4f  %.0fs\n", (long long)s, loss.item(), seconds());
      std::fflush(stdout);
    }
    if (eval_now) {
      double acc = accuracy(model, val, B, form);
      std::printf("finetune step %5lld  loss %.4f  val_acc %.4f  %.0fs\n", (long long)s, loss.item(), acc, seconds());
      std::fflush(stdout);
      metrics << nlohmann::json{{"phase", "finetune"}, {"step", s + 1}, {"loss", loss.item()}, {"val_acc", acc}}.dump()
              << "\n";
      if (acc > res.best_val_accuracy) {
        res.best_val_accuracy = acc;
        res.best_step = s + 1;
        best_trunk.copy_from(model.trunk().params().values());
        best_head.copy_from(model.head_params().values());
      }
    }
  }
  // The checkpoint selected on validation, evaluated on the test split.
  model.trunk().params().values().copy_from(best_trunk);
  model.head_params().values().copy_from(best_head);
  io::save_safetensors(out_dir + "/model.safetensors", named_params(model));
  TaskSplit test = read_split(L.data, L.task, "test");
  res.test_accuracy = accuracy(model, test, B, form);
  res.seconds = seconds();
  metrics << nlohmann::json{{"phase", "test"}, {"best_step", res.best_step}, {"val_acc", res.best_val_accuracy},
                            {"test_acc", res.test_accuracy}, {"seconds", res.seconds}}.dump()
          << "\n";
  return res;
}

std::unique_ptr<Classifier> load_lra_model(const std::string& run_dir, LraRunConfig* cfg_out) {
  auto cfg = config::parse_config_file<LraRunConfig>(run_dir + "/config.toml");
  auto model = std::make_unique<Classifier>(cfg.model, task_classes(cfg.lra.task), cfg.lra.pooling, 0);
  auto file = io::load_safetensors(run_dir + "/model.safetensors");
  for (auto* store : {&model->trunk().params(), &model->head_params()})
    for (const auto& p : store->params()) {
      const Tensor& t = file.at(p->name);
      ATTNLAB_CHECK(t.shape() == p->shape, file.path, ": ", p->name, " has shape ", shape_str(t.shape()),
                    ", the config wants ", shape_str(p->shape));
      p->value.copy_from(t);
    }
  if (cfg_out) *cfg_out = cfg;
  return model;
}

}  // namespace attnlab::lra
