// Several sequences in one forward pass give exactly the logits each gives alone (batch
// invariance: the scheduler relies on it), with any chunking of the prompt.
#include <doctest/doctest.h>
#include <cstring>
#include <random>

#include "engine/loader.h"
#include "engine/session.h"
#include "engine/testmodel/generator.h"
#include "tests/engine/test_models.h"

using namespace lfmd;
using lfmd::testing::model_path;

namespace {

std::vector<int32_t> random_tokens(std::mt19937& rng, int n) {
  std::vector<int32_t> t{1};
  std::uniform_int_distribution<int32_t> d(300, 2000);
  while (static_cast<int>(t.size()) < n) t.push_back(d(rng));
  return t;
}

// Logits of the last token, run alone through a Session (chunked prefill).
std::vector<float> alone(LoadedModel& m, const std::vector<int32_t>& toks) {
  Session s(m);
  return s.prefill(toks);
}

}  // namespace

TEST_CASE("engine: sequences batched together match each run alone, bit for bit") {
  // Q4_0 weights are repacked at load on x86 (their own matmul kernel); Q8_0 are not.
  const std::pair<const char*, kernels::DType> cases[] = {
      {"tiny", kernels::DType::Q8_0}, {"tiny-moe", kernels::DType::Q8_0}, {"tiny-moe", kernels::DType::Q4_0}};
  for (const auto& c : cases) {
    const char* const preset = c.first;  // not a structured binding: CAPTURE's lambda takes it
    const kernels::DType type = c.second;
    CAPTURE(preset);
    CAPTURE(kernels::type_info(type).name);
    LoadOptions lo;
    lo.path = model_path(preset, type);
    lo.n_threads = 2;
    lo.max_batch = 128;
    auto m = load_model(lo);
    std::mt19937 rng(7);
    // 75 tokens: attention walks keys in blocks of 32, so the longest prompt crosses two block
    // boundaries (online-softmax rescaling) and fills several 16-token attention tiles alone.
    std::vector<std::vector<int32_t>> prompts = {random_tokens(rng, 5), random_tokens(rng, 75), random_tokens(rng, 11)};
    // Prefill all three in one batch (interleaved), then decode one token each in one batch.
    std::vector<std::unique_ptr<SequenceState>> seqs;
    for (size_t i = 0; i < prompts.size(); ++i) seqs.push_back(m->model->new_sequence(m->n_ctx));
    Batch b;
    for (size_t k = 0; k < 75; ++k) {
      for (size_t i = 0; i < prompts.size(); ++i) {
        if (k < prompts[i].size()) b.add(prompts[i][k], static_cast<int64_t>(k), seqs[i].get(), k + 1 == prompts[i].size());
      }
    }
    const int64_t V = m->hp.n_vocab;
    std::vector<float> out(3 * V);
    m->model->forward(b, out.data());
    // Output rows follow batch order: the 5-token prompt ends first, then 11, then 75.
    const int order[3] = {0, 2, 1};
    for (int r = 0; r < 3; ++r) {
      std::vector<float> ref = alone(*m, prompts[order[r]]);
      CHECK(std::memcmp(ref.data(), out.data() + r * V, V * sizeof(float)) == 0);
    }
    b.clear();
    for (size_t i = 0; i < prompts.size(); ++i) b.add(42 + static_cast<int32_t>(i), static_cast<int64_t>(prompts[i].size()), seqs[i].get(), true);
    m->model->forward(b, out.data());
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::vector<int32_t> longer = prompts[i];
      longer.push_back(42 + static_cast<int32_t>(i));
      std::vector<float> ref = alone(*m, longer);
      CHECK(std::memcmp(ref.data(), out.data() + i * V, V * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("engine: positions must continue their sequence; overflow is refused before any change") {
  LoadOptions lo;
  lo.path = model_path("tiny");
  lo.n_threads = 1;
  lo.n_ctx = 8;
  auto m = load_model(lo);
  Session s(*m);
  s.prefill({1, 300, 301});
  CHECK(s.n_past() == 3);
  CHECK_THROWS_AS(s.prefill({5, 6, 7, 8, 9, 10}), ContextOverflow);
  CHECK(s.n_past() == 3);
  Batch bad;
  auto seq = m->model->new_sequence(8);
  bad.add(1, 1, seq.get(), true);  // position 1 without position 0
  std::vector<float> out(m->hp.n_vocab);
  CHECK_THROWS_AS(m->model->forward(bad, out.data()), std::invalid_argument);
}
