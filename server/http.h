// A small HTTP interface between lfmd's routes and the HTTP library. Only http_server.cpp
// includes httplib; handlers see plain structs and never throw across this boundary.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/request_record.h"

namespace lfmd::http {

struct Request {
  std::string method;
  std::string path;
  std::string body;
  std::string remote_addr;
  int remote_port = 0;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::vector<std::string> path_params;              // captures of the route pattern
  // This request's access-log record (one per request, shared by its filter, route and stream).
  std::shared_ptr<RequestRecord> record;
  std::string header(const std::string& lower_name) const;
};

// Streaming body writer (chunked transfer encoding); write() returns false once the client is gone.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool write(std::string_view bytes) = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is produced by this function while the connection stays open.
  std::function<void(StreamWriter&)> stream;
};

// True while the client's connection is open (a closed peer is noticed without writing).
using AliveCheck = std::function<bool()>;
using Handler = std::function<Response(const Request&, const AliveCheck&)>;
// Runs before routing; a returned response short-circuits the request (auth, Host checks...).
using Filter = std::function<std::optional<Response>(const Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0 = any free port
  size_t max_body_bytes = 8 << 20;
  int read_timeout_s = 30;          // longest silence within a request's read, and per write
  int write_timeout_s = 30;
  int request_timeout_s = 30;       // a request's headers and body must all arrive within this (408)
  int keep_alive_timeout_s = 15;    // an idle keep-alive connection is closed after this
  int keep_alive_max_requests = 1000;
  int threads = 16;                 // connection threads kept ready
  int max_connections = 2048;       // open connections served at once (one thread each); more: 503
  bool record_text = false;         // RequestRecord::keep_text of every request (--log-prompts)
};

struct ConnectionStats {
  int open = 0;             // connections being served (idle keep-alive ones included)
  int threads = 0;          // connection threads alive
  int max_connections = 0;  // after clamping to the open-files limit
  long long timed_out = 0;  // requests answered 408 (not received within request_timeout_s)
  long long overloaded = 0; // connections answered 503 at the connection cap
};

// Called once per request after its response (a stream: all of it) was written, or failed to be.
// The Request has no body. status: the response's HTTP status.
using AccessLog = std::function<void(const Request&, int status, RequestRecord&)>;

class Server {
 public:
  explicit Server(ServerOptions opt);
  ~Server();
  // pattern: exact path, or with one "{id}" segment (captured into path_params).
  void route(const std::string& method, const std::string& pattern, Handler h);
  void set_filter(Filter f);
  // Response for unknown routes and for bodies over max_body_bytes (status 404 / 413).
  void set_error_handler(std::function<Response(int status, const Request&)> h);
  void set_access_log(AccessLog log);
  // Binds; returns the port (useful with port 0), or -1 with *error set.
  int bind(std::string* error);
  ConnectionStats connection_stats() const;  // any thread
  void run();   // blocks until stop()
  void stop();  // safe from any thread (not from a signal handler)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Outgoing requests (the cloud handoff's upstream) ----
// One POST to an OpenAI-compatible upstream, run on a thread of its own so that the caller can
// wait with a deadline, keep checking its own client, and cancel. http:// or https://; HTTPS
// always verifies the server certificate and host name (system CAs, or ca_file when set).

struct UpstreamTarget {
  std::string base_url;   // "https://api.example.com/v1" (the path prefix is kept)
  std::string ca_file;    // PEM bundle instead of the system CAs ("" = system)
  int timeout_ms = 10000; // connect, read and write timeout of the socket operations
};

// Checks a base URL; returns "" or the reason it is unusable.
std::string check_upstream_url(const std::string& base_url);

class UpstreamCall {
 public:
  struct Event {
    enum class Kind { Head, Data, End, Fail } kind = Kind::Data;
    int status = 0;      // Head: the HTTP status
    std::string data;    // Data: body bytes as they arrive
    // Fail: "connect" | "timeout" | "tls" | "read" | "write" | "cancelled" | "error"
    std::string error;
    std::string detail;  // Fail: one line for logs and handoff_error (never holds headers)
  };
  // Starts POST {base_url}{path}. Events: Head, Data*, then End; or Fail at any point.
  static std::unique_ptr<UpstreamCall> start(const UpstreamTarget& target, const std::string& path,
                                             std::string body,
                                             std::vector<std::pair<std::string, std::string>> headers);
  ~UpstreamCall();  // cancels; never blocks on the network
  std::optional<Event> next(std::chrono::milliseconds wait);
  void cancel();

  struct Impl;

 private:
  explicit UpstreamCall(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// ---- Downloads (lfmd pull) ----
// One GET, following redirects across hosts: Authorization is dropped when the scheme, host or
// port changes, and a redirect from https to http is refused unless allow_http. HTTPS always
// verifies the certificate and host name (system CAs, or ca_file). Blocking; no exceptions.
struct GetOptions {
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Authorization, Range
  bool allow_http = false;  // http:// URLs (first or redirected) are refused unless set
  int max_redirects = 10;
  int timeout_ms = 30000;   // connect / read / write timeout of each socket operation
  std::string ca_file;
};
struct GetResult {
  int status = 0;  // of the last response (0: none)
  std::multimap<std::string, std::string> headers;        // last response, names lower-cased
  std::multimap<std::string, std::string> first_headers;  // first response (before redirects)
  std::string final_url;
  std::string error;    // "" when a response was read completely, else one line
  std::string header(const std::string& lower_name) const;  // of the last response, "" if none
};
// on_body receives the body of the final 2xx response as it arrives (return false to stop, which
// sets error "cancelled"); other responses' bodies go to error_body (first 64 KiB).
GetResult get(const std::string& url, const GetOptions& opt,
              const std::function<bool(const char*, size_t)>& on_body, std::string* error_body = nullptr);

}  // namespace lfmd::http
