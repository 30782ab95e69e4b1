#include "jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "jinja/lexer.h"

namespace lfmd::jinja::detail {
namespace {

constexpr int kMaxParseDepth = 200;

using Names = std::vector<std::string>;

ExprP make(EK k, std::uint32_t pos) {
  auto e = std::make_unique<Expr>();
  e->k = k;
  e->pos = pos;
  return e;
}

struct Parser {
  Parser(const std::string& source, std::vector<Token> tokens)
      : src(source), toks(std::move(tokens)) {}
  const std::string& src;
  std::vector<Token> toks;
  std::size_t i = 0;
  int depth = 0;
  int loop_depth = 0;
  std::vector<Names> end_stack;
  std::vector<std::string> tag_stack;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth > kMaxParseDepth) p.fail("template nested too deeply");
    }
    ~DepthGuard() { --p.depth; }
  };

  const Token& cur() const { return toks[i]; }
  const Token& look() const { return toks[std::min(i + 1, toks.size() - 1)]; }
  const Token& next() {
    const Token& t = toks[i];
    if (i + 1 < toks.size()) ++i;
    return t;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(const std::string& msg) { syntax_error(src, cur().pos, msg); }
  [[noreturn]] void fail_at(std::uint32_t pos, const std::string& msg) {
    syntax_error(src, pos, msg);
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Data:
        return "template data";
      case Tok::VarBegin:
        return "begin of print statement";
      case Tok::VarEnd:
        return "end of print statement";
      case Tok::BlockBegin:
        return "begin of statement block";
      case Tok::BlockEnd:
        return "end of statement block";
      case Tok::String:
        return "string";
      case Tok::Int:
        return "integer";
      case Tok::Float:
        return "float";
      case Tok::Eof:
        return "end of template";
      default:
        return t.text;
    }
  }

  void expect(Tok t, const char* what) {
    if (cur().type != t)
      fail(std::string("expected token '") + what + "', got '" + describe(cur()) + "'");
    next();
  }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(std::string("expected token '") + op + "', got '" + describe(cur()) + "'");
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail("expected token 'name', got '" + describe(cur()) + "'");
    return next().text;
  }

  static std::string quoted_list(const Names& names) {
    std::string r;
    for (std::size_t k = 0; k < names.size(); ++k) r += (k ? " or '" : "'") + names[k] + "'";
    return r;
  }

  [[noreturn]] void fail_tag(const std::string* name, std::uint32_t pos) {
    std::string msg =
        name ? "Encountered unknown tag '" + *name + "'." : "Unexpected end of template.";
    if (!end_stack.empty()) {
      bool expected = false;
      for (const auto& names : end_stack)
        if (name && std::find(names.begin(), names.end(), *name) != names.end()) expected = true;
      if (expected) {
        msg +=
            " You probably made a nesting mistake. Jinja is expecting this tag, but currently "
            "looking for " +
            quoted_list(end_stack.back()) + ".";
      } else {
        msg += " Jinja was looking for the following tags: " + quoted_list(end_stack.back()) + ".";
      }
    }
    if (!tag_stack.empty())
      msg += " The innermost block that needs to be closed is '" + tag_stack.back() + "'.";
    fail_at(pos, msg);
  }

  // ---- statements ----

  Body subparse(const Names* end) {
    Body body;
    if (end) end_stack.push_back(*end);
    while (cur().type != Tok::Eof) {
      const Token& t = cur();
      if (t.type == Tok::Data) {
        auto s = std::make_unique<Stmt>();
        s->k = SK::Data;
        s->pos = t.pos;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        auto s = std::make_unique<Stmt>();
        s->k = SK::Print;
        s->pos = t.pos;
        next();
        s->values.push_back(parse_tuple(false, true, nullptr, false));
        expect(Tok::VarEnd, "end of print statement");
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        next();
        if (end && cur().type == Tok::Name &&
            std::find(end->begin(), end->end(), cur().text) != end->end()) {
          end_stack.pop_back();
          return body;
        }
        body.push_back(parse_statement());
        expect(Tok::BlockEnd, "end of statement block");
      } else {
        fail("unexpected '" + describe(t) + "'");
      }
    }
    if (end) end_stack.pop_back();
    return body;
  }

  Body parse_statements(const Names& end, bool drop_needle) {
    skip_op(":");
    expect(Tok::BlockEnd, "end of statement block");
    Body body = subparse(&end);
    if (cur().type == Tok::Eof) {
      end_stack.push_back(end);
      fail_tag(nullptr, cur().pos);
    }
    if (drop_needle) next();
    return body;
  }

  // Body of a macro-like scope: break/continue do not cross it.
  Body parse_function_body(const Names& end) {
    int saved = loop_depth;
    loop_depth = 0;
    Body b = parse_statements(end, true);
    loop_depth = saved;
    return b;
  }

  std::unique_ptr<Stmt> parse_statement() {
    DepthGuard g(*this);
    const Token& t = cur();
    if (t.type != Tok::Name) fail("tag name expected");
    std::string name = t.text;
    auto s = std::make_unique<Stmt>();
    s->pos = t.pos;
    static const Names unsupported = {"block",  "extends", "include",
                                      "import", "from",    "autoescape"};
    if (std::find(unsupported.begin(), unsupported.end(), name) != unsupported.end())
      fail("tag '" + name + "' is not supported");
    static const Names known = {"for",  "if",    "set",   "macro",    "call",      "filter",
                                "with", "print", "break", "continue", "generation"};
    if (std::find(known.begin(), known.end(), name) == known.end()) fail_tag(&name, t.pos);
    tag_stack.push_back(name);
    next();
    if (name == "for") {
      parse_for(*s);
    } else if (name == "if") {
      parse_if(*s);
    } else if (name == "set") {
      parse_set(*s);
    } else if (name == "macro") {
      s->k = SK::Macro;
      s->text = expect_name();
      parse_signature(*s);
      s->body = parse_function_body({"endmacro"});
      scan_specials(*s);
    } else if (name == "call") {
      s->k = SK::CallBlock;
      if (is_op("(")) parse_signature(*s);
      s->expr = parse_expression(true);
      if (s->expr->k != EK::Call) fail_at(s->pos, "expected call");
      s->body = parse_function_body({"endcall"});
      scan_specials(*s);
    } else if (name == "filter") {
      s->k = SK::FilterBlock;
      s->expr = parse_filter(nullptr, true);
      s->body = parse_function_body({"endfilter"});
    } else if (name == "with") {
      s->k = SK::With;
      while (cur().type != Tok::BlockEnd) {
        if (!s->targets.empty()) expect_op(",");
        s->targets.push_back(parse_assign_target(true, false, nullptr, false));
        expect_op("=");
        s->values.push_back(parse_expression(true));
      }
      s->body = parse_statements({"endwith"}, true);
    } else if (name == "print") {
      s->k = SK::Print;
      while (cur().type != Tok::BlockEnd) {
        if (!s->values.empty()) expect_op(",");
        s->values.push_back(parse_expression(true));
      }
    } else if (name == "break" || name == "continue") {
      if (loop_depth == 0) fail_at(s->pos, "'" + name + "' outside loop");
      s->k = name == "break" ? SK::Break : SK::Continue;
    } else {  // generation (transformers' AssistantTracker): a scoped block
      s->k = SK::Scope;
      s->body = parse_function_body({"endgeneration"});
    }
    tag_stack.pop_back();
    return s;
  }

  void parse_for(Stmt& s) {
    s.k = SK::For;
    static const Names in_end = {"in"}, rec_end = {"recursive"};
    s.target = parse_assign_target(true, false, &in_end, false);
    if (!skip_name("in")) fail("expected token 'in', got '" + describe(cur()) + "'");
    s.expr = parse_tuple(false, false, &rec_end, false);
    if (skip_name("if")) s.cond = parse_expression(true);
    s.recursive = skip_name("recursive");
    ++loop_depth;
    s.body = parse_statements({"endfor", "else"}, false);
    --loop_depth;
    if (next().text != "endfor") s.else_body = parse_statements({"endfor"}, true);
  }

  void parse_if(Stmt& s) {
    s.k = SK::If;
    while (true) {
      ExprP test = parse_tuple(false, false, nullptr, false);
      Body body = parse_statements({"elif", "else", "endif"}, false);
      s.branches.emplace_back(std::move(test), std::move(body));
      const Token& t = next();
      if (t.text == "elif") continue;
      if (t.text == "else") s.else_body = parse_statements({"endif"}, true);
      break;
    }
  }

  void parse_set(Stmt& s) {
    s.target = parse_assign_target(true, false, nullptr, true);
    if (skip_op("=")) {
      s.k = SK::Set;
      s.expr = parse_tuple(false, true, nullptr, false);
      return;
    }
    s.k = SK::SetBlock;
    s.expr = parse_filter(nullptr, false);
    s.body = parse_function_body({"endset"});
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      std::uint32_t pos = cur().pos;
      s.params.push_back(expect_name());
      if (skip_op("=")) {
        s.defaults.push_back(parse_expression(true));
      } else if (!s.defaults.empty()) {
        fail("non-default argument follows default argument");
      } else if (s.params.back() == "caller") {
        fail_at(pos,
                "When defining macros or call blocks the special \"caller\" argument must be "
                "omitted or be given a default.");
      }
    }
    expect_op(")");
  }

  // Does the body reference varargs / kwargs / caller?
  static void scan_expr(const Expr* e, Stmt& s) {
    if (!e) return;
    if (e->k == EK::Name) {
      if (e->name == "varargs") s.uses_varargs = true;
      if (e->name == "kwargs") s.uses_kwargs = true;
      if (e->name == "caller") s.uses_caller = true;
    }
    for (const auto* p :
         {e->a.get(), e->b.get(), e->c.get(), e->dyn_args.get(), e->dyn_kwargs.get()})
      scan_expr(p, s);
    for (const auto& x : e->items) scan_expr(x.get(), s);
    for (const auto& kv : e->kwargs) scan_expr(kv.second.get(), s);
  }
  static void scan_body(const Body& body, Stmt& s) {
    for (const auto& st : body) {
      scan_expr(st->expr.get(), s);
      scan_expr(st->cond.get(), s);
      for (const auto& v : st->values) scan_expr(v.get(), s);
      for (const auto& d : st->defaults) scan_expr(d.get(), s);
      for (const auto& br : st->branches) {
        scan_expr(br.first.get(), s);
        scan_body(br.second, s);
      }
      scan_body(st->body, s);
      scan_body(st->else_body, s);
    }
  }
  static void scan_specials(Stmt& s) {
    scan_body(s.body, s);
    for (const auto& p : s.params) {  // declared parameters are ordinary names
      if (p == "caller") s.uses_caller = false;
      if (p == "varargs") s.uses_varargs = false;
      if (p == "kwargs") s.uses_kwargs = false;
    }
  }

  Target to_target(const Expr& e) {
    Target t;
    if (e.k == EK::Name) {
      t.name = e.name;
      return t;
    }
    if (e.k == EK::Tuple) {
      t.k = Target::K::Tuple;
      for (const auto& x : e.items) t.items.push_back(to_target(*x));
      return t;
    }
    fail_at(e.pos, "can't assign to this expression");
  }

  Target parse_assign_target(bool with_tuple, bool name_only, const Names* extra_end,
                             bool with_namespace) {
    if (with_namespace && cur().type == Tok::Name && look().type == Tok::Op && look().text == ".") {
      Target t;
      t.k = Target::K::NsAttr;
      t.name = next().text;
      next();
      t.attr = expect_name();
      return t;
    }
    if (name_only) {
      Target t;
      t.name = expect_name();
      return t;
    }
    ExprP e = with_tuple ? parse_tuple(true, false, extra_end, false) : parse_primary();
    return to_target(*e);
  }

  // ---- expressions ----

  bool is_tuple_end(const Names* extra) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
    return extra && cur().type == Tok::Name &&
           std::find(extra->begin(), extra->end(), cur().text) != extra->end();
  }

  ExprP parse_tuple(bool simplified, bool with_condexpr, const Names* extra_end,
                    bool explicit_parens) {
    std::uint32_t pos = cur().pos;
    std::vector<ExprP> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      args.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) fail("Expected an expression, got '" + describe(cur()) + "'");
    }
    auto e = make(EK::Tuple, pos);
    e->items = std::move(args);
    return e;
  }

  ExprP parse_expression(bool with_condexpr) {
    DepthGuard g(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprP parse_condexpr() {
    ExprP e1 = parse_or();
    while (is_name("if")) {
      std::uint32_t pos = next().pos;
      auto c = make(EK::Cond, pos);
      c->a = parse_or();
      c->b = std::move(e1);
      if (skip_name("else")) c->c = parse_condexpr();
      e1 = std::move(c);
    }
    return e1;
  }

  ExprP binary(EK k, ExprP l, ExprP r, std::uint32_t pos, Op op = Op::Add) {
    auto e = make(k, pos);
    e->op = op;
    e->a = std::move(l);
    e->b = std::move(r);
    return e;
  }

  ExprP parse_or() {
    ExprP l = parse_and();
    while (is_name("or")) {
      std::uint32_t pos = next().pos;
      l = binary(EK::Or, std::move(l), parse_and(), pos);
    }
    return l;
  }

  ExprP parse_and() {
    ExprP l = parse_not();
    while (is_name("and")) {
      std::uint32_t pos = next().pos;
      l = binary(EK::And, std::move(l), parse_not(), pos);
    }
    return l;
  }

  ExprP parse_not() {
    if (is_name("not")) {
      DepthGuard g(*this);
      auto e = make(EK::Not, next().pos);
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprP parse_compare() {
    std::uint32_t pos = cur().pos;
    ExprP first = parse_math1();
    std::vector<Op> ops;
    std::vector<ExprP> operands;
    static const std::pair<const char*, Op> cmp_ops[] = {{"==", Op::Eq}, {"!=", Op::Ne},
                                                         {"<", Op::Lt},  {"<=", Op::Le},
                                                         {">", Op::Gt},  {">=", Op::Ge}};
    while (true) {
      bool matched = false;
      for (const auto& [txt, op] : cmp_ops)
        if (is_op(txt)) {
          next();
          ops.push_back(op);
          matched = true;
          break;
        }
      if (!matched) {
        if (skip_name("in")) {
          ops.push_back(Op::In);
        } else if (is_name("not") && look().type == Tok::Name && look().text == "in") {
          next();
          next();
          ops.push_back(Op::NotIn);
        } else {
          break;
        }
      }
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = make(EK::Cmp, pos);
    e->items.push_back(std::move(first));
    for (auto& o : operands) e->items.push_back(std::move(o));
    e->ops = std::move(ops);
    return e;
  }

  ExprP parse_math1() {
    ExprP l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      l = binary(EK::Bin, std::move(l), parse_concat(), t.pos, t.text == "+" ? Op::Add : Op::Sub);
    }
    return l;
  }

  ExprP parse_concat() {
    std::uint32_t pos = cur().pos;
    ExprP first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(EK::Concat, pos);
    e->items.push_back(std::move(first));
    while (skip_op("~")) e->items.push_back(parse_math2());
    return e;
  }

  ExprP parse_math2() {
    ExprP l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      Op op = t.text == "*"    ? Op::Mul
              : t.text == "/"  ? Op::Div
              : t.text == "//" ? Op::FloorDiv
                               : Op::Mod;
      l = binary(EK::Bin, std::move(l), parse_pow(), t.pos, op);
    }
    return l;
  }

  ExprP parse_pow() {
    ExprP l = parse_unary(true);
    while (is_op("**")) {
      std::uint32_t pos = next().pos;
      l = binary(EK::Bin, std::move(l), parse_unary(true), pos, Op::Pow);
    }
    return l;
  }

  ExprP parse_unary(bool with_filter) {
    DepthGuard g(*this);
    ExprP node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make(t.text == "-" ? EK::Neg : EK::Pos, t.pos);
      node->a = parse_unary(false);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprP parse_primary() {
    const Token& t = cur();
    std::uint32_t pos = t.pos;
    if (t.type == Tok::Name) {
      ExprP e;
      const std::string& n = t.text;
      if (n == "true" || n == "True" || n == "false" || n == "False") {
        e = make(EK::Const, pos);
        e->cst = Value(n == "true" || n == "True");
      } else if (n == "none" || n == "None") {
        e = make(EK::Const, pos);
        e->cst = Value::none();
      } else {
        e = make(EK::Name, pos);
        e->name = n;
      }
      next();
      return e;
    }
    if (t.type == Tok::String) {
      std::string buf;
      while (cur().type == Tok::String) buf += next().text;
      auto e = make(EK::Const, pos);
      e->cst = Value(std::move(buf));
      return e;
    }
    if (t.type == Tok::Int || t.type == Tok::Float) {
      auto e = make(EK::Const, pos);
      e->cst = t.type == Tok::Int ? Value(t.ival) : Value(t.fval);
      next();
      return e;
    }
    if (is_op("(")) {
      next();
      ExprP e = parse_tuple(false, true, nullptr, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = make(EK::List, pos);
      while (!is_op("]")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("]")) break;
        e->items.push_back(parse_expression(true));
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make(EK::Dict, pos);
      while (!is_op("}")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("}")) break;
        e->items.push_back(parse_expression(true));
        expect_op(":");
        e->items.push_back(parse_expression(true));
      }
      expect_op("}");
      return e;
    }
    fail("unexpected '" + describe(t) + "'");
  }

  ExprP parse_postfix(ExprP node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprP parse_filter_expr(ExprP node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprP parse_subscript(ExprP node) {
    const Token& t = next();
    if (t.text == ".") {
      const Token& a = cur();
      if (a.type == Tok::Name) {
        auto e = make(EK::Attr, t.pos);
        e->a = std::move(node);
        e->name = next().text;
        return e;
      }
      if (a.type != Tok::Int) fail("expected name or number");
      auto e = make(EK::Item, t.pos);
      e->a = std::move(node);
      e->b = make(EK::Const, a.pos);
      e->b->cst = Value(a.ival);
      next();
      return e;
    }
    std::vector<ExprP> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = make(EK::Item, t.pos);
    e->a = std::move(node);
    if (args.size() == 1) {
      e->b = std::move(args[0]);
    } else {
      e->b = make(EK::Tuple, t.pos);
      e->b->items = std::move(args);
    }
    return e;
  }

  ExprP parse_subscribed() {
    std::uint32_t pos = cur().pos;
    auto sl = make(EK::Slice, pos);
    if (!skip_op(":")) {  // else the start is omitted
      ExprP node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      sl->a = std::move(node);
    }
    if (!is_op(":") && !is_op("]") && !is_op(",")) sl->b = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) sl->c = parse_expression(true);
    }
    return sl;
  }

  void parse_call_args(Expr& e) {
    std::uint32_t pos = cur().pos;
    expect_op("(");
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) fail_at(pos, "invalid syntax for function call expression");
    };
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        ensure(!e.dyn_args && !e.dyn_kwargs);
        next();
        e.dyn_args = parse_expression(true);
      } else if (is_op("**")) {
        ensure(!e.dyn_kwargs);
        next();
        e.dyn_kwargs = parse_expression(true);
      } else if (cur().type == Tok::Name && look().type == Tok::Op && look().text == "=") {
        ensure(!e.dyn_kwargs);
        std::string key = next().text;
        next();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!e.dyn_args && !e.dyn_kwargs && e.kwargs.empty());
        e.items.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprP parse_call(ExprP node) {
    auto e = make(EK::Call, cur().pos);
    e->a = std::move(node);
    parse_call_args(*e);
    return e;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (skip_op(".")) {
      name += '.';
      name += expect_name();
    }
    return name;
  }

  ExprP parse_filter(ExprP node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      auto e = make(EK::Filter, cur().pos);
      e->name = dotted_name();
      if (is_op("(")) parse_call_args(*e);
      e->a = std::move(node);
      node = std::move(e);
      start_inline = false;
    }
    return node;
  }

  ExprP parse_test(ExprP node) {
    std::uint32_t pos = next().pos;
    bool negated = skip_name("not");
    auto e = make(EK::Test, pos);
    e->name = dotted_name();
    const Token& t = cur();
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((t.type == Tok::Name || t.type == Tok::String || t.type == Tok::Int ||
                t.type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
               !(t.type == Tok::Name && (t.text == "else" || t.text == "or" || t.text == "and"))) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      e->items.push_back(parse_postfix(parse_primary()));
    }
    e->a = std::move(node);
    if (!negated) return e;
    auto n = make(EK::Not, pos);
    n->a = std::move(e);
    return n;
  }
};

}  // namespace

Body parse_template(const std::string& src) {
  Parser p(src, lex(src));
  return p.subparse(nullptr);
}

}  // namespace lfmd::jinja::detail
