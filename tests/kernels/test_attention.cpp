// attention_tile: the scalar spec vs a double-precision softmax, every table vs the spec, and
// batch invariance inside each table (a row's floats do not depend on the rest of its tile).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

// The float spec vs double softmax: up to 300 keys of float sums (1.06e-5 seen at hd = 1).
constexpr double kSpecTol = 2e-5;
// Other tables vs scalar: another exp, FMAs and vector reduction orders.
constexpr double kAttnIsaTol = 1e-5;

// A tile's inputs in a multi-head cache of type `kt`: rows of 3 KV heads (the tile's is head 1)
// in storage blocks of kKvBlockTokens rows, f32 rows padded to an odd float stride; queries
// and outputs `ld` apart; all buffers start off a 64-byte boundary. k / v keep the tile head's
// values as the cache holds them (converted back to f32), for the double-precision expectation.
struct TileData {
  int64_t n_tok, group, hd, ld_q, max_kv;
  KvType kt;
  size_t row_bytes;
  std::vector<int64_t> n_kv;
  std::vector<float> q, k, v;                  // k, v: [max_kv][hd]
  std::vector<std::vector<uint8_t>> kst, vst;  // storage blocks (+64 bytes for the offset)

  TileData(std::mt19937& rng, int64_t n_tok_, int64_t group_, int64_t hd_, std::vector<int64_t> n,
           KvType kt_ = KvType::F32)
      : n_tok(n_tok_),
        group(group_),
        hd(hd_),
        ld_q(group_ * hd_ + 3),
        kt(kt_),
        row_bytes(kv_row_bytes(kt_, 3 * hd_) + (kt_ == KvType::F32 ? 4 : 0)),
        n_kv(std::move(n)) {
    max_kv = std::max<int64_t>(1, *std::max_element(n_kv.begin(), n_kv.end()));
    q = random_floats(rng, n_tok * ld_q, -2.0f, 2.0f);
    fill(rng, kst, k, -2.0f, 2.0f);
    fill(rng, vst, v, -1.0f, 1.0f);
  }
  // Random rows of all heads, stored as kt; `head` gets head 1 read back as f32.
  void fill(std::mt19937& rng, std::vector<std::vector<uint8_t>>& st, std::vector<float>& head,
            float lo, float hi) {
    const int64_t n_blocks = (max_kv + kKvBlockTokens - 1) / kKvBlockTokens;
    st.assign(n_blocks, std::vector<uint8_t>(kKvBlockTokens * row_bytes + 64, 0));
    head.resize(max_kv * hd);
    std::vector<float> all(3 * hd);
    for (int64_t j = 0; j < max_kv; ++j) {
      all = random_floats(rng, 3 * hd, lo, hi);
      // f16 subnormals and the largest f16 in the tile's head (body and tail of the lanes).
      all[hd + (j % hd)] = (j % 3 == 0) ? 3e-6f : -4e-7f;
      if (j % 7 == 0) all[2 * hd - 1] = (j % 2 ? 1.0f : -1.0f) * 1e-7f;
      uint8_t* row = st[j / kKvBlockTokens].data() + (j % kKvBlockTokens) * row_bytes;
      kv_store_row(kt, all.data(), row, 3 * hd);
      kv_load_rows(kt, row + kv_row_bytes(kt, hd), row_bytes, 1, hd, head.data() + j * hd);
    }
  }
  // The same tile head as an f32 cache of the values this cache holds.
  TileData as_f32() const {
    TileData d = *this;
    d.kt = KvType::F32;
    d.row_bytes = 4 * (3 * hd) + 4;
    for (int kv = 0; kv < 2; ++kv) {
      std::vector<std::vector<uint8_t>>& st = kv == 0 ? d.kst : d.vst;
      const std::vector<float>& vals = kv == 0 ? k : v;
      st.assign(kst.size(), std::vector<uint8_t>(kKvBlockTokens * d.row_bytes + 64, 0));
      for (int64_t j = 0; j < max_kv; ++j) {
        uint8_t* row = st[j / kKvBlockTokens].data() + (j % kKvBlockTokens) * d.row_bytes;
        std::memcpy(row + 4 * hd, vals.data() + j * hd, 4 * hd);
      }
    }
    return d;
  }
  // Runs `table` on tokens [t0, t0 + nt) with buffers offset by `off` floats; returns
  // [n_tok][ld_q].
  std::vector<float> run(const KernelTable& table, size_t off, int64_t t0 = 0,
                         int64_t nt = -1) const {
    if (nt < 0) nt = n_tok;
    OffsetFloats qb(q.size(), off), ob(q.size(), off + 3);
    std::copy(q.begin(), q.end(), qb.data());
    std::fill(ob.data(), ob.data() + q.size(), -7.0f);
    // Storage blocks at an offset of (off + 1) * 2 bytes (f16 / q8_0 rows are 2-byte aligned).
    std::vector<std::vector<uint8_t>> kc = kst, vc = vst;
    std::vector<const uint8_t*> kp, vp;
    const size_t boff = kt == KvType::F32 ? 4 * (off + 1) : 2 * (off + 1);
    for (size_t b = 0; b < kc.size(); ++b) {
      std::memmove(kc[b].data() + boff, kc[b].data(), kKvBlockTokens * row_bytes);
      std::memmove(vc[b].data() + boff, vc[b].data(), kKvBlockTokens * row_bytes);
      kp.push_back(kc[b].data() + boff);
      vp.push_back(vc[b].data() + boff);
    }
    AttnTile a;
    a.q = qb.data() + t0 * ld_q;
    a.ld_q = ld_q;
    a.n_kv = n_kv.data() + t0;
    a.n_tok = nt;
    a.group = group;
    a.head_dim = hd;
    a.kv_type = kt;
    a.k_blocks = kp.data();
    a.v_blocks = vp.data();
    a.row_bytes = row_bytes;
    a.head_offset = kv_row_bytes(kt, hd);
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    a.out = ob.data() + t0 * ld_q;
    a.ld_out = ld_q;
    table.attention_tile(a);
    return std::vector<float>(ob.data(), ob.data() + q.size());
  }
  // The double-precision softmax attention of query (t, g).
  std::vector<double> expect(int64_t t, int64_t g) const {
    const int64_t n = n_kv[t];
    const double scale = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(hd)));
    std::vector<double> p(n), out(hd, 0.0);
    double mx = -1e300, sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t d = 0; d < hd; ++d)
        s += static_cast<double>(q[t * ld_q + g * hd + d]) * k[j * hd + d];
      mx = std::max(mx, p[j] = s * scale);
    }
    for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < hd; ++d) out[d] += p[j] / sum * v[j * hd + d];
    return out;
  }
  const float* row(const std::vector<float>& out, int64_t t, int64_t g) const {
    return out.data() + t * ld_q + g * hd;
  }
};

// The cache types a head dimension allows (q8_0 needs whole blocks of 32).
std::vector<KvType> kv_types(int64_t hd) {
  if (hd % 32 == 0) return {KvType::F32, KvType::F16, KvType::Q8_0};
  return {KvType::F32, KvType::F16};
}

// Key counts of n_tok consecutive tokens ending at `last` keys (a prefill chunk's shape).
std::vector<int64_t> chunk_keys(int64_t n_tok, int64_t last) {
  std::vector<int64_t> n(n_tok);
  for (int64_t t = 0; t < n_tok; ++t) n[t] = last - (n_tok - 1 - t);
  return n;
}

}  // namespace

TEST_CASE("attention_tile: spec vs double, tables vs spec") {
  std::mt19937 rng(6);
  for (int64_t hd : {1, 8, 36, 64, 100, 128}) {
    for (int64_t group : {1, 3, 4}) {
      for (auto shape :
           {std::pair<int64_t, int64_t>{1, 1}, {1, 32}, {1, 33}, {3, 13}, {5, 70}, {2, 300}}) {
        for (KvType kt : kv_types(hd)) {
          const int64_t n_tok = shape.first, last = shape.second;  // CAPTURE's lambda takes them
          const std::string type = kv_type_name(kt);
          CAPTURE(type);
          CAPTURE(hd);
          CAPTURE(group);
          CAPTURE(n_tok);
          CAPTURE(last);
          const TileData d(rng, n_tok, group, hd, chunk_keys(n_tok, last), kt);
          const std::vector<float> ys = d.run(scalar_table(), 0);
          for (int64_t t = 0; t < n_tok; ++t) {
            for (int64_t g = 0; g < group; ++g) {
              const std::vector<double> e = d.expect(t, g);
              CHECK(rel_l2(std::vector<float>(d.row(ys, t, g), d.row(ys, t, g) + hd), e) <
                    kSpecTol);
            }
          }
          for (const KernelTable* table : all_tables()) {
            const std::string name = isa_name(table->isa);
            CAPTURE(name);
            const std::vector<float> y = d.run(*table, 1 + hd % 5);
            for (int64_t t = 0; t < n_tok; ++t)
              for (int64_t g = 0; g < group; ++g)
                CHECK(rel_l2(d.row(y, t, g), d.row(ys, t, g), hd) < kAttnIsaTol);
          }
        }
      }
    }
  }
}

TEST_CASE("attention_tile: a row's floats do not depend on its tile") {
  // Tokens of uneven key counts (some past a block boundary, one with no keys), each run alone
  // and in sub-tiles must give the bits of the whole tile.
  std::mt19937 rng(7);
  for (int64_t hd : {8, 64, 70}) {
    for (KvType kt : kv_types(hd)) {
      const TileData d(rng, 10, 4, hd, {0, 1, 31, 64, 65, 97, 255, 256, 257, 300}, kt);
      const std::string type = kv_type_name(kt);
      CAPTURE(type);
      for (const KernelTable* table : all_tables()) {
        const std::string name = isa_name(table->isa);
        CAPTURE(name);
        CAPTURE(hd);
        const std::vector<float> whole = d.run(*table, 0);
        for (int64_t g = 0; g < d.group; ++g)
          for (int64_t i = 0; i < hd; ++i) CHECK(d.row(whole, 0, g)[i] == 0.0f);
        for (auto [t0, nt] :
             {std::pair<int64_t, int64_t>{0, 1}, {2, 1}, {3, 2}, {1, 4}, {5, 1}, {6, 3}, {9, 1}}) {
          const std::vector<float> part = d.run(*table, 2, t0, nt);
          for (int64_t t = t0; t < t0 + nt; ++t) {
            for (int64_t g = 0; g < d.group; ++g) {
              CAPTURE(t);
              CHECK(std::memcmp(d.row(part, t, g), d.row(whole, t, g), sizeof(float) * hd) == 0);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("attention_tile: an f16 / q8_0 cache gives the bits of an f32 cache of its values") {
  // Each table converts a key block to f32 and runs its f32 math: same bits as the f32 cache
  // holding the converted values, across storage-block boundaries (256 keys) with tails.
  std::mt19937 rng(8);
  for (int64_t hd : {32, 36, 64, 100, 128}) {  // 36, 100: f16 only, with 8-lane tails
    for (KvType kt : kv_types(hd)) {
      if (kt == KvType::F32) continue;
      const std::string type = kv_type_name(kt);
      CAPTURE(type);
      CAPTURE(hd);
      const TileData d(rng, 4, 2, hd, {1, 255, 257, 530}, kt);
      const TileData f = d.as_f32();
      for (const KernelTable* table : all_tables()) {
        const std::string name = isa_name(table->isa);
        CAPTURE(name);
        const std::vector<float> a = d.run(*table, 1), b = f.run(*table, 2);
        CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
      }
    }
  }
}

TEST_CASE("attention_tile: the avx512 table gives the avx2 table's bits") {
  // Same per-row float operations on zmm (kernels/avx512/attention.cpp): key counts around the
  // 16-key score groups and 32-key blocks, groups past its 4 rows per V pass, head dims of 1-4
  // zmm per pass and beyond (hd % 16 != 0 goes to the AVX2 kernel), and scores spread wide
  // enough (q scaled up) for exp's two-factor and saturating paths.
  const KernelTable* avx2 = kernel_table(Isa::Avx2);
  const KernelTable* avx512 = kernel_table(Isa::Avx512);
  if (avx2 == nullptr || avx512 == nullptr) return;
  std::mt19937 rng(9);
  const std::vector<int64_t> keys = {0, 1, 7, 15, 16, 17, 31, 32, 33, 48, 255, 256, 257, 300};
  for (int64_t hd : {8, 16, 32, 36, 48, 64, 80, 128, 144}) {
    for (int64_t group : {1, 2, 3, 4, 5, 6}) {
      for (KvType kt : kv_types(hd)) {
        for (float qscale : {1.0f, 40.0f}) {
          const std::string type = kv_type_name(kt);
          CAPTURE(type);
          CAPTURE(hd);
          CAPTURE(group);
          CAPTURE(qscale);
          TileData d(rng, static_cast<int64_t>(keys.size()), group, hd, keys, kt);
          for (float& x : d.q) x *= qscale;
          const std::vector<float> a = d.run(*avx2, 1), b = d.run(*avx512, 2);
          CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
          const std::vector<float> c = d.run(*avx512, 0, 8, 4);  // a sub-tile, other alignment
          for (int64_t t = 8; t < 12; ++t)
            CHECK(std::memcmp(d.row(c, t, 0), d.row(a, t, 0), sizeof(float) * group * hd) == 0);
        }
      }
    }
  }
}

namespace {

// A cache of n_heads KV heads (storage blocks of kKvBlockTokens rows, token-major or head-major)
// and the queries of all heads, [n_tok][ld_q] with ld_q = n_heads * group * hd + 5.
struct MultiHead {
  int64_t n_tok, group, hd, n_heads, ld_q;
  KvType kt;
  size_t row_bytes;
  std::vector<int64_t> n_kv;
  std::vector<float> q;
  std::vector<std::vector<uint8_t>> kst, vst;
  std::vector<const uint8_t*> kp, vp;
  bool head_major = false;

  MultiHead(std::mt19937& rng, int64_t n_tok_, int64_t group_, int64_t hd_, int64_t n_heads_, KvType kt_,
            std::vector<int64_t> n, bool head_major_layout)
      : n_tok(n_tok_), group(group_), hd(hd_), n_heads(n_heads_), ld_q(n_heads_ * group_ * hd_ + 5), kt(kt_),
        row_bytes(kv_row_bytes(kt_, n_heads_ * hd_)), n_kv(std::move(n)) {
    const int64_t max_kv = std::max<int64_t>(1, *std::max_element(n_kv.begin(), n_kv.end()));
    q = random_floats(rng, n_tok * ld_q, -2.0f, 2.0f);
    for (auto* st : {&kst, &vst}) {
      st->assign((max_kv + kKvBlockTokens - 1) / kKvBlockTokens, std::vector<uint8_t>(kKvBlockTokens * row_bytes));
      for (int64_t j = 0; j < max_kv; ++j)
        kv_store_row(kt, random_floats(rng, n_heads * hd, -2.0f, 2.0f).data(),
                     (*st)[j / kKvBlockTokens].data() + (j % kKvBlockTokens) * row_bytes, n_heads * hd);
    }
    for (size_t b = 0; b < kst.size(); ++b) kp.push_back(kst[b].data()), vp.push_back(vst[b].data());
    if (head_major_layout) {
      // Same bytes, each storage block rearranged as [head][kKvBlockTokens][head bytes]; per-head
      // block pointers with row_bytes = head bytes.
      const size_t hb = kv_row_bytes(kt, hd);
      for (auto* st : {&kst, &vst})
        for (auto& blk : *st) {
          std::vector<uint8_t> t(blk.size());
          for (int64_t j = 0; j < kKvBlockTokens; ++j)
            for (int64_t h = 0; h < n_heads; ++h)
              std::memcpy(t.data() + (h * kKvBlockTokens + j) * hb, blk.data() + j * row_bytes + h * hb, hb);
          blk = t;
        }
      head_major = true;
      for (size_t b = 0; b < kst.size(); ++b) kp[b] = kst[b].data(), vp[b] = vst[b].data();
    }
  }
  // KV head h's tile into out ([n_tok][ld_q]).
  void run(const KernelTable& table, int64_t h0, std::vector<float>& out) const {
    AttnTile a;
    a.q = q.data() + h0 * group * hd;
    a.ld_q = ld_q;
    a.n_kv = n_kv.data();
    a.n_tok = n_tok;
    a.group = group;
    a.head_dim = hd;
    a.kv_type = kt;
    std::vector<const uint8_t*> kh = kp, vh = vp;
    a.k_blocks = kp.data();
    a.v_blocks = vp.data();
    a.row_bytes = row_bytes;
    a.head_offset = kv_row_bytes(kt, h0 * hd);
    if (head_major) {
      const size_t hb = kv_row_bytes(kt, hd);
      for (size_t b = 0; b < kh.size(); ++b) kh[b] += h0 * kKvBlockTokens * hb, vh[b] += h0 * kKvBlockTokens * hb;
      a.k_blocks = kh.data();
      a.v_blocks = vh.data();
      a.row_bytes = hb;
      a.head_offset = 0;
    }
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    a.out = out.data() + h0 * group * hd;
    a.ld_out = ld_q;
    table.attention_tile(a);
  }
};

}  // namespace

TEST_CASE("attention_tile: head-major blocks give the bits of token-major ones") {
  // The engine stores blocks head-major (engine/model.h) and points a tile at one head's rows:
  // the same keys, so the same floats, whatever the row stride (a prefill chunk and a decode token).
  for (int64_t hd : {36, 64}) {
    for (KvType kt : kv_types(hd)) {
      for (int64_t n_tok : {1, 5}) {
        std::vector<int64_t> keys = n_tok == 1 ? std::vector<int64_t>{600} : chunk_keys(5, 300);
        std::mt19937 r1(11), r2(11);
        const MultiHead tm(r1, n_tok, 3, hd, 3, kt, keys, false), hm(r2, n_tok, 3, hd, 3, kt, keys, true);
        for (const KernelTable* table : all_tables()) {
          const std::string name = isa_name(table->isa), type = kv_type_name(kt);
          CAPTURE(name);
          CAPTURE(type);
          CAPTURE(hd);
          std::vector<float> a(tm.q.size(), -7.0f), b(hm.q.size(), -7.0f);
          for (int64_t h = 0; h < 3; ++h) tm.run(*table, h, a), hm.run(*table, h, b);
          CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
        }
      }
    }
  }
}

// Manual benchmark: ./lfmd_kernel_tests -tc="bench: decode attention*" --no-skip. One token
// after 8,000 keys (LFMD_BENCH_KEYS) of the 8B-A1B shape (8 KV heads of 64, 4 query heads each,
// f16 cache), six layers' caches (96 MiB, past the L3; LFMD_BENCH_HOT=1: one layer, from cache),
// two threads of four heads each; best of several passes, as GB/s of cache read. Token-major
// blocks (one head's 128 bytes of every 1 KiB row) against the engine's head-major ones: here
// 6.3 against 3.9 ms from memory (15 and 25 GB/s).
TEST_CASE("bench: decode attention after 8,000 keys" * doctest::skip()) {
  std::mt19937 rng(3);
  const char* err = nullptr;
  const KernelTable* table = select_kernels(nullptr, &err);
  REQUIRE(table != nullptr);
  const int n_layers = getenv("LFMD_BENCH_HOT") ? 1 : 6;  // 1: 16 MiB, from the L3
  const int64_t keys = getenv("LFMD_BENCH_KEYS") ? atoll(getenv("LFMD_BENCH_KEYS")) : 8000;
  for (bool head_major : {false, true}) {
    std::vector<MultiHead> layers;
    for (int l = 0; l < n_layers; ++l)
      layers.emplace_back(rng, 1, 4, 64, 8, KvType::F16, std::vector<int64_t>{keys}, head_major);
    const double bytes = n_layers * 2.0 * keys * layers[0].row_bytes;
    double best = 1e30;
    for (int rep = 0; rep < 10; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const MultiHead& m : layers) {
        auto half = [&](int64_t h0) {
          std::vector<float> o(m.q.size());
          for (int64_t h = h0; h < h0 + 4; ++h) m.run(*table, h, o);
        };
        std::thread th(half, 4);
        half(0);
        th.join();
      }
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("%s %s: %.3f ms for %d layers, %.1f GB/s\n", isa_name(table->isa),
                head_major ? "head-major" : "token-major", best * 1e3, n_layers, bytes / best * 1e-9);
  }
}

TEST_CASE("kv rows: names, sizes and conversions") {
  KvType t = KvType::F32;
  CHECK((parse_kv_type("q8_0", &t) && t == KvType::Q8_0));
  CHECK((parse_kv_type("f16", &t) && t == KvType::F16));
  CHECK(!parse_kv_type("q4_0", &t));
  CHECK(kv_row_bytes(KvType::F32, 64) == 256);
  CHECK(kv_row_bytes(KvType::F16, 64) == 128);
  CHECK(kv_row_bytes(KvType::Q8_0, 64) == 68);
  const float x[32] = {1.0f, -0.5f, 65504.0f,
                       1.0f + 1.0f / 2048};  // the last: a tie, rounds to 1 (even)
  uint8_t h[64];
  kv_store_row(KvType::F16, x, h, 32);
  float y[32];
  kv_load_rows(KvType::F16, h, 64, 1, 32, y);
  CHECK(y[0] == 1.0f);
  CHECK(y[1] == -0.5f);
  CHECK(y[2] == 65504.0f);
  CHECK(y[3] == 1.0f);
  uint8_t qb[34];
  kv_store_row(KvType::Q8_0, x, qb, 32);
  kv_load_rows(KvType::Q8_0, qb, 34, 1, 32, y);
  CHECK(std::fabs(y[2] - 65504.0f) < 65504.0f / 254);
  CHECK(y[4] == 0.0f);
}
