#include "jinja/interp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "jinja/lexer.h"
#include "jinja/unicode.h"

namespace lfmd::jinja::detail {

// ---- Frame / Args ----

const Value* Frame::lookup(std::string_view name) const {
  for (const Frame* f = this; f; f = f->parent.get())
    for (const auto& [k, v] : f->vars)
      if (k == name) return &v;
  return nullptr;
}

void Frame::set(std::string_view name, Value v) {
  for (auto& [k, old] : vars)
    if (k == name) {
      old = std::move(v);
      return;
    }
  vars.emplace_back(std::string(name), std::move(v));
}

const Value* Args::get(std::size_t idx, std::string_view name) const {
  if (idx < pos.size()) return &pos[idx];
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

Value Args::get_or(std::size_t idx, std::string_view name, Value def) const {
  const Value* v = get(idx, name);
  return v ? *v : std::move(def);
}

void Args::check(std::string_view fn, std::size_t max_pos,
                 std::initializer_list<std::string_view> names) const {
  if (pos.size() > max_pos)
    fail(std::string(fn) + "() takes at most " + std::to_string(max_pos) +
         " positional argument(s) (" + std::to_string(pos.size()) + " given)");
  for (const auto& [k, v] : kw) {
    auto it = std::find(names.begin(), names.end(), k);
    if (it == names.end())
      fail(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
    if (static_cast<std::size_t>(it - names.begin()) < pos.size())
      fail(std::string(fn) + "() got multiple values for argument '" + k + "'");
  }
}

// ---- helpers ----

void fail_undefined(const Value& v) {
  const std::string* m = v.undef_msg();
  fail(m ? *m : "undefined value");
}

namespace {

struct BudgetScope {
  Budget* saved;
  explicit BudgetScope(Budget* b) : saved(swap_budget(b)) {}
  ~BudgetScope() { swap_budget(saved); }
};

bool is_seq(const Value& v) {
  return v.is_list() && (v.l().kind == LK::List || v.l().kind == LK::Tuple);
}

}  // namespace

// ---- Interp ----

Interp::Interp(const SourceMap& src, const RenderOptions& opts, Budget& budget)
    : src_(src), opts_(opts), budget_(budget) {}

Interp::~Interp() {
  // Break reference cycles (frame -> macro -> frame, namespace -> ... -> namespace).
  std::vector<Value> graveyard;
  for (auto& w : namespaces_)
    if (auto ns = w.lock()) {
      for (auto& kv : ns->attrs) graveyard.push_back(std::move(kv.second));
      ns->attrs.clear();
    }
  for (auto& w : frames_)
    if (auto fr = w.lock()) {
      for (auto& kv : fr->vars) graveyard.push_back(std::move(kv.second));
      fr->vars.clear();
    }
  while (!graveyard.empty()) graveyard.pop_back();
}

std::tm Interp::now(long* micro) const {
  if (micro) *micro = 0;
  if (opts_.now) return opts_.now();
  auto since = std::chrono::system_clock::now().time_since_epoch();
  std::time_t t =
      static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(since).count());
  if (micro)
    *micro = static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(since).count() % 1000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

FrameP Interp::child(const FrameP& f) {
  auto c = std::make_shared<Frame>();
  c->parent = f;
  return c;
}

namespace {
// Appends a weak reference, dropping expired ones whenever the list doubles.
template <class T>
void track_weak(std::vector<std::weak_ptr<T>>& v, const std::shared_ptr<T>& p,
                std::size_t& compact_at) {
  v.push_back(p);
  if (v.size() >= compact_at) {
    v.erase(std::remove_if(v.begin(), v.end(), [](auto& w) { return w.expired(); }), v.end());
    compact_at = std::max<std::size_t>(1024, v.size() * 2);
  }
}
}  // namespace

void Interp::track(const NsP& ns) {
  track_weak(namespaces_, ns, namespaces_compact_at_);
}

void Interp::set_var(const FrameP& f, const std::string& name, Value v) {
  T t = v.type();
  if (t == T::List || t == T::Dict || t == T::Ns || t == T::Func || t == T::Loop)
    track_weak(frames_, f, frames_compact_at_);
  f->set(name, std::move(v));
}

void Interp::emit(std::string_view s) {
  if (out_->size() + s.size() > budget_.lim.max_output_bytes)
    fail_limit("output limit exceeded (" + std::to_string(budget_.lim.max_output_bytes) +
               " bytes)");
  if (capture_depth_ > 0) budget_.alloc(s.size());
  out_->append(s);
}

std::string Interp::capture(const Body& body, const FrameP& f) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  ++capture_depth_;
  struct Restore {
    Interp& in;
    std::string* saved;
    std::string& buf;
    ~Restore() {
      in.out_ = saved;
      --in.capture_depth_;
      in.budget_.release(buf.size());
    }
  } restore{*this, saved, buf};
  exec(body, f);
  return buf;
}

std::string Interp::run(const Body& body, const nlohmann::ordered_json& context) {
  auto root = std::make_shared<Frame>();
  if (context.is_object()) {
    for (auto it = context.begin(); it != context.end(); ++it) root->set(it.key(), from_json(*it));
  } else if (!context.is_null()) {
    fail("render context must be a JSON object");
  }
  frames_.push_back(root);
  BudgetScope scope(&budget_);
  std::string out;
  out_ = &out;
  exec(body, root);
  out_ = nullptr;
  return out;
}

Value Interp::eval(const Expr& e, const FrameP& f) {
  try {
    return eval_inner(e, f);
  } catch (const Error& err) {
    if (err.line() != 0) throw;
    int line, col;
    src_.locate(e.pos, line, col);
    throw err.at(line, col);
  }
}

void Interp::eval_args(const Expr& e, const FrameP& f, Args& args) {
  for (const auto& x : e.items) args.pos.push_back(eval(*x, f));
  for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x, f));
  if (e.dyn_args) {
    Value v = eval(*e.dyn_args, f);
    for (auto& x : iterate(v)) args.pos.push_back(std::move(x));
  }
  if (e.dyn_kwargs) {
    Value v = eval(*e.dyn_kwargs, f);
    if (!v.is_dict()) fail("argument after ** must be a mapping, not " + type_name(v));
    for (const auto& [k, x] : v.d().v) {
      if (!k.is_str()) fail("keywords must be strings");
      args.kw.emplace_back(k.s(), x);
    }
  }
}

Value Interp::eval_call(const Expr& e, const FrameP& f) {
  Args args;
  if (e.a->k == EK::Attr) {
    Value obj = eval(*e.a->a, f);
    if (!obj.is_undef() && method_kind(obj, e.a->name) == 1 &&
        !(e.a->name.size() > 1 && e.a->name[0] == '_' && e.a->name[1] == '_')) {
      eval_args(e, f, args);
      return call_method(obj, e.a->name, args);
    }
    Value callee = getattr(obj, e.a->name);
    eval_args(e, f, args);
    return call(callee, args);
  }
  Value callee = eval(*e.a, f);
  eval_args(e, f, args);
  return call(callee, args);
}

Value Interp::eval_filter(const Expr& e, const FrameP& f) {
  Value in = e.a ? eval(*e.a, f) : (block_input_ ? *block_input_ : Value());
  Args args;
  eval_args(e, f, args);
  return filter(e.name, in, args);
}

Value Interp::eval_inner(const Expr& e, const FrameP& f) {
  switch (e.k) {
    case EK::Const:
      return e.cst;
    case EK::Name: {
      if (const Value* v = f->lookup(e.name)) return *v;
      if (is_global(e.name)) {
        auto fn = std::make_shared<Callable>();
        fn->kind = Callable::K::Global;
        fn->name = e.name;
        return Value(FuncP(std::move(fn)));
      }
      return Value::undef("'" + e.name + "' is undefined");
    }
    case EK::List:
    case EK::Tuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& x : e.items) items.push_back(eval(*x, f));
      return Value::list(std::move(items), e.k == EK::List ? LK::List : LK::Tuple);
    }
    case EK::Dict: {
      std::vector<std::pair<Value, Value>> items;
      for (std::size_t k = 0; k + 1 < e.items.size(); k += 2) {
        Value key = eval(*e.items[k], f);
        items.emplace_back(std::move(key), eval(*e.items[k + 1], f));
      }
      return make_dict(std::move(items));
    }
    case EK::Attr:
      return getattr(eval(*e.a, f), e.name);
    case EK::Item:
      if (e.b->k == EK::Slice) return slice(eval(*e.a, f), *e.b, f);
      return getitem(eval(*e.a, f), eval(*e.b, f));
    case EK::Slice:
      fail("slice objects are not supported here");
    case EK::Call:
      return eval_call(e, f);
    case EK::Filter:
      return eval_filter(e, f);
    case EK::Test: {
      Value v = eval(*e.a, f);
      Args args;
      eval_args(e, f, args);
      return Value(test(e.name, v, args));
    }
    case EK::Neg:
    case EK::Pos: {
      Value v = eval(*e.a, f);
      if (v.is_undef()) fail_undefined(v);
      bool neg = e.k == EK::Neg;
      if (v.is_float()) return Value(neg ? -v.f() : v.f());
      if (v.is_int() || v.is_bool()) {
        std::int64_t i = v.as_int();
        if (neg && i == INT64_MIN) fail("integer overflow (integers are limited to 64 bits)");
        return Value(neg ? -i : i);
      }
      fail(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + type_name(v) +
           "'");
    }
    case EK::Not:
      return Value(!truthy(eval(*e.a, f)));
    case EK::And: {
      Value l = eval(*e.a, f);
      return truthy(l) ? eval(*e.b, f) : l;
    }
    case EK::Or: {
      Value l = eval(*e.a, f);
      return truthy(l) ? l : eval(*e.b, f);
    }
    case EK::Bin: {
      Value l = eval(*e.a, f);
      return binop(e.op, l, eval(*e.b, f));
    }
    case EK::Cmp: {
      Value l = eval(*e.items[0], f);
      for (std::size_t k = 0; k < e.ops.size(); ++k) {
        Value r = eval(*e.items[k + 1], f);
        if (!compare(e.ops[k], l, r)) return Value(false);
        l = std::move(r);
      }
      return Value(true);
    }
    case EK::Concat: {
      std::string r;
      for (const auto& x : e.items) {
        r += to_str(eval(*x, f));
        check_size(r.size());
      }
      return Value(std::move(r));
    }
    case EK::Cond:
      if (truthy(eval(*e.a, f))) return eval(*e.b, f);
      if (e.c) return eval(*e.c, f);
      {
        int line, col;
        src_.locate(e.pos, line, col);
        return Value::undef("the inline if-expression on line " + std::to_string(line) +
                            " evaluated to false and no else section was defined.");
      }
  }
  fail("bad expression");
}

namespace {
std::optional<std::int64_t> slice_index(const Value& v, bool& bad) {
  if (v.is_none()) return std::nullopt;
  if (v.is_int() || v.is_bool()) return v.as_int();
  bad = true;
  return std::nullopt;
}
}  // namespace

Value Interp::slice(const Value& obj, const Expr& sl, const FrameP& f) {
  Value a = sl.a ? eval(*sl.a, f) : Value::none();
  Value b = sl.b ? eval(*sl.b, f) : Value::none();
  Value c = sl.c ? eval(*sl.c, f) : Value::none();
  if (obj.is_undef()) fail_undefined(obj);
  bool bad = false;
  auto start = slice_index(a, bad), stop = slice_index(b, bad), step_o = slice_index(c, bad);
  bool sliceable = obj.is_str() || (obj.is_list() && (is_seq(obj) || obj.l().kind == LK::Range));
  if (bad || !sliceable)
    return Value::undef(object_repr(obj) + " has no element slice(" + repr(a) + ", " + repr(b) +
                        ", " + repr(c) + ")");
  std::int64_t step = step_o.value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  std::u32string u;
  bool ascii = obj.is_str() && obj.so().ascii;
  if (obj.is_str() && !ascii) u = uni::to_u32(obj.s());
  std::int64_t n = obj.is_str() ? static_cast<std::int64_t>(ascii ? obj.s().size() : u.size())
                                : static_cast<std::int64_t>(obj.l().v.size());
  auto adjust = [&](std::optional<std::int64_t> x, std::int64_t def) {
    if (!x) return def;
    std::int64_t v = *x;
    if (v < 0) {
      v += n;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= n) {
      v = step < 0 ? n - 1 : n;
    }
    return v;
  };
  std::int64_t lo = adjust(start, step < 0 ? n - 1 : 0);
  std::int64_t hi = adjust(stop, step < 0 ? -1 : n);
  charge_iter(static_cast<std::uint64_t>(std::max<std::int64_t>(0, (hi - lo) / step)) / 16);
  if (obj.is_str()) {
    std::string r;
    if (ascii) {
      if (step == 1) return Value(lo < hi ? obj.s().substr(lo, hi - lo) : std::string());
      for (std::int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) r += obj.s()[k];
    } else {
      for (std::int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) uni::encode(u[k], r);
    }
    return Value(std::move(r));
  }
  std::vector<Value> r;
  for (std::int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) r.push_back(obj.l().v[k]);
  return Value::list(std::move(r), obj.l().kind == LK::Tuple ? LK::Tuple : LK::List);
}

Value Interp::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undef()) fail_undefined(obj);
  if (name.size() > 1 && name[0] == '_' && name[1] == '_')
    return Value::undef("access to attribute '" + name + "' of '" + type_name(obj) +
                        "' object is unsafe.");
  int mk = method_kind(obj, name);
  if (mk == -1)
    return Value::undef("access to attribute '" + name + "' of '" + type_name(obj) +
                        "' object is unsafe.");
  if (mk == 1) {
    auto fn = std::make_shared<Callable>();
    fn->kind = Callable::K::Method;
    fn->name = name;
    fn->self = obj;
    return Value(FuncP(std::move(fn)));
  }
  switch (obj.type()) {
    case T::Dict:
      if (const Value* v = obj.d().find(std::string_view(name))) return *v;
      break;
    case T::Ns:
      if (const Value* v = obj.ns().find(name)) return *v;
      break;
    case T::Loop:
      return loop_attr(obj.loop(), name);
    case T::Func:
      if (obj.fn().kind == Callable::K::Macro && name == "name") return Value(obj.fn().name);
      break;
    default:
      break;
  }
  return Value::undef(repr(Value(object_repr(obj))) + " has no attribute " + repr(Value(name)));
}

Value Interp::getitem(const Value& obj, const Value& key) {
  if (obj.is_undef()) fail_undefined(obj);
  bool int_key = key.is_int() || key.is_bool();
  switch (obj.type()) {
    case T::Dict: {
      bool hashable = true;
      try {
        py_hash(key);
      } catch (const Error&) {
        hashable = false;
      }
      if (hashable)
        if (const Value* v = obj.d().find(key)) return *v;
      break;
    }
    case T::List:
      if (int_key && (is_seq(obj) || obj.l().kind == LK::Range)) {
        std::int64_t i = key.as_int(), n = static_cast<std::int64_t>(obj.l().v.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return obj.l().v[i];
      }
      break;
    case T::Str:
      if (int_key) {
        std::int64_t i = key.as_int(), n = static_cast<std::int64_t>(obj.so().ncp);
        if (i < 0) i += n;
        if (i >= 0 && i < n) {
          if (obj.so().ascii) return Value(std::string(1, obj.s()[i]));
          std::u32string u = uni::to_u32(obj.s());
          std::string r;
          uni::encode(u[i], r);
          return Value(std::move(r));
        }
      }
      break;
    default:
      break;
  }
  if (key.is_str()) {
    if (obj.is_dict() && method_kind(obj, key.s()) == 0)
      return Value::undef(repr(Value(object_repr(obj))) + " has no attribute " + repr(key));
    return getattr(obj, key.s());
  }
  return Value::undef(object_repr(obj) + " has no element " + repr(key));
}

Value Interp::loop_attr(LoopObj& lp, const std::string& name) {
  auto n = static_cast<std::int64_t>(lp.items->v.size());
  auto i = static_cast<std::int64_t>(lp.index0);
  if (name == "index") return Value(i + 1);
  if (name == "index0") return Value(i);
  if (name == "revindex") return Value(n - i);
  if (name == "revindex0") return Value(n - i - 1);
  if (name == "first") return Value(i == 0);
  if (name == "last") return Value(i == n - 1);
  if (name == "length") return Value(n);
  if (name == "depth") return Value(static_cast<std::int64_t>(lp.depth0) + 1);
  if (name == "depth0") return Value(static_cast<std::int64_t>(lp.depth0));
  if (name == "previtem")
    return i > 0 ? lp.items->v[i - 1] : Value::undef("there is no previous item");
  if (name == "nextitem")
    return i + 1 < n ? lp.items->v[i + 1] : Value::undef("there is no next item");
  return Value::undef("'jinja2.runtime.LoopContext object' has no attribute " + repr(Value(name)));
}

Value Interp::call(const Value& f, Args& args) {
  switch (f.type()) {
    case T::Undef:
      fail_undefined(f);
    case T::Func: {
      Callable& fn = f.fn();
      switch (fn.kind) {
        case Callable::K::Macro:
          return call_macro(fn, args);
        case Callable::K::Method:
          return call_method(fn.self, fn.name, args);
        default:
          return call_global(fn, args);
      }
    }
    case T::Loop: {
      LoopObj& lp = f.loop();
      if (!lp.node || !lp.node->recursive)
        fail("The loop must have the 'recursive' marker to be called recursively.");
      if (args.pos.size() != 1 || !args.kw.empty()) fail("loop() takes exactly one argument");
      if (++call_depth_ > budget_.lim.max_recursion) {
        --call_depth_;
        fail_limit("maximum recursion depth exceeded");
      }
      std::string buf;
      std::string* saved = out_;
      out_ = &buf;
      ++capture_depth_;
      try {
        exec_for(*lp.node, lp.frame, args.pos[0], lp.depth0 + 1);
      } catch (...) {
        out_ = saved;
        --capture_depth_;
        --call_depth_;
        budget_.release(buf.size());
        throw;
      }
      out_ = saved;
      --capture_depth_;
      --call_depth_;
      budget_.release(buf.size());
      return Value(std::move(buf));
    }
    default:
      fail("'" + type_name(f) + "' object is not callable");
  }
}

Value Interp::call_macro(Callable& m, Args& args) {
  const Stmt& s = *m.node;
  if (call_depth_ + 1 > budget_.lim.max_recursion) fail_limit("maximum recursion depth exceeded");
  budget_.iterate();
  const std::string& name = m.name;
  std::size_t np = s.params.size();
  if (args.pos.size() > np && !s.uses_varargs)
    fail("macro '" + name + "' takes not more than " + std::to_string(np) + " argument(s)");
  FrameP frame = child(m.closure);
  std::vector<bool> used(args.kw.size(), false);
  std::size_t first_default = np - s.defaults.size();
  for (std::size_t k = 0; k < np; ++k) {
    const std::string& p = s.params[k];
    std::optional<Value> v;
    if (k < args.pos.size()) v = args.pos[k];
    for (std::size_t j = 0; j < args.kw.size(); ++j)
      if (args.kw[j].first == p) {
        if (v) fail("macro '" + name + "' got multiple values for argument '" + p + "'");
        v = args.kw[j].second;
        used[j] = true;
      }
    if (!v) {
      v = k >= first_default ? eval(*s.defaults[k - first_default], frame)
                             : Value::undef("parameter '" + p + "' was not provided");
    }
    set_var(frame, p, std::move(*v));
  }
  std::optional<Value> caller;
  std::vector<std::pair<Value, Value>> extra_kw;
  for (std::size_t j = 0; j < args.kw.size(); ++j) {
    if (used[j]) continue;
    if (args.kw[j].first == "caller" && s.uses_caller) {
      caller = args.kw[j].second;
    } else if (s.uses_kwargs) {
      extra_kw.emplace_back(Value(args.kw[j].first), args.kw[j].second);
    } else {
      fail("macro '" + name + "' takes no keyword argument '" + args.kw[j].first + "'");
    }
  }
  if (s.uses_varargs) {
    std::vector<Value> rest;
    for (std::size_t k = np; k < args.pos.size(); ++k) rest.push_back(args.pos[k]);
    set_var(frame, "varargs", Value::list(std::move(rest), LK::Tuple));
  }
  if (s.uses_kwargs) set_var(frame, "kwargs", make_dict(std::move(extra_kw)));
  if (s.uses_caller) set_var(frame, "caller", caller ? *caller : Value::undef("No caller defined"));
  ++call_depth_;
  struct Depth {
    int& d;
    ~Depth() { --d; }
  } depth{call_depth_};
  return Value(capture(s.body, frame));
}

void Interp::assign(const FrameP& f, const Target& t, const Value& v) {
  switch (t.k) {
    case Target::K::Name:
      set_var(f, t.name, v);
      return;
    case Target::K::NsAttr: {
      const Value* ns = f->lookup(t.name);
      if (!ns || !ns->is_ns()) fail("cannot assign attribute on non-namespace object");
      ns->ns().set(t.attr, v);
      return;
    }
    case Target::K::Tuple: {
      std::vector<Value> items = iterate(v);
      if (items.size() < t.items.size())
        fail("not enough values to unpack (expected " + std::to_string(t.items.size()) + ", got " +
             std::to_string(items.size()) + ")");
      if (items.size() > t.items.size())
        fail("too many values to unpack (expected " + std::to_string(t.items.size()) + ")");
      for (std::size_t k = 0; k < items.size(); ++k) assign(f, t.items[k], items[k]);
      return;
    }
  }
}

void Interp::exec_for(const Stmt& s, const FrameP& f, const Value& iterable, int depth0) {
  std::vector<Value> items = iterate(iterable);
  if (s.cond) {
    std::vector<Value> kept;
    for (auto& it : items) {
      budget_.iterate();
      FrameP tf = child(f);
      assign(tf, s.target, it);
      if (truthy(eval(*s.cond, tf))) kept.push_back(std::move(it));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec(s.else_body, child(f));
    return;
  }
  auto loop = std::make_shared<LoopObj>();
  loop->items = Value::list(std::move(items)).listp();
  loop->depth0 = depth0;
  if (s.recursive) {
    loop->node = &s;
    loop->frame = f;
  }
  Value loop_value{LoopP(loop)};
  const auto& list = loop->items->v;
  for (std::size_t k = 0; k < list.size(); ++k) {
    budget_.iterate();
    loop->index0 = k;
    FrameP it = child(f);
    assign(it, s.target, list[k]);
    it->set("loop", loop_value);
    Flow fl = exec(s.body, it);
    if (fl == Flow::Break) break;
  }
}

Interp::Flow Interp::exec(const Body& body, const FrameP& f) {
  for (const auto& s : body) {
    Flow fl = exec_stmt(*s, f);
    if (fl != Flow::Normal) return fl;
  }
  return Flow::Normal;
}

Interp::Flow Interp::exec_stmt(const Stmt& s, const FrameP& f) {
  try {
    switch (s.k) {
      case SK::Data:
        emit(s.text);
        break;
      case SK::Print:
        for (const auto& v : s.values) emit(to_str(eval(*v, f)));
        break;
      case SK::If:
        for (const auto& [test, body] : s.branches)
          if (truthy(eval(*test, f))) return exec(body, f);
        return exec(s.else_body, f);
      case SK::For:
        exec_for(s, f, eval(*s.expr, f), 0);
        break;
      case SK::Set:
        assign(f, s.target, eval(*s.expr, f));
        break;
      case SK::SetBlock: {
        Value v(capture(s.body, child(f)));
        if (s.expr) {
          const Value* saved = block_input_;
          block_input_ = &v;
          Value r = eval(*s.expr, f);
          block_input_ = saved;
          v = std::move(r);
        }
        assign(f, s.target, v);
        break;
      }
      case SK::Macro: {
        auto fn = std::make_shared<Callable>();
        fn->kind = Callable::K::Macro;
        fn->name = s.text;
        fn->node = &s;
        fn->closure = f;
        set_var(f, s.text, Value(FuncP(std::move(fn))));
        break;
      }
      case SK::CallBlock: {
        auto caller = std::make_shared<Callable>();
        caller->kind = Callable::K::Macro;
        caller->name = "caller";
        caller->node = &s;
        caller->closure = f;
        const Expr& call = *s.expr;
        Value callee = eval(*call.a, f);
        Args args;
        eval_args(call, f, args);
        args.kw.emplace_back("caller", Value(FuncP(std::move(caller))));
        emit(to_str(this->call(callee, args)));
        break;
      }
      case SK::FilterBlock: {
        Value v(capture(s.body, child(f)));
        const Value* saved = block_input_;
        block_input_ = &v;
        Value r = eval(*s.expr, f);
        block_input_ = saved;
        emit(to_str(r));
        break;
      }
      case SK::With: {
        std::vector<Value> vals;
        for (const auto& v : s.values) vals.push_back(eval(*v, f));
        FrameP w = child(f);
        for (std::size_t k = 0; k < vals.size(); ++k) assign(w, s.targets[k], vals[k]);
        return exec(s.body, w);
      }
      case SK::Break:
        return Flow::Break;
      case SK::Continue:
        return Flow::Continue;
      case SK::Scope:
        exec(s.body, child(f));
        break;
    }
  } catch (const Error& err) {
    if (err.line() != 0) throw;
    int line, col;
    src_.locate(s.pos, line, col);
    throw err.at(line, col);
  }
  return Flow::Normal;
}

}  // namespace lfmd::jinja::detail
