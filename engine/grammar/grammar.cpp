#include "engine/grammar/grammar.h"

#include <algorithm>

namespace lfmd::grammar {

int32_t GrammarBuilder::new_rule() {
  rules_.emplace_back();
  return static_cast<int32_t>(rules_.size() - 1);
}

void GrammarBuilder::add_alt(int32_t rule, Alt alt) {
  n_symbols_ += alt.size() + 1;
  rules_.at(rule).push_back(std::move(alt));
}

int32_t GrammarBuilder::rule(std::vector<Alt> alts) {
  const int32_t r = new_rule();
  for (auto& a : alts) add_alt(r, std::move(a));
  return r;
}

Sym GrammarBuilder::bytes(const ByteSet& s) {
  // Sets repeat a lot (one per literal byte): share equal ones.
  for (size_t i = sets_.size(); i-- > 0 && i + 64 >= sets_.size();) {
    if (sets_[i] == s) return {Sym::Bytes, static_cast<int32_t>(i)};
  }
  sets_.push_back(s);
  return {Sym::Bytes, static_cast<int32_t>(sets_.size() - 1)};
}

Sym GrammarBuilder::byte(uint8_t b) {
  if (single_[b] < 0) {
    ByteSet s;
    s.set(b);
    sets_.push_back(s);
    single_[b] = static_cast<int32_t>(sets_.size() - 1);
  }
  return {Sym::Bytes, single_[b]};
}

void GrammarBuilder::append_literal(Alt& alt, std::string_view text) {
  for (char c : text) alt.push_back(byte(static_cast<uint8_t>(c)));
}

Alt GrammarBuilder::literal(std::string_view text) {
  Alt a;
  append_literal(a, text);
  return a;
}

std::shared_ptr<const Grammar> GrammarBuilder::build(int32_t root, size_t max_elems) const {
  if (n_symbols_ > max_elems) {
    throw GrammarError("the compiled grammar has " + std::to_string(n_symbols_) +
                       " elements, more than the limit of " + std::to_string(max_elems));
  }
  const size_t n = rules_.size();
  auto sym_ok = [&](const Sym& s, const std::vector<uint8_t>& ok) {
    if (s.kind == Sym::Ref) return ok[s.arg] != 0;
    if (s.kind == Sym::Bytes) return !sets_[s.arg].empty();
    return true;
  };
  // Productive rules: some alternative derives a finite string (least fixpoint).
  std::vector<uint8_t> productive(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (productive[r]) continue;
      for (const Alt& a : rules_[r]) {
        if (std::all_of(a.begin(), a.end(), [&](const Sym& s) { return sym_ok(s, productive); })) {
          productive[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  if (!productive[root]) throw GrammarError("the schema cannot be satisfied by any finite value");
  // Nullable rules, then left-recursion: a cycle of rule references reachable without consuming.
  std::vector<uint8_t> nullable(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r] || !productive[r]) continue;
      for (const Alt& a : rules_[r]) {
        if (std::all_of(a.begin(), a.end(),
                        [&](const Sym& s) { return s.kind == Sym::Ref && nullable[s.arg]; })) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<int32_t>> left(n);
  for (size_t r = 0; r < n; ++r) {
    for (const Alt& a : rules_[r]) {
      if (!std::all_of(a.begin(), a.end(), [&](const Sym& s) { return sym_ok(s, productive); })) continue;
      for (const Sym& s : a) {
        if (s.kind != Sym::Ref) break;
        left[r].push_back(s.arg);
        if (!nullable[s.arg]) break;
      }
    }
  }
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the DFS path, 2 done
  for (size_t start = 0; start < n; ++start) {
    if (color[start]) continue;
    std::vector<std::pair<int32_t, size_t>> st{{static_cast<int32_t>(start), 0}};
    color[start] = 1;
    while (!st.empty()) {
      auto& [r, i] = st.back();
      if (i == left[r].size()) {
        color[r] = 2;
        st.pop_back();
        continue;
      }
      const int32_t q = left[r][i++];
      if (color[q] == 1) {
        throw GrammarError("the schema refers to itself without consuming input (left recursion through $ref)");
      }
      if (color[q] == 0) {
        color[q] = 1;
        st.push_back({q, 0});
      }
    }
  }
  auto g = std::make_shared<Grammar>();
  g->sets = sets_;
  g->root = root;
  g->rule_alts.resize(n);
  for (size_t r = 0; r < n; ++r) {
    for (const Alt& a : rules_[r]) {
      if (!std::all_of(a.begin(), a.end(), [&](const Sym& s) { return sym_ok(s, productive); })) continue;
      g->rule_alts[r].push_back(static_cast<int32_t>(g->elems.size()));
      for (const Sym& s : a) {
        g->elems.push_back({s.kind == Sym::Bytes ? Grammar::Bytes : s.kind == Sym::Ref ? Grammar::Ref : Grammar::Token, s.arg});
      }
      g->elems.push_back({Grammar::End, 0});
    }
  }
  // Shortest derivation per rule (fixpoint), then per element the shortest rest of its alternative.
  constexpr int32_t kInf = 1 << 29;
  std::vector<int32_t> rmin(n, kInf);
  auto elem_min = [&](const Grammar::Elem& e) { return e.kind == Grammar::Ref ? rmin[e.arg] : e.kind == Grammar::End ? 0 : 1; };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      for (int32_t a : g->rule_alts[r]) {
        int64_t sum = 0;
        for (int32_t p = a; g->elems[p].kind != Grammar::End; ++p) sum += elem_min(g->elems[p]);
        if (sum < rmin[r]) {
          rmin[r] = static_cast<int32_t>(std::min<int64_t>(sum, kInf));
          changed = true;
        }
      }
    }
  }
  g->min_len.assign(g->elems.size(), 0);
  for (size_t p = g->elems.size(); p-- > 0;) {
    if (g->elems[p].kind == Grammar::End) continue;
    g->min_len[p] = static_cast<int32_t>(std::min<int64_t>(int64_t{elem_min(g->elems[p])} + g->min_len[p + 1], kInf));
  }
  return g;
}

}  // namespace lfmd::grammar
