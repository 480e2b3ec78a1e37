#include "attnlab/lra/listops.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "attnlab/core/error.h"

namespace attnlab::lra {

namespace {

const char* const kOps[] = {"[MIN", "[MAX", "[MED", "[SM"};

// A node of the generated tree: a value (op < 0) or an operator with children.
struct Node {
  int op = -1;
  int value = 0;
  std::vector<std::unique_ptr<Node>> args;
};

// listops.py's generate_tree: returns the node and its length (values + 2 per operator).
std::unique_ptr<Node> generate_tree(int64_t depth, const ListOpsOptions& opt, Rng& rng, int64_t& length) {
  auto node = std::make_unique<Node>();
  double r = depth < opt.max_depth ? rng.next_uniform() : 1.0;
  if (r > 0.25) {
    node->value = int(rng.next_below(10));
    length += 1;
    return node;
  }
  length += 2;
  int64_t n = 2 + int64_t(rng.next_below(uint64_t(opt.max_args - 1)));  // randint(2, max_args)
  for (int64_t i = 0; i < n; ++i) node->args.push_back(generate_tree(depth + 1, opt, rng, length));
  node->op = int(rng.next_below(4));
  return node;
}

// The generator's nesting: t = (op, a0); t = (t, a_i) for each further argument; (t, "]").
// to_string wraps every pair in "( ... )".
std::string to_string(const Node& n) {
  if (n.op < 0) return std::to_string(n.value);
  std::string t = std::string("( ") + kOps[n.op] + " " + to_string(*n.args[0]) + " )";
  for (size_t i = 1; i < n.args.size(); ++i) t = "( " + t + " " + to_string(*n.args[i]) + " )";
  return "( " + t + " ] )";
}

int value_of(const Node& n) {
  if (n.op < 0) return n.value;
  std::vector<int> v;
  for (const auto& a : n.args) v.push_back(value_of(*a));
  switch (n.op) {
    case 0: return *std::min_element(v.begin(), v.end());
    case 1: return *std::max_element(v.begin(), v.end());
    case 2: {  // int(np.median(v)): the mean of the middle two for even counts, truncated
      std::sort(v.begin(), v.end());
      size_t m = v.size() / 2;
      return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    }
    default: {
      int s = 0;
      for (int x : v) s += x;
      return s % 10;
    }
  }
}

}  // namespace

std::vector<ListOpsExample> generate_listops(const ListOpsOptions& opt, int64_t count, Rng& rng) {
  ATTNLAB_CHECK(opt.max_depth >= 1 && opt.max_args >= 2 && opt.min_length < opt.max_length,
                "listops: need max_depth >= 1, max_args >= 2 and min_length < max_length");
  std::vector<ListOpsExample> out;
  std::set<std::string> seen;
  const int64_t budget = 2000 * count + 100000;
  for (int64_t draws = 0; int64_t(out.size()) < count; ++draws) {
    ATTNLAB_CHECK(draws < budget, "listops: found only ", out.size(), " of ", count, " trees with ", opt.min_length,
                  " < length < ", opt.max_length, " after ", draws, " draws; widen the length window");
    int64_t length = 0;
    auto tree = generate_tree(1, opt, rng, length);
    if (length <= opt.min_length || length >= opt.max_length) continue;
    std::string s = to_string(*tree);
    if (!seen.insert(s).second) continue;
    out.push_back({s, value_of(*tree)});
  }
  return out;
}

std::vector<std::string> listops_words(const std::string& source) {
  std::vector<std::string> words;
  std::istringstream in(source);
  std::string w;
  while (in >> w) {
    if (w == "(" || w == ")") continue;
    words.push_back(w == "]" ? "X" : w);
  }
  return words;
}

std::vector<int32_t> listops_tokens(const std::string& source) {
  std::vector<int32_t> ids;
  for (const std::string& w : listops_words(source)) {
    if (w.size() == 1 && w[0] >= '0' && w[0] <= '9') ids.push_back(1 + (w[0] - '0'));
    else if (w == "X") ids.push_back(15);
    else {
      int k = -1;
      for (int i = 0; i < 4; ++i)
        if (w == kOps[i]) k = i;
      ATTNLAB_CHECK(k >= 0, "listops: unknown word '", w, "'");
      ids.push_back(11 + k);
    }
  }
  return ids;
}

int evaluate_listops(const std::vector<std::string>& words) {
  // Each open operator collects its arguments on a stack of frames; "X" closes one.
  std::vector<std::pair<std::string, std::vector<int>>> frames;
  int result = -1;
  for (const std::string& w : words) {
    if (w[0] == '[') {
      frames.push_back({w, {}});
      continue;
    }
    int v;
    if (w == "X") {
      ATTNLAB_CHECK(!frames.empty(), "listops: X without an operator");
      auto [op, a] = frames.back();
      frames.pop_back();
      ATTNLAB_CHECK(!a.empty(), "listops: operator without arguments");
      std::sort(a.begin(), a.end());
      if (op == "[MIN") v = a.front();
      else if (op == "[MAX") v = a.back();
      else if (op == "[MED") {
        // median of a sorted list, truncated like int(np.median)
        double med = a.size() % 2 ? a[a.size() / 2] : 0.5 * (a[a.size() / 2 - 1] + a[a.size() / 2]);
        v = int(med);
      } else if (op == "[SM") {
        long s = 0;
        for (int x : a) s += x;
        v = int(s % 10);
      } else {
        throw Error(cat("listops: unknown operator '", op, "'"));
      }
    } else {
      v = std::stoi(w);
    }
    if (frames.empty()) result = v;
    else frames.back().second.push_back(v);
  }
  ATTNLAB_CHECK(frames.empty() && result >= 0, "listops: unbalanced expression");
  return result;
}

}  // namespace attnlab::lra
