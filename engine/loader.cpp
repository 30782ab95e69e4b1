#include "engine/loader.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace lfmd {

using gguf::FormatError;

VocabData vocab_from_gguf(const gguf::Reader& f) {
  VocabData v;
  v.model = f.get_string("tokenizer.ggml.model");
  if (v.model != "gpt2") {
    throw FormatError("unsupported tokenizer model '" + v.model + "' (lfmd reads byte-level BPE, tokenizer.ggml.model = gpt2)");
  }
  v.pre = f.get_string_opt("tokenizer.ggml.pre").value_or("default");
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != gguf::ValueType::ARRAY || tokens->elem_type != gguf::ValueType::STRING) {
    throw FormatError("missing or malformed 'tokenizer.ggml.tokens' (array of strings)");
  }
  v.tokens = tokens->arr_str;
  if (const gguf::Value* types = f.find("tokenizer.ggml.token_type")) {
    if (types->type != gguf::ValueType::ARRAY || types->arr_int.size() != v.tokens.size()) {
      throw FormatError("'tokenizer.ggml.token_type' must be an integer array as long as the token list");
    }
    v.types.assign(types->arr_int.begin(), types->arr_int.end());
  }
  if (const gguf::Value* merges = f.find("tokenizer.ggml.merges")) {
    if (merges->type != gguf::ValueType::ARRAY || merges->elem_type != gguf::ValueType::STRING) {
      throw FormatError("'tokenizer.ggml.merges' must be an array of strings");
    }
    v.merges = merges->arr_str;
  }
  auto id = [&](const char* key) -> int32_t {
    auto x = f.get_uint_opt(key);
    if (!x) return -1;
    if (*x >= v.tokens.size()) throw FormatError(std::string("'") + key + "' = " + std::to_string(*x) + " is not a token id");
    return static_cast<int32_t>(*x);
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id");
  v.eos_id = id("tokenizer.ggml.eos_token_id");
  v.pad_id = id("tokenizer.ggml.padding_token_id");
  v.add_bos = f.get_bool_opt("tokenizer.ggml.add_bos_token").value_or(true);
  v.add_eos = f.get_bool_opt("tokenizer.ggml.add_eos_token").value_or(false);
  // llama.cpp takes a whole pre-token from the vocabulary for the lfm2/llama3 pre-tokenizers.
  v.ignore_merges = true;
  return v;
}

namespace {

// Touch every page of the tensor data so that the first request does not pay for page faults;
// reports progress in ~1% steps.
void prefault(const gguf::Reader& f, const std::function<void(uint64_t, uint64_t)>& progress) {
  const uint8_t* begin = f.base() + f.data_offset();
  const uint64_t total = f.file_size() - f.data_offset();
  ::madvise(const_cast<uint8_t*>(f.base()), f.file_size(), MADV_WILLNEED);
  const uint64_t step = std::max<uint64_t>(total / 100, 1 << 20);
  volatile uint8_t sink = 0;
  for (uint64_t done = 0; done < total;) {
    uint64_t end = std::min(total, done + step);
    for (uint64_t p = done; p < end; p += 4096) sink = sink + begin[p];
    done = end;
    progress(done, total);
  }
  (void)sink;
}

}  // namespace

std::unique_ptr<LoadedModel> load_model(const LoadOptions& opt) {
  auto lm = std::make_unique<LoadedModel>();
  lm->file = std::make_unique<gguf::Reader>(opt.path);
  const gguf::Reader& f = *lm->file;
  lm->hp = read_hparams(f);

  const char* err = nullptr;
  std::string isa = opt.isa;
  if (isa.empty()) {
    if (const char* env = std::getenv("LFMD_ISA")) isa = env;
  }
  lm->kernels = kernels::select_kernels(isa.c_str(), &err);
  if (!lm->kernels) throw std::runtime_error(err ? err : "no kernels available");

  lm->tokenizer = std::make_unique<Tokenizer>(vocab_from_gguf(f));
  if (lm->tokenizer->n_vocab() > lm->hp.n_vocab) {
    throw FormatError("the tokenizer has " + std::to_string(lm->tokenizer->n_vocab()) + " tokens but token_embd.weight has only " +
                      std::to_string(lm->hp.n_vocab) + " rows");
  }
  lm->chat_template = f.get_string_opt("tokenizer.chat_template").value_or("");
  lm->name = f.get_string_opt("general.name").value_or(opt.path.substr(opt.path.find_last_of('/') + 1));

  // Stop on EOS plus the end-of-turn / end-of-text tokens when the vocabulary has them.
  auto add_stop = [&](int32_t id) {
    if (id >= 0 && std::find(lm->stop_ids.begin(), lm->stop_ids.end(), id) == lm->stop_ids.end()) lm->stop_ids.push_back(id);
  };
  add_stop(lm->tokenizer->eos_id());
  if (auto eot = f.get_uint_opt("tokenizer.ggml.eot_token_id"); eot && *eot < static_cast<uint64_t>(lm->tokenizer->n_vocab())) add_stop(static_cast<int32_t>(*eot));
  add_stop(lm->tokenizer->find("<|im_end|>"));
  add_stop(lm->tokenizer->find("<|endoftext|>"));

  // Ids the sampler must never pick: padding rows beyond the tokenizer and unused placeholders.
  lm->never_sample.assign(lm->hp.n_vocab, 0);
  const auto& types = lm->tokenizer->vocab().types;
  for (int64_t i = 0; i < lm->hp.n_vocab; ++i) {
    if (i >= lm->tokenizer->n_vocab()) lm->never_sample[i] = 1;
    else if (!types.empty() && types[i] == static_cast<int32_t>(TokenType::Unused)) lm->never_sample[i] = 1;
  }

  lm->n_ctx = opt.n_ctx > 0 ? opt.n_ctx : lm->hp.n_ctx_train;
  lm->max_batch = std::max<int64_t>(1, std::min(opt.max_batch, lm->n_ctx));
  int threads = opt.n_threads > 0 ? opt.n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  lm->pool = std::make_unique<ThreadPool>(threads);
  ForwardContext ctx;
  ctx.kernels = lm->kernels;
  ctx.pool = lm->pool.get();
  ctx.max_batch = lm->max_batch;
  ctx.repack = opt.repack;
  ctx.kv_type = opt.kv_type;
  ctx.matmul_unit_bytes = opt.matmul_unit_bytes;
  ctx.repack_progress = opt.repack_progress;
  // Page the weights in first: a model that repacks them reads them all at construction, then
  // releases the mapped pages it copied (prefaulting afterwards would bring them back).
  if (opt.progress) prefault(f, opt.progress);
  lm->model = find_model_factory(lm->hp.arch)(f, lm->hp, ctx);
  for (const auto& t : f.tensors()) lm->weight_bytes += t.nbytes;
  return lm;
}

MemoryUsage current_memory_usage() {
  MemoryUsage m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    auto kb = [&](const char* key) -> uint64_t { return std::strtoull(line.c_str() + std::strlen(key), nullptr, 10) * 1024; };
    if (line.rfind("RssFile:", 0) == 0) m.rss_file = kb("RssFile:");
    if (line.rfind("RssAnon:", 0) == 0) m.rss_anon = kb("RssAnon:");
  }
  // smaps_rollup (Linux 4.14+) sums AnonHugePages over the mappings; absent elsewhere: 0.
  std::ifstream rollup("/proc/self/smaps_rollup");
  while (std::getline(rollup, line)) {
    if (line.rfind("AnonHugePages:", 0) == 0) m.anon_huge = std::strtoull(line.c_str() + 14, nullptr, 10) * 1024;
  }
  return m;
}

}  // namespace lfmd
