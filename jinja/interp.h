// Tree-walking interpreter (internal). Scoping follows Jinja2: for-loop iterations, macros,
// call/filter/set blocks and `with` get their own scope; `if` does not. Macros see their
// defining scope by reference.
#pragma once

#include <ctime>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace lfmd::jinja::detail {

struct Frame {
  std::shared_ptr<Frame> parent;
  std::vector<std::pair<std::string, Value>> vars;
  const Value* lookup(std::string_view name) const;
  void set(std::string_view name, Value v);
};
using FrameP = std::shared_ptr<Frame>;

// Call arguments, bound Python-style by position or keyword.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  const Value* get(std::size_t idx, std::string_view name) const;
  Value get_or(std::size_t idx, std::string_view name, Value def) const;
  // Raises TypeError-like errors for extra positional or unknown keyword arguments.
  void check(std::string_view fn, std::size_t max_pos,
             std::initializer_list<std::string_view> names) const;
};

class Interp {
 public:
  Interp(const SourceMap& src, const RenderOptions& opts, Budget& budget);
  ~Interp();
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  std::string run(const Body& body, const nlohmann::ordered_json& context);

  Value call(const Value& f, Args& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);

  // filters.cpp
  Value filter(const std::string& name, const Value& v, Args& args);
  bool test(const std::string& name, const Value& v, Args& args);
  bool has_filter(const std::string& name) const;
  bool has_test(const std::string& name) const;

  // methods.cpp
  // 1 = safe method, -1 = exists but unsafe (mutating), 0 = no such method.
  static int method_kind(const Value& self, const std::string& name);
  Value call_method(const Value& self, const std::string& name, Args& args);
  Value call_global(Callable& f, Args& args);
  static bool is_global(std::string_view name);
  void track(const NsP& ns);                 // for cycle breaking
  std::tm now(long* micro = nullptr) const;  // local time (or RenderOptions::now)

 private:
  enum class Flow { Normal, Break, Continue };

  Value eval(const Expr& e, const FrameP& f);
  Value eval_inner(const Expr& e, const FrameP& f);
  Value eval_call(const Expr& e, const FrameP& f);
  void eval_args(const Expr& e, const FrameP& f, Args& args);
  Value eval_filter(const Expr& e, const FrameP& f);
  Value slice(const Value& obj, const Expr& sl, const FrameP& f);
  Flow exec(const Body& body, const FrameP& f);
  Flow exec_stmt(const Stmt& s, const FrameP& f);
  void exec_for(const Stmt& s, const FrameP& f, const Value& iterable, int depth0);
  Value call_macro(Callable& m, Args& args);
  Value loop_attr(LoopObj& loop, const std::string& name);
  void assign(const FrameP& f, const Target& t, const Value& v);
  void set_var(const FrameP& f, const std::string& name, Value v);
  void emit(std::string_view s);
  std::string capture(const Body& body, const FrameP& f);
  FrameP child(const FrameP& f);

  const SourceMap& src_;
  const RenderOptions& opts_;
  Budget& budget_;
  std::string* out_ = nullptr;
  int capture_depth_ = 0;
  int call_depth_ = 0;
  const Value* block_input_ = nullptr;        // input of a filter block / set block filter
  std::vector<std::weak_ptr<Frame>> frames_;  // frames holding containers (cycle breaking)
  std::vector<std::weak_ptr<NsObj>> namespaces_;
  std::size_t frames_compact_at_ = 1024, namespaces_compact_at_ = 1024;

  friend struct Methods;
};

Value binop(Op op, const Value& a, const Value& b);
bool compare(Op op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
[[noreturn]] void fail_undefined(const Value& v);
std::string percent_format(const std::string& fmt, const Value& args);   // str % args
std::string str_format(Interp& in, const std::string& fmt, Args& args);  // str.format

}  // namespace lfmd::jinja::detail
