// Byte-level BPE trainer (for generated test vocabularies): incremental pair counts with a lazy
// max-heap; ties go to the byte-wise smallest (left, right) pair of mapped strings.
#include <algorithm>
#include <queue>
#include <string>
#include <unordered_map>

#include "engine/testmodel/vocab_builder.h"
#include "engine/tokenizer/tokenizer_internal.h"

namespace lfmd {

namespace {

inline uint64_t key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

struct Word {
  std::vector<int32_t> s;  // symbol ids
  int64_t n;               // occurrences in the corpus
};

}  // namespace

std::vector<std::string> train_bpe_merges(std::string_view corpus, int n_merges) {
  std::vector<std::string> merges;
  if (n_merges <= 0) return merges;

  // Distinct pre-tokens with their counts, in sorted order (deterministic word indices).
  const std::string text = tok_detail::sanitize_utf8_like_llama(corpus);
  std::vector<std::pair<size_t, size_t>> offs;
  tok_detail::pretokenize_offsets(text, offs);
  std::unordered_map<std::string_view, int64_t> counts;
  for (auto [b, e] : offs) ++counts[std::string_view(text).substr(b, e - b)];
  std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());

  std::vector<std::string> sym;  // symbol id -> mapped text; 0..255 are the bytes
  std::unordered_map<std::string, int32_t> sym_id;
  for (int b = 0; b < 256; ++b) {
    sym.push_back(byte_level_encode(std::string(1, char(b))));
    sym_id.emplace(sym.back(), b);
  }
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [w, n] : sorted) {
    Word wd{{}, n};
    for (unsigned char c : w) wd.s.push_back(c);
    words.push_back(std::move(wd));
  }

  std::unordered_map<uint64_t, int64_t> pair_n;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words (may be stale)
  for (int32_t wi = 0; wi < int32_t(words.size()); ++wi) {
    const Word& w = words[wi];
    for (size_t i = 0; i + 1 < w.s.size(); ++i) {
      const uint64_t k = key(w.s[i], w.s[i + 1]);
      pair_n[k] += w.n;
      auto& wl = where[k];
      if (wl.empty() || wl.back() != wi) wl.push_back(wi);
    }
  }

  struct Entry {
    int64_t n;
    int32_t a, b;
  };
  // Top of the heap: highest count, then the smallest (left, right) strings.
  auto lower = [&sym](const Entry& x, const Entry& y) {
    if (x.n != y.n) return x.n < y.n;
    const int c = sym[x.a].compare(sym[y.a]);
    if (c != 0) return c > 0;
    return sym[x.b].compare(sym[y.b]) > 0;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(lower)> heap(lower);
  for (const auto& [k, n] : pair_n) heap.push({n, int32_t(k >> 32), int32_t(k & 0xFFFFFFFF)});

  std::vector<uint64_t> touched;
  while (int(merges.size()) < n_merges && !heap.empty()) {
    const Entry e = heap.top();
    heap.pop();
    const uint64_t k = key(e.a, e.b);
    auto pit = pair_n.find(k);
    if (pit == pair_n.end() || pit->second != e.n) continue;  // stale entry
    if (e.n < 2) break;

    merges.push_back(sym[e.a] + " " + sym[e.b]);
    const std::string joined = sym[e.a] + sym[e.b];
    auto [sit, fresh] = sym_id.emplace(joined, int32_t(sym.size()));
    if (fresh) sym.push_back(joined);  // a result may repeat (a+bc == ab+c): one symbol for both
    const int32_t c = sit->second;

    std::vector<int32_t> wl = std::move(where[k]);
    where.erase(k);
    std::sort(wl.begin(), wl.end());
    wl.erase(std::unique(wl.begin(), wl.end()), wl.end());
    touched.clear();
    for (int32_t wi : wl) {
      Word& w = words[wi];
      bool has = false;
      for (size_t i = 0; i + 1 < w.s.size() && !has; ++i) has = w.s[i] == e.a && w.s[i + 1] == e.b;
      if (!has) continue;
      for (size_t i = 0; i + 1 < w.s.size(); ++i) {
        const uint64_t pk = key(w.s[i], w.s[i + 1]);
        pair_n[pk] -= w.n;
        touched.push_back(pk);
      }
      std::vector<int32_t> ns;
      ns.reserve(w.s.size());
      for (size_t i = 0; i < w.s.size(); ++i) {
        if (i + 1 < w.s.size() && w.s[i] == e.a && w.s[i + 1] == e.b) {
          ns.push_back(c);
          ++i;
        } else {
          ns.push_back(w.s[i]);
        }
      }
      w.s = std::move(ns);
      for (size_t i = 0; i + 1 < w.s.size(); ++i) {
        const uint64_t pk = key(w.s[i], w.s[i + 1]);
        pair_n[pk] += w.n;
        touched.push_back(pk);
        if (w.s[i] == c || w.s[i + 1] == c) {
          auto& l = where[pk];
          if (l.empty() || l.back() != wi) l.push_back(wi);
        }
      }
    }
    pair_n[k] = 0;
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t pk : touched) {
      const int64_t n = pair_n[pk];
      if (n > 0 && pk != k) heap.push({n, int32_t(pk >> 32), int32_t(pk & 0xFFFFFFFF)});
    }
  }
  return merges;
}

}  // namespace lfmd
