#include "attnlab/mixers/mixer.h"

#include "attnlab/core/error.h"

namespace attnlab::mixers {

const char* form_name(Form f) {
  switch (f) {
    case Form::Ref: return "ref";
    case Form::Parallel: return "parallel";
    case Form::Recurrent: return "recurrent";
  }
  return "?";
}

Form parse_form(const std::string& name) {
  if (name == "ref") return Form::Ref;
  if (name == "parallel") return Form::Parallel;
  if (name == "recurrent") return Form::Recurrent;
  throw Error(cat("form '", name, "': expected ref, parallel or recurrent"));
}

namespace {
thread_local AttentionObserver* g_observer = nullptr;
}

AttentionObserver* attention_observer() { return g_observer; }
ObserveAttention::ObserveAttention(AttentionObserver* observer) : previous_(g_observer) { g_observer = observer; }
ObserveAttention::~ObserveAttention() { g_observer = previous_; }

}  // namespace attnlab::mixers
