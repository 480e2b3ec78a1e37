#include "attnlab/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "attnlab/autograd/node.h"
#include "attnlab/data/batcher.h"
#include "attnlab/io/atomic_file.h"
#include "attnlab/mixers/softmax/softmax.h"
#include "attnlab/model/lm.h"
#include "attnlab/ops/emo_loss.h"
#include "attnlab/ops/shape.h"
#include "attnlab/train/convert.h"
#include "attnlab/train/adamw.h"
#include "attnlab/train/checkpoint.h"
#include "attnlab/train/schedule.h"
#include "attnlab/train/update_stats.h"

namespace attnlab::train {

namespace fs = std::filesystem;

namespace {

std::string read_corpus_tokenizer(const std::string& dir, int64_t& vocab) {
  const std::string meta_path = (fs::path(dir) / "meta.json").string();
  ATTNLAB_CHECK(fs::exists(meta_path), "data.path = '", dir, "': no meta.json there; prepare the corpus with "
                "`attnlab data prepare` (or scripts/prepare_corpus.sh)");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(io::read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(meta_path, ": not valid JSON (", e.what(), ")"));
  }
  ATTNLAB_CHECK(meta.contains("tokenizer") && meta["tokenizer"].contains("spec") &&
                    meta["tokenizer"].contains("vocab_size"),
                meta_path, ": expected tokenizer.spec and tokenizer.vocab_size");
  vocab = meta["tokenizer"]["vocab_size"].get<int64_t>();
  return meta["tokenizer"]["spec"].get<std::string>();
}

std::string format_duration(double s) {
  char buf[32];
  if (s < 0 || !std::isfinite(s)) return "?";
  int64_t t = int64_t(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(t / 3600), (long long)(t % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(t / 60), (long long)(t % 60));
  return buf;
}

// metrics.jsonl: on resume, lines after the resumed step are dropped so the file tells
// one consistent history.
void prepare_metrics_file(const std::string& path, bool resume, int64_t resumed_step) {
  if (!resume || !fs::exists(path)) {
    io::write_file_atomic(path, "");
    return;
  }
  std::istringstream in(io::read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step") || j["step"].get<int64_t>() <= resumed_step) kept += line + "\n";
  }
  io::write_file_atomic(path, kept);
}

// The weight matrix whose rows the logits are scored against: head.weight, or the
// embedding when they are tied.
const model::Param& output_head(const model::ParamStore& params, const std::string& where) {
  const model::Param* head = params.find("head.weight");
  if (!head) head = params.find("embed.weight");
  ATTNLAB_CHECK(head, where, ": the model has neither head.weight nor embed.weight");
  return *head;
}

// The training objective: cross-entropy, or EMO (ops/emo_loss.h) against a cost embedding
// that is either a frozen checkpoint's head (row-normalised once) or the model's own
// head, detached and row-normalised at every step.
class TrainingLoss {
 public:
  TrainingLoss(const TrainConfig& tc, model::LanguageModel& model) : tc_(tc), model_(model) {
    if (tc.loss != "emo") return;
    mode_ = ops::parse_emo_mode(tc.emo_mode);
    if (tc.emo_head == "self") return;
    ATTNLAB_CHECK(fs::exists(tc.emo_head), "train.emo_head = '", tc.emo_head,
                  "': no such checkpoint (expected 'self', a run folder or a step folder)");
    LoadedModel frozen = load_model(tc.emo_head);
    const model::Param& head = output_head(frozen.model->params(), "train.emo_head = '" + tc.emo_head + "'");
    ATTNLAB_CHECK(head.shape[0] == model.config().vocab_size, "train.emo_head = '", tc.emo_head, "': its ",
                  head.name, " has ", head.shape[0], " rows, the model's vocabulary is ", model.config().vocab_size);
    frozen_unit_ = ops::emo_unit_rows(head.value.to(model.params().dtype()));
  }

  Tensor operator()(const Tensor& inputs, const Tensor& targets, mixers::Form form) {
    if (tc_.loss != "emo") return model_.loss(inputs, targets, form);
    Tensor logits = model_.forward(inputs, form);
    const int64_t V = logits.size(-1), N = logits.numel() / V;
    Tensor unit = frozen_unit_.defined() ? frozen_unit_
                                         : ops::emo_unit_rows(output_head(model_.params(), "train.emo_head").value);
    return ops::emo_loss(ops::reshape(logits, {N, V}), targets.contiguous().view_raw({N}), unit, mode_);
  }

 private:
  const TrainConfig& tc_;
  model::LanguageModel& model_;
  ops::EmoMode mode_ = ops::EmoMode::CeEqual;
  Tensor frozen_unit_;
};

}  // namespace

ScheduleParams schedule_params(const TrainConfig& tc) {
  return {tc.schedule, tc.lr, tc.lr_floor, tc.warmup, tc.steps, tc.decay_fraction, tc.decay_shape,
          tc.decay_checkpoints};
}

double validation_loss(model::LanguageModel& model, const std::string& corpus_dir, int64_t seq_len,
                       int64_t windows, int64_t batch_size, mixers::Form form) {
  data::BatcherConfig bc{batch_size, seq_len, 0};
  data::Batcher batcher = data::Batcher::open(corpus_dir, bc);
  data::TokenBatch val = batcher.validation_windows(seq_len, windows);
  autograd::NoGradGuard no_grad;
  int64_t n = val.inputs.size(0);
  double total = 0;
  for (int64_t b = 0; b < n; b += batch_size) {
    int64_t e = std::min(n, b + batch_size);
    Tensor x = val.inputs.slice_raw(0, b, e).contiguous();
    Tensor y = val.targets.slice_raw(0, b, e).contiguous();
    total += model.loss(x, y, form).item() * double(e - b);
  }
  return total / double(n);
}

void fill_trained_length(RunConfig& run) { run.model.mixer.options->set_training_length(run.train.seq_len); }

TrainResult run_training(RunConfig run, const TrainOptions& opt) {
  TrainConfig& tc = run.train;
  // The corpus decides the vocabulary; the config may only confirm it.
  int64_t corpus_vocab = 0;
  std::string corpus_tokenizer = read_corpus_tokenizer(run.data.path, corpus_vocab);
  if (run.data.tokenizer.empty()) run.data.tokenizer = corpus_tokenizer;
  if (run.model.vocab_size == 0) run.model.vocab_size = corpus_vocab;
  fill_trained_length(run);
  ATTNLAB_CHECK(run.model.vocab_size >= corpus_vocab, "model.vocab_size = ", run.model.vocab_size,
                " is smaller than the corpus's vocabulary (", corpus_vocab, ")");

  model::LanguageModel model(run.model, uint64_t(tc.seed));
  for (auto& p : model.params().params())
    if (tc.decay_all) p->weight_decay = true;
  AdamW optimizer(model.params(), {tc.beta1, tc.beta2, tc.eps, tc.weight_decay});
  const ScheduleParams sched = schedule_params(tc);
  sched.validate();
  TrainingLoss training_loss(tc, model);
  UpdateDiagnostics diagnostics(model.params(), tc.diagnostics_every);

  int64_t start_step = 0;
  if (!opt.init_from.empty() && !opt.resume) init_params_from(model.params(), opt.init_from);
  if (opt.resume) {
    ATTNLAB_CHECK(fs::exists(fs::path(opt.out_dir) / "latest"), "--resume: '", opt.out_dir,
                  "' holds no checkpoint (no `latest` file); leave out --resume to start a new run there");
    std::string dir = resolve_checkpoint(opt.out_dir);
    LoadedModel loaded = load_model(dir);
    model.params().values().copy_from(loaded.model->params().values());
    TrainState st = load_train_state(dir);
    ATTNLAB_CHECK(st.adam_m.numel() == model.params().numel(), dir,
                  ": optimizer state does not match the model's parameter count");
    optimizer.m().copy_from(st.adam_m);
    optimizer.v().copy_from(st.adam_v);
    optimizer.set_steps_taken(st.adam_t);
    start_step = st.step;
    ATTNLAB_CHECK(start_step <= tc.steps, "--resume: the checkpoint is at step ", start_step,
                  ", past train.steps = ", tc.steps);
  }

  fs::create_directories(opt.out_dir);
  const std::string metrics_path = (fs::path(opt.out_dir) / "metrics.jsonl").string();
  prepare_metrics_file(metrics_path, opt.resume, start_step);
  std::ofstream metrics(metrics_path, std::ios::app);

  data::Batcher batcher = data::Batcher::open(run.data.path, {tc.batch_size, tc.seq_len, uint64_t(tc.seed)});
  mixers::Form form = mixers::parse_form(tc.form);
  Tensor inputs = Tensor::empty({tc.batch_size, tc.seq_len}, DType::I32);
  Tensor targets = Tensor::empty({tc.batch_size, tc.seq_len}, DType::I32);

  const bool tty = !opt.quiet && ::isatty(STDERR_FILENO);
  const int64_t tokens_per_step = tc.batch_size * tc.seq_len * tc.grad_accum;
  TrainResult result;
  auto t0 = std::chrono::steady_clock::now();
  double last_loss = 0;
  std::string last_checkpoint;
  for (int64_t step = start_step; step < tc.steps; ++step) {
    double lr = learning_rate(sched, step);
    model.params().zero_grads();
    double loss_sum = 0;
    for (int64_t micro = 0; micro < tc.grad_accum; ++micro) {
      batcher.fill_train_batch(step * tc.grad_accum + micro, inputs.data<int32_t>(), targets.data<int32_t>());
      Tensor loss = training_loss(inputs, targets, form);
      loss_sum += loss.item();
      loss.backward(Tensor::full({}, 1.0 / double(tc.grad_accum)));
    }
    last_loss = loss_sum / double(tc.grad_accum);
    ATTNLAB_CHECK(std::isfinite(last_loss), "training diverged at step ", step, ": loss is ", last_loss,
                  " (lower train.lr or raise train.warmup)");
    double gnorm = clip_grad_norm(model.params(), tc.grad_clip);
    const int64_t done = step + 1;
    diagnostics.before_step(done);
    optimizer.step(lr);
    nlohmann::json diag_line;
    diagnostics.after_step(done, diag_line);

    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double tok_s = double((done - start_step) * tokens_per_step) / std::max(elapsed, 1e-9);
    bool eval_now = (tc.eval_every > 0 && done % tc.eval_every == 0) || done == tc.steps;
    // Every decayed checkpoint (the end of a wsd-s cycle) is evaluated and kept.
    const bool decayed = is_decayed_checkpoint(sched, done);
    eval_now = eval_now || decayed;
    bool log_now = done % tc.log_every == 0 || done == tc.steps || eval_now || !diag_line.is_null();
    double val = NAN;
    if (eval_now) {
      val = validation_loss(model, run.data.path, tc.seq_len, tc.eval_windows, tc.batch_size, form);
      result.final_val_loss = val;
    }
    if (log_now) {
      nlohmann::json j{{"step", done},        {"loss", last_loss}, {"lr", lr},
                       {"grad_norm", gnorm},  {"tokens", done * tokens_per_step},
                       {"tokens_per_s", tok_s}, {"elapsed_s", elapsed}};
      if (eval_now) j["val_loss"] = val;
      if (decayed) j["decayed"] = true;
      if (!diag_line.is_null()) j.update(diag_line);
      metrics << j.dump() << "\n";
      metrics.flush();
    }
    double eta = double(tc.steps - done) * elapsed / double(done - start_step);
    if (tty) {
      int width = 24, filled = int(double(width) * double(done) / double(tc.steps));
      std::fprintf(stderr, "\r step %lld/%lld [%s%s] loss %.4f | %.0f tok/s | ETA %s   ", (long long)done,
                   (long long)tc.steps, std::string(size_t(filled), '=').c_str(),
                   std::string(size_t(width - filled), ' ').c_str(), last_loss, tok_s, format_duration(eta).c_str());
      if (eval_now) std::fprintf(stderr, "\n   val loss %.4f (%.3f bits/token)\n", val, val / std::log(2.0));
    } else if (!opt.quiet && log_now) {
      std::fprintf(stderr, "step %lld/%lld loss %.4f lr %.3g grad_norm %.3f %.0f tok/s eta %s%s\n",
                   (long long)done, (long long)tc.steps, last_loss, lr, gnorm, tok_s, format_duration(eta).c_str(),
                   eval_now ? cat(" val_loss ", val).c_str() : "");
    }
    if (decayed && tc.schedule == "wsd-s")
      last_checkpoint = save_checkpoint(opt.out_dir, run, model, &optimizer, done, tc.keep_checkpoints, "decayed");
    else if ((tc.checkpoint_every > 0 && done % tc.checkpoint_every == 0) || done == tc.steps)
      last_checkpoint = save_checkpoint(opt.out_dir, run, model, &optimizer, done, tc.keep_checkpoints);
  }
  if (tty) std::fprintf(stderr, "\n");
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps = tc.steps;
  result.final_train_loss = last_loss;
  result.tokens_per_second = double((tc.steps - start_step) * tokens_per_step) / std::max(elapsed, 1e-9);
  result.checkpoint = last_checkpoint;
  return result;
}

}  // namespace attnlab::train
