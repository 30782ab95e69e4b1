// Any number of threads, and any way of cutting matmul rows into units shared between them,
// gives bit-identical logits: every row is computed by the same kernel call whoever runs it.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "engine/loader.h"
#include "engine/session.h"
#include "engine/testmodel/generator.h"

using namespace lfmd;

TEST_CASE("engine: logits do not depend on the thread count or the matmul work units") {
  const std::string dir = "/tmp/lfmd-threads-test-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  for (kernels::DType type : {kernels::DType::Q4_0, kernels::DType::Q8_0, kernels::DType::F32}) {
    CAPTURE(kernels::type_info(type).name);
    const std::string path = dir + "/tiny-moe.gguf";
    write_test_model(*find_test_model_preset("tiny-moe"), type, 11, path, nullptr);
    std::mt19937 rng(3);
    std::vector<int32_t> toks{1};
    std::uniform_int_distribution<int32_t> d(300, 2000);
    while (toks.size() < 41) toks.push_back(d(rng));
    std::vector<float> ref_last, ref_step;
    // (threads, unit bytes): one thread with default units is the reference; 2 KiB units give
    // tens of units per matrix, so shares are split and the back of a share gets taken.
    const std::pair<int, size_t> configs[] = {
        {1, 512u << 10}, {2, 2048}, {3, 2048}, {2, 512u << 10}, {3, 40000}};
    for (const auto& config : configs) {
      const int threads = config.first;  // not structured bindings: CAPTURE's lambda takes them
      const size_t unit = config.second;
      CAPTURE(threads);
      CAPTURE(unit);
      LoadOptions lo;
      lo.path = path;
      lo.n_threads = threads;
      lo.n_ctx = 128;
      lo.max_batch = 16;  // multi-token chunks (prefill) and one-token steps (decode)
      lo.matmul_unit_bytes = unit;
      auto m = load_model(lo);
      Session s(*m);
      std::vector<float> last = s.prefill(toks);
      std::vector<float> step = s.step(toks[7]);
      if (ref_last.empty()) {
        ref_last = last;
        ref_step = step;
        continue;
      }
      CHECK(last == ref_last);
      CHECK(step == ref_step);
    }
    ::unlink(path.c_str());
  }
  ::rmdir(dir.c_str());
}
