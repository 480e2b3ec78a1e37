#include "attnlab/data/tasks.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "attnlab/core/error.h"
#include "attnlab/core/rng.h"
#include "attnlab/data/token_file.h"
#include "attnlab/io/atomic_file.h"

namespace attnlab::data {

namespace {

// Small fixed vocabularies: the prompts must be learnable by byte-level models trained
// from scratch, so they reuse a few dozen words rather than a dictionary.
const char* const kAdjectives[] = {"old",   "red",    "quiet", "brave", "small",  "green", "rapid", "gentle",
                                   "cold",  "bright", "empty", "heavy", "silver", "proud", "lucky", "tidy",
                                   "wild",  "calm",   "sharp", "round", "golden", "dusty", "sweet", "plain",
                                   "young", "hollow", "warm",  "loud",  "clever", "soft",  "bold",  "tiny"};
const char* const kNouns[] = {"river",  "castle", "garden", "lamp",   "harbor", "forest", "engine", "violin",
                              "pepper", "island", "ladder", "mirror", "pocket", "tunnel", "wagon",  "basket",
                              "candle", "falcon", "meadow", "anchor", "bridge", "cactus", "desert", "feather",
                              "glacier", "hammer", "jacket", "kettle", "lemon", "marble", "needle", "orchard"};
const char* const kTopics[] = {"chess",        "volcanoes",     "jazz music",   "gardening",   "space travel",
                               "ancient Rome", "baking bread",  "photography",  "sailing",     "bird watching",
                               "quantum physics", "poetry",     "football",     "coffee",      "mountain climbing",
                               "origami",      "electric cars", "honey bees",   "the ocean",   "chocolate",
                               "painting",     "robots",        "tea ceremonies", "dinosaurs", "cycling",
                               "opera",        "vegetables",    "old maps",     "video games", "yoga",
                               "the moon",     "knitting",      "wine making",  "trains",      "deserts",
                               "architecture", "magic tricks",  "whales",       "board games", "rainforests"};
const char* const kLandmarkFiller[] = {"The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.",
                                       "There and back again."};
template <class T, size_t N>
constexpr uint64_t count_of(const T (&)[N]) {
  return N;
}

// Streams of the seed, one per use, so changing one part of a task leaves the others alone.
constexpr uint64_t kKeyStream = 0x4b4559, kUnitStream = 0x554e4954, kIndexStream = 0x494458;

uint64_t draw(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t n) {
  auto r = philox4x32(seed, stream, counter);
  uint64_t x = (uint64_t(r[0]) << 32) | r[1];
  return uint64_t((unsigned __int128)x * n >> 64);
}

int64_t number_1_50000(uint64_t seed, uint64_t stream, uint64_t counter) {
  return int64_t(draw(seed, stream, counter, 50000)) + 1;
}

int64_t needle_position(double depth, int64_t slots) {
  ATTNLAB_CHECK(depth >= 0 && depth <= 1, "task: depth ", depth, " must lie in [0, 1]");
  return std::clamp<int64_t>(int64_t(std::llround(depth * double(slots))), 0, slots);
}

// Line k's index under LRT-NL: adjective-noun pairs by an affine bijection of the 32 x 32
// pairs (a multiplier coprime with 1024 from the seed), so the first 1024 are distinct.
std::string word_index(uint64_t seed, int64_t k) {
  const uint64_t pairs = count_of(kAdjectives) * count_of(kNouns);
  uint64_t a = 2 * draw(seed, kIndexStream, 0, pairs / 2) + 1, b = draw(seed, kIndexStream, 1, pairs);
  uint64_t id = (a * uint64_t(k) + b) % pairs;
  if (uint64_t(k) >= pairs) id = draw(seed, kIndexStream, 2 + uint64_t(k), pairs);  // beyond: repeats possible
  return std::string(kAdjectives[id / count_of(kNouns)]) + "-" + kNouns[id % count_of(kNouns)];
}

std::string line_index(uint64_t seed, int64_t k, const TaskOptions& o) {
  return o.line_index == "words" ? word_index(seed, k) : std::to_string(k + 1);
}

TaskExample passkey(int64_t n, double depth, uint64_t seed, const TaskOptions& o) {
  TaskExample e;
  e.kind = TaskKind::Passkey;
  const std::string key = std::to_string(number_1_50000(seed, kKeyStream, 0));
  // Where the landmark filler cycle starts, so different seeds see different text.
  const uint64_t phase = draw(seed, kUnitStream, 0, count_of(kLandmarkFiller));
  auto sentence = [&](int64_t k) { return std::string(kLandmarkFiller[(phase + uint64_t(k)) % count_of(kLandmarkFiller)]); };
  e.units = n;
  e.needle_unit = needle_position(depth, n);
  e.depth = n ? double(e.needle_unit) / double(n) : 0;
  if (o.header == "full")
    e.before = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
               "I will quiz you about the important information there.\n";
  else if (o.header == "short")
    e.before = "Find the pass key.\n";
  for (int64_t k = 0; k < e.needle_unit; ++k) e.before += sentence(k) + " ";
  e.needle = "The pass key is " + key + ". Remember it. " + key + " is the pass key.";
  for (int64_t k = e.needle_unit; k < n; ++k) {
    e.after += ' ';  // (char, then string: GCC 12 warns falsely on " " + std::string here)
    e.after += sentence(k);
  }
  e.after += "\nWhat is the pass key? The pass key is";
  e.completion = " " + key + "\n";
  e.answer = key;
  return e;
}

TaskExample lines(int64_t n, double depth, uint64_t seed, const TaskOptions& o) {
  ATTNLAB_CHECK(n >= 1, "task lines: needs at least one line");
  TaskExample e;
  e.kind = TaskKind::Lines;
  e.units = n;
  e.needle_unit = std::min(needle_position(depth, n - 1), n - 1);
  e.depth = n > 1 ? double(e.needle_unit) / double(n - 1) : 0;
  auto line = [&](int64_t k) {
    return "line " + line_index(seed, k, o) + ": REGISTER_CONTENT is <" +
           std::to_string(number_1_50000(seed, kUnitStream, uint64_t(k))) + ">\n";
  };
  if (o.header == "full")
    e.before = "Below is a record of lines I want you to remember. Each line begins with 'line <line index>' and "
               "contains a '<REGISTER_CONTENT>' at the end of the line as a numerical value. For each line index, "
               "memorize its corresponding <REGISTER_CONTENT>. At the end of the record, I will ask you to retrieve "
               "the corresponding <REGISTER_CONTENT> of a certain line index. Now the record start:\n\n";
  else if (o.header == "short")
    e.before = "Remember the lines.\n";
  for (int64_t k = 0; k < e.needle_unit; ++k) e.before += line(k);
  e.needle = line(e.needle_unit);
  for (int64_t k = e.needle_unit + 1; k < n; ++k) e.after += line(k);
  const std::string idx = line_index(seed, e.needle_unit, o);
  if (o.header == "full")
    e.after += "\nNow the record is over. Tell me what is the <REGISTER_CONTENT> in line " + idx +
               "? I need the number.";
  // The full question ends mid-line; a short prompt's last line already ends in "\n".
  e.after += std::string(o.header == "full" ? "\n" : "") + "Answer: line " + idx + ": REGISTER_CONTENT is <";
  const std::string value = std::to_string(number_1_50000(seed, kUnitStream, uint64_t(e.needle_unit)));
  e.completion = value + ">\n";
  e.answer = value;
  return e;
}

// Conversation k of a topics prompt: its topic and its text after the opening sentence.
std::string topic_of(uint64_t seed, int64_t k) {
  // A shuffled order of the topics per seed (Fisher-Yates from the seed), cycled when a
  // prompt holds more conversations than there are topics.
  std::vector<int> order(count_of(kTopics));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[draw(seed, kIndexStream, i, i + 1)]);
  return kTopics[order[size_t(k) % order.size()]];
}

std::string topic_chat(uint64_t seed, int64_t k, const std::string& topic, const TaskOptions& o) {
  auto word = [&](uint64_t salt, bool adjective) {
    uint64_t i = draw(seed, kUnitStream, uint64_t(k) * 64 + salt, 32);
    return std::string(adjective ? kAdjectives[i] : kNouns[i]);
  };
  if (o.topic_exchanges == 0) return "\n";
  std::string s = " ASSISTANT: Sure, " + topic + " is a " + word(0, true) + " topic.";
  for (int64_t x = 0; x + 1 < o.topic_exchanges; ++x) {
    std::string adj = word(1 + 4 * uint64_t(x), true), noun = word(2 + 4 * uint64_t(x), false);
    s += " USER: Is the " + noun + " " + adj + "? ASSISTANT: Yes, the " + noun + " is " + adj + ".";
  }
  return s + "\n";
}

TaskExample topics(int64_t n, uint64_t seed, const TaskOptions& o) {
  ATTNLAB_CHECK(n >= 1, "task topics: needs at least one conversation");
  TaskExample e;
  e.kind = TaskKind::Topics;
  e.units = n;
  if (o.header == "full")
    e.before = "Below is a record of our previous conversation on " + std::to_string(n) +
               " different topics. You are the ASSISTANT, and I am the USER. At the beginning of each topic, the "
               "USER will say 'I would like to discuss the topic of <TOPIC>'. Memorize each <TOPIC>. At the end of "
               "the record, I will ask you to retrieve the first topic. Now the record start. ";
  else if (o.header == "short")
    e.before = "Remember the first topic.\n";
  const std::string first = topic_of(seed, 0);
  e.needle = "USER: I would like to discuss the topic of " + first + ".";
  e.after = topic_chat(seed, 0, first, o);
  for (int64_t k = 1; k < n; ++k) {
    std::string t = topic_of(seed, k);
    e.after += "USER: I would like to discuss the topic of " + t + "." + topic_chat(seed, k, t, o);
  }
  if (o.header == "full")
    e.after += " Now the record ends. What is the first topic(s) we discussed? Only give me the topic name. Do not "
               "summarize yourself.";
  else
    e.after += "What was the first topic?";
  e.after += "\nASSISTANT: The first topic is";
  e.completion = " " + first + "\n";
  e.answer = first;
  return e;
}

}  // namespace

TaskKind parse_task_kind(const std::string& name) {
  if (name == "passkey") return TaskKind::Passkey;
  if (name == "lines") return TaskKind::Lines;
  if (name == "topics") return TaskKind::Topics;
  throw Error(cat("task '", name, "' is not one of passkey, lines, topics"));
}

const char* task_kind_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::Passkey: return "passkey";
    case TaskKind::Lines: return "lines";
    case TaskKind::Topics: return "topics";
  }
  return "?";
}

void TaskOptions::validate() const {
  ATTNLAB_CHECK(header == "full" || header == "short" || header == "none", "task header '", header,
                "' is not one of full, short, none");
  ATTNLAB_CHECK(line_index == "number" || line_index == "words", "task line index '", line_index,
                "' is not one of number, words");
  ATTNLAB_CHECK(topic_exchanges >= 0 && topic_exchanges <= 16, "task topic exchanges ", topic_exchanges,
                " must lie in [0, 16]");
}

TaskTokens encode_task(const TaskExample& e, const Tokenizer& tok) {
  TaskTokens t;
  t.prompt = tok.encode(e.before);
  t.needle_begin = int64_t(t.prompt.size());
  auto needle = tok.encode(e.needle);
  t.prompt.insert(t.prompt.end(), needle.begin(), needle.end());
  t.needle_end = int64_t(t.prompt.size());
  auto after = tok.encode(e.after);
  t.prompt.insert(t.prompt.end(), after.begin(), after.end());
  t.completion = tok.encode(e.completion);
  return t;
}

TaskExample make_task_example_units(TaskKind kind, int64_t units, double depth, uint64_t seed,
                                    const TaskOptions& options) {
  options.validate();
  ATTNLAB_CHECK(units >= 0, "task: ", units, " units");
  switch (kind) {
    case TaskKind::Passkey: return passkey(units, depth, seed, options);
    case TaskKind::Lines: return lines(units, depth, seed, options);
    case TaskKind::Topics: return topics(units, seed, options);
  }
  throw Error("task: unknown kind");
}

TaskExample make_task_example(TaskKind kind, const Tokenizer& tok, int64_t max_tokens, double depth, uint64_t seed,
                              const TaskOptions& options) {
  auto tokens_of = [&](int64_t n) {
    return int64_t(encode_task(make_task_example_units(kind, n, depth, seed, options), tok).prompt.size());
  };
  const int64_t least = kind == TaskKind::Passkey ? 0 : 1;
  const int64_t need = tokens_of(least);
  ATTNLAB_CHECK(need <= max_tokens, "task ", task_kind_name(kind), ": a prompt of at most ", max_tokens,
                " tokens cannot hold even the smallest example (", need, " tokens; try --header short or none)");
  // The prompt grows with every unit, so: double until too long, then bisect.
  int64_t lo = least, hi = std::max<int64_t>(least + 1, 2 * least);
  while (tokens_of(hi) <= max_tokens) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    (tokens_of(mid) <= max_tokens ? lo : hi) = mid;
  }
  return make_task_example_units(kind, lo, depth, seed, options);
}

TaskCorpusResult write_task_corpus(const std::string& out_dir, const TaskCorpusOptions& o) {
  namespace fs = std::filesystem;
  o.task.validate();
  const int64_t lo = o.min_tokens > 0 ? o.min_tokens : std::max<int64_t>(1, o.max_tokens / 2);
  ATTNLAB_CHECK(lo <= o.max_tokens, "task corpus: min length ", lo, " exceeds max length ", o.max_tokens);
  ATTNLAB_CHECK(o.train_examples >= 1 && o.val_examples >= 1, "task corpus: needs at least one train and one "
                "validation example");
  auto tok = make_tokenizer(o.tokenizer);
  fs::create_directories(out_dir);
  std::error_code ec;
  fs::remove(fs::path(out_dir) / "meta.json", ec);  // its presence marks a complete folder
  TaskCorpusResult res;
  double prompt_tokens = 0;
  auto write_split = [&](const std::string& file, int64_t count, uint64_t seed_base) {
    TokenFileWriter w((fs::path(out_dir) / file).string(), uint64_t(tok->vocab_size()));
    for (int64_t i = 0; i < count; ++i) {
      uint64_t seed = seed_base + uint64_t(i);
      // Length and depth from their own stream of the example's seed.
      int64_t len = lo + int64_t(draw(seed, 0x4c454e, 0, uint64_t(o.max_tokens - lo + 1)));
      double depth = double(draw(seed, 0x445054, 0, 1001)) / 1000.0;
      TaskTokens t = encode_task(make_task_example(o.kind, *tok, len, depth, seed, o.task), *tok);
      std::vector<int32_t> doc = t.prompt;
      doc.insert(doc.end(), t.completion.begin(), t.completion.end());
      doc.push_back(tok->eos_id());
      w.add_document(doc);
      prompt_tokens += double(t.prompt.size());
    }
    w.finish();
    return int64_t(w.token_count());
  };
  // Train and validation examples come from disjoint seed ranges.
  res.train_tokens = write_split("train.tok", o.train_examples, o.seed * 1000003ull);
  res.val_tokens = write_split("val.tok", o.val_examples, o.seed * 1000003ull + 500000ull);
  res.mean_prompt_tokens = prompt_tokens / double(o.train_examples + o.val_examples);
  nlohmann::ordered_json meta = {
      {"format", "attnlab-corpus"},
      {"version", 1},
      {"attnlab_version", ATTNLAB_VERSION},
      {"tokenizer", {{"spec", tok->spec()}, {"name", tok->name()}, {"vocab_size", tok->vocab_size()},
                     {"bos_id", tok->bos_id()}, {"eos_id", tok->eos_id()}, {"pad_id", tok->pad_id()}}},
      {"task", {{"kind", task_kind_name(o.kind)}, {"min_tokens", lo}, {"max_tokens", o.max_tokens},
                {"header", o.task.header}, {"line_index", o.task.line_index},
                {"topic_exchanges", o.task.topic_exchanges}, {"seed", o.seed}}},
      {"eos_after_each_document", true},
      {"train", {{"file", "train.tok"}, {"documents", o.train_examples}, {"tokens", res.train_tokens}}},
      {"val", {{"file", "val.tok"}, {"documents", o.val_examples}, {"tokens", res.val_tokens}}},
  };
  io::write_file_atomic((fs::path(out_dir) / "meta.json").string(), meta.dump(2) + "\n");
  return res;
}

}  // namespace attnlab::data
