// The on-disk prefix cache: entry format round trip, checksums, truncation, the key (model, KV
// type, version), atomic writes, LRU under the byte budget, and an engine restarted on the same
// directory resuming exactly.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "engine/disk_cache.h"
#include "engine/engine.h"
#include "engine/loader.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_models.h"

using namespace lfmd;
using lfmd::testing::model_path;
using lfmd::testing::TempDir;
namespace fs = std::filesystem;

namespace {


LoadedModel& tiny() {
  static std::unique_ptr<LoadedModel> m = [] {
    LoadOptions lo;
    lo.path = model_path("tiny-moe");
    lo.n_threads = 2;
    lo.max_batch = 64;
    return load_model(lo);
  }();
  return *m;
}

std::vector<int32_t> prompt_of(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(300, 2000);
  std::vector<int32_t> t{1};
  while (static_cast<int>(t.size()) < n) t.push_back(d(rng));
  return t;
}

// A state that ran `tokens` with snapshots every 16 tokens; logits of the last token in `last`.
std::unique_ptr<SequenceState> run(const std::vector<int32_t>& tokens,
                                   std::vector<float>* last = nullptr,
                                   kernels::KvType kv = kernels::KvType::F32) {
  LoadedModel& m = tiny();
  auto st = std::make_unique<SequenceState>(m.hp, m.n_ctx, kv);
  st->set_snapshot_interval(16);
  std::vector<float> logits(static_cast<size_t>(m.hp.n_vocab));
  for (size_t i = 0; i < tokens.size(); i += 64) {
    Batch b;
    const size_t end = std::min(tokens.size(), i + 64);
    for (size_t j = i; j < end; ++j)
      b.add(tokens[j], static_cast<int64_t>(j), st.get(), j + 1 == end);
    m.model->forward(b, logits.data());
  }
  if (last) *last = logits;
  return st;
}

// Logits of `next` appended to a copy of `st` resumed at n tokens.
std::vector<float> continue_at(const SequenceState& st, int64_t n, int32_t next) {
  LoadedModel& m = tiny();
  auto c = std::make_unique<SequenceState>(m.hp, m.n_ctx, st.kv_type());
  c->copy_prefix_from(st, n);
  Batch b;
  b.add(next, n, c.get(), true);
  std::vector<float> logits(static_cast<size_t>(m.hp.n_vocab));
  m.model->forward(b, logits.data());
  return logits;
}

DiskCacheKey key_of(uint64_t id) {
  DiskCacheKey k;
  k.model_id = {id, ~id};
  return k;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c ^= 0x10;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

ReadStatus load(const std::string& path, const DiskCacheKey& k, std::unique_ptr<SequenceState>* st,
                std::vector<int32_t>* tokens = nullptr) {
  std::vector<int32_t> t;
  return read_entry(path, k, tiny().hp, tiny().n_ctx, 16, tokens ? tokens : &t, st);
}

}  // namespace

TEST_CASE("disk cache: the checksum is chunking-independent and sees a flipped bit") {
  std::vector<uint8_t> data(1000);
  std::mt19937 rng(3);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const uint64_t whole = checksum64(data.data(), data.size());
  for (size_t step : {1u, 7u, 31u, 32u, 33u, 500u}) {
    Checksum c;
    for (size_t i = 0; i < data.size(); i += step)
      c.update(data.data() + i, std::min(step, data.size() - i));
    CHECK(c.digest() == whole);
  }
  for (size_t pos : {0u, 31u, 500u, 999u}) {
    data[pos] ^= 1;
    CHECK(checksum64(data.data(), data.size()) != whole);
    data[pos] ^= 1;
  }
  CHECK(checksum64(data.data(), 999) != whole);  // length matters
}

TEST_CASE("disk cache: an entry round-trips bit for bit and resumes exactly") {
 // Every KV type the model's heads allow: rows are written as stored.
 for (kernels::KvType kv : {kernels::KvType::F32, kernels::KvType::F16, kernels::KvType::Q8_0}) {
  if (kv == kernels::KvType::Q8_0 && tiny().hp.head_dim % 32 != 0) continue;
  const std::string type = kernels::kv_type_name(kv);
  CAPTURE(type);
  TempDir dir;
  const auto tokens = prompt_of(1, 70);
  std::vector<float> last;
  auto st = run(tokens, &last, kv);
  const std::string p = dir.path + "/e.lfpc";
  DiskCacheKey key = key_of(5);
  key.kv_type = static_cast<uint32_t>(kv);
  const uint64_t bytes = write_entry(p, key, tokens, *st);
  CHECK(bytes == fs::file_size(p));
  CHECK(bytes == entry_file_bytes(tiny().hp, 70, 4, kv));        // snapshots at 16, 32, 48, 64
  CHECK(dir.files() == std::vector<std::string>{"e.lfpc"});  // no temporary left

  std::unique_ptr<SequenceState> back;
  std::vector<int32_t> back_tokens;
  REQUIRE(load(p, key, &back, &back_tokens).ok);
  CHECK(back->kv_type() == kv);
  REQUIRE(back);
  CHECK(back_tokens == tokens);
  CHECK(back->n_past() == 70);
  for (size_t l = 0; l < st->layers().size(); ++l) {
    const auto& a = st->layers()[l];
    const auto& b = back->layers()[l];
    const size_t n = 70 * a.row_bytes;  // 70 rows: all in storage block 0
    if (n > 0) {  // conv layers have no K/V rows
      CHECK(std::memcmp(a.k.block(0), b.k.block(0), n) == 0);
      CHECK(std::memcmp(a.v.block(0), b.v.block(0), n) == 0);
    }
    CHECK(a.conv == b.conv);
  }
  CHECK(back->snapshots() == st->snapshots());
  // Continuing from the loaded state equals continuing from the original, at its end and at a
  // snapshot point.
  for (int64_t n : {int64_t{70}, int64_t{48}}) {
    CAPTURE(n);
    CHECK(continue_at(*back, n, 777) == continue_at(*st, n, 777));
  }
 }
  // A state written under another KV type's key is refused (the payload would lie).
  TempDir dir;
  DiskCacheKey wrong = key_of(5);
  wrong.kv_type = 1;
  CHECK_THROWS_AS(write_entry(dir.path + "/f16.lfpc", wrong, prompt_of(1, 70), *run(prompt_of(1, 70))), std::logic_error);
}

TEST_CASE("disk cache: corrupt, truncated and foreign entries are refused with their reason") {
  TempDir dir;
  const auto tokens = prompt_of(2, 40);
  auto st = run(tokens);
  const std::string p = dir.path + "/e.lfpc";
  const uint64_t bytes = write_entry(p, key_of(5), tokens, *st);
  const auto copy = [&](const std::string& name) {
    fs::copy_file(p, dir.path + "/" + name);
    return dir.path + "/" + name;
  };
  std::unique_ptr<SequenceState> back;
  struct Case {
    const char* what;
    std::function<void(const std::string&)> damage;
    DiscardReason reason;
  };
  const std::vector<Case> cases = {
      {"payload byte", [&](const std::string& f) { flip_byte(f, bytes - 100); },
       DiscardReason::Checksum},
      {"token byte", [&](const std::string& f) { flip_byte(f, sizeof(FileHeader) + 9); },
       DiscardReason::Checksum},
      {"stored checksum", [&](const std::string& f) { flip_byte(f, bytes - 1); },
       DiscardReason::Checksum},
      {"header count", [&](const std::string& f) { flip_byte(f, offsetof(FileHeader, n_snaps)); },
       DiscardReason::Checksum},
      {"last byte cut", [&](const std::string& f) { fs::resize_file(f, bytes - 1); },
       DiscardReason::Truncated},
      {"half cut", [&](const std::string& f) { fs::resize_file(f, bytes / 2); },
       DiscardReason::Truncated},
      {"header cut", [&](const std::string& f) { fs::resize_file(f, 60); },
       DiscardReason::Truncated},
      {"empty", [&](const std::string& f) { fs::resize_file(f, 0); }, DiscardReason::Truncated},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const std::string f =
        copy(std::string(c.what) == "empty" ? "empty.lfpc"
                                            : std::to_string(&c - cases.data()) + ".lfpc");
    c.damage(f);
    const ReadStatus s = load(f, key_of(5), &back);
    CHECK_FALSE(s.ok);
    CHECK(s.reason == c.reason);
    CHECK(back == nullptr);
  }
  // The intact entry under another key: model, KV type, format version.
  REQUIRE(load(p, key_of(5), &back).ok);
  DiskCacheKey other = key_of(6);
  CHECK(load(p, other, &back).reason == DiscardReason::Model);
  other = key_of(5);
  other.kv_type = 1;
  CHECK(load(p, other, &back).reason == DiscardReason::KvType);
  other = key_of(5);
  other.version = kDiskCacheVersion + 1;
  CHECK(load(p, other, &back).reason == DiscardReason::Version);
  CHECK(back == nullptr);
}

TEST_CASE("disk cache: a failed write leaves the previous entry intact and no temporary file") {
  TempDir dir;
  const auto tokens = prompt_of(3, 40);
  auto st = run(tokens);
  const std::string p = dir.path + "/e.lfpc";
  write_entry(p, key_of(5), tokens, *st);
  const auto bigger = prompt_of(4, 200);
  auto st2 = run(bigger);
  // Files may not grow past 64 KiB: the write fails half way (EFBIG, SIGXFSZ ignored).
  struct rlimit old {};
  ::getrlimit(RLIMIT_FSIZE, &old);
  auto* prev = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 64 << 10;
  ::setrlimit(RLIMIT_FSIZE, &lim);
  bool threw = false;
  try {
    write_entry(p, key_of(5), bigger, *st2);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, prev);
  CHECK(threw);
  CHECK(dir.files() == std::vector<std::string>{"e.lfpc"});
  std::unique_ptr<SequenceState> back;
  std::vector<int32_t> back_tokens;
  CHECK(load(p, key_of(5), &back, &back_tokens).ok);
  CHECK(back_tokens == tokens);
}

TEST_CASE("disk cache: index, LRU eviction under the byte budget, and a restart on the directory") {
  TempDir dir;
  const Hparams& hp = tiny().hp;
  const auto a = prompt_of(10, 100), b = prompt_of(11, 100), c = prompt_of(12, 100);
  const uint64_t entry = entry_file_bytes(hp, 100, 6);  // snapshots at 16..96
  DiskCache::Options o;
  o.dir = dir.path;
  o.budget_bytes = entry * 5 / 2;  // two entries fit, not three
  o.key = key_of(5);
  o.n_ctx = tiny().n_ctx;
  o.snap_every = 16;
  std::vector<std::string> log;
  std::vector<int32_t> ask_a(a.begin(), a.begin() + 90);
  ask_a.push_back(5);
  {
    DiskCache d(
        hp, o, [&](const std::string& l) { log.push_back(l); }, nullptr);
    d.store(a, run(a));
    d.store(b, run(b));
    d.flush();
    CHECK(d.stats().entries == 2);
    CHECK(d.stats().bytes == static_cast<int64_t>(2 * entry));
    // a restarts at the snapshot at 80 (shares 90 tokens); reading it marks it used.
    const DiskCache::Candidate hit = d.find(ask_a, 90);
    REQUIRE(hit.id != 0);
    CHECK(hit.n == 80);
    d.load(hit.id, 42);
    d.flush();
    auto got = d.take_loaded();
    REQUIRE(got.size() == 1);
    CHECK(got[0].tag == 42);
    CHECK(got[0].tokens == a);
    REQUIRE(got[0].state);
    d.store(a, std::move(got[0].state));  // already on disk: not written again
    d.store(c, run(c));                   // evicts b, the least recently used
    d.flush();
    CHECK(d.stats().writes == 3);
    CHECK(d.stats().evictions == 1);
    CHECK(d.stats().entries == 2);
    CHECK(d.find(b, 99).n == 0);
    CHECK(d.find(c, 99).n == 96);
    // Larger than the whole budget: not written, said why.
    const auto big = prompt_of(13, 300);
    d.store(big, run(big));
    d.flush();
    CHECK(d.stats().discarded[static_cast<int>(DiscardReason::TooLarge)] == 1);
    CHECK(d.stats().entries == 2);
    REQUIRE(log.size() == 1);
    CHECK(log[0].find("too_large") != std::string::npos);
  }
  CHECK(dir.files().size() == 2);
  // Restart: the index comes back from the files; b stays gone.
  log.clear();
  DiskCache d(
      hp, o, [&](const std::string& l) { log.push_back(l); }, nullptr);
  CHECK(d.stats().entries == 2);
  CHECK(d.find(ask_a, 90).n == 80);
  CHECK(d.find(c, 100).n == 100);
  CHECK(log.empty());
}

TEST_CASE("disk cache: a longer entry replaces its prefix; the index keeps hashes, not tokens") {
  TempDir dir;
  DiskCache::Options o;
  o.dir = dir.path;
  o.budget_bytes = 1ull << 30;
  o.key = key_of(6);
  o.n_ctx = tiny().n_ctx;
  o.snap_every = 16;
  const auto a = prompt_of(20, 200);
  const std::vector<int32_t> head(a.begin(), a.begin() + 40);
  DiskCache d(tiny().hp, o, nullptr, nullptr);
  d.store(head, run(head));
  d.flush();
  CHECK(d.find(a, 199).n == 40);
  d.store(a, run(a));  // covers `head`: its file goes
  d.flush();
  CHECK(d.stats().entries == 1);
  CHECK(d.stats().evictions == 1);
  CHECK(dir.files().size() == 1);
  CHECK(d.find(a, 199).n == 192);  // the last snapshot below the limit
  CHECK(d.find(head, 40).n == 32);
  std::vector<int32_t> other = a;
  other[5] ^= 1;  // differs at token 5: no restart point matches
  CHECK(d.find(other, 199).n == 0);
  // 200 tokens would be 800 bytes; 13 restart points of 16 bytes plus the name are less.
  CHECK(d.stats().index_bytes > 0);
  CHECK(d.stats().index_bytes < 800);
}

TEST_CASE("disk cache: a restart discards corrupt and truncated entries and ignores other keys") {
  TempDir dir;
  const Hparams& hp = tiny().hp;
  DiskCache::Options o;
  o.dir = dir.path;
  o.budget_bytes = 1ull << 30;
  o.key = key_of(5);
  o.n_ctx = tiny().n_ctx;
  const auto a = prompt_of(20, 50), b = prompt_of(21, 50), c = prompt_of(22, 50);
  {
    DiskCache d(hp, o, nullptr, nullptr);
    for (const auto* t : {&a, &b, &c}) d.store(*t, run(*t));
  }
  {
    DiskCacheKey kv = o.key;  // an entry of another KV type in the same directory
    kv.kv_type = 1;
    const auto e = prompt_of(23, 50);
    write_entry(dir.path + "/kv1.lfpc", kv, e, *run(e, nullptr, kernels::KvType::F16));
  }
  std::vector<std::string> files = dir.files();
  REQUIRE(files.size() == 4);
  // Damage two of ours: find which file holds which entry by its tokens.
  std::string fa, fb;
  for (const auto& f : files) {
    EntryHead h;
    if (read_entry_head(dir.path + "/" + f, o.key, hp, &h).ok) {
      if (h.tokens == a) fa = f;
      if (h.tokens == b) fb = f;
    }
  }
  REQUIRE(!fa.empty());
  REQUIRE(!fb.empty());
  flip_byte(dir.path + "/" + fa, fs::file_size(dir.path + "/" + fa) - 50);  // payload: seen at load
  fs::resize_file(dir.path + "/" + fb, fs::file_size(dir.path + "/" + fb) - 8);  // seen at start-up

  std::vector<std::string> log;
  DiskCache d(
      hp, o, [&](const std::string& l) { log.push_back(l); }, nullptr);
  auto st = d.stats();
  CHECK(st.entries == 2);  // a (not yet known to be corrupt) and c
  CHECK(st.discarded[static_cast<int>(DiscardReason::Truncated)] == 1);
  CHECK(st.discarded[static_cast<int>(DiscardReason::KvType)] == 1);
  CHECK_FALSE(fs::exists(dir.path + "/" + fb));  // deleted
  CHECK(fs::exists(dir.path + "/kv1.lfpc"));     // kept: another server may use it
  CHECK(log.size() == 2);
  CHECK(d.find(b, 49).n == 0);
  const auto hit = d.find(a, 49);
  REQUIRE(hit.id != 0);
  d.load(hit.id, 7);
  d.flush();
  auto got = d.take_loaded();
  REQUIRE(got.size() == 1);
  CHECK(got[0].state == nullptr);  // checksum mismatch: the request computes instead
  CHECK(d.stats().discarded[static_cast<int>(DiscardReason::Checksum)] == 1);
  CHECK(d.find(a, 49).n == 0);
  CHECK_FALSE(fs::exists(dir.path + "/" + fa));
  CHECK(d.find(c, 49).n == 48);
  REQUIRE(log.size() == 3);
  CHECK(log[2].find("checksum") != std::string::npos);
}

namespace {

struct Out {
  std::vector<int32_t> tokens;
  int64_t n_cached = 0;
  std::string source;
};

Out generate(Engine& e, const std::vector<int32_t>& prompt) {
  GenerateRequest r;
  r.prompt = prompt;
  r.max_tokens = 12;
  r.sampling.temperature = 0.0f;
  auto s = std::make_shared<RequestStream>();
  REQUIRE(e.submit(r, s) != 0);
  Out o;
  for (;;) {
    auto ev = s->pop(std::chrono::milliseconds(30000));
    REQUIRE(ev.has_value());
    if (ev->kind == TokenEvent::Kind::Token) {
      if (ev->token >= 0) o.tokens.push_back(ev->token);
      continue;
    }
    REQUIRE_MESSAGE(ev->kind == TokenEvent::Kind::Done, ev->error);
    o.n_cached = ev->n_cached;
    o.source = ev->cache_source;
    return o;
  }
}

}  // namespace

TEST_CASE("disk cache: an engine restarted on the same directory resumes exactly") {
  TempDir dir;
  LoadedModel& m = tiny();
  const auto first = prompt_of(30, 300);
  auto second = std::vector<int32_t>(first.begin(), first.begin() + 280);
  for (int32_t t : {3, 4, 5, 6}) second.push_back(t);  // prompt_of() draws from 300..2000
  Out ref;
  {
    EngineOptions o;
    o.cache_bytes = 0;
    Engine e(m, o);
    ref = generate(e, second);
    CHECK(ref.n_cached == 0);
  }
  EngineOptions o;
  o.cache_bytes = 64u << 20;
  o.snapshot_interval = 16;
  o.disk_cache_dir = dir.path;
  o.disk_cache_bytes = 1ull << 30;
  {
    Engine e(m, o);
    generate(e, first);
  }  // shutdown writes the memory cache to disk
  REQUIRE(dir.files().size() == 1);
  Engine e(m, o);
  CHECK(e.stats().disk.entries == 1);
  const Out got = generate(e, second);
  CHECK(got.n_cached == 272);  // the snapshot at or below the 280 shared tokens
  CHECK(got.source == "disk");
  CHECK(got.tokens == ref.tokens);
  const EngineStats st = e.stats();
  CHECK(st.cache_hits_disk == 1);
  CHECK(st.cache_hit_tokens_disk == 272);
  CHECK(st.disk.loads == 1);
  // The entry now sits in memory as well: the next request hits memory.
  const Out again = generate(e, second);
  CHECK(again.source == "memory");
  CHECK(again.tokens == ref.tokens);
}

TEST_CASE("disk cache: stop writes an entry larger than the write queue's eighth of the budget") {
  TempDir dir;
  LoadedModel& m = tiny();
  const auto prompt = prompt_of(31, 300);
  auto probe = m.model->new_sequence(m.n_ctx);
  probe->set_snapshot_interval(16);
  EngineOptions o;
  o.cache_bytes = 64u << 20;
  o.snapshot_interval = 16;
  o.disk_cache_dir = dir.path;
  o.disk_cache_bytes = 1ull << 30;
  o.kv_budget_bytes = 4 * probe->bytes_at(400);  // the queue's eighth: half of one entry
  {
    Engine e(m, o);
    generate(e, prompt);
  }  // the 24B-A2B shape's 30k-token prefix was dropped here (its entry > budget / 8)
  CHECK(dir.files().size() == 1);
}

TEST_CASE("disk cache: an entry evicted while running is written though larger than the budget's eighth") {
  TempDir dir;
  LoadOptions lo;
  lo.path = model_path("tiny-moe");
  lo.n_threads = 2;
  lo.max_batch = 64;
  lo.n_ctx = 384;  // the context binds, not the budget: the write share can hold a whole entry
  auto m = load_model(lo);
  auto probe = m->model->new_sequence(m->n_ctx);
  probe->set_snapshot_interval(16);
  EngineOptions o;
  // The memory cache holds one 312-token entry: the second request's entry evicts the first's
  // as that request ends. An eighth of the KV budget is 0.6 of such an entry.
  o.cache_bytes = 12 * probe->bytes_at(384) / 10;
  o.snapshot_interval = 16;
  o.disk_cache_dir = dir.path;
  o.disk_cache_bytes = 1ull << 30;
  o.kv_budget_bytes = 4 * probe->bytes_at(384);
  {
    Engine e(*m, o);
    CHECK(e.context_limit() == 384);
    generate(e, prompt_of(32, 300));
    generate(e, prompt_of(33, 300));
    EngineStats st = e.stats();
    CHECK(st.disk.dropped_writes == 0);
    CHECK(st.cache_entries == 1);
    // The idle engine's stats follow the I/O thread: the write finishes after the last step.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    auto written = [&] { st = e.stats(); return st.disk.writes >= 1 && st.disk.pending_bytes == 0; };
    while (!written() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    CHECK(st.disk.writes == 1);
    CHECK(st.disk.pending_bytes == 0);
    CHECK(dir.files().size() == 1);
  }  // stop writes the second
  CHECK(dir.files().size() == 2);
}

TEST_CASE("disk cache: requests sharing a prefix after a restart wait for one read of it") {
  TempDir dir;
  LoadedModel& m = tiny();
  const auto first = prompt_of(40, 200);
  std::vector<std::vector<int32_t>> next;
  for (int32_t k = 0; k < 3; ++k) {
    auto p = std::vector<int32_t>(first.begin(), first.begin() + 150);
    for (int32_t t : {3 + k, 4, 5}) p.push_back(t);
    next.push_back(std::move(p));
  }
  std::vector<Out> ref;
  {
    EngineOptions o;
    o.cache_bytes = 0;
    Engine e(m, o);
    for (const auto& p : next) ref.push_back(generate(e, p));
  }
  EngineOptions o;
  o.cache_bytes = 64u << 20;
  o.snapshot_interval = 16;
  o.parallel = 4;
  o.disk_cache_dir = dir.path;
  o.disk_cache_bytes = 1ull << 30;
  {
    Engine e(m, o);
    generate(e, first);
  }
  o.test_disk_load_delay_ms = 300;  // the three requests surely arrive while the read runs
  Engine e(m, o);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : next) {
    GenerateRequest r;
    r.prompt = p;
    r.max_tokens = 12;
    r.sampling.temperature = 0.0f;
    streams.push_back(std::make_shared<RequestStream>());
    REQUIRE(e.submit(r, streams.back()) != 0);
  }
  int64_t disk_hits = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    CAPTURE(i);
    std::vector<int32_t> toks;
    for (;;) {
      auto ev = streams[i]->pop(std::chrono::milliseconds(30000));
      REQUIRE(ev.has_value());
      if (ev->kind == TokenEvent::Kind::Token) {
        if (ev->token >= 0) toks.push_back(ev->token);
        continue;
      }
      REQUIRE(ev->kind == TokenEvent::Kind::Done);
      CHECK(ev->n_cached == 144);  // the snapshot at or below the 150 shared tokens
      disk_hits += ev->cache_source == "disk" ? 1 : 0;
      break;
    }
    CHECK(toks == ref[i].tokens);
  }
  CHECK(disk_hits == 1);
  CHECK(e.stats().disk.load_requests == 1);
  CHECK(e.stats().disk.loads == 1);
  CHECK(e.stats().cache_hits_memory == 2);
}
