// Prefix-cache entries on disk (format: engine/disk_format.h). An in-memory index of the entry
// files (tokens and restart points, read from each file's head at start-up) answers lookups on
// the engine thread; one I/O thread writes states handed over by the engine (evicted from the
// memory cache, or flushed at shutdown) and reads entries the engine asks for, so the engine
// thread never waits on the disk. Least recently used entries go first when the byte budget is
// exceeded; a file's mtime is its last use across restarts.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/disk_format.h"

namespace lfmd {

// $LFMD_CACHE_DIR, else $XDG_CACHE_HOME/lfmd, else ~/.cache/lfmd, else /tmp/lfmd-cache.
std::string default_cache_dir();
// mkdir -p; false when the directory cannot be created.
bool make_dirs(const std::string& dir);

struct DiskCacheStats {
  int64_t bytes = 0;    // entry files in the directory (also other models' entries)
  int64_t entries = 0;  // usable by this process
  int64_t budget = 0;
  int64_t writes = 0;          // entries written
  int64_t evictions = 0;       // entries deleted for the budget (or covered by a longer one)
  int64_t load_requests = 0;   // reads asked for by the engine
  int64_t loads = 0;           // entries read back
  int64_t dropped_writes = 0;  // states not written because the write queue was full
  int64_t pending_bytes = 0;   // states queued for writing (memory, within the KV budget)
  int64_t index_bytes = 0;     // the in-memory index of the entries (approximate heap bytes)
  int64_t discarded[static_cast<int>(DiscardReason::kCount)] = {};
};

class DiskCache {
 public:
  struct Options {
    std::string dir;
    uint64_t budget_bytes = 0;
    DiskCacheKey key;
    int64_t n_ctx = 0;  // states are loaded with this context
    int64_t snap_every = 64;
    uint64_t max_pending_bytes = 1ull << 30;  // states queued for writing; more are dropped
    // Test hook: the I/O thread waits this long before each read, so that a test's requests
    // surely arrive while a read is in flight (0 = off).
    int32_t test_load_delay_ms = 0;
  };
  using Log = std::function<void(const std::string&)>;
  // Creates and indexes `opt.dir` (reads each entry's head; corrupt or truncated entries are
  // deleted, other models' entries kept), then starts the I/O thread. `on_loaded` runs on the
  // I/O thread after each finished load. Throws std::runtime_error when the dir is unusable.
  DiskCache(const Hparams& hp, Options opt, Log log, std::function<void()> on_loaded);
  ~DiskCache();  // writes what is queued, then stops the I/O thread
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  struct Candidate {
    uint64_t id = 0;  // 0 = none
    int64_t n = 0;    // tokens the entry restores for the prompt
  };
  // Best restart point for `prompt` (at most `limit` tokens) among the indexed entries.
  Candidate find(const std::vector<int32_t>& prompt, int64_t limit) const;
  // Reads entry `id` on the I/O thread; the result comes back from take_loaded() with `tag`.
  void load(uint64_t id, uint64_t tag);
  struct Loaded {
    uint64_t tag = 0;
    std::vector<int32_t> tokens;
    std::unique_ptr<SequenceState> state;  // null when the entry was gone or discarded
  };
  std::vector<Loaded> take_loaded();
  // Hands over a finished state holding exactly `tokens` for writing (nothing is written when
  // an entry with the same tokens exists: it is marked used). Past max_pending_bytes it is
  // dropped, unless `past_queue_limit` (the engine's stop: the memory cache moves into the queue
  // and nothing new comes, so an entry larger than the queue's share is still written).
  void store(std::vector<int32_t> tokens, std::unique_ptr<SequenceState> state,
             bool past_queue_limit = false);
  // Blocks until every queued write and load is done (tests, shutdown).
  void flush();
  DiskCacheStats stats() const;
  const std::string& dir() const { return opt_.dir; }

 private:
  // The index keeps no tokens: per restart point (snapshots, then the entry's length) the hash
  // of the tokens before it (16 B per point, a point per --snap-every tokens instead of 4 B per
  // token). A hash match is a candidate only: the engine compares the loaded tokens.
  struct Entry {
    std::string file;              // name inside dir
    std::vector<int64_t> points;   // ascending; the last is the entry's length (empty: foreign)
    std::vector<uint64_t> hashes;  // prefix_hash of the first points[i] tokens
    uint64_t bytes = 0;
    uint64_t last_used = 0;
    bool usable = false;  // this model, KV type and format
  };
  struct Write {
    std::vector<int32_t> tokens;
    std::unique_ptr<SequenceState> state;
  };
  void scan();
  void io_loop();
  void do_load(uint64_t id, uint64_t tag);
  void do_write(Write w);
  // Under mu_: deletes the least recently used entries until `incoming` more bytes fit.
  void evict_for(uint64_t incoming, std::vector<std::string>* unlink_files);
  enum class Verb { Deleted, Ignored, NotWritten };  // what happens to the file
  void discard(DiscardReason r, const std::string& file, const std::string& detail, Verb verb);
  std::string path(const std::string& file) const { return opt_.dir + "/" + file; }
  void add_entry(uint64_t id, Entry en);  // under mu_ (or before the I/O thread starts)
  std::map<uint64_t, Entry>::iterator remove_entry(std::map<uint64_t, Entry>::iterator it);

  const Hparams hp_;
  const Options opt_;
  Log log_;
  std::function<void()> on_loaded_;
  mutable std::mutex mu_;  // index, stats, queues
  std::condition_variable cv_, idle_cv_;
  std::map<uint64_t, Entry> index_;
  uint64_t next_id_ = 1;
  uint64_t clock_ = 0;
  DiskCacheStats stats_;
  std::deque<std::pair<uint64_t, uint64_t>> loads_;  // (id, tag)
  std::deque<Write> writes_;
  uint64_t pending_bytes_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  std::vector<Loaded> loaded_;
  std::thread io_;
};

}  // namespace lfmd
