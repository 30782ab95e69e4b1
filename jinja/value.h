// Runtime values with Python semantics (internal).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "jinja/jinja.h"

namespace lfmd::jinja::detail {

// Per-render accounting of work and memory (see Limits).
struct Budget {
  Limits lim;
  std::uint64_t iterations = 0, live = 0, work = 0;
  void iterate(std::uint64_t n = 1);
  void alloc(std::uint64_t bytes);
  void release(std::uint64_t bytes) noexcept { live -= bytes < live ? bytes : live; }
  void scan(std::uint64_t bytes);
};
// The budget of the render running on this thread (null outside a render). Accessed through
// functions: an extern thread_local trips UBSan's null check in optimized GCC builds.
Budget* current_budget();
Budget* swap_budget(Budget* b);  // returns the previous one
inline void charge_iter(std::uint64_t n = 1) {
  if (Budget* b = current_budget()) b->iterate(n);
}
inline void charge_scan(std::uint64_t n) {
  if (Budget* b = current_budget()) b->scan(n);
}
void check_size(std::uint64_t bytes);  // one string/list may not exceed max_output_bytes

[[noreturn]] void fail(std::string msg);        // Error::Kind::Runtime
[[noreturn]] void fail_limit(std::string msg);  // Error::Kind::Limit

constexpr int kMaxDepth = 500;  // nesting of lists/dicts/namespaces

class Value;
struct Stmt;
struct Frame;

struct StrObj {
  std::string s;
  std::size_t ncp = 0;  // code points
  bool ascii = true;
  bool markup = false;  // markupsafe.Markup (from escape/safe): `+` escapes plain operands
  Budget* budget = nullptr;
  explicit StrObj(std::string v);
  ~StrObj();
};

// Python sequence flavours sharing one representation.
enum class LK : std::uint8_t { List, Tuple, Iter, Items, Keys, Values, Range };

struct ListObj {
  std::vector<Value> v;
  LK kind = LK::List;
  int depth = 1;
  mutable std::size_t pos = 0;  // consumed items of an Iter (generators are single-use)
  std::int64_t range[3] = {0, 0, 1};
  Budget* budget = nullptr;
  ~ListObj();
};

struct DictObj {
  std::vector<std::pair<Value, Value>> v;
  std::unordered_map<std::string_view, std::size_t> index;  // str keys, for big dicts
  int depth = 1;
  Budget* budget = nullptr;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void put(Value key, Value value);  // insert or overwrite (used while building)
  ~DictObj();
};

struct NsObj;
struct Callable;
struct LoopObj;

struct Undef {
  std::shared_ptr<const std::string> msg;  // error message when used; null = "undefined"
};
struct NoneT {};

using StrP = std::shared_ptr<const StrObj>;
using ListP = std::shared_ptr<const ListObj>;
using DictP = std::shared_ptr<const DictObj>;
using NsP = std::shared_ptr<NsObj>;
using FuncP = std::shared_ptr<Callable>;
using LoopP = std::shared_ptr<LoopObj>;

enum class T : std::uint8_t { Undef, None, Bool, Int, Float, Str, List, Dict, Ns, Func, Loop };

class Value {
 public:
  Value() = default;
  Value(NoneT n) : v_(n) {}
  Value(bool b) : v_(b) {}
  Value(std::int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(double f) : v_(f) {}
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  Value(StrP s) : v_(std::move(s)) {}
  Value(ListP l) : v_(std::move(l)) {}
  Value(DictP d) : v_(std::move(d)) {}
  Value(NsP n) : v_(std::move(n)) {}
  Value(FuncP f) : v_(std::move(f)) {}
  Value(LoopP l) : v_(std::move(l)) {}
  static Value undef(std::string msg);
  static Value markup(std::string s);
  static Value none() { return Value(NoneT{}); }
  static Value list(std::vector<Value> items, LK kind = LK::List);
  static Value iter(std::vector<Value> items) { return list(std::move(items), LK::Iter); }

  T type() const { return static_cast<T>(v_.index()); }
  bool is_undef() const { return type() == T::Undef; }
  bool is_none() const { return type() == T::None; }
  bool is_bool() const { return type() == T::Bool; }
  bool is_int() const { return type() == T::Int; }  // not bool
  bool is_float() const { return type() == T::Float; }
  bool is_num() const { return is_int() || is_float() || is_bool(); }
  bool is_str() const { return type() == T::Str; }
  bool is_markup() const { return is_str() && so().markup; }
  bool is_list() const { return type() == T::List; }
  bool is_dict() const { return type() == T::Dict; }
  bool is_ns() const { return type() == T::Ns; }
  bool is_func() const { return type() == T::Func; }
  bool is_loop() const { return type() == T::Loop; }

  bool b() const { return std::get<bool>(v_); }
  std::int64_t i() const { return std::get<std::int64_t>(v_); }
  double f() const { return std::get<double>(v_); }
  const std::string& s() const { return std::get<StrP>(v_)->s; }
  const StrObj& so() const { return *std::get<StrP>(v_); }
  const StrP& strp() const { return std::get<StrP>(v_); }
  const ListObj& l() const { return *std::get<ListP>(v_); }
  const ListP& listp() const { return std::get<ListP>(v_); }
  const DictObj& d() const { return *std::get<DictP>(v_); }
  const DictP& dictp() const { return std::get<DictP>(v_); }
  NsObj& ns() const { return *std::get<NsP>(v_); }
  const NsP& nsp() const { return std::get<NsP>(v_); }
  Callable& fn() const { return *std::get<FuncP>(v_); }
  const FuncP& fnp() const { return std::get<FuncP>(v_); }
  LoopObj& loop() const { return *std::get<LoopP>(v_); }
  const std::string* undef_msg() const { return std::get<Undef>(v_).msg.get(); }

  bool is_list_kind(LK k) const { return is_list() && l().kind == k; }
  // Integer value of an int or bool.
  std::int64_t as_int() const { return is_bool() ? (b() ? 1 : 0) : i(); }
  double as_float() const { return is_float() ? f() : static_cast<double>(as_int()); }
  int depth() const;  // nesting depth of containers (0 for scalars)

 private:
  std::variant<Undef, NoneT, bool, std::int64_t, double, StrP, ListP, DictP, NsP, FuncP, LoopP> v_;
};

struct NsObj {
  std::vector<std::pair<std::string, Value>> attrs;
  int depth = 1;
  Value* find(std::string_view name);
  void set(const std::string& name, Value v);
};

// A function value: macro, bound method, builtin global or stateful helper.
struct Callable {
  enum class K : std::uint8_t { Macro, Method, Global, Joiner, Cycler, LoopCall };
  K kind = K::Global;
  std::string name;                // macro/method/global name
  Value self;                      // Method: bound object; Joiner: separator
  const Stmt* node = nullptr;      // Macro: definition (or call block for caller)
  std::shared_ptr<Frame> closure;  // Macro: defining scope
  std::vector<Value> items;        // Cycler items
  std::size_t state = 0;           // Joiner/Cycler position
  LoopP loop;                      // LoopCall: the recursive loop
};

struct LoopObj {
  ListP items;
  std::size_t index0 = 0;
  int depth0 = 0;
  bool has_changed = false;
  Value last_changed;
  const Stmt* node = nullptr;    // recursive loops: the for statement
  std::shared_ptr<Frame> frame;  // and the scope it runs in
};

// Builds a dict value; keys keep first-insertion order, later values win.
Value make_dict(std::vector<std::pair<Value, Value>> items);

// Python semantics.
bool truthy(const Value& v);
std::string type_name(const Value& v);        // 'str', 'int', 'NoneType', ...
std::string object_repr(const Value& v);      // "dict object" (Jinja's object_type_repr)
std::string to_str(const Value& v);           // str(v)
void repr(const Value& v, std::string& out);  // repr(v)
std::string repr(const Value& v);
std::string float_repr(double d);
std::string pformat(const Value& v);          // pprint.pformat
std::string html_escape(std::string_view s);  // markupsafe.escape
bool py_eq(const Value& a, const Value& b);
int py_cmp(const Value& a, const Value& b, const char* op = "<");  // throws when unorderable
std::size_t py_hash(const Value& v);                               // throws when unhashable
struct PyHash {
  std::size_t operator()(const Value& v) const { return py_hash(v); }
};
struct PyEq {
  bool operator()(const Value& a, const Value& b) const { return py_eq(a, b); }
};

// Items of an iterable (str -> chars, dict -> keys, Iter consumed). Throws if not iterable.
std::vector<Value> iterate(const Value& v);
bool is_iterable(const Value& v);
std::int64_t py_len(const Value& v);  // throws when v has no len()

// JSON.
Value from_json(const nlohmann::ordered_json& j, int depth = 0);
struct JsonOpts {
  bool indent_set = false;
  std::string indent;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonOpts& opts);

}  // namespace lfmd::jinja::detail
