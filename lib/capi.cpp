// The C entry points of include/lfmd.h over capi::Session: handles, error codes, last-error
// text. No exception leaves this file.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "../include/lfmd.h"
#include "lib/session.h"

// The handle is a key only: sessions live in the registry, so a closed (or never opened)
// handle is recognised without touching freed memory.
struct lfmd_model {
  char unused;
};

namespace {

using lfmd::capi::Failure;
using lfmd::capi::Session;

thread_local std::string t_last_error;

struct Registry {
  std::mutex mu;
  std::unordered_map<lfmd_model*, std::shared_ptr<Session>> live;
};

// Never destroyed: a handle left open at exit must not run an engine's teardown from a static
// destructor.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

int set_error(int status, const std::string& message) {
  t_last_error = message;
  return status;
}

// Runs body(session) for an open handle; every failure becomes a status plus the error text.
template <class Body>
int with_session(lfmd_model* m, Body&& body) {
  try {
    std::shared_ptr<Session> s;
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      auto it = m ? r.live.find(m) : r.live.end();
      if (it != r.live.end()) s = it->second;
    }
    if (!s)
      return set_error(LFMD_ERR_CLOSED, m ? "the model handle is closed or invalid"
                                          : "the model handle is NULL (never opened, or closed)");
    t_last_error.clear();
    return body(*s);
  } catch (const Failure& f) {
    return set_error(f.status, f.what());
  } catch (const std::bad_alloc&) {
    return set_error(LFMD_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return set_error(LFMD_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return set_error(LFMD_ERR_INTERNAL, "internal error");
  }
}

}  // namespace

extern "C" {

LFMD_API const char* lfmd_version(void) {
  return "0.1.0";
}

LFMD_API const char* lfmd_last_error(void) {
  return t_last_error.c_str();
}

LFMD_API int lfmd_open(const char* model, const char* options_json, lfmd_model** out) {
  if (!out) return set_error(LFMD_ERR_ARGUMENT, "lfmd_open: out is NULL");
  *out = nullptr;
  if (!model) return set_error(LFMD_ERR_ARGUMENT, "lfmd_open: model is NULL");
  try {
    auto s = std::make_shared<Session>(model, options_json ? options_json : "");
    auto handle = std::make_unique<lfmd_model>();
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.live.emplace(handle.get(), std::move(s));
    *out = handle.release();
    t_last_error.clear();
    return LFMD_OK;
  } catch (const Failure& f) {
    return set_error(f.status, f.what());
  } catch (const std::bad_alloc&) {
    return set_error(LFMD_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return set_error(LFMD_ERR_MODEL, e.what());
  } catch (...) {
    return set_error(LFMD_ERR_INTERNAL, "internal error");
  }
}

LFMD_API int lfmd_complete(lfmd_model* model, const char* request_json,
                           lfmd_token_callback callback, void* user_data, char** result_json) {
  if (result_json) *result_json = nullptr;
  if (!request_json) return set_error(LFMD_ERR_ARGUMENT, "lfmd_complete: request_json is NULL");
  if (!result_json) return set_error(LFMD_ERR_ARGUMENT, "lfmd_complete: result_json is NULL");
  return with_session(model, [&](Session& s) {
    std::string result;
    const int status = s.complete(request_json, callback, user_data, &result);
    char* copy = static_cast<char*>(std::malloc(result.size() + 1));
    if (!copy) throw std::bad_alloc();
    std::memcpy(copy, result.c_str(), result.size() + 1);
    *result_json = copy;
    if (status == LFMD_CANCELLED) t_last_error = "cancelled";
    return status;
  });
}

LFMD_API int lfmd_cancel(lfmd_model* model) {
  return with_session(model, [](Session& s) {
    s.cancel_all();
    return LFMD_OK;
  });
}

LFMD_API int lfmd_reset(lfmd_model* model) {
  return with_session(model, [](Session& s) {
    s.reset();
    return LFMD_OK;
  });
}

LFMD_API int lfmd_close(lfmd_model* model) {
  std::shared_ptr<Session> s;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = model ? r.live.find(model) : r.live.end();
    if (it == r.live.end())
      return set_error(LFMD_ERR_CLOSED, model
                                            ? "the model handle is closed or invalid"
                                            : "the model handle is NULL (never opened, or closed)");
    s = std::move(it->second);
    r.live.erase(it);
  }
  delete model;
  s->shutdown();  // running completions end now; the last one to finish frees the session
  t_last_error.clear();
  return LFMD_OK;
}

LFMD_API void lfmd_free_string(char* s) {
  std::free(s);
}

}  // extern "C"
