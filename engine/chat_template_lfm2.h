#pragma once

namespace lfmd {

// Verbatim text of the official LFM2 Jinja chat template.
const char* lfm2_official_chat_template();

}  // namespace lfmd
