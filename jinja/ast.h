// Syntax tree (internal). One node struct per category; fields used depend on the kind.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace lfmd::jinja::detail {

enum class EK : std::uint8_t {
  Const,
  Name,
  List,
  Tuple,
  Dict,
  Attr,
  Item,
  Slice,
  Call,
  Filter,
  Test,
  Neg,
  Pos,
  Not,
  And,
  Or,
  Bin,
  Cmp,
  Concat,
  Cond,
};
enum class Op : std::uint8_t {
  Add,
  Sub,
  Mul,
  Div,
  FloorDiv,
  Mod,
  Pow,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  In,
  NotIn
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  EK k;
  Op op = Op::Add;
  std::uint32_t pos = 0;
  Value cst;         // Const
  std::string name;  // Name, Attr, Filter, Test
  ExprP a, b, c;  // operands; Item: a[b]; Slice: a:b:c; Cond: b if a else c; Filter/Test: a = input
  std::vector<ExprP>
      items;            // List/Tuple/Dict (k, v, k, v...)/Call+Filter+Test args/Cmp operands/Concat
  std::vector<Op> ops;  // Cmp
  std::vector<std::pair<std::string, ExprP>> kwargs;
  ExprP dyn_args, dyn_kwargs;  // *args, **kwargs
};

struct Target {
  enum class K : std::uint8_t { Name, NsAttr, Tuple } k = K::Name;
  std::string name, attr;
  std::vector<Target> items;
};

enum class SK : std::uint8_t {
  Data,
  Print,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  CallBlock,
  FilterBlock,
  With,
  Break,
  Continue,
  Scope,
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  SK k;
  std::uint32_t pos = 0;
  std::string text;  // Data: text; Macro: name
  ExprP expr;  // Print/Set value, For iterable, CallBlock call, FilterBlock/SetBlock filter chain
  ExprP cond;  // For: `if` filter
  Target target;                                 // Set/SetBlock/For
  std::vector<std::pair<ExprP, Body>> branches;  // If/elif
  Body body, else_body;
  bool recursive = false;
  // Macro / CallBlock signature; defaults align with the last params.
  std::vector<std::string> params;
  std::vector<ExprP> defaults;
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
  // With
  std::vector<Target> targets;
  std::vector<ExprP> values;
};

}  // namespace lfmd::jinja::detail
