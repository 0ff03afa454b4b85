#include "tools/convert.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/progress.h"
#include "kernels/ops.h"
#include "kernels/quants.h"
#include "model/gguf_config.h"
#include "model/source.h"
#include "model/tensors.h"
#include "tools/model_writer.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

// A tensor of the source as a matrix view [rows, cols] (1-D: one row); FP8 scales that are not
// stored as F32 are decoded into `owned`.
ops::Matrix matrix_of(const SourceTensor& t,
                      std::vector<std::unique_ptr<std::vector<float>>>& owned) {
  ops::Matrix m;
  m.dtype = t.dtype;
  m.data = t.data;
  m.cols = static_cast<int64_t>(t.shape.back());
  m.rows = 1;
  for (size_t i = 0; i + 1 < t.shape.size(); ++i) m.rows *= static_cast<int64_t>(t.shape[i]);
  m.row_bytes = *dtype_row_bytes(t.dtype, t.shape.back());
  if (t.dtype == DType::F8_E4M3) {
    if (t.scale == nullptr) throw Error(t.name + ": FP8 weight without weight_scale_inv");
    m.scale_cols = quants::fp8_scale_blocks(m.cols);
    if (t.scale->dtype == DType::F32) {
      m.fp8_scales = reinterpret_cast<const float*>(t.scale->data);
    } else {
      uint64_t n = 1;
      for (uint64_t d : t.scale->shape) n *= d;
      owned.push_back(std::make_unique<std::vector<float>>(n));
      quants::dequantize_row(t.scale->dtype, t.scale->data, owned.back()->data(),
                             static_cast<int64_t>(n));
      m.fp8_scales = owned.back()->data();
    }
  }
  return m;
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
  ModelSource src = ModelSource::open(hf_dir);
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

  // HF name -> matrix view of the checkpoint (read-only, shared by the encoding threads).
  auto owned = std::make_shared<std::vector<std::unique_ptr<std::vector<float>>>>();
  auto views = std::make_shared<std::map<std::string, ops::Matrix>>();
  for (const TensorSpec& s : expected_tensors(c, TensorLayout::kHuggingFace)) {
    const SourceTensor* t = src.find(s.name);
    if (t == nullptr) throw Error(hf_dir + ": missing tensor " + s.name);
    (*views)[s.name] = matrix_of(*t, *owned);
  }
  HfRowSource rows = [views, owned](const TensorSpec& hf, uint64_t row, float* dst) {
    ops::load_row(views->at(hf.name), static_cast<int64_t>(row), dst);
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
