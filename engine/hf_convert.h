// Hugging Face checkpoint (Lfm2ForCausalLM / Lfm2MoeForCausalLM) -> GGUF, with the metadata keys,
// tensor names, shapes and expert stacking of llama.cpp's converter (convert_hf_to_gguf.py):
//   model.embed_tokens -> token_embd, model.embedding_norm -> token_embd_norm (the final norm),
//   layers.N.operator_norm -> blk.N.attn_norm, conv.{in,out}_proj -> shortconv.{in,out}_proj,
//   conv.conv [D,1,L] -> shortconv.conv {L, D} (squeezed), self_attn.{q,k,v,out}_proj ->
//   attn_{q,k,v,output}, {q,k}_layernorm -> attn_{q,k}_norm, feed_forward.w1/w3/w2 ->
//   ffn_gate/up/down, feed_forward.gate -> ffn_gate_inp, expert_bias -> exp_probs_b.bias,
//   experts.E.w1/w3/w2 stacked along a third dimension -> ffn_{gate,up,down}_exps.
// Tensors are streamed (a slab of rows at a time), so memory stays bounded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/quantize.h"

namespace lfmd {
class ThreadPool;
}

namespace lfmd::hf {

struct ConvertStats {
  std::string arch;  // "lfm2" | "lfm2moe"
  size_t n_tensors = 0;
};

// Converts the checkpoint in `dir` into `out` (written to a temporary file, then renamed). Float
// file types follow the converter (1-D tensors, norms, router, conv kernels and biases stay F32); quantized
// ones follow `lfmd quantize`'s mix rules, quantizing straight from the checkpoint's values.
// Throws std::runtime_error with one line naming the problem.
ConvertStats convert_checkpoint(const std::string& dir, const std::string& out, quant::FileType ft,
                                ThreadPool* pool,
                                const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace lfmd::hf
