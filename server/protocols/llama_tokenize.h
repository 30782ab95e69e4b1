// llama-server's POST /tokenize and POST /detokenize, with the model's own tokenizer:
//   /tokenize   {"content": str, "add_special": bool=false, "parse_special": bool=true,
//                "with_pieces": bool=false} -> {"tokens": [id...]} or [{"id", "piece"}...]
//   /detokenize {"tokens": [id...]} -> {"content": str}
#pragma once

#include "server/http.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::llama_tokenize {

http::Response tokenize(const Pipeline& pipeline, const http::Request& req);
http::Response detokenize(const Pipeline& pipeline, const http::Request& req);

}  // namespace lfmd::llama_tokenize
