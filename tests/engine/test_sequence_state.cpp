// SequenceState's block storage: bytes_at(n) predicts bytes() exactly across storage-block
// boundaries and snapshots, rows never move as the sequence grows, copies are exact.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "engine/model.h"

using namespace lfmd;
using kernels::KvType;

namespace {

// Two attention layers (2 and 1 KV heads of 64) between conv layers; no weights needed.
Hparams small_hp() {
  Hparams hp;
  hp.arch = "lfm2";
  hp.n_embd = 256;
  hp.n_layer = 4;
  hp.n_head = 4;
  hp.head_dim = 64;
  hp.n_head_kv = {0, 2, 0, 1};
  hp.conv_l_cache = 3;
  return hp;
}

// What forward() does to the state for positions [n_past, n): snapshot rows, then n_past = n.
void grow(SequenceState& s, int64_t n) {
  s.reserve(n);
  for (int64_t p = s.n_past() + 1; p <= n; ++p)
    for (int64_t l = 0; l < 4; ++l) s.snapshot_rows(p, l);
  s.set_n_past(n);
}

}  // namespace

TEST_CASE("SequenceState: bytes_at(n) is bytes() once the state holds n tokens") {
  const Hparams hp = small_hp();
  for (KvType kv : {KvType::F32, KvType::F16, KvType::Q8_0}) {
    const std::string type = kernels::kv_type_name(kv);
    CAPTURE(type);
    SequenceState s(hp, 1000, kv);  // last storage block: 1000 - 768 = 232 tokens
    s.set_snapshot_interval(100);
    s.add_snapshot_point(333);
    const size_t token = 2 * (kernels::kv_row_bytes(kv, 128) + kernels::kv_row_bytes(kv, 64));
    const size_t conv = 2 * 2 * 256 * sizeof(float);  // two conv layers of [L-1][D]
    CHECK(s.bytes() == conv);
    CHECK(s.bytes_at(1) == conv + 256 * token);
    const uint8_t* first = nullptr;
    for (int64_t n : {1, 255, 256, 257, 333, 512, 513, 700, 1000}) {
      CAPTURE(n);
      const size_t want = s.bytes_at(n);
      grow(s, n);
      CHECK(s.bytes() == want);
      const auto& l = s.layers()[1];
      if (!first) first = l.head_row(l.k, 0, 0);
      CHECK(l.head_row(l.k, 0, 0) == first);  // rows never move
    }
    // 4 blocks (the last one partial) + conv + 10 interval snapshots + the point at 333.
    CHECK(s.bytes() == 1000 * token + conv + 11 * conv);
    CHECK_THROWS_WITH_AS(s.reserve(1001),
                         "sequence needs 1001 positions but its context is 1000 tokens",
                         std::length_error);
    // reset keeps the blocks: bytes_at of an already stored length adds only snapshots.
    s.reset();
    CHECK(s.bytes() == 1000 * token + conv);
    CHECK(s.bytes_at(600) == 1000 * token + conv + 6 * conv);  // snapshots at 100..600
  }
}

TEST_CASE("SequenceState: copy_prefix_from copies rows across storage blocks exactly") {
  const Hparams hp = small_hp();
  SequenceState a(hp, 700, KvType::F16);  // last block: 188 tokens
  a.set_snapshot_interval(100);
  grow(a, 650);
  auto& la = a.layers()[1];
  REQUIRE(la.n_heads > 1);
  for (int64_t p = 0; p < 650; ++p) {
    for (int64_t h = 0; h < la.n_heads; ++h) {
      std::memset(la.head_row(la.k, p, h), static_cast<int>((p + 31 * h) & 0xff), la.head_bytes);
      std::memset(la.head_row(la.v, p, h), static_cast<int>((p * 7 + h) & 0xff), la.head_bytes);
    }
  }
  // Head-major blocks: a head's rows are contiguous, and the attention tiles' pointers see them.
  CHECK(la.head_row(la.k, 301, 1) == la.head_row(la.k, 300, 1) + la.head_bytes);
  CHECK(la.k_heads[static_cast<size_t>(1 * la.max_blocks + 2)] == la.head_row(la.k, 512, 1));
  CHECK(la.v_heads[static_cast<size_t>(0 * la.max_blocks + 1)] == la.head_row(la.v, 256, 0));
  SequenceState b(hp, 1000, KvType::F16);  // another last-block size: heads sit elsewhere in it
  b.copy_prefix_from(a, 600);
  CHECK(b.n_past() == 600);
  const auto& lb = b.layers()[1];
  for (int64_t p = 0; p < 600; ++p) {
    for (int64_t h = 0; h < la.n_heads; ++h) {
      CHECK(std::memcmp(lb.head_row(lb.k, p, h), la.head_row(la.k, p, h), la.head_bytes) == 0);
      CHECK(std::memcmp(lb.head_row(lb.v, p, h), la.head_row(la.v, p, h), la.head_bytes) == 0);
    }
  }
  // gather / scatter (the disk cache's token-major rows) round-trip a partial block.
  std::vector<uint8_t> rows(88 * la.row_bytes);
  la.gather_rows(la.k, 2, 88, rows.data());
  CHECK(rows[3 * la.row_bytes + 1 * la.head_bytes] == static_cast<uint8_t>((515 + 31) & 0xff));
  SequenceState c2(hp, 700, KvType::F16);
  c2.reserve(600);
  auto& lc = c2.layers()[1];
  lc.scatter_rows(lc.k, 2, 88, rows.data());
  for (int64_t h = 0; h < la.n_heads; ++h)
    CHECK(std::memcmp(lc.head_rows(lc.k, 2, h), la.head_rows(la.k, 2, h), 88 * la.head_bytes) == 0);
  SequenceState c(hp, 700, KvType::F32);
  CHECK_THROWS_AS(c.copy_prefix_from(a, 600), std::logic_error);  // another KV type
}

TEST_CASE("SequenceState: q8_0 needs a head dimension that is a multiple of 32") {
  Hparams hp = small_hp();
  hp.head_dim = 48;
  CHECK_THROWS_AS(SequenceState(hp, 10, KvType::Q8_0), std::invalid_argument);
  CHECK_NOTHROW(SequenceState(hp, 10, KvType::F16));
}
