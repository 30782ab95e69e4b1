#include "server/metrics.h"

#include <cstdio>

namespace lfmd {

namespace {
std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
}  // namespace

void Histogram::observe(double v) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i] += 1;
  sum_ += v;
  n_ += 1;
}

void Histogram::render(const std::string& name, const std::string& help, std::string& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts_.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  out += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(n_) + "\n";
}

// Labelled counter families and their help text (rendered even before the first count).
const std::pair<const char*, const char*> kLabelledFamilies[] = {
    {"lfmd_handoff_decisions_total", "confidence decisions of flag/proxy requests, by mode and decision (local | handoff)"},
    {"lfmd_handoff_fallbacks_total", "handoffs answered locally because the upstream failed, by reason"},
    {"lfmd_responses_served_total", "chat completions answered, by who produced the answer (local | cloud)"},
};

Metrics::Metrics() = default;

void Metrics::count(const std::string& family, const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  labelled_[family][labels] += 1;
}

void Metrics::count_request(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  by_status_[status] += 1;
}

// The KV memory budget (--kv-budget): what it holds, and what the scheduler did to stay in it.
static void render_kv_budget(const EngineStats& e, std::string& out) {
  auto metric = [&](const char* name, const char* type, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + std::to_string(v) + "\n";
  };
  metric("lfmd_kv_budget_bytes", "gauge", "KV memory budget: running sequences plus the prefix cache (--kv-budget)", e.kv_budget_bytes);
  metric("lfmd_kv_used_bytes", "gauge", "memory of running sequences plus the prefix cache", e.kv_used_bytes);
  metric("lfmd_kv_peak_bytes", "gauge", "the most lfmd_kv_used_bytes seen since start", e.kv_peak_bytes);
  metric("lfmd_context_limit_tokens", "gauge", "tokens one request may hold (the context, or less when the KV budget is smaller)", e.context_limit);
  metric("lfmd_requests_paused", "gauge", "running requests paused to keep within the KV budget, waiting to resume", e.paused);
  metric("lfmd_queue_memory_waiting", "gauge", "queued requests held back until their prompt fits the KV budget", e.memory_waiting);
  metric("lfmd_memory_waits_total", "counter", "requests that waited for KV memory before starting", e.memory_waits_total);
  metric("lfmd_preemptions_total", "counter", "sequences paused to keep the running ones within the KV budget", e.preemptions_total);
  metric("lfmd_recomputed_tokens_total", "counter", "tokens computed again when paused sequences resumed", e.recomputed_tokens_total);
}

// Prefix-cache hits by source and the disk tier (engine/disk_cache.h).
static void render_cache(const EngineStats& e, std::string& out) {
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto line = [&](const char* name, const std::string& labels, int64_t v) {
    out += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
  };
  family("lfmd_prefix_cache_hits_total", "counter", "requests restarted from a cached prefix, by source (memory | disk)");
  line("lfmd_prefix_cache_hits_total", "source=\"memory\"", e.cache_hits_memory);
  line("lfmd_prefix_cache_hits_total", "source=\"disk\"", e.cache_hits_disk);
  family("lfmd_prefix_cache_hit_tokens_total", "counter", "prompt tokens restored from a cached prefix, by source");
  line("lfmd_prefix_cache_hit_tokens_total", "source=\"memory\"", e.cache_hit_tokens_memory);
  line("lfmd_prefix_cache_hit_tokens_total", "source=\"disk\"", e.cache_hit_tokens_disk);
  family("lfmd_prefix_cache_disk_enabled", "gauge", "1 when prefix-cache entries are kept on disk");
  line("lfmd_prefix_cache_disk_enabled", "", e.disk_enabled ? 1 : 0);
  const DiskCacheStats& d = e.disk;
  family("lfmd_prefix_cache_disk_bytes", "gauge", "bytes of prefix-cache entry files on disk");
  line("lfmd_prefix_cache_disk_bytes", "", d.bytes);
  family("lfmd_prefix_cache_disk_entries", "gauge", "prefix-cache entries on disk usable by this model");
  line("lfmd_prefix_cache_disk_entries", "", d.entries);
  family("lfmd_prefix_cache_disk_budget_bytes", "gauge", "on-disk prefix cache budget");
  line("lfmd_prefix_cache_disk_budget_bytes", "", d.budget);
  family("lfmd_prefix_cache_disk_writes_total", "counter", "prefix-cache entries written to disk");
  line("lfmd_prefix_cache_disk_writes_total", "", d.writes);
  family("lfmd_prefix_cache_disk_loads_total", "counter", "prefix-cache entries read back from disk");
  line("lfmd_prefix_cache_disk_loads_total", "", d.loads);
  family("lfmd_prefix_cache_disk_evictions_total", "counter", "disk entries deleted for the budget or replaced by a longer one");
  line("lfmd_prefix_cache_disk_evictions_total", "", d.evictions);
  family("lfmd_prefix_cache_disk_pending_bytes", "gauge", "states queued for writing to disk (counted in lfmd_kv_used_bytes)");
  line("lfmd_prefix_cache_disk_pending_bytes", "", d.pending_bytes);
  family("lfmd_prefix_cache_disk_index_bytes", "gauge", "memory held by the index of the disk entries (approximate)");
  line("lfmd_prefix_cache_disk_index_bytes", "", d.index_bytes);
  family("lfmd_prefix_cache_disk_dropped_writes_total", "counter", "states not written because the write queue was full");
  line("lfmd_prefix_cache_disk_dropped_writes_total", "", d.dropped_writes);
  family("lfmd_prefix_cache_disk_discarded_total", "counter", "disk entries not used, by reason (model, kv_type, version, format, truncated, checksum, io, too_large)");
  for (int r = 0; r < static_cast<int>(DiscardReason::kCount); ++r) {
    line("lfmd_prefix_cache_disk_discarded_total", std::string("reason=\"") + discard_reason_name(static_cast<DiscardReason>(r)) + "\"", d.discarded[r]);
  }
}

std::string Metrics::render(const EngineStats& e) const {
  std::string out;
  auto counter = [&](const char* name, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + std::to_string(v) + "\n";
  };
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + std::to_string(v) + "\n";
  };
  if (connections) {
    const http::ConnectionStats c = connections();
    gauge("lfmd_http_connections_open", "connections being served, idle keep-alive ones included", c.open);
    gauge("lfmd_http_connection_threads", "connection threads alive", c.threads);
    gauge("lfmd_http_max_connections", "connections served at once before 503 (--max-connections)", c.max_connections);
    counter("lfmd_http_request_timeouts_total", "requests answered 408: not received within --request-timeout", c.timed_out);
    counter("lfmd_http_overloaded_total", "connections answered 503 at --max-connections", c.overloaded);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    out += "# HELP lfmd_http_requests_total HTTP requests answered, by status code\n# TYPE lfmd_http_requests_total counter\n";
    for (const auto& [status, n] : by_status_) {
      out += "lfmd_http_requests_total{status=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [family, help] : kLabelledFamilies) {
      out += std::string("# HELP ") + family + " " + help + "\n# TYPE " + family + " counter\n";
      auto it = labelled_.find(family);
      if (it == labelled_.end()) continue;
      for (const auto& [labels, n] : it->second) out += std::string(family) + "{" + labels + "} " + std::to_string(n) + "\n";
    }
  }
  upstream_latency.render("lfmd_upstream_latency_seconds", "cloud handoff: upstream answer (or first streamed chunk) latency", out);
  counter("lfmd_generation_requests_total", "generation requests finished by the engine", e.requests_total);
  counter("lfmd_prompt_tokens_total", "prompt tokens processed", e.prompt_tokens_total);
  counter("lfmd_generated_tokens_total", "tokens generated", e.generated_tokens_total);
  counter("lfmd_cancelled_total", "generations cancelled (client gone, stop string, shutdown)", e.cancelled_total);
  counter("lfmd_client_disconnects_total", "generations stopped because the client disconnected", disconnects.load());
  counter("lfmd_prompt_tokens_cached_total", "prompt tokens restored from the prefix cache", e.cached_prompt_tokens_total);
  counter("lfmd_forward_passes_total", "forward passes run by the scheduler", e.decode_steps_total);
  counter("lfmd_batch_tokens_total", "tokens over all forward passes", e.batch_tokens_total);
  counter("lfmd_prefill_tokens_total", "prompt tokens computed (per forward pass; recomputed ones included)", e.prefill_tokens_total);
  gauge("lfmd_queue_depth", "requests waiting for a sequence slot", e.queued);
  gauge("lfmd_sequence_state_bytes", "memory of running sequences (KV cache, conv state, snapshots)", e.sequence_bytes);
  gauge("lfmd_prefix_cache_bytes", "memory held by the prefix cache", e.cache_bytes);
  gauge("lfmd_prefix_cache_entries", "sequences held by the prefix cache", e.cache_entries);
  gauge("lfmd_prefix_cache_budget_bytes", "prefix cache budget", e.cache_budget_bytes);
  gauge("lfmd_requests_running", "requests being generated (paused ones included)", e.running);
  render_kv_budget(e, out);
  render_cache(e, out);
  ttft.render("lfmd_time_to_first_token_seconds", "time from request to first generated token", out);
  itl.render("lfmd_inter_token_latency_seconds", "time between consecutive generated tokens", out);
  return out;
}

}  // namespace lfmd
