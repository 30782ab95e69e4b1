#include "server/output/tool_call_parse.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

#include "base/json_string.h"
#include "base/utf8.h"

namespace lfmd::output {

namespace {

struct Bad {};  // malformed input; thrown inside the parser, caught by parse_tool_call_block

constexpr int kMaxDepth = 200;  // nesting limit (keeps recursion far from the stack limit)

struct Value {
  enum Type { Null, Bool, Number, String, Array, Object } type = Null;
  std::string s;                  // Bool "true"/"false"; Number JSON text; String UTF-8
  std::vector<Value> items;       // Array elements / Object values
  std::vector<std::string> keys;  // Object keys, parallel to items
};

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;  // non-ASCII identifiers, leniently
}
bool is_ident_char(char c) {
  return is_ident_start(c) || is_digit(c);
}
bool is_name_char(char c) {
  return is_ident_char(c) || c == '.' || c == '-';
}

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string sanitized(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  utf8_sanitize(s, true, out);
  return out;
}

void serialize(const Value& v, std::string& out) {
  switch (v.type) {
    case Value::Null:
      out += "null";
      break;
    case Value::Bool:
    case Value::Number:
      out += v.s;
      break;
    case Value::String:
      append_json_text(v.s, out);
      break;
    case Value::Array:
      out.push_back('[');
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out.push_back(',');
        serialize(v.items[i], out);
      }
      out.push_back(']');
      break;
    case Value::Object:
      out.push_back('{');
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out.push_back(',');
        append_json_text(v.keys[i], out);
        out.push_back(':');
        serialize(v.items[i], out);
      }
      out.push_back('}');
      break;
  }
}

// Object builder: Python dict semantics for repeated keys (last value, first position).
class ObjectBuilder {
 public:
  ObjectBuilder() { v_.type = Value::Object; }
  // Returns false when `key` was already present (the value is replaced).
  bool put(std::string key, Value val) {
    auto [it, fresh] = index_.try_emplace(key, v_.items.size());
    if (!fresh) {
      v_.items[it->second] = std::move(val);
      return false;
    }
    v_.keys.push_back(std::move(key));
    v_.items.push_back(std::move(val));
    return true;
  }
  Value take() { return std::move(v_); }

 private:
  Value v_;
  std::unordered_map<std::string, size_t> index_;
};

const Value* find_key(const Value& obj, std::string_view key) {
  for (size_t i = 0; i < obj.keys.size(); ++i)
    if (obj.keys[i] == key) return &obj.items[i];
  return nullptr;
}

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  std::vector<ParsedCall> block() {
    std::vector<ParsedCall> calls;
    ws();
    if (eof()) throw Bad{};
    if (peek() == '[') {
      ++p_;
      ws();
      if (!eof() && peek() == ']') throw Bad{};  // an empty call list is not a call
      for (;;) {
        calls.push_back(item());
        if (close_or_comma(']')) break;
      }
    } else if (peek() == '{') {
      calls.push_back(item());
    } else {  // bare calls without brackets
      for (;;) {
        calls.push_back(call());
        ws();
        if (eof() || peek() != ',') break;
        ++p_;
      }
    }
    ws();
    if (!eof()) throw Bad{};
    return calls;
  }

  // The whole text as one value; empty text is {} (used for "arguments" given as a string).
  Value whole_value() {
    ws();
    if (eof()) {
      Value v;
      v.type = Value::Object;
      return v;
    }
    Value v = value();
    ws();
    if (!eof()) throw Bad{};
    return v;
  }

 private:
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& depth) : d(depth) {
      if (++d > kMaxDepth) throw Bad{};
    }
    ~DepthGuard() { --d; }
  };

  bool eof() const { return p_ >= t_.size(); }
  char peek(size_t k = 0) const { return p_ + k < t_.size() ? t_[p_ + k] : '\0'; }
  void ws() {
    while (!eof() && is_ws(t_[p_])) ++p_;
  }
  bool at_quote(size_t k = 0) const {
    return p_ + k < t_.size() && (t_[p_ + k] == '"' || t_[p_ + k] == '\'');
  }
  bool at_string() const {
    const char c = peek();
    return at_quote() || ((c == 'r' || c == 'R' || c == 'u' || c == 'U') && at_quote(1));
  }

  // After an element: consumes ws and either `close` (returns true) or ',' (returns false; a
  // trailing comma before `close` is accepted and returns true).
  bool close_or_comma(char close) {
    ws();
    if (eof()) throw Bad{};
    if (t_[p_] == close) {
      ++p_;
      return true;
    }
    if (t_[p_] != ',') throw Bad{};
    ++p_;
    ws();
    if (!eof() && t_[p_] == close) {
      ++p_;
      return true;
    }
    return false;
  }

  ParsedCall item() {
    ws();
    if (!eof() && peek() == '{') return json_call(value());
    return call();
  }

  // name(k=v, ...) or name({...})
  ParsedCall call() {
    ws();
    const size_t start = p_;
    if (eof() || !is_ident_start(peek())) throw Bad{};
    while (!eof() && is_name_char(t_[p_])) ++p_;
    ParsedCall c;
    c.name = sanitized(t_.substr(start, p_ - start));
    ws();
    if (eof() || peek() != '(') throw Bad{};
    ++p_;
    ObjectBuilder kw;
    int positional = 0;
    Value pos;
    ws();
    if (!eof() && peek() == ')') {
      ++p_;
    } else {
      for (;;) {
        ws();
        size_t q = p_;
        bool keyword = false;
        if (is_ident_start(peek())) {
          while (q < t_.size() && is_ident_char(t_[q])) ++q;
          size_t r = q;
          while (r < t_.size() && is_ws(t_[r])) ++r;
          keyword = r < t_.size() && t_[r] == '=' && !(r + 1 < t_.size() && t_[r + 1] == '=');
          if (keyword) {
            std::string key = sanitized(t_.substr(p_, q - p_));
            p_ = r + 1;
            if (!kw.put(std::move(key), value())) throw Bad{};  // repeated keyword argument
          }
        }
        if (!keyword) {
          pos = value();
          ++positional;
        }
        if (close_or_comma(')')) break;
      }
    }
    Value args = kw.take();
    if (positional) {
      if (positional != 1 || !args.keys.empty() || pos.type != Value::Object) throw Bad{};
      args = std::move(pos);
    }
    serialize(args, c.arguments);
    return c;
  }

  // {"name": ..., "arguments": ...} (optionally wrapped in {"function": {...}}).
  static ParsedCall json_call(const Value& v) {
    if (v.type != Value::Object) throw Bad{};
    const Value* o = &v;
    if (const Value* f = find_key(v, "function"); f && f->type == Value::Object) o = f;
    const Value* name = find_key(*o, "name");
    if (!name || name->type != Value::String || name->s.empty()) throw Bad{};
    const Value* a = find_key(*o, "arguments");
    if (!a) a = find_key(*o, "parameters");
    ParsedCall c;
    c.name = name->s;
    if (!a || a->type == Value::Null) {
      c.arguments = "{}";
    } else if (a->type == Value::Object) {
      serialize(*a, c.arguments);
    } else if (a->type == Value::String) {
      Value inner = Parser(a->s).whole_value();
      if (inner.type != Value::Object) throw Bad{};
      serialize(inner, c.arguments);
    } else {
      throw Bad{};
    }
    return c;
  }

  Value value() {
    DepthGuard guard(depth_);
    ws();
    if (eof()) throw Bad{};
    const char c = peek();
    if (at_string()) return string_lit();
    if (c == '[') {
      ++p_;
      Value v;
      v.type = Value::Array;
      elements(v, ']');
      return v;
    }
    if (c == '(') return tuple();
    if (c == '{') return dict_or_set();
    if (is_digit(c) || c == '-' || c == '+' || c == '.') return number();
    if (is_ident_start(c)) {
      const size_t start = p_;
      while (!eof() && is_ident_char(t_[p_])) ++p_;
      const std::string_view w = t_.substr(start, p_ - start);
      Value v;
      if (w == "True" || w == "true") {
        v.type = Value::Bool;
        v.s = "true";
      } else if (w == "False" || w == "false") {
        v.type = Value::Bool;
        v.s = "false";
      } else if (w != "None" && w != "null") {
        throw Bad{};  // a bare name is not a literal
      }
      return v;
    }
    throw Bad{};
  }

  // "v1, v2, ...<close>" after the opening bracket, appended to arr.items.
  void elements(Value& arr, char close) {
    ws();
    if (!eof() && peek() == close) {
      ++p_;
      return;
    }
    for (;;) {
      arr.items.push_back(value());
      if (close_or_comma(close)) return;
    }
  }

  // (v) is v; (), (v,), (v1, v2) are arrays.
  Value tuple() {
    ++p_;
    Value arr;
    arr.type = Value::Array;
    ws();
    if (!eof() && peek() == ')') {
      ++p_;
      return arr;
    }
    Value first = value();
    ws();
    if (!eof() && peek() == ')') {
      ++p_;
      return first;
    }
    if (eof() || peek() != ',') throw Bad{};
    ++p_;
    arr.items.push_back(std::move(first));
    elements(arr, ')');
    return arr;
  }

  static std::string key_text(const Value& k) {
    switch (k.type) {
      case Value::String:
      case Value::Number:
      case Value::Bool:
        return k.s;
      case Value::Null:
        return "null";
      default:
        throw Bad{};  // unhashable key
    }
  }

  Value dict_or_set() {
    ++p_;
    ws();
    if (!eof() && peek() == '}') {
      ++p_;
      Value v;
      v.type = Value::Object;
      return v;
    }
    Value first = value();
    ws();
    if (eof()) throw Bad{};
    if (peek() != ':') {  // a set: rendered as an array
      Value arr;
      arr.type = Value::Array;
      arr.items.push_back(std::move(first));
      if (!close_or_comma('}')) elements(arr, '}');
      return arr;
    }
    ObjectBuilder ob;
    std::string key = key_text(first);
    for (;;) {
      ++p_;  // ':'
      ob.put(std::move(key), value());
      if (close_or_comma('}')) break;
      key = key_text(value());
      ws();
      if (eof() || peek() != ':') throw Bad{};
    }
    return ob.take();
  }

  size_t digits(std::string& out) {
    size_t n = 0;
    while (!eof()) {
      const char c = t_[p_];
      if (is_digit(c)) {
        out.push_back(c);
        ++n;
      } else if (c == '_' && n > 0 && is_digit(peek(1))) {  // 1_000
      } else {
        break;
      }
      ++p_;
    }
    return n;
  }

  Value number() {
    bool neg = false;
    if (peek() == '-' || peek() == '+') {
      neg = peek() == '-';
      ++p_;
    }
    std::string ip, fp, ep;
    bool dot = false, exp = false, exp_neg = false;
    digits(ip);
    if (!eof() && peek() == '.') {
      dot = true;
      ++p_;
      digits(fp);
    }
    if (ip.empty() && fp.empty()) throw Bad{};
    if (!eof() && (peek() == 'e' || peek() == 'E')) {
      exp = true;
      ++p_;
      if (peek() == '-' || peek() == '+') {
        exp_neg = peek() == '-';
        ++p_;
      }
      if (digits(ep) == 0) throw Bad{};
    }
    if (!eof() && (is_ident_char(peek()) || peek() == '.')) throw Bad{};  // 0x1F, 1j, 1.2.3
    Value v;
    v.type = Value::Number;
    if (!dot && !exp) {  // int: exact, any size
      const size_t nz = ip.find_first_not_of('0');
      if (nz == std::string::npos) {
        v.s = "0";
      } else {
        if (neg) v.s.push_back('-');
        v.s.append(ip, nz);
      }
      return v;
    }
    const std::string text = (ip.empty() ? "0" : ip) + "." + (fp.empty() ? "0" : fp) + "e" +
                             (exp_neg ? "-" : "") + (ep.empty() ? "0" : ep);
    double d = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      // Decimal order of magnitude decides underflow (-> 0.0, as Python) vs overflow (malformed).
      const std::string mant = ip + fp;
      const size_t lead = mant.find_first_not_of('0');
      long long e = 0;
      for (char c : ep) e = std::min(e * 10 + (c - '0'), 1000000000LL);
      const long long order =
          static_cast<long long>(ip.size()) - static_cast<long long>(lead) + (exp_neg ? -e : e);
      if (lead == std::string::npos || order <= 0) {
        d = 0;
      } else {
        throw Bad{};
      }
    } else if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
      throw Bad{};
    }
    if (!std::isfinite(d)) throw Bad{};
    v.s = format_python_float(neg ? -d : d);
    return v;
  }

  uint32_t hex(int n) {
    uint32_t cp = 0;
    for (int i = 0; i < n; ++i) {
      const int h = eof() ? -1 : hex_val(t_[p_]);
      if (h < 0) throw Bad{};
      cp = cp * 16 + static_cast<uint32_t>(h);
      ++p_;
    }
    return cp;
  }

  // One quoted literal (with optional r/u prefix), escapes decoded into out.
  void string_piece(std::string& out) {
    bool raw = false;
    if (!at_quote()) {
      raw = peek() == 'r' || peek() == 'R';
      ++p_;
    }
    const char q = t_[p_++];
    const bool triple = peek() == q && peek(1) == q;
    if (triple) p_ += 2;
    for (;;) {
      if (eof()) throw Bad{};
      const char c = t_[p_];
      if (c == q && (!triple || (peek(1) == q && peek(2) == q))) {
        p_ += triple ? 3 : 1;
        return;
      }
      if (c != '\\') {
        out.push_back(c);
        ++p_;
        continue;
      }
      if (p_ + 1 >= t_.size()) throw Bad{};
      const char e = t_[p_ + 1];
      p_ += 2;
      if (raw) {
        out.push_back('\\');
        out.push_back(e);
        continue;
      }
      escape(e, out);
    }
  }

  // The escape "\\e" (backslash already consumed, e read) of a non-raw literal, decoded into out.
  void escape(char e, std::string& out) {
    switch (e) {
      case '\n':
        break;  // line continuation
      case '\\':
      case '\'':
      case '"':
      case '/':
        out.push_back(e);
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
        append_utf8(hex(2), out);
        break;
      case 'U': {
        const uint32_t cp = hex(8);
        if (cp > 0x10FFFF) throw Bad{};
        append_utf8(cp, out);
        break;
      }
      case 'u': {
        uint32_t cp = hex(4);
        if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
          const size_t save = p_;
          p_ += 2;
          const uint32_t lo = hex(4);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            p_ = save;  // lone high surrogate; the next escape stands alone
          }
        }
        append_utf8(cp, out);  // lone surrogates become U+FFFD
        break;
      }
      default:
        if (e >= '0' && e <= '7') {  // octal, up to 3 digits
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int i = 0; i < 2 && peek() >= '0' && peek() <= '7'; ++i, ++p_)
            cp = cp * 8 + static_cast<uint32_t>(peek() - '0');
          append_utf8(cp, out);
        } else {  // unknown escape: kept as is (Python)
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }

  // Adjacent literals concatenate ("a" 'b' -> "ab").
  Value string_lit() {
    std::string raw;
    for (;;) {
      string_piece(raw);
      ws();
      if (!at_string()) break;
    }
    Value v;
    v.type = Value::String;
    v.s = sanitized(raw);
    return v;
  }

  std::string_view t_;
  size_t p_ = 0;
  int depth_ = 0;
};

}  // namespace

std::optional<std::vector<ParsedCall>> parse_tool_call_block(std::string_view body) {
  try {
    return Parser(body).block();
  } catch (const Bad&) {
    return std::nullopt;
  }
}

std::string format_python_float(double v) {
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sv(buf, static_cast<size_t>(r.ptr - buf));  // shortest round trip, d.ddde±XX
  std::string out;
  if (sv[0] == '-') {
    out.push_back('-');
    sv.remove_prefix(1);
  }
  const size_t epos = sv.find('e');
  std::string digits;
  for (char c : sv.substr(0, epos))
    if (c != '.') digits.push_back(c);
  int exp = 0;
  for (char c : sv.substr(epos + 2)) exp = exp * 10 + (c - '0');
  if (sv[epos + 1] == '-') exp = -exp;
  if (exp >= -4 && exp < 16) {  // repr() uses fixed notation in this range
    if (exp >= 0) {
      const size_t n_int = static_cast<size_t>(exp) + 1;
      std::string ip = digits.substr(0, std::min(n_int, digits.size()));
      ip.resize(n_int, '0');
      out += ip + "." + (digits.size() > n_int ? digits.substr(n_int) : "0");
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
  } else {
    out.push_back(digits[0]);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exp < 0 ? "e-" : "e+";
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) out.push_back('0');
    out += std::to_string(a);
  }
  return out;
}

// Tool-call arguments are JSON text: ill-formed UTF-8 is replaced (U+FFFD) before escaping.
void append_json_text(std::string_view s, std::string& out) {
  std::string clean;
  if (!utf8_valid(s)) {
    utf8_sanitize(s, true, clean);
    s = clean;
  }
  lfmd::append_json_string(s, out);
}

}  // namespace lfmd::output
