// Parser: tokens -> syntax tree, following Jinja2's grammar and precedence (internal).
#pragma once

#include <string>

#include "jinja/ast.h"

namespace lfmd::jinja::detail {

// `src` must be normalized (normalize_source). Throws Error (Syntax).
Body parse_template(const std::string& src);

}  // namespace lfmd::jinja::detail
