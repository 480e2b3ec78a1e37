// The one interface every token mixer implements (DESIGN.md convention 1).
//
// A mixer maps x [B, T, C] to y [B, T, C], mixing information across time. It may run in
// up to three forms that must agree on outputs and on every gradient:
//   Ref        the definition: plain, obviously correct, O(T^2) where that is clearest;
//   Parallel   the training / prefill form (a fused kernel or a chunked scan);
//   Recurrent  one token at a time with a state (a KV cache or a fixed-size state).
// Every form takes an optional state: on entry what the previous tokens left, on exit
// the state after these tokens. Passing no state means "start of the sequence, keep
// nothing". Mixers know nothing of training; they declare parameters and compute.
#pragma once
#include <memory>
#include <string>

#include "attnlab/core/tensor.h"
#include "attnlab/model/params.h"

namespace attnlab::mixers {

enum class Form { Ref, Parallel, Recurrent };
const char* form_name(Form f);
Form parse_form(const std::string& name);  // "ref" | "parallel" | "recurrent"

// What a mixer carries between calls: a KV cache or a recurrent state.
class MixerState {
 public:
  virtual ~MixerState() = default;
  virtual int64_t length() const = 0;  // tokens consumed so far
  virtual size_t bytes() const = 0;    // memory held, for reports
};

// Sizes every mixer needs from the model around it.
struct MixerContext {
  int64_t d_model = 0;
  int64_t layer = 0;      // 0-based depth (some mixers' initialisation depends on it)
  int64_t n_layers = 1;
  std::string prefix;     // parameter-name prefix, e.g. "blocks.3.mixer."
  model::ParamStore* params = nullptr;
};

class Mixer {
 public:
  virtual ~Mixer() = default;
  // x [B, T, C] -> [B, T, C]; `state` may be null.
  virtual Tensor forward(const Tensor& x, Form form, MixerState* state) = 0;
  virtual std::unique_ptr<MixerState> make_state() const = 0;
  virtual bool supports(Form f) const = 0;
};

// Attention maps for diagnostics (eval/diagnostics.h). A mixer with explicit attention
// weights hands them to the thread's observer, when one is set, once per forward call:
// weights [B, H, Tq, Tk] float64, row i the softmax over the keys that query i sees
// (zeros where masked), queries at key positions Tk - Tq + i. Mixers without weights
// (linear-time mixers, RNNs) never call it, and diagnose reports that they expose none.
// With no observer set this costs one thread-local read per call.
class AttentionObserver {
 public:
  virtual ~AttentionObserver() = default;
  virtual void on_attention(int64_t layer, const Tensor& weights) = 0;
};
AttentionObserver* attention_observer();
// Sets the observer for this thread while alive; restores the previous one after.
class ObserveAttention {
 public:
  explicit ObserveAttention(AttentionObserver* observer);
  ~ObserveAttention();
  ObserveAttention(const ObserveAttention&) = delete;
  ObserveAttention& operator=(const ObserveAttention&) = delete;

 private:
  AttentionObserver* previous_;
};

}  // namespace attnlab::mixers
