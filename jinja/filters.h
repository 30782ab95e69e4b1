// Filter helpers shared by filters.cpp and filters_text.cpp (internal).
#pragma once

#include "jinja/interp.h"

namespace lfmd::jinja::detail::filt {

using FilterFn = Value (*)(Interp&, const Value&, Args&);

Value str_method(Interp& in, const Value& v, const char* name, Args& a);  // str(v).name(*a)
bool as_bool(const Args& a, std::size_t idx, const char* name, bool def);
std::int64_t as_int_arg(const Value& v, const char* what);

// Text and number filters (filters_text.cpp).
Value f_abs(Interp& in, const Value& v, Args& a);
Value f_capitalize(Interp& in, const Value& v, Args& a);
Value f_lower(Interp& in, const Value& v, Args& a);
Value f_upper(Interp& in, const Value& v, Args& a);
Value f_center(Interp& in, const Value& v, Args& a);
Value f_escape(Interp& in, const Value& v, Args& a);
Value f_forceescape(Interp& in, const Value& v, Args& a);
Value f_float(Interp& in, const Value& v, Args& a);
Value f_int(Interp& in, const Value& v, Args& a);
Value f_format(Interp& in, const Value& v, Args& a);
Value f_indent(Interp& in, const Value& v, Args& a);
Value f_pprint(Interp& in, const Value& v, Args& a);
Value f_replace(Interp& in, const Value& v, Args& a);
Value f_round(Interp& in, const Value& v, Args& a);
Value f_safe(Interp& in, const Value& v, Args& a);
Value f_string(Interp& in, const Value& v, Args& a);
Value f_title(Interp& in, const Value& v, Args& a);
Value f_tojson(Interp& in, const Value& v, Args& a);
Value f_trim(Interp& in, const Value& v, Args& a);
Value f_truncate(Interp& in, const Value& v, Args& a);
Value f_wordcount(Interp& in, const Value& v, Args& a);

}  // namespace lfmd::jinja::detail::filt
