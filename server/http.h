// A small HTTP interface between lfmd's routes and the HTTP library. Only http_server.cpp
// includes httplib; handlers see plain structs and never throw across this boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lfmd::http {

struct Request {
  std::string method;
  std::string path;
  std::string body;
  std::string remote_addr;
  int remote_port = 0;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::vector<std::string> path_params;              // captures of the route pattern
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
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int threads = 16;                // connection worker threads
};

class Server {
 public:
  explicit Server(ServerOptions opt);
  ~Server();
  // pattern: exact path, or with one "{id}" segment (captured into path_params).
  void route(const std::string& method, const std::string& pattern, Handler h);
  void set_filter(Filter f);
  // Response for unknown routes and for bodies over max_body_bytes (status 404 / 413).
  void set_error_handler(std::function<Response(int status, const Request&)> h);
  // Binds; returns the port (useful with port 0), or -1 with *error set.
  int bind(std::string* error);
  void run();   // blocks until stop()
  void stop();  // safe from any thread (not from a signal handler)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lfmd::http
