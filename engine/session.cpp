#include "engine/session.h"

#include <algorithm>

namespace lfmd {

std::string input_too_long_message(int64_t n_ctx, int64_t n_tokens) {
  return "input of " + std::to_string(n_tokens) + " tokens does not fit the context of " +
         std::to_string(n_ctx) + " tokens (" + std::to_string(n_tokens - n_ctx) + " too many); nothing was truncated";
}

Session::Session(LoadedModel& m) : m_(m), seq_(m.model->new_sequence(m.n_ctx)), logits_(m.hp.n_vocab) {}

const std::vector<float>& Session::prefill(const std::vector<int32_t>& tokens,
                                           const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (seq_->n_past() + n > seq_->n_ctx()) throw ContextOverflow(input_too_long_message(seq_->n_ctx(), seq_->n_past() + n));
  for (int64_t i = 0; i < n; i += m_.max_batch) {
    const int64_t end = std::min(n, i + m_.max_batch);
    batch_.clear();
    for (int64_t j = i; j < end; ++j) batch_.add(tokens[j], seq_->n_past() + (j - i), seq_.get(), j == n - 1);
    m_.model->forward(batch_, logits_.data());
    if (progress) progress(end, n);
  }
  return logits_;
}

void compute_all_logits(LoadedModel& m, const std::vector<int32_t>& tokens,
                        const std::function<void(int64_t, const float*, int64_t)>& sink) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n > m.n_ctx) throw ContextOverflow(input_too_long_message(m.n_ctx, n));
  auto seq = m.model->new_sequence(m.n_ctx);
  std::vector<float> rows(static_cast<size_t>(m.max_batch * m.hp.n_vocab));
  Batch b;
  for (int64_t i = 0; i < n; i += m.max_batch) {
    const int64_t end = std::min(n, i + m.max_batch);
    b.clear();
    for (int64_t j = i; j < end; ++j) b.add(tokens[j], j, seq.get(), true);
    m.model->forward(b, rows.data());
    sink(i, rows.data(), end - i);
  }
}

}  // namespace lfmd
