// convert and quantize: a converted safetensors checkpoint (BF16 or FP8) gives the logits of the
// checkpoint itself, for every architecture; the GGUF it writes validates, names its tensors as
// llama.cpp does and embeds the tokenizer; quantize keeps within each format's error bound and
// the Q4_K_M mixture's size; an interrupted convert leaves nothing under the final name.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <span>

#include "core/error.h"
#include "kernels/quants.h"
#include "model/forward.h"
#include "model/source.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tools/convert.h"
#include "tools/test_model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

const std::vector<int32_t> kTokens = {1, 17, 300, 42, 5, 99, 260, 7, 128, 64, 3, 200};

std::string make_model(const test::TempDir& dir, Arch arch, const std::string& type,
                       FileKind format, const std::string& name, bool mtp = true) {
  TestModelOptions o;
  o.config = test_model_config("tiny", arch);
  o.seed = 11;
  o.progress = false;
  o.weights = parse_weight_type(type);
  o.format = format;
  o.include_mtp = mtp;
  const std::string out = dir.file(name);
  write_test_model(o, out);
  return out;
}

std::vector<float> logits_of(const ModelSource& src) {
  Model m(bind_weights(src));
  Sequence s = m.new_sequence(64);
  std::vector<float> out(kTokens.size() * static_cast<size_t>(m.config().vocab_size));
  m.forward(s, kTokens, out.data(), true);
  return out;
}

float max_abs(const std::vector<float>& a) {
  float m = 0;
  for (float x : a) m = std::max(m, std::fabs(x));
  return m;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::vector<std::string> names_of(const std::vector<TensorSpec>& specs, bool with_mtp) {
  std::vector<std::string> out;
  for (const auto& s : specs)
    if (with_mtp || !s.mtp) out.push_back(s.name);
  return out;
}

struct Case {
  Arch arch;
  const char* source_type;  // safetensors: BF16 or FP8
};

class ConvertEveryArch : public ::testing::TestWithParam<Case> {};

TEST_P(ConvertEveryArch, SameLogitsAsTheCheckpoint) {
  const Case c = GetParam();
  test::TempDir dir;
  const std::string st = make_model(dir, c.arch, c.source_type, FileKind::kSafetensors, "st");
  ModelSource hf = ModelSource::open(st);
  hf.validate_tensors();
  const std::vector<float> want = logits_of(hf);
  const float scale = max_abs(want);

  for (const char* type : {"F32", "BF16", "Q8_0"}) {
    SCOPED_TRACE(type);
    ConvertOptions o;
    o.weights = parse_weight_type(type);
    o.progress = false;
    const std::string out = dir.file(std::string("m-") + type + ".gguf");
    const ConvertResult r = convert_hf_to_gguf(st, out, o);
    EXPECT_EQ(r.path, out);
    EXPECT_FALSE(fs::exists(out + ".partial"));
    ModelSource g = ModelSource::open(out);
    ASSERT_EQ(g.format(), SourceFormat::kGguf);
    g.validate_tensors();
    EXPECT_EQ(g.layout(), TensorLayout::kGguf);
    EXPECT_EQ(g.config().n_mtp_layers, 0);  // MTP only with --keep-mtp
    std::vector<std::string> got;
    for (const auto& t : g.tensors()) got.push_back(t.name);
    EXPECT_EQ(got, names_of(expected_tensors(g.config(), TensorLayout::kGguf), false));
    const std::vector<float> logits = logits_of(g);
    const float diff = max_abs_diff(logits, want);
    const std::string t = type;
    if (t == "F32" || (t == "BF16" && std::string(c.source_type) == "BF16")) {
      // BF16 and FP8 values are exact in F32, BF16 in BF16: only the summation order differs.
      EXPECT_LE(diff, 1e-4f * scale) << "max |logit| " << scale;
    } else if (t == "BF16") {
      EXPECT_LE(diff, 0.03f * scale) << "FP8 x scale rounded to BF16; max |logit| " << scale;
    } else {
      // Q8_0 is the F32 conversion quantized: the same logits as quantizing that file.
      QuantizeOptions q;
      q.weights = o.weights;
      q.progress = false;
      const std::string f32 = dir.file("m-F32.gguf"), requant = dir.file("m-requant.gguf");
      quantize_gguf(f32, requant, q);
      EXPECT_EQ(max_abs_diff(logits, logits_of(ModelSource::open(requant))), 0.0f);
      // Routing of the tiny MoE models can flip with rounding; dense models stay close.
      if (!g.config().is_moe()) EXPECT_LE(diff, 0.05f * scale) << "max |logit| " << scale;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, ConvertEveryArch,
    ::testing::Values(Case{Arch::kDeepSeekV3, "BF16"}, Case{Arch::kDeepSeekV3, "FP8"},
                      Case{Arch::kDeepSeekV2, "BF16"}, Case{Arch::kDeepSeekV2, "FP8"},
                      Case{Arch::kQwen2, "BF16"}, Case{Arch::kQwen2, "FP8"},
                      Case{Arch::kLlama, "BF16"}, Case{Arch::kLlama, "FP8"}),
    [](const auto& info) {
      return std::string(arch_name(info.param.arch)) + "_" + info.param.source_type;
    });

TEST(Convert, KeepMtpWritesTheModule) {
  test::TempDir dir;
  const std::string st = make_model(dir, Arch::kDeepSeekV3, "BF16", FileKind::kSafetensors, "st");
  ConvertOptions o;
  o.weights = parse_weight_type("F32");
  o.keep_mtp = true;
  o.progress = false;
  const std::string out = dir.file("mtp.gguf");
  convert_hf_to_gguf(st, out, o);
  ModelSource g = ModelSource::open(out);
  g.validate_tensors();
  EXPECT_EQ(g.config().n_mtp_layers, 1);
  std::vector<std::string> got;
  for (const auto& t : g.tensors()) got.push_back(t.name);
  EXPECT_EQ(got, names_of(expected_tensors(g.config(), TensorLayout::kGguf), true));

  // The MTP draft logits equal those of the checkpoint.
  ModelSource hf = ModelSource::open(st);
  auto mtp_logits = [](const ModelSource& src) {
    Model m(bind_weights(src));
    EXPECT_TRUE(m.has_mtp());
    Sequence s = m.new_sequence(64), ms = m.new_mtp_sequence(64);
    const size_t V = static_cast<size_t>(m.config().vocab_size);
    std::vector<float> logits(kTokens.size() * V), hidden;
    m.forward(s, kTokens, logits.data(), true, &hidden);
    const size_t n = kTokens.size() - 1;
    std::vector<float> draft(n * V);
    m.forward_mtp(ms, hidden.data(), std::span(kTokens).subspan(1), draft.data());
    return draft;
  };
  const std::vector<float> want = mtp_logits(hf);
  EXPECT_LE(max_abs_diff(mtp_logits(g), want), 1e-4f * max_abs(want));
}

TEST(Convert, EmbedsTheTokenizer) {
  for (Arch arch : {Arch::kDeepSeekV3, Arch::kDeepSeekV2, Arch::kQwen2, Arch::kLlama}) {
    SCOPED_TRACE(arch_name(arch));
    test::TempDir dir;
    const std::string st = make_model(dir, arch, "BF16", FileKind::kSafetensors, "st", false);
    ConvertOptions o;
    o.progress = false;
    const std::string out = dir.file("m.gguf");
    convert_hf_to_gguf(st, out, o);
    const Tokenizer want = Tokenizer::from_hf(st);
    const Tokenizer got = Tokenizer::from_path(out);
    EXPECT_EQ(got.bos(), want.bos());
    EXPECT_EQ(got.eos(), want.eos());
    EXPECT_EQ(got.add_bos(), want.add_bos());
    EXPECT_EQ(got.chat_template(), want.chat_template());
    EXPECT_EQ(got.merges(), want.merges());
    EXPECT_EQ(got.pre_tokenizer(), want.pre_tokenizer());
    for (const std::string& text : std::vector<std::string>{
             "Hello world! The quick brown fox jumps over the lazy dog.",
             "  numbers 12345 and 3.14159, punctuation?!... ünïcödé 中文 🙂",
             want.bos_text() + "line one\nline two\n\n\ttabbed " + want.eos_text()}) {
      EXPECT_EQ(got.encode(text, true), want.encode(text, true)) << text;
      EXPECT_EQ(got.encode(text, false, false), want.encode(text, false, false)) << text;
    }
  }
}

TEST(Convert, RefusesWhatIsNotACheckpoint) {
  test::TempDir dir;
  const std::string g = make_model(dir, Arch::kQwen2, "F32", FileKind::kGguf, "m.gguf");
  ConvertOptions o;
  o.progress = false;
  EXPECT_THROW(convert_hf_to_gguf(g, dir.file("out.gguf"), o), Error);
  EXPECT_FALSE(fs::exists(dir.file("out.gguf")));
  const std::string st = make_model(dir, Arch::kQwen2, "BF16", FileKind::kSafetensors, "st");
  o.weights = parse_weight_type("F32");
  o.keep_mtp = true;  // a Qwen2 model has no MTP: nothing to keep, converts as usual
  EXPECT_NO_THROW(convert_hf_to_gguf(st, dir.file("out.gguf"), o));
}

TEST(Convert, InterruptedRunLeavesNoFileUnderTheFinalName) {
  test::TempDir dir;
  TestModelOptions t;
  t.config = test_model_config("tiny", Arch::kLlama);
  t.config.n_layers = 12;
  t.weights = parse_weight_type("BF16");
  t.format = FileKind::kSafetensors;
  t.progress = false;
  write_test_model(t, dir.file("st"));
  const std::string out = dir.file("out.gguf");
  // Kill the converter (SIGKILL: no clean-up at all) as soon as its partial file exists.
  const std::string cmd = "(" + test::r1_binary() + " convert -q --type Q6_K " + dir.file("st") +
                          " " + out + " & pid=$!; for i in $(seq 1 2000); do [ -e " + out +
                          ".partial ] && break; sleep 0.005; done; kill -9 $pid 2>/dev/null && "
                          "echo killed; wait $pid; true)";
  const test::CommandResult r = test::run_command(cmd);
  if (r.out.find("killed") == std::string::npos) GTEST_SKIP() << "the converter finished first";
  EXPECT_TRUE(fs::exists(out + ".partial"));
  EXPECT_FALSE(fs::exists(out));
}

TEST(Quantize, GlobPatterns) {
  EXPECT_TRUE(glob_match("*", "blk.0.attn_q.weight"));
  EXPECT_TRUE(glob_match("blk.*.ffn_down*", "blk.12.ffn_down_exps.weight"));
  EXPECT_TRUE(glob_match("blk.?.attn_*.weight", "blk.3.attn_k_b.weight"));
  EXPECT_FALSE(glob_match("blk.?.attn_*.weight", "blk.13.attn_k_b.weight"));
  EXPECT_FALSE(glob_match("token_embd", "token_embd.weight"));
  EXPECT_EQ(parse_type_override("*.ffn_down*=Q6_K").type, DType::Q6_K);
  EXPECT_EQ(parse_type_override("a=b=Q8_0").pattern, "a=b");
  EXPECT_THROW(parse_type_override("noequals"), Error);
  EXPECT_THROW(parse_type_override("x=Q4_K_M"), Error);
  EXPECT_THROW(parse_type_override("x=NOPE"), Error);
}

TEST(Quantize, Q8_0StaysWithinItsBound) {
  test::TempDir dir;
  const std::string in = make_model(dir, Arch::kDeepSeekV3, "F32", FileKind::kGguf, "m.gguf");
  QuantizeOptions o;
  o.weights = parse_weight_type("Q8_0");
  o.report = true;
  o.progress = false;
  const std::string out = dir.file("q8.gguf");
  const QuantizeResult r = quantize_gguf(in, out, o);
  ModelSource a = ModelSource::open(in), b = ModelSource::open(out);
  b.validate_tensors();
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  size_t checked = 0;
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const SourceTensor &x = a.tensors()[i], &y = b.tensors()[i];
    ASSERT_EQ(x.name, y.name);
    ASSERT_EQ(x.shape, y.shape);
    EXPECT_EQ(r.tensors[i].to, y.dtype);
    if (y.dtype != DType::Q8_0) {
      EXPECT_TRUE(y.dtype == DType::F32) << y.name;  // norms, router
      continue;
    }
    // Per block of 32: |x - q(x)| <= d/2 with d = max|x| / 127 (plus the fp16 rounding of d).
    const uint64_t cols = x.shape.back(), n = x.nbytes / sizeof(float);
    std::vector<float> back(cols);
    const float* xs = reinterpret_cast<const float*>(x.data);
    const uint64_t row_bytes = *dtype_row_bytes(DType::Q8_0, cols);
    for (uint64_t r0 = 0; r0 < n / cols; ++r0) {
      quants::dequantize_row(DType::Q8_0, y.data + r0 * row_bytes, back.data(),
                             static_cast<int64_t>(cols));
      for (uint64_t b0 = 0; b0 < cols; b0 += 32) {
        float amax = 0;
        for (uint64_t k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(xs[r0 * cols + b0 + k]));
        const float bound = amax / 127.0f * 0.5f * 1.07f + 1e-12f;
        for (uint64_t k = 0; k < 32; ++k)
          ASSERT_LE(std::fabs(xs[r0 * cols + b0 + k] - back[b0 + k]), bound) << y.name;
      }
    }
    EXPECT_GT(r.tensors[i].relative_rms, 0.0);
    EXPECT_LT(r.tensors[i].relative_rms, 0.006) << y.name;  // uniform data: ~1/(2*127)
    ++checked;
  }
  EXPECT_GT(checked, 10u);
  EXPECT_NEAR(r.bits_per_weight(), 8.5, 0.2);
}

TEST(Quantize, Q4_K_MMixtureAndOverrides) {
  test::TempDir dir;
  const std::string in = make_model(dir, Arch::kLlama, "F32", FileKind::kGguf, "m.gguf");
  QuantizeOptions o;
  o.weights = parse_weight_type("Q4_K_M");
  o.progress = false;
  o.report = true;
  const QuantizeResult r = quantize_gguf(in, dir.file("q4km.gguf"), o);
  ModelSource q = ModelSource::open(dir.file("q4km.gguf"));
  q.validate_tensors();
  // Q4_K is 4.5 bits, Q6_K 6.5625: the sensitive tensors of a 2-layer model weigh a lot.
  EXPECT_GT(r.bits_per_weight(), 4.5);
  EXPECT_LT(r.bits_per_weight(), 6.0);
  EXPECT_EQ(q.find("token_embd.weight")->dtype, DType::Q6_K);
  EXPECT_EQ(q.find("blk.0.attn_q.weight")->dtype, DType::Q4_K);
  EXPECT_EQ(q.find("blk.0.attn_output.weight")->dtype, DType::Q6_K);
  for (const auto& t : r.tensors)
    if (t.to == DType::Q4_K) EXPECT_LT(t.relative_rms, 0.12) << t.name;
  // Logits stay close to the F32 model.
  ModelSource f = ModelSource::open(in);
  const std::vector<float> want = logits_of(f);
  EXPECT_LE(max_abs_diff(logits_of(q), want), 0.25f * max_abs(want));

  o.overrides = {parse_type_override("blk.*.ffn_down.weight=Q8_0"),
                 parse_type_override("*attn_q*=F16")};
  quantize_gguf(in, dir.file("ov.gguf"), o);
  ModelSource ov = ModelSource::open(dir.file("ov.gguf"));
  ov.validate_tensors();
  EXPECT_EQ(ov.find("blk.0.ffn_down.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(ov.find("blk.1.ffn_down.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(ov.find("blk.1.attn_q.weight")->dtype, DType::F16);
  EXPECT_EQ(ov.find("blk.1.attn_norm.weight")->dtype, DType::F32);  // vectors stay float

  // A requantized file keeps the tokenizer and configuration.
  EXPECT_EQ(Tokenizer::from_path(dir.file("ov.gguf")).encode("hello there", true),
            Tokenizer::from_path(in).encode("hello there", true));
}

TEST(Quantize, CommandLine) {
  test::TempDir dir;
  const std::string in = make_model(dir, Arch::kQwen2, "F32", FileKind::kGguf, "m.gguf");
  const std::string out = dir.file("q.gguf");
  const test::CommandResult r =
      test::run_command(test::r1_binary() + " quantize -q --report --override '*ffn_up*=Q8_0' " +
                        in + " " + out + " Q4_K_M 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("bits per weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blk.0.ffn_up.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rel. RMS"), std::string::npos) << r.out;
  EXPECT_EQ(ModelSource::open(out).find("blk.0.ffn_up.weight")->dtype, DType::Q8_0);
  const test::CommandResult bad =
      test::run_command(test::r1_binary() + " quantize " + in + " " + out + " Q9 2>&1");
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace r1
