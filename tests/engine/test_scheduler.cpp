// The scheduler: concurrent requests in one batch, with and without the prefix cache, produce
// exactly the tokens each produces alone; cached prefixes resume exactly; cancel frees memory.
#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "engine/engine.h"
#include "engine/loader.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_models.h"

using namespace lfmd;
using lfmd::testing::model_path;
using namespace lfmd::testing;

namespace {

// 8 requests: different prompt lengths (some longer than a prefill chunk), greedy and sampled
// (temperature, top-k/p, min-p, penalties), different max_tokens.
std::vector<GenerateRequest> mixed_requests() {
  std::mt19937 rng(7);
  const int lens[] = {5, 40, 130, 17, 260, 64, 3, 90};
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 8; ++i) {
    GenerateRequest r;
    r.prompt = random_prompt(rng, lens[i]);
    r.max_tokens = 12 + 5 * i;
    if (i % 3 == 0) {
      r.sampling.temperature = 0.0f;  // greedy
    } else {
      r.sampling.temperature = 0.7f + 0.1f * i;
      r.sampling.seed = 100 + i;
      r.sampling.top_k = i % 2 ? 40 : 0;
      r.sampling.top_p = i % 2 ? 1.0f : 0.9f;
      r.sampling.min_p = i == 4 ? 0.05f : 0.0f;
      r.sampling.repetition_penalty = i == 5 ? 1.2f : 1.0f;
      r.sampling.presence_penalty = i == 7 ? 0.5f : 0.0f;
    }
    if (i == 2) r.top_logprobs = 3;
    reqs.push_back(std::move(r));
  }
  return reqs;
}

struct Fixture {
  std::unique_ptr<LoadedModel> model;
  explicit Fixture(kernels::DType type = kernels::DType::Q8_0) {
    LoadOptions lo;
    lo.path = model_path("tiny-moe", type);
    lo.n_threads = 2;
    lo.max_batch = 64;
    model = load_model(lo);
  }
  // Each request alone, one at a time, no cache.
  std::vector<Result> alone(const std::vector<GenerateRequest>& reqs) {
    EngineOptions o;
    o.parallel = 1;
    o.cache_bytes = 0;
    Engine e(*model, o);
    std::vector<Result> out;
    for (const auto& r : reqs) out.push_back(run_all(e, {r}).front());
    return out;
  }
};

}  // namespace

TEST_CASE("scheduler: 8 concurrent requests give exactly the tokens each gives alone") {
  for (kernels::DType type : {kernels::DType::Q8_0, kernels::DType::Q4_0}) {  // Q4_0: repacked kernels
  CAPTURE(kernels::type_info(type).name);
  Fixture f(type);
  const auto reqs = mixed_requests();
  const auto ref = f.alone(reqs);
  for (size_t cache_mb : {size_t{0}, size_t{256}}) {
    for (int64_t chunk : {int64_t{16}, int64_t{64}}) {
      CAPTURE(cache_mb);
      CAPTURE(chunk);
      EngineOptions o;
      o.parallel = 8;
      o.prefill_chunk = chunk;
      o.cache_bytes = cache_mb << 20;
      o.snapshot_interval = 16;
      Engine e(*f.model, o);
      const auto got = run_all(e, reqs);
      for (size_t i = 0; i < reqs.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i].tokens == ref[i].tokens);
        CHECK(got[i].finish == ref[i].finish);
      }
      // Running the same 8 again: every prompt (but its last token) now comes from the cache
      // at a snapshot point or a cached sequence's end, and the output is still identical.
      const auto again = run_all(e, reqs);
      for (size_t i = 0; i < reqs.size(); ++i) {
        CAPTURE(i);
        CHECK(again[i].tokens == ref[i].tokens);
        if (cache_mb > 0) CHECK((again[i].n_cached > 0) == (reqs[i].prompt.size() > 16));
        if (cache_mb == 0) CHECK(again[i].n_cached == 0);
      }
      const EngineStats st = e.stats();
      CHECK(st.running == 0);
      CHECK(st.sequence_bytes == 0);
      CHECK((st.cache_bytes > 0) == (cache_mb > 0));
    }
  }
  }
}

TEST_CASE("scheduler: a prompt resumed from a cached prefix inside a snapshot interval is exact") {
  Fixture f;
  std::mt19937 rng(3);
  GenerateRequest first;
  first.prompt = random_prompt(rng, 100);
  first.max_tokens = 20;
  first.sampling.temperature = 0.0f;

  EngineOptions o;
  o.parallel = 4;
  o.snapshot_interval = 16;
  o.cache_bytes = 256u << 20;
  Engine e(*f.model, o);
  const Result r1 = run_all(e, {first}).front();
  REQUIRE(r1.tokens.size() == 20);

  // Shares 71 tokens with the cached sequence: restart at the snapshot at 64, recompute 65..71.
  GenerateRequest branch = first;
  branch.prompt.resize(71);
  for (int i = 0; i < 30; ++i) branch.prompt.push_back(500 + i);
  branch.sampling.temperature = 0.9f;
  branch.sampling.seed = 5;
  // Continues the first conversation (its prompt + the tokens fed while generating): restart at
  // the cached sequence's exact end, 100 + 19 tokens, which is not a snapshot point.
  GenerateRequest cont = first;
  cont.prompt.insert(cont.prompt.end(), r1.tokens.begin(), r1.tokens.end() - 1);
  cont.prompt.push_back(777);
  cont.prompt.push_back(778);

  // Extends the first prompt but not its generated tokens: restart at the prompt's end (100, a
  // snapshot point of its own, not a multiple of 16).
  GenerateRequest ext = first;
  ext.prompt.push_back(901);
  ext.prompt.push_back(902);
  ext.sampling.temperature = 0.5f;
  ext.sampling.seed = 8;

  const auto ref = f.alone({branch, cont, ext});
  const Result rb = run_all(e, {branch}).front();
  CHECK(rb.n_cached == 64);
  CHECK(rb.tokens == ref[0].tokens);
  const Result rc = run_all(e, {cont}).front();
  CHECK(rc.n_cached == 119);
  CHECK(rc.tokens == ref[1].tokens);
  const Result re = run_all(e, {ext}).front();
  CHECK(re.n_cached == 100);
  CHECK(re.tokens == ref[2].tokens);
}

TEST_CASE("scheduler: a request joining while another decodes reuses the running sequence's prefix") {
  Fixture f;
  std::mt19937 rng(9);
  GenerateRequest a;
  a.prompt = random_prompt(rng, 80);
  a.max_tokens = 200;
  a.sampling.temperature = 0.0f;
  GenerateRequest b = a;
  b.prompt.push_back(1234);
  b.max_tokens = 10;
  const auto ref = f.alone({a, b});

  EngineOptions o;
  o.parallel = 2;
  o.snapshot_interval = 16;
  Engine e(*f.model, o);
  auto sa = std::make_shared<RequestStream>();
  REQUIRE(e.submit(a, sa) != 0);
  auto first = sa->pop(std::chrono::milliseconds(30000));  // a is decoding now
  REQUIRE(first.has_value());
  auto sb = std::make_shared<RequestStream>();
  REQUIRE(e.submit(b, sb) != 0);
  const Result rb = collect(*sb);
  Result ra = collect(*sa);
  ra.tokens.insert(ra.tokens.begin(), first->token);
  CHECK(rb.n_cached == 80);  // a's whole prompt, taken from the running sequence
  CHECK(rb.tokens == ref[1].tokens);
  CHECK(ra.tokens == ref[0].tokens);
}

TEST_CASE("scheduler: cancel frees the sequence; the cache is back to its level before") {
  Fixture f;
  EngineOptions o;
  o.parallel = 2;
  Engine e(*f.model, o);
  std::mt19937 rng(1);
  GenerateRequest warm;
  warm.prompt = random_prompt(rng, 50);
  warm.max_tokens = 5;
  run_all(e, {warm});
  const EngineStats before = e.stats();
  REQUIRE(before.cache_bytes > 0);
  REQUIRE(before.sequence_bytes == 0);

  GenerateRequest big;
  big.prompt = random_prompt(rng, 300);
  big.max_tokens = 100000;
  auto s = std::make_shared<RequestStream>();
  const uint64_t id = e.submit(big, s);
  REQUIRE(id != 0);
  REQUIRE(s->pop(std::chrono::milliseconds(30000)).has_value());  // first token: it is running
  CHECK(e.stats().sequence_bytes > 0);
  e.cancel(id);
  const Result r = collect(*s);
  CHECK(r.finish == "cancelled");
  const EngineStats after = e.stats();
  CHECK(after.sequence_bytes == 0);
  CHECK(after.cache_bytes == before.cache_bytes);
  CHECK(after.cache_entries == before.cache_entries);
  CHECK(after.running == 0);
}

TEST_CASE("scheduler: queue limit, empty and too-long prompts, shutdown") {
  Fixture f;
  EngineOptions o;
  o.parallel = 1;
  o.max_queue = 2;
  auto e = std::make_unique<Engine>(*f.model, o);
  GenerateRequest empty;
  auto s0 = std::make_shared<RequestStream>();
  REQUIRE(e->submit(empty, s0) != 0);
  auto ev = s0->pop(std::chrono::milliseconds(30000));
  REQUIRE(ev.has_value());
  CHECK(ev->kind == TokenEvent::Kind::Error);

  GenerateRequest huge;
  huge.prompt.assign(static_cast<size_t>(f.model->n_ctx + 1), 400);
  auto s1 = std::make_shared<RequestStream>();
  REQUIRE(e->submit(huge, s1) != 0);
  ev = s1->pop(std::chrono::milliseconds(30000));
  REQUIRE(ev.has_value());
  CHECK(ev->kind == TokenEvent::Kind::Error);
  CHECK(ev->error.find("nothing was truncated") != std::string::npos);

  // Shutdown ends running and queued requests with a final event and refuses new ones.
  GenerateRequest longreq;
  longreq.prompt = {1, 400, 401};
  longreq.max_tokens = 100000;
  std::vector<std::shared_ptr<RequestStream>> ss;
  for (int i = 0; i < 2; ++i) {
    ss.push_back(std::make_shared<RequestStream>());
    CHECK(e->submit(longreq, ss.back()) != 0);
  }
  REQUIRE(ss[0]->pop(std::chrono::milliseconds(30000)).has_value());
  e->shutdown();
  CHECK(e->submit(longreq, std::make_shared<RequestStream>()) == 0);
  for (auto& s : ss) CHECK(collect(*s).finish == "cancelled");
}
