// On-disk format of prefix-cache entries (one file per cached sequence state), the checksum and
// the key that decides which entries a process may reuse. Pure functions: no threads, no index.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"

namespace lfmd {

// Bumped whenever the file layout or the meaning of a stored value changes.
constexpr uint32_t kDiskCacheVersion = 1;
// KV element types (the KV cache is float32 today; f16 / q8_0 will get their own ids).
constexpr uint32_t kKvTypeF32 = 0;  // kernels::KvType: F32 0, F16 1, Q8_0 2

// Streaming 64-bit checksum (4 lanes of multiply-rotate over 8-byte words, then a mixing
// finaliser). Not cryptographic: it catches torn writes, truncation and flipped bits. Every
// update of a lane is a bijection of that lane, so a change in a single 8-byte word always
// changes the digest.
class Checksum {
 public:
  explicit Checksum(uint64_t seed = 0);
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  void block(const uint8_t* b);
  uint64_t h_[4];
  uint8_t buf_[32] = {};
  size_t nbuf_ = 0;
  uint64_t len_ = 0;
};
uint64_t checksum64(const void* data, size_t n, uint64_t seed = 0);

// Identity of a GGUF file's contents, 128 bits. Hashes the file size, every byte before the
// tensor data (header, metadata, tokenizer, tensor-info table: names, shapes, types, offsets)
// and 256 samples of 4 KiB spread evenly over the tensor data. A requantized file differs in its
// tensor-info table; different weights of the same shape (fine-tune, another seed) differ in
// the samples. Cheap (~1 MiB read) and independent of path and mtime, so a copied or touched
// file still matches. Read with pread from `path` (the mapping may hold repacked weights).
// Throws std::runtime_error on I/O failure.
std::array<uint64_t, 2> model_identity(const std::string& path, uint64_t data_offset);

// What an entry must match to be reused: the weights, the KV element type, the format.
struct DiskCacheKey {
  std::array<uint64_t, 2> model_id{0, 0};
  uint32_t kv_type = kKvTypeF32;
  uint32_t version = kDiskCacheVersion;
};

// Why an entry on disk is not used (metrics label values).
enum class DiscardReason {
  Model,
  KvType,
  Version,
  Format,
  Truncated,
  Checksum,
  Io,
  TooLarge,
  kCount
};
const char* discard_reason_name(DiscardReason r);

// File layout, little-endian (host order; x86-64 and AArch64 both are):
//   FileHeader (128 bytes) | int32 tokens[n_tokens] | int64 snapshot points[n_snaps], ascending
//   | payload | uint64 checksum of the payload
// payload: every attention layer in order, K rows [n_tokens][kv_dim] then V rows, stored as
// kv_type (kernels::kv_row_bytes per row); then float32: every conv layer's rows at n_tokens
// [L-1][D]; every snapshot point's rows [n_conv][L-1][D].
// header_sum covers the header bytes before it; list_sum the tokens and snapshot points. The index
// is built from this small head of each file without reading the payload.
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t kv_type;
  uint64_t model_id[2];
  uint64_t n_tokens;
  uint64_t n_snaps;
  uint64_t payload_bytes;
  uint64_t n_layer;
  uint64_t conv_floats;  // floats of one conv layer's state, (L-1) * D
  uint64_t kv_floats;    // sum of kv_dim over attention layers
  uint64_t list_sum;     // checksum of the tokens and snapshot points
  uint64_t reserved[4];
  uint64_t header_sum;  // checksum of the 120 bytes before it
};
static_assert(sizeof(FileHeader) == 128, "FileHeader is 128 bytes");

// Bytes of an entry file for a state of `n_tokens` with `n_snaps` snapshots on model `hp`.
uint64_t entry_file_bytes(const Hparams& hp, uint64_t n_tokens, uint64_t n_snaps,
                          kernels::KvType kv_type = kernels::KvType::F32);

// The index's view of an entry: its tokens and restart points, from the head of the file.
struct EntryHead {
  std::vector<int32_t> tokens;
  std::vector<int64_t> snaps;  // ascending, each < tokens.size()
  uint64_t file_bytes = 0;
};

struct ReadStatus {
  bool ok = true;
  DiscardReason reason = DiscardReason::Io;
  std::string detail;  // one line, for the warning
};

// Writes `state` (holding exactly `tokens`) to `path` through `path`.tmp.PID.N, fsync, rename, so
// a reader never sees a half-written entry under `path`. Returns the file's bytes. Throws
// std::runtime_error naming the failure (the temporary file is removed).
uint64_t write_entry(const std::string& path, const DiskCacheKey& key,
                     const std::vector<int32_t>& tokens, const SequenceState& state);

// Reads and checks the head (header, tokens, snapshot points) against `key` and `hp`.
ReadStatus read_entry_head(const std::string& path, const DiskCacheKey& key, const Hparams& hp,
                           EntryHead* out);

// Reads a whole entry into a new state of context `n_ctx` with snapshot interval `snap_every`;
// checks both checksums. On failure `*state` is null and the status names the reason.
ReadStatus read_entry(const std::string& path, const DiskCacheKey& key, const Hparams& hp,
                      int64_t n_ctx, int64_t snap_every, std::vector<int32_t>* tokens,
                      std::unique_ptr<SequenceState>* state);

}  // namespace lfmd
