// lfmd kernels: raw-pointer numeric routines, no knowledge of models, threads or files.
// Every routine has a scalar reference (kernels/ref/); ISA versions (kernels/avx2/, kernels/avx512/,
// kernels/avxvnni/, kernels/neon/, kernels/neon_i8mm/)
// must match it within the tolerances stated in tests/kernels/test_matmul.cpp and test_ops.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lfmd::kernels {

// Tensor element types, numbered as ggml numbers them (GGUF stores these ids).
enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

struct TypeInfo {
  const char* name;    // "Q4_K"
  int64_t block_size;  // weights per block (1 for float types, 32, 256)
  size_t block_bytes;  // bytes per block
};

// nullptr when `ggml_type` is not one of the DType values above.
const TypeInfo* type_info(uint32_t ggml_type);
inline const TypeInfo& type_info(DType t) { return *type_info(static_cast<uint32_t>(t)); }
// Bytes of one row of n elements; n must be a multiple of the block size.
size_t row_bytes(DType t, int64_t n);

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even, as F16C / ggml do
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even, NaN kept quiet (ggml rule)

// ---- Reference conversions (always scalar, bit-exact with ggml's reference code) ----
// dst[0..n) = dequantized src row; n multiple of the block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// Quantize a row with ggml's reference rounding (bit-identical with llama.cpp's quantizer without
// an importance matrix). Every DType is supported; returns false for an unknown one.
bool quantize_row(DType t, const float* src, void* dst, int64_t n);

enum class Isa { Scalar, Avx2, Avx512, AvxVnni, Neon, NeonI8mm };
const char* isa_name(Isa isa);

// Activations prepared once per matmul call (e.g. quantized to int8 blocks) so that several
// threads working on disjoint row ranges of the same weight share them.
struct PreparedActs {
  const float* x = nullptr;  // [n_tok][ldx] f32 activations (always valid)
  int64_t ldx = 0;           // row stride of x in floats
  int64_t n_in = 0;          // used columns of x
  int64_t n_tok = 0;
  const void* q = nullptr;   // kernel-private quantized copy (may be null)
};

// Repacked layout of Q4_0 / Q8_0 / Q4_K matrices (ISA-independent; reference in
// kernels/ref/repack.cpp): rows in groups of kRepackRows = 8; group g holds, for each block b of 32
// columns,
//   d[8] fp16 (the block scales of rows 8g..8g+7), then the quants interleaved in 4-byte units:
//   unit u (0..3 for Q4_0, 0..7 for Q8_0) of rows 0..7 = bytes 4u..4u+3 of each row's block.
// So one 32-byte load holds 4 consecutive quant bytes of 8 rows (a dot of 8 rows against one
// broadcast 4-byte activation group). Rows past the last full group keep the original format
// and follow the groups. Same size as the original.
// Q4_K uses the same 8-row groups, per super-block of 256 columns (1152 bytes for 8 rows):
//   d[8] fp16, dmin[8] fp16, the 12 packed scale bytes as [byte k][row] (96 bytes), then the 128
//   quant bytes of each row interleaved in 4-byte units: unit u (0..31) of rows 0..7 at 128 + 32u.
constexpr int64_t kRepackRows = 8;
// Row `row` of a repacked [n_rows][n_in] matrix (KernelTable::repack) back in the original
// format, row_bytes(wt, n_in) bytes at dst: embedding lookups read a tied output matrix's copy.
void unpack_repacked_row(DType wt, const void* packed, int64_t n_in, int64_t n_rows, int64_t row, void* dst);


// ---- KV cache storage ----
// Element type of cached K/V rows; the values are the disk cache's kv_type numbers.
enum class KvType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 2 };
const char* kv_type_name(KvType t);  // "f32" | "f16" | "q8_0"
// Parses a kv_type_name; false for anything else.
bool parse_kv_type(const char* name, KvType* out);
// Bytes of one stored row of n elements (q8_0: n % 32 == 0, 34 bytes per 32).
size_t kv_row_bytes(KvType t, int64_t n);
// Stores n floats as one row: f32 copied, f16 rounded to nearest even (ggml's fp32->fp16),
// q8_0 by ggml's reference quantize_row_q8_0.
void kv_store_row(KvType t, const float* src, void* dst, int64_t n);
// dst[i][0..n) = the n elements at src + i * row_bytes, i < m, as f32 (exact for every type).
void kv_load_rows(KvType t, const void* src, size_t row_bytes, int64_t m, int64_t n, float* dst);

// Keys per block of the online softmax: every query walks its keys from 0 in blocks of this
// size whatever tile it runs in, so its reduction order depends only on its own key count.
constexpr int64_t kAttnKeyBlock = 32;
// Tokens per storage block of a sequence's K (or V) cache: block b holds positions
// [b * kKvBlockTokens, (b + 1) * kKvBlockTokens), so a key block never spans two storage blocks.
constexpr int64_t kKvBlockTokens = 256;
static_assert(kKvBlockTokens % kAttnKeyBlock == 0, "key blocks must not span storage blocks");

// A tile of causal attention: n_tok tokens of one sequence x the `group` query heads that share
// one KV head. Query head g of token t: q + t * ld_q + g * head_dim (head_dim floats); its output
// goes to out + t * ld_out + g * head_dim. Key j: head_dim elements of type kv_type at
// k_blocks[j / kKvBlockTokens] + (j % kKvBlockTokens) * row_bytes + head_offset (V likewise).
struct AttnTile {
  const float* q = nullptr;
  int64_t ld_q = 0;
  const int64_t* n_kv = nullptr;  // [n_tok] keys token t attends to (its position + 1); 0 = none
  int64_t n_tok = 0, group = 0, head_dim = 0;
  KvType kv_type = KvType::F32;
  const uint8_t* const* k_blocks = nullptr;  // storage blocks of kKvBlockTokens rows
  const uint8_t* const* v_blocks = nullptr;
  size_t row_bytes = 0;    // bytes from key j's row to key j+1's in a block (the engine's
                           // head-major blocks: one head's row; token-major: every head's)
  size_t head_offset = 0;  // bytes from a row's start to this KV head (q8_0: whole blocks)
  float scale = 1.0f;  // multiplies q.k
  float* out = nullptr;
  int64_t ld_out = 0;
};

// Rows [j0, j0 + m) of the tile's KV head in `blocks` (j0 a multiple of kAttnKeyBlock,
// m <= kAttnKeyBlock) as f32 rows *ld floats apart: F32 points into the cache, other types are
// converted into scratch ([kAttnKeyBlock][head_dim] floats). Every table reads K/V through it,
// so the attention math is the f32 math whatever the cache type.
const float* attn_kv_rows(const AttnTile& a, const uint8_t* const* blocks, int64_t j0, int64_t m,
                          float* scratch, int64_t* ld);

struct KernelTable {
  Isa isa;

  // ---- matmul: y[t*ldy + r] = sum_i W[r][i] * x[t][i] for r in [r0, r1), t in [0, n_tok) ----
  // W rows are `w_row_bytes` apart, of type wt, n_in elements each.
  // Bytes of scratch the kernel needs for prepare_acts (0 = none).
  size_t (*acts_bytes)(DType wt, int64_t n_in, int64_t n_tok);
  // Fill acts.q from acts.x into `scratch` (of acts_bytes() bytes, any alignment). Called once
  // per matmul; matmul also works with acts.q == nullptr (it then quantizes privately, slower).
  // The prepared form depends only on the activation format of wt: acts prepared for Q4_0 serve
  // Q8_0 weights and vice versa, and likewise among Q4_K/Q5_K/Q6_K (same n_in, x, n_tok).
  // Tokens are prepared independently, S = acts_tok_stride() bytes apart from a 64-byte-aligned
  // scratch (acts_bytes(n) = 64 + n * S): tokens [t0, t1) prepared alone into scratch + t0 * S
  // give the same bytes, so disjoint ranges can be prepared concurrently (tested per table).
  void (*prepare_acts)(DType wt, PreparedActs& acts, void* scratch);
  void (*matmul)(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
                 const PreparedActs& acts, float* y, int64_t ldy);

  // ---- load-time repacking into row-interleaved tiles (see kRepackRows) ----
  // Bytes of the repacked form of an [n_rows][n_in] matrix of type wt; 0 = this table keeps wt as
  // it is (then repack / matmul_repacked must not be called for wt). Never more than the original.
  size_t (*repack_bytes)(DType wt, int64_t n_in, int64_t n_rows);
  // Writes the repacked form of rows [0, n_rows) (rows src_row_bytes apart) to dst.
  void (*repack)(DType wt, const void* src, size_t src_row_bytes, int64_t n_in, int64_t n_rows, void* dst);
  // matmul on a repacked matrix of n_rows rows: same results contract as matmul; r0 must be a
  // multiple of kRepackRows (r1 need not be).
  void (*matmul_repacked)(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                          const PreparedActs& acts, float* y, int64_t ldy);

  // ---- element-wise and small ops (f32) ----
  // y = x * w / sqrt(mean(x^2) + eps); sum of squares accumulated in double (as ggml). y may be x.
  void (*rmsnorm)(const float* x, const float* w, int64_t n, float eps, float* y);
  // NEOX rotate-half RoPE in place on x[n_heads][head_dim] at absolute position pos; angles as
  // ggml computes them: theta_0 = pos, theta_{i+1} = theta_i * base^(-2/head_dim) in float.
  void (*rope_neox)(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base);
  // In place: x = softmax(x * scale) over n values (max subtracted, exp sum in double).
  void (*softmax)(float* x, int64_t n, float scale);
  // out[i] = silu(gate[i]) * up[i]   (silu(v) = v / (1 + exp(-v)))
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out);
  // out[i] = 1 / (1 + exp(-x[i]))
  void (*sigmoid)(const float* x, int64_t n, float* out);
  // Causal depthwise conv for one token over channels c in [0, n):
  // out[c] = sum_{k<L} kernel[c*L + k] * window_k[c] where window_k = hist[k] for k < L-1
  // (hist[k] points at n values, oldest first) and window_{L-1} = cur.
  void (*conv_step)(const float* const* hist, const float* cur, const float* kernel, int64_t L,
                    int64_t n, float* out);
  // Causal attention for one tile (see AttnTile): every query row of the tile reads each K/V row
  // of its block once from the shared KV head. Row (t, g) gets
  //   out = softmax_j(scale * q.k_j) @ v_j over j < n_kv[t],
  // computed online over key blocks of kAttnKeyBlock from key 0 (running max, running sum,
  // rescaled accumulator). Its floats depend only on its own q, n_kv[t] and the cache, never on
  // the other rows of the tile (batch invariance).
  void (*attention_tile)(const AttnTile& tile);
};

// Bytes between consecutive tokens' prepared activations (0: the table prepares none for wt).
inline size_t acts_tok_stride(const KernelTable& k, DType wt, int64_t n_in) {
  const size_t one = k.acts_bytes(wt, n_in, 1);
  return one == 0 ? 0 : k.acts_bytes(wt, n_in, 2) - one;
}

// The table for `isa`; nullptr if that ISA is not compiled in or not supported by this CPU.
const KernelTable* kernel_table(Isa isa);
const KernelTable& scalar_table();
// Chosen once: LFMD_ISA=scalar|avx2|avx512|avxvnni|neon|i8mm if set (error if unavailable), else the
// best supported (avx512 > avxvnni > avx2 > i8mm > neon > scalar).
// Returns nullptr and fills *error when LFMD_ISA names an unavailable ISA.
const KernelTable* select_kernels(const char* requested, const char** error);

}  // namespace lfmd::kernels
