#include "tools/convert.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "core/check.h"
#include "core/error.h"
#include "core/progress.h"
#include "formats/safetensors.h"
#include "kernels/ops.h"
#include "kernels/quants.h"
#include "model/gguf_config.h"
#include "model/source.h"
#include "model/tensors.h"
#include "tools/model_writer.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

// A tensor of an unmapped checkpoint, read row by row: its matrix shape [rows, cols] (1-D: one
// row) without data, and its FP8 block scales decoded to float (1/16384 of the weights).
struct InputTensor {
  const safetensors::TensorInfo* info = nullptr;
  ops::Matrix m;  // data null: each row is read into a buffer
  std::vector<float> scales;
};

InputTensor input_of(const SourceTensor& t, const safetensors::Checkpoint& cp) {
  InputTensor in;
  in.info = cp.find(t.name);
  R1_CHECK_MSG(in.info != nullptr, "tensor %s not in the checkpoint", t.name.c_str());
  ops::Matrix& m = in.m;
  m.dtype = t.dtype;
  m.cols = static_cast<int64_t>(t.shape.back());
  m.rows = 1;
  for (size_t i = 0; i + 1 < t.shape.size(); ++i) m.rows *= static_cast<int64_t>(t.shape[i]);
  m.row_bytes = *dtype_row_bytes(t.dtype, t.shape.back());
  if (t.dtype == DType::F8_E4M3) {
    if (t.scale == nullptr) throw Error(t.name + ": FP8 weight without weight_scale_inv");
    const safetensors::TensorInfo* s = cp.find(t.scale->name);
    R1_CHECK_MSG(s != nullptr, "scales %s not in the checkpoint", t.scale->name.c_str());
    m.scale_cols = quants::fp8_scale_blocks(m.cols);
    std::vector<uint8_t> raw(s->nbytes());
    cp.read(*s, 0, raw.data(), raw.size());
    in.scales.resize(s->n_elements());
    quants::dequantize_row(s->dtype, raw.data(), in.scales.data(),
                           static_cast<int64_t>(in.scales.size()));
  }
  return in;
}

// Row `row` of an input tensor, read with pread into a per-thread buffer and decoded.
void read_row(const safetensors::Checkpoint& cp, const InputTensor& in, uint64_t row, float* out) {
  thread_local std::vector<uint8_t> buf;
  buf.resize(in.m.row_bytes);
  cp.read(*in.info, row * in.m.row_bytes, buf.data(), in.m.row_bytes);
  ops::Matrix one = in.m;
  one.data = buf.data();
  one.rows = 1;
  one.scale_row0 = static_cast<int64_t>(row);
  if (!in.scales.empty()) one.fp8_scales = in.scales.data();
  ops::load_row(one, 0, out);
}

const char* gguf_pre_name(const std::string& family) {
  if (family == "deepseek-v3") return "deepseek-v3";
  if (family == "deepseek-llm") return "deepseek-llm";
  if (family == "qwen2") return "qwen2";
  if (family == "llama3") return "llama-bpe";
  if (family == "gpt2") return "gpt2";
  return nullptr;
}

}  // namespace

std::vector<std::pair<std::string, gguf::Value>> tokenizer_gguf_kvs(const Tokenizer& tok,
                                                                    int64_t vocab_size) {
  using V = gguf::Value;
  const char* pre = gguf_pre_name(tok.pre_tokenizer());
  if (pre == nullptr)
    throw Error("the tokenizer's pre-tokenizer (" + tok.pre_tokenizer() +
                ") has no GGUF name (supported: DeepSeek-V3, DeepSeek-LLM, Qwen2, Llama-3, GPT-2)");
  const int64_t n = std::max<int64_t>(vocab_size, static_cast<int64_t>(tok.vocab_size()));
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  tokens.reserve(static_cast<size_t>(n));
  types.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    TokenKind kind =
        i < static_cast<int64_t>(tok.vocab_size()) ? tok.token_kind(id) : TokenKind::Unused;
    std::string text = kind == TokenKind::Unused ? std::string() : tok.token_text(id);
    if (text.empty()) {
      kind = TokenKind::Unused;
      text = "[PAD" + std::to_string(i) + "]";
    }
    int32_t type = 1;
    switch (kind) {
      case TokenKind::Normal:
        type = 1;
        break;
      case TokenKind::Unknown:
        type = 2;
        break;
      case TokenKind::Control:
        type = 3;
        break;
      case TokenKind::UserDefined:
        type = 4;
        break;
      case TokenKind::Unused:
        type = 5;
        break;
      case TokenKind::Byte:
        type = 6;
        break;
    }
    tokens.push_back(std::move(text));
    types.push_back(type);
  }
  std::vector<std::pair<std::string, V>> kv;
  kv.emplace_back("tokenizer.ggml.model", V::str("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", V::str(pre));
  kv.emplace_back("tokenizer.ggml.tokens", V::str_array(tokens));
  kv.emplace_back("tokenizer.ggml.token_type", V::i32_array(types));
  kv.emplace_back("tokenizer.ggml.merges", V::str_array(tok.merges()));
  if (tok.bos() >= 0)
    kv.emplace_back("tokenizer.ggml.bos_token_id", V::u32(static_cast<uint32_t>(tok.bos())));
  if (tok.eos() >= 0)
    kv.emplace_back("tokenizer.ggml.eos_token_id", V::u32(static_cast<uint32_t>(tok.eos())));
  kv.emplace_back("tokenizer.ggml.add_bos_token", V::boolean(tok.add_bos()));
  kv.emplace_back("tokenizer.ggml.add_eos_token", V::boolean(false));
  if (!tok.chat_template().empty())
    kv.emplace_back("tokenizer.chat_template", V::str(tok.chat_template()));
  return kv;
}

ConvertResult convert_hf_to_gguf(const std::string& hf_dir, const std::string& out,
                                 const ConvertOptions& o) {
  // Unmapped: tensors are read row by row (pread), so the address space used does not grow with
  // the model (docs/PERFORMANCE.md, "Conversion").
  ModelSource src = ModelSource::open(hf_dir, /*map=*/false);
  if (src.format() != SourceFormat::kSafetensors)
    throw Error(hf_dir + ": not a Hugging Face safetensors checkpoint (" +
                source_format_name(src.format()) + ")");
  src.validate_tensors();
  ModelConfig c = src.config();

  // The MTP module: kept only when asked for and present.
  if (o.keep_mtp && c.n_mtp_layers > 0) {
    for (const TensorSpec& s : expected_tensors(c, TensorLayout::kHuggingFace))
      if (s.mtp && src.find(s.name) == nullptr)
        throw Error(hf_dir + ": --keep-mtp: the checkpoint lacks the MTP tensor " + s.name);
  } else {
    c.n_mtp_layers = 0;
  }

  // HF name -> tensor of the checkpoint (read-only, shared by the encoding threads).
  const safetensors::Checkpoint* cp = src.checkpoint();
  R1_CHECK(cp != nullptr);
  auto inputs = std::make_shared<std::map<std::string, InputTensor>>();
  for (const TensorSpec& s : expected_tensors(c, TensorLayout::kHuggingFace)) {
    const SourceTensor* t = src.find(s.name);
    if (t == nullptr) throw Error(hf_dir + ": missing tensor " + s.name);
    (*inputs)[s.name] = input_of(*t, *cp);
  }
  HfRowSource rows = [inputs, cp](const TensorSpec& hf, uint64_t row, float* dst) {
    read_row(*cp, inputs->at(hf.name), row, dst);
  };

  PlanOptions p;
  p.config = c;
  p.weights = o.weights;
  p.format = FileKind::kGguf;
  p.include_mtp = c.n_mtp_layers > 0;
  const std::vector<PlannedTensor> plan = plan_tensors(p, rows);

  std::vector<std::pair<std::string, gguf::Value>> kvs = gguf_config_kvs(c);
  std::string name = fs::path(hf_dir).filename().string();
  if (name.empty()) name = fs::path(hf_dir).parent_path().filename().string();
  kvs.emplace_back("general.name", gguf::Value::str(name));
  kvs.emplace_back("general.file_type", gguf::Value::u32(o.weights.llama_file_type()));
  const fs::path dir = fs::is_directory(hf_dir) ? fs::path(hf_dir) : fs::path(hf_dir).parent_path();
  if (fs::exists(dir / "tokenizer.json")) {
    const Tokenizer tok = Tokenizer::from_hf(dir.string());
    for (auto& kv : tokenizer_gguf_kvs(tok, c.vocab_size)) kvs.push_back(std::move(kv));
  }

  write_gguf_model(out, kvs, plan, 1, o.progress);
  ConvertResult r;
  r.path = out;
  r.bytes = fs::file_size(out);
  r.tensors = plan.size();
  for (const auto& t : plan) r.elements += t.spec.n_elements();
  return r;
}

}  // namespace r1
