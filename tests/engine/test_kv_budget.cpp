// The KV memory budget: more concurrent requests than fit wait, pause and resume, and every one
// gives exactly the tokens it gives alone, with the states and the prefix cache kept under the
// budget; prompts that can never fit are refused.
#include <doctest/doctest.h>

#include <random>

#include "engine/engine.h"
#include "engine/loader.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_models.h"

using namespace lfmd;
using namespace lfmd::testing;

namespace {

std::unique_ptr<LoadedModel> load_tiny_moe() {
  LoadOptions lo;
  lo.path = model_path("tiny-moe");
  lo.n_threads = 2;
  lo.max_batch = 64;
  return load_model(lo);
}

// 6 requests of 120-220 prompt tokens and 40-90 new ones, greedy and seeded sampling.
std::vector<GenerateRequest> long_requests() {
  std::mt19937 rng(21);
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 6; ++i) {
    GenerateRequest r;
    r.prompt = random_prompt(rng, 120 + 20 * i);
    r.max_tokens = 40 + 10 * i;
    r.sampling.temperature = i % 2 ? 0.9f : 0.0f;
    r.sampling.seed = 40 + i;
    reqs.push_back(std::move(r));
  }
  return reqs;
}

// Bytes of a sequence holding n tokens with the engine's snapshot settings.
size_t sequence_bytes_at(const LoadedModel& m, int64_t n, int64_t snapshot_every) {
  auto s = m.model->new_sequence(m.n_ctx);
  s->set_snapshot_interval(snapshot_every);
  return s->bytes_at(n);
}

}  // namespace

TEST_CASE("kv budget: concurrent requests beyond the budget pause, resume and give the tokens they give alone") {
  auto model = load_tiny_moe();
  const auto reqs = long_requests();
  std::vector<Result> ref;
  {
    EngineOptions o;
    o.parallel = 1;
    o.cache_bytes = 0;
    Engine e(*model, o);
    for (const auto& r : reqs) ref.push_back(run_all(e, {r}).front());
  }
  // KV storage comes in blocks of kKvBlockTokens (256) tokens: room for about two one-block
  // sequences, while the two longest requests (280, 310 tokens) need a second block as they decode.
  const size_t longest = sequence_bytes_at(*model, kernels::kKvBlockTokens, 16);
  for (size_t cache_mb : {size_t{0}, size_t{64}}) {
    CAPTURE(cache_mb);
    EngineOptions o;
    o.parallel = 6;
    o.prefill_chunk = 32;
    o.snapshot_interval = 16;
    o.cache_bytes = cache_mb << 20;
    o.kv_budget_bytes = 2 * longest + longest / 4;
    Engine e(*model, o);
    CHECK(e.kv_budget() == o.kv_budget_bytes);
    const auto got = run_all(e, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].tokens == ref[i].tokens);
      CHECK(got[i].finish == ref[i].finish);
    }
    const EngineStats st = e.stats();
    CHECK(st.preemptions_total > 0);
    CHECK(st.recomputed_tokens_total > 0);
    CHECK(st.kv_peak_bytes > 0);
    CHECK(st.kv_peak_bytes <= static_cast<int64_t>(o.kv_budget_bytes));
    CHECK(st.running == 0);
    CHECK(st.paused == 0);
    CHECK(st.sequence_bytes == 0);
    CHECK(st.cache_bytes <= static_cast<int64_t>(o.kv_budget_bytes));
  }
}

TEST_CASE("kv budget: with the disk tier on, states + memory cache + queued writes stay under the budget") {
  auto model = load_tiny_moe();
  const auto reqs = long_requests();
  const size_t longest = sequence_bytes_at(*model, kernels::kKvBlockTokens, 16);
  TempDir dir;
  EngineOptions o;
  o.parallel = 6;
  o.prefill_chunk = 32;
  o.snapshot_interval = 16;
  o.cache_bytes = 64ull << 20;
  o.disk_cache_dir = dir.path;
  o.kv_budget_bytes = 10 * longest;  // an eighth for the write queue: one one-block entry
  Engine e(*model, o);
  // Two rounds: the second round's prompts restart from entries evicted to disk in the first.
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    for (const auto& r : run_all(e, reqs)) CHECK(!r.tokens.empty());
  }
  const EngineStats st = e.stats();
  CHECK(st.disk.writes > 0);
  CHECK(st.kv_peak_bytes <= static_cast<int64_t>(o.kv_budget_bytes));
  CHECK(st.cache_bytes + st.disk.pending_bytes <= static_cast<int64_t>(o.kv_budget_bytes));
}

TEST_CASE("kv budget: with the context larger than the budget, the limit is what one sequence can hold") {
  auto model = load_tiny_moe();
  EngineOptions o;
  o.parallel = 2;
  o.cache_bytes = 0;
  o.kv_budget_bytes = sequence_bytes_at(*model, 300, 0);
  Engine e(*model, o);
  const int64_t limit = e.context_limit();
  REQUIRE(limit < model->n_ctx);
  CHECK(sequence_bytes_at(*model, limit, 0) <= o.kv_budget_bytes);
  CHECK(sequence_bytes_at(*model, limit + 1, 0) > o.kv_budget_bytes);
  std::mt19937 rng(5);
  GenerateRequest too_long;
  too_long.prompt = random_prompt(rng, static_cast<int>(limit + 1));
  auto s = std::make_shared<RequestStream>();
  REQUIRE(e.submit(too_long, s) != 0);
  auto ev = s->pop(std::chrono::milliseconds(30000));
  REQUIRE(ev.has_value());
  CHECK(ev->kind == TokenEvent::Kind::Error);
  CHECK(ev->error.find("does not fit") != std::string::npos);
  // One that fits runs to the limit and ends with "length", never past the budget.
  GenerateRequest fits;
  fits.prompt = random_prompt(rng, static_cast<int>(limit - 10));
  fits.max_tokens = 1000;
  fits.sampling.temperature = 0.0f;
  const Result r = run_all(e, {fits}).front();
  CHECK(r.finish == "length");
  CHECK(r.tokens.size() == 11);  // fed at positions limit-10 .. limit-1, then the limit is reached
  CHECK(e.stats().kv_peak_bytes <= static_cast<int64_t>(o.kv_budget_bytes));
}

TEST_CASE("kv budget: the default is a share of the available memory") {
  auto model = load_tiny_moe();
  std::string how;
  const uint64_t b = default_kv_budget(*model, &how);
  CHECK(b >= (64ull << 20));
  CHECK(how.find("available") != std::string::npos);
  EngineOptions o;
  o.cache_bytes = 0;
  Engine e(*model, o);
  CHECK(e.kv_budget() > 0);
}
