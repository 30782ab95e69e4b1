// Python's pprint.pformat(value) (width 80, indent 1, sorted dict keys) for the pprint filter.
#include <algorithm>

#include "jinja/unicode.h"
#include "jinja/value.h"

namespace lfmd::jinja::detail {
namespace {

constexpr std::int64_t kWidth = 80;

bool key_less(const Value& a, const Value& b) {
  try {
    return py_cmp(a, b) == -1;
  } catch (const Error&) {
    return type_name(a) < type_name(b);
  }
}

std::vector<const std::pair<Value, Value>*> sorted_items(const DictObj& d) {
  std::vector<const std::pair<Value, Value>*> items;
  for (const auto& kv : d.v) items.push_back(&kv);
  std::stable_sort(items.begin(), items.end(),
                   [](auto* x, auto* y) { return key_less(x->first, y->first); });
  return items;
}

// repr() with dict keys sorted at every level.
void sorted_repr(const Value& v, std::string& out, int depth) {
  if (depth > 2 * kMaxDepth) fail("maximum recursion depth exceeded in pprint");
  check_size(out.size());
  if (v.is_dict()) {
    out += '{';
    bool first = true;
    for (const auto* kv : sorted_items(v.d())) {
      if (!first) out += ", ";
      first = false;
      sorted_repr(kv->first, out, depth + 1);
      out += ": ";
      sorted_repr(kv->second, out, depth + 1);
    }
    out += '}';
  } else if (v.is_list() && (v.l().kind == LK::List || v.l().kind == LK::Tuple)) {
    bool tuple = v.l().kind == LK::Tuple;
    out += tuple ? '(' : '[';
    for (std::size_t i = 0; i < v.l().v.size(); ++i) {
      if (i) out += ", ";
      sorted_repr(v.l().v[i], out, depth + 1);
    }
    out += tuple ? (v.l().v.size() == 1 ? ",)" : ")") : "]";
  } else {
    repr(v, out);
  }
}

std::string srepr(const Value& v) {
  std::string s;
  sorted_repr(v, s, 0);
  return s;
}

std::int64_t len(const std::string& s) {
  return static_cast<std::int64_t>(uni::count(s));
}

struct Printer {
  std::string& out;

  void format(const Value& v, std::int64_t indent, std::int64_t allowance, int level) {
    if (level > 2 * kMaxDepth) fail("maximum recursion depth exceeded in pprint");
    check_size(out.size());
    std::string rep = srepr(v);
    if (len(rep) > kWidth - indent - allowance) {
      if (v.is_dict()) return dict(v, indent, allowance, level + 1);
      if (v.is_list() && v.l().kind == LK::List)
        return items(v.l().v, "[", "]", indent, allowance, level + 1);
      if (v.is_list() && v.l().kind == LK::Tuple)
        return items(v.l().v, "(", v.l().v.size() == 1 ? ",)" : ")", indent, allowance, level + 1);
      if (v.is_str()) return str(v.s(), indent, allowance, level + 1, rep);
    }
    out += rep;
  }

  void dict(const Value& v, std::int64_t indent, std::int64_t allowance, int level) {
    out += '{';
    auto its = sorted_items(v.d());
    indent += 1;
    allowance += 1;
    for (std::size_t i = 0; i < its.size(); ++i) {
      bool last = i + 1 == its.size();
      std::string rep = srepr(its[i]->first);
      out += rep + ": ";
      format(its[i]->second, indent + len(rep) + 2, last ? allowance : 1, level);
      if (!last) out.append(",\n").append(static_cast<std::size_t>(indent), ' ');
    }
    out += '}';
  }

  void items(const std::vector<Value>& v, const char* open, const char* close, std::int64_t indent,
             std::int64_t allowance, int level) {
    out += open;
    indent += 1;
    allowance += static_cast<std::int64_t>(std::char_traits<char>::length(close));
    for (std::size_t i = 0; i < v.size(); ++i) {
      bool last = i + 1 == v.size();
      if (i) out.append(",\n").append(static_cast<std::size_t>(indent), ' ');
      format(v[i], indent, last ? allowance : 1, level);
    }
    out += close;
  }

  void str(const std::string& s, std::int64_t indent, std::int64_t allowance, int level,
           const std::string& whole) {
    // str.splitlines(True)
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size();) {
      char32_t c = uni::decode(s, i);
      if (!(c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
            c == 0x85 || c == 0x2028 || c == 0x2029))
        continue;
      if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
      lines.push_back(s.substr(start, i - start));
      start = i;
    }
    if (start < s.size()) lines.push_back(s.substr(start));
    if (level == 1) {
      indent += 1;
      allowance += 1;
    }
    std::int64_t max_width = kWidth - indent, max_width1 = max_width;
    std::vector<std::string> chunks;
    std::string rep;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      rep = repr(Value(lines[i]));
      if (i + 1 == lines.size()) max_width1 -= allowance;
      if (len(rep) <= max_width1) {
        chunks.push_back(rep);
        continue;
      }
      // re.findall(r'\S*\s*', line) without the final empty match.
      std::vector<std::string> parts;
      const std::string& line = lines[i];
      std::size_t p = 0;
      while (p < line.size()) {
        std::size_t q = p;
        while (q < line.size()) {
          std::size_t n = q;
          if (uni::is_space(uni::decode(line, n))) break;
          q = n;
        }
        while (q < line.size()) {
          std::size_t n = q;
          if (!uni::is_space(uni::decode(line, n))) break;
          q = n;
        }
        parts.push_back(line.substr(p, q - p));
        p = q;
      }
      std::int64_t max_width2 = max_width;
      std::string current;
      for (std::size_t j = 0; j < parts.size(); ++j) {
        std::string candidate = current + parts[j];
        if (j + 1 == parts.size() && i + 1 == lines.size()) max_width2 -= allowance;
        if (len(repr(Value(candidate))) > max_width2) {
          if (!current.empty()) chunks.push_back(repr(Value(current)));
          current = parts[j];
        } else {
          current = candidate;
        }
      }
      if (!current.empty()) chunks.push_back(repr(Value(current)));
    }
    if (chunks.size() <= 1) {
      out += chunks.empty() ? whole : rep;
      return;
    }
    if (level == 1) out += '(';
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      if (i) out.append(1, '\n').append(static_cast<std::size_t>(indent), ' ');
      out += chunks[i];
    }
    if (level == 1) out += ')';
  }
};

}  // namespace

std::string pformat(const Value& v) {
  std::string out;
  Printer{out}.format(v, 0, 0, 0);
  return out;
}

}  // namespace lfmd::jinja::detail
