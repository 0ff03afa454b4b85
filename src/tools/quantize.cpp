// `r1 quantize`: GGUF -> GGUF with another weight type, tensor by tensor.
#include <algorithm>
#include <filesystem>
#include <map>

#include "core/check.h"
#include "core/error.h"
#include "core/progress.h"
#include "kernels/ops.h"
#include "model/source.h"
#include "model/tensors.h"
#include "tools/convert.h"
#include "tools/model_writer.h"

namespace r1 {

namespace fs = std::filesystem;

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative wildcard match with backtracking to the last '*'.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

TypeOverride parse_type_override(const std::string& s) {
  const size_t eq = s.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    throw Error("--override '" + s + "': expected PATTERN=TYPE (e.g. '*.ffn_down_exps.*=Q6_K')");
  const WeightType wt = parse_weight_type(s.substr(eq + 1));
  if (wt.q4_k_m || wt.base == DType::F8_E4M3)
    throw Error("--override '" + s + "': the type must be a plain GGUF type, not " + wt.name());
  return {s.substr(0, eq), wt.base};
}

namespace {

bool skip_key(const std::string& k) {
  return k.rfind("split.", 0) == 0 || k == gguf::kKeyAlignment || k == "general.file_type" ||
         k == "general.quantization_version";
}

}  // namespace

QuantizeResult quantize_gguf(const std::string& in, const std::string& out,
                             const QuantizeOptions& o) {
  // Unmapped: the header is mapped, tensor data read with pread (docs/PERFORMANCE.md,
  // "Conversion"), so the address space used does not grow with the model.
  ModelSource src = ModelSource::open(in, /*map=*/false);
  const gguf::File* file = src.gguf();
  if (src.format() != SourceFormat::kGguf) throw Error(in + ": not a GGUF file");
  src.validate_tensors();
  const ModelConfig& c = src.config();
  if (fs::exists(out) && fs::equivalent(in, out)) throw Error(out + ": the output is the input");

  std::map<std::string, TensorSpec> specs;
  for (const TensorSpec& s : expected_tensors(c, src.layout())) specs[s.name] = s;

  QuantizeResult r;
  r.path = out;
  std::vector<const SourceTensor*> inputs;
  std::vector<DType> types;
  for (const SourceTensor& t : src.tensors()) {
    TensorSpec spec;
    if (auto it = specs.find(t.name); it != specs.end()) {
      spec = it->second;
    } else {
      spec.name = t.name;
      spec.shape = t.shape;
      spec.role = t.shape.size() == 1 ? TensorRole::kNorm : TensorRole::kFfnGateUp;
    }
    DType to = tensor_type(spec, o.weights, FileKind::kGguf, c.n_layers);
    for (const TypeOverride& ov : o.overrides) {
      if (!glob_match(ov.pattern, t.name)) continue;
      if (t.shape.size() > 1) {
        if (t.shape.back() % dtype_traits(ov.type).block_elems != 0)
          throw Error("--override " + ov.pattern + "=" + dtype_name(ov.type) + ": " + t.name +
                      " has rows of " + std::to_string(t.shape.back()) +
                      " values, not a multiple of the block size");
        to = ov.type;
      }
      break;
    }
    inputs.push_back(&t);
    types.push_back(to);
    TensorReport rep;
    rep.name = t.name;
    rep.from = t.dtype;
    rep.to = to;
    rep.elements = 1;
    for (uint64_t d : t.shape) rep.elements *= d;
    rep.bytes = *dtype_bytes(to, rep.elements);
    rep.copied = to == t.dtype;
    r.tensor_bytes += rep.bytes;
    r.elements += rep.elements;
    r.tensors.push_back(rep);
  }

  gguf::Writer w(out);
  bool quantized = false;
  for (DType t : types) quantized = quantized || dtype_is_quantized(t);
  for (const auto& [k, v] : src.gguf()->metadata())
    if (!skip_key(k)) w.add_kv(k, v);
  w.add_kv("general.file_type", gguf::Value::u32(o.weights.llama_file_type()));
  if (quantized) w.add_kv("general.quantization_version", gguf::Value::u32(2));
  for (size_t i = 0; i < inputs.size(); ++i)
    w.add_tensor(inputs[i]->name, {inputs[i]->shape.rbegin(), inputs[i]->shape.rend()}, types[i]);
  w.write_header();

  Progress progress("quantizing", r.tensor_bytes, o.progress);
  uint64_t done = 0;
  const WriteFn write = [&](const void* p, uint64_t n) { w.write_data(p, n); };
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SourceTensor& t = *inputs[i];
    const gguf::TensorInfo* info = file->find_tensor(t.name);
    R1_CHECK_MSG(info != nullptr, "tensor %s not in the GGUF", t.name.c_str());
    if (r.tensors[i].copied) {
      constexpr uint64_t kChunk = 32ull << 20;
      std::vector<uint8_t> buf(std::min(kChunk, t.nbytes));
      for (uint64_t off = 0; off < t.nbytes; off += kChunk) {
        const uint64_t n = std::min(kChunk, t.nbytes - off);
        file->read(*info, off, buf.data(), n);
        w.write_data(buf.data(), n);
        done += n;
        progress.update(done);
      }
      continue;
    }
    ops::Matrix m;  // one row, read into a per-thread buffer
    m.dtype = t.dtype;
    m.cols = static_cast<int64_t>(t.shape.back());
    m.rows = 1;
    m.row_bytes = *dtype_row_bytes(t.dtype, t.shape.back());
    PlannedTensor p;
    p.spec.name = t.name;
    p.spec.shape = t.shape;
    p.dtype = types[i];
    p.row = [m, file, info](uint64_t row, float* dst) {
      thread_local std::vector<uint8_t> buf;
      buf.resize(m.row_bytes);
      file->read(*info, row * m.row_bytes, buf.data(), m.row_bytes);
      ops::Matrix one = m;
      one.data = buf.data();
      ops::load_row(one, 0, dst);
    };
    EncodeStats stats;
    stream_tensor(p, write, progress, done, o.report ? &stats : nullptr);
    r.tensors[i].relative_rms = stats.relative_rms();
  }
  w.finish();
  progress.finish();
  r.bytes = fs::file_size(out);
  return r;
}

}  // namespace r1
