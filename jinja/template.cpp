#include <utility>

#include "jinja/interp.h"
#include "jinja/jinja.h"
#include "jinja/lexer.h"
#include "jinja/parser.h"

namespace lfmd::jinja {

namespace {
std::string format_what(const std::string& msg, int line, int col) {
  if (line <= 0) return msg;
  return std::to_string(line) + ":" + std::to_string(col) + ": " + msg;
}
}  // namespace

Error::Error(Kind kind, std::string message, int line, int column)
    : std::runtime_error(format_what(message, line, column)),
      kind_(kind),
      message_(std::move(message)),
      line_(line),
      column_(column) {}

Error Error::at(int line, int column) const {
  return Error(kind_, message_, line, column);
}

struct Template::Impl {
  std::string source;  // normalized
  detail::Body body;
  std::unique_ptr<detail::SourceMap> map;
};

Template Template::parse(std::string_view source) {
  auto impl = std::make_shared<Impl>();
  impl->source = detail::normalize_source(source);
  impl->body = detail::parse_template(impl->source);
  impl->map = std::make_unique<detail::SourceMap>(impl->source);
  Template t;
  t.impl_ = std::move(impl);
  return t;
}

std::string Template::render(const nlohmann::ordered_json& context) const {
  return render(context, RenderOptions{});
}

std::string Template::render(const nlohmann::ordered_json& context,
                             const RenderOptions& options) const {
  if (!impl_) throw Error(Error::Kind::Runtime, "template was not parsed");
  detail::Budget budget;
  budget.lim = options.limits;
  std::string out;
  {
    detail::Interp interp(*impl_->map, options, budget);
    out = interp.run(impl_->body, context);
  }
  return out;
}

}  // namespace lfmd::jinja
