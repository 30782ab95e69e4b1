// GGUF writer -> reader round trip, and the reader's refusals (the CLI-level bad-file suite is
// tests/integration/test_bad_files.py).
#include <doctest/doctest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine/gguf.h"

using namespace lfmd;

namespace {

std::string temp_path(const char* name) {
  return std::string("/tmp/lfmd-test-") + std::to_string(::getpid()) + "-" + name;
}

gguf::Writer sample_writer() {
  gguf::Writer w;
  w.set_string("general.architecture", "lfm2");
  w.set_u32("a.u32", 7);
  w.set_i32("a.i32", -3);
  w.set_f32("a.f32", 0.5f);
  w.set_bool("a.bool", true);
  w.set_array_string("a.strs", {"x", "", "héllo"});
  w.set_array_i32("a.ints", {0, -1, 8});
  w.set_array_f32("a.floats", {1.5f, -2.0f});
  w.add_tensor("t.f32", kernels::DType::F32, {4, 3});
  w.add_tensor("t.q8", kernels::DType::Q8_0, {64, 2});
  return w;
}

void emit_sample(const gguf::Writer& w, size_t i, const gguf::Writer::ByteSink& out) {
  std::vector<uint8_t> bytes(w.tensor_bytes(i));
  for (size_t j = 0; j < bytes.size(); ++j) bytes[j] = static_cast<uint8_t>(i * 31 + j);
  out(bytes.data(), bytes.size());
}

std::string write_sample(const char* name) {
  const gguf::Writer w = sample_writer();
  const std::string p = temp_path(name);
  w.write(p, [&](size_t i, const gguf::Writer::ByteSink& out) { emit_sample(w, i, out); });
  return p;
}

std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const std::string& p, const std::vector<char>& b) {
  std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST_CASE("gguf: writer output reads back exactly") {
  const std::string p = write_sample("roundtrip.gguf");
  gguf::Reader r(p);
  CHECK(r.version() == 3);
  CHECK(r.get_string("general.architecture") == "lfm2");
  CHECK(r.get_uint("a.u32") == 7);
  CHECK(r.find("a.i32")->i == -3);
  CHECK(r.get_float("a.f32") == 0.5);
  CHECK(*r.get_bool_opt("a.bool"));
  CHECK(r.find("a.strs")->arr_str == std::vector<std::string>{"x", "", "héllo"});
  CHECK(r.find("a.ints")->arr_int == std::vector<int64_t>{0, -1, 8});
  CHECK(r.find("a.floats")->arr_float == std::vector<double>{1.5, -2.0});
  REQUIRE(r.tensors().size() == 2);
  const gguf::TensorInfo* q = r.tensor("t.q8");
  REQUIRE(q);
  CHECK(q->ne[0] == 64);
  CHECK(q->ne[1] == 2);
  CHECK(q->nbytes == 2 * 2 * 34);
  CHECK(q->offset % 32 == 0);
  for (size_t j = 0; j < q->nbytes; ++j) REQUIRE(q->data[j] == static_cast<uint8_t>(31 + j));
  CHECK_THROWS_AS(r.get_string("a.u32"), gguf::FormatError);  // wrong type is an error
  CHECK_THROWS_WITH_AS(r.get_uint("no.such.key"), "missing metadata key 'no.such.key'", gguf::FormatError);
  ::unlink(p.c_str());
}

// Two processes that start at once on the demo model both write it: each must rename a whole
// file of its own into place. Here the second write runs inside the first one's (deterministic).
TEST_CASE("gguf: two writers of one path at once both succeed, no temporary file left") {
  const std::string dir = "/tmp/lfmd-test-" + std::to_string(::getpid()) + "-concurrent";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  const std::string p = dir + "/model.gguf";
  const gguf::Writer w = sample_writer();
  bool nested = false;
  w.write(p, [&](size_t i, const gguf::Writer::ByteSink& out) {
    if (!nested) {
      nested = true;
      w.write(p, [&](size_t k, const gguf::Writer::ByteSink& o) { emit_sample(w, k, o); });
    }
    emit_sample(w, i, out);
  });
  CHECK(nested);
  gguf::Reader r(p);
  const gguf::TensorInfo* q = r.tensor("t.q8");
  REQUIRE(q);
  for (size_t j = 0; j < q->nbytes; ++j) REQUIRE(q->data[j] == static_cast<uint8_t>(31 + j));
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    ::closedir(d);
  }
  CHECK(names == std::vector<std::string>{"model.gguf"});
  ::unlink(p.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("gguf: every truncation of a valid file is refused cleanly") {
  const std::string p = write_sample("trunc-src.gguf");
  const std::vector<char> all = slurp(p);
  const std::string q = temp_path("trunc.gguf");
  int refused = 0, tried = 0;
  for (size_t n = 0; n < all.size(); n += (n < 600 ? 1 : 37)) {
    ++tried;
    spit(q, std::vector<char>(all.begin(), all.begin() + static_cast<long>(n)));
    try {
      gguf::Reader r(q);
    } catch (const gguf::FormatError& e) {
      ++refused;
      CHECK(std::strchr(e.what(), '\n') == nullptr);
    }
  }
  CHECK(tried > 300);
  CHECK(refused == tried);
  ::unlink(p.c_str());
  ::unlink(q.c_str());
}

TEST_CASE("gguf: a non-GGUF file names the problem") {
  const std::string q = temp_path("magic.gguf");
  spit(q, std::vector<char>{'G', 'G', 'M', 'L', 0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(gguf::Reader{q}, doctest::Contains("not a GGUF file"), gguf::FormatError);
  ::unlink(q.c_str());
}
