// attention_tile: the scalar spec vs a double-precision softmax, every table vs the spec, and
// batch invariance inside each table (a row's floats do not depend on the rest of its tile).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

// Other tables vs scalar: another exp, FMAs and vector reduction orders.
constexpr double kAttnIsaTol = 1e-5;

// A tile's inputs in a multi-head cache layout: rows `ld_kv` apart with other heads between
// (odd stride), queries and outputs `ld` apart; all buffers start off a 64-byte boundary.
struct TileData {
  int64_t n_tok, group, hd, ld_q, ld_kv, max_kv;
  std::vector<int64_t> n_kv;
  std::vector<float> q, k, v;

  TileData(std::mt19937& rng, int64_t n_tok_, int64_t group_, int64_t hd_, std::vector<int64_t> n)
      : n_tok(n_tok_),
        group(group_),
        hd(hd_),
        ld_q(group_ * hd_ + 3),
        ld_kv(hd_ * 3 + 1),
        n_kv(std::move(n)) {
    max_kv = std::max<int64_t>(1, *std::max_element(n_kv.begin(), n_kv.end()));
    q = random_floats(rng, n_tok * ld_q, -2.0f, 2.0f);
    k = random_floats(rng, max_kv * ld_kv, -2.0f, 2.0f);
    v = random_floats(rng, max_kv * ld_kv);
  }
  // Runs `table` on tokens [t0, t0 + nt) with buffers offset by `off` floats; returns
  // [n_tok][ld_q].
  std::vector<float> run(const KernelTable& table, size_t off, int64_t t0 = 0,
                         int64_t nt = -1) const {
    if (nt < 0) nt = n_tok;
    OffsetFloats qb(q.size(), off), kb(k.size(), off + 1), vb(v.size(), off + 2),
        ob(q.size(), off + 3);
    std::copy(q.begin(), q.end(), qb.data());
    std::copy(k.begin(), k.end(), kb.data());
    std::copy(v.begin(), v.end(), vb.data());
    std::fill(ob.data(), ob.data() + q.size(), -7.0f);
    AttnTile a;
    a.q = qb.data() + t0 * ld_q;
    a.ld_q = ld_q;
    a.n_kv = n_kv.data() + t0;
    a.n_tok = nt;
    a.group = group;
    a.head_dim = hd;
    a.k = kb.data();
    a.v = vb.data();
    a.ld_kv = ld_kv;
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
        s += static_cast<double>(q[t * ld_q + g * hd + d]) * k[j * ld_kv + d];
      mx = std::max(mx, p[j] = s * scale);
    }
    for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < hd; ++d) out[d] += p[j] / sum * v[j * ld_kv + d];
    return out;
  }
  const float* row(const std::vector<float>& out, int64_t t, int64_t g) const {
    return out.data() + t * ld_q + g * hd;
  }
};

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
        const int64_t n_tok = shape.first, last = shape.second;  // CAPTURE's lambda takes them
        CAPTURE(hd);
        CAPTURE(group);
        CAPTURE(n_tok);
        CAPTURE(last);
        const TileData d(rng, n_tok, group, hd, chunk_keys(n_tok, last));
        const std::vector<float> ys = d.run(scalar_table(), 0);
        for (int64_t t = 0; t < n_tok; ++t) {
          for (int64_t g = 0; g < group; ++g) {
            const std::vector<double> e = d.expect(t, g);
            CHECK(rel_l2(std::vector<float>(d.row(ys, t, g), d.row(ys, t, g) + hd), e) < 1e-5);
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

TEST_CASE("attention_tile: a row's floats do not depend on its tile") {
  // Tokens of uneven key counts (some past a block boundary, one with no keys), each run alone
  // and in sub-tiles must give the bits of the whole tile.
  std::mt19937 rng(7);
  for (int64_t hd : {8, 64, 70}) {
    const TileData d(rng, 6, 4, hd, {0, 1, 31, 64, 65, 97});
    for (const KernelTable* table : all_tables()) {
      const std::string name = isa_name(table->isa);
      CAPTURE(name);
      CAPTURE(hd);
      const std::vector<float> whole = d.run(*table, 0);
      for (int64_t g = 0; g < d.group; ++g)
        for (int64_t i = 0; i < hd; ++i) CHECK(d.row(whole, 0, g)[i] == 0.0f);
      for (auto [t0, nt] : {std::pair<int64_t, int64_t>{0, 1}, {2, 1}, {3, 2}, {1, 4}, {5, 1}}) {
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
