// Load-time repacking (ForwardContext::repack) changes only the summation order of the matmuls:
// logits of Q4_0 / Q8_0 models with and without it agree, prefill and decode, at least as closely
// as the SIMD kernels agree with the scalar ones.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <random>

#include "engine/loader.h"
#include "engine/quantize.h"
#include "engine/session.h"
#include "engine/testmodel/generator.h"

using namespace lfmd;

namespace {

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("engine: repacked weights give the logits of the mapped weights") {
  const std::string dir = "/tmp/lfmd-repack-test-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  for (kernels::DType type : {kernels::DType::Q4_0, kernels::DType::Q8_0}) {
    for (const char* preset : {"tiny", "tiny-moe"}) {
      CAPTURE(preset);
      CAPTURE(kernels::type_info(type).name);
      const std::string path = dir + "/" + preset + ".gguf";
      write_test_model(*find_test_model_preset(preset), type, 5, path, nullptr);
      std::vector<float> last[3], step[3];
      size_t anon[3] = {0, 0, 0};
      for (int repack = 0; repack < 3; ++repack) {
        LoadOptions lo;
        lo.path = path;
        lo.n_threads = 2;
        lo.n_ctx = 128;
        lo.max_batch = 16;  // multi-token chunks and a one-token tail
        lo.repack = repack == 1;
        if (repack == 2) lo.isa = "scalar";
        auto m = load_model(lo);
        anon[repack] = m->model->anon_weight_bytes();
        std::mt19937 rng(9);
        std::vector<int32_t> toks{1};
        std::uniform_int_distribution<int32_t> d(300, 2000);
        while (toks.size() < 37) toks.push_back(d(rng));
        Session s(*m);
        last[repack] = s.prefill(toks);
        step[repack] = s.step(toks[5]);
      }
      CHECK(anon[0] == 0);
      if (kernels::select_kernels("", nullptr)->repack_bytes(type, 256, 8) > 0) CHECK(anon[1] > 0);
      // Random-weight models amplify rounding through the layers (int8 activation rounding
      // flips); the bar is the spread the project already accepts between SIMD and scalar kernels.
      CHECK(rel_l2(last[1], last[0]) < 3e-2);
      CHECK(rel_l2(step[1], step[0]) < 3e-2);
      CHECK(rel_l2(last[1], last[0]) <= rel_l2(last[0], last[2]));
      ::unlink(path.c_str());
    }
  }
  ::rmdir(dir.c_str());
}

// The AVX-512 and AVX-VNNI tables repeat the AVX2 kernels' float operations: bit-identical
// logits, prefill and decode, on a Q4_0 model, on the Q4_K_M / Q5_K_M / Q6_K mixes (Q4_K, Q5_K,
// Q6_K weights) and on F16 / BF16, with and without load-time repacking (file-layout Q4_K without).
static void check_equals_avx2(kernels::Isa isa) {
  if (kernels::kernel_table(isa) == nullptr) {
    MESSAGE("no " << kernels::isa_name(isa) << " on this CPU: skipped");
    return;
  }
  const std::string dir =
      "/tmp/lfmd-" + std::string(kernels::isa_name(isa)) + "-test-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  const std::string f32 = dir + "/tiny-moe-f32.gguf", path = dir + "/tiny-moe.gguf";
  write_test_model(*find_test_model_preset("tiny-moe"), kernels::DType::F32, 5, f32, nullptr);
  for (const char* mix : {"Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "F16", "BF16"}) {
    CAPTURE(mix);
    quant::FileType ft{};
    REQUIRE(quant::parse_file_type(mix, &ft));
    quant::quantize_file(f32, path, ft, nullptr);
    for (bool repack : {true, false}) {
      CAPTURE(repack);
      std::vector<float> last[2], step[2];
      for (int i = 0; i < 2; ++i) {
        LoadOptions lo;
        lo.path = path;
        lo.n_threads = 2;
        lo.n_ctx = 128;
        lo.max_batch = 16;  // multi-token chunks and a one-token tail
        lo.repack = repack;
        lo.isa = i == 0 ? "avx2" : kernels::isa_name(isa);
        auto m = load_model(lo);
        std::vector<int32_t> toks{1};
        for (int32_t t = 0; t < 36; ++t) toks.push_back(300 + 47 * t);
        Session s(*m);
        last[i] = s.prefill(toks);
        step[i] = s.step(toks[5]);
      }
      CHECK(last[0] == last[1]);
      CHECK(step[0] == step[1]);
    }
    ::unlink(path.c_str());
  }
  ::unlink(f32.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("engine: avx512 logits equal avx2 logits bit for bit") { check_equals_avx2(kernels::Isa::Avx512); }

TEST_CASE("engine: avxvnni logits equal avx2 logits bit for bit") { check_equals_avx2(kernels::Isa::AvxVnni); }
