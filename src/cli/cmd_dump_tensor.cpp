// r1 dump-tensor FILE NAME -o OUT.npy: one tensor of a .gguf or safetensors model, dequantized
// to float32 and written as a NumPy .npy in row-major (PyTorch) shape order. An F8_E4M3
// safetensors tensor is multiplied by its 128x128 block scales from `NAME_scale_inv` when that
// sibling exists. Used by the reference tests to compare dequantization with NumPy.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/npy.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "kernels/quants.h"

namespace r1::cli {
namespace {

struct DumpOptions {
  std::string file;
  std::string name;
  std::string out;
};

void require_float(const std::string& name, DType t) {
  if (!dtype_traits(t).is_float)
    throw Error("tensor '" + name + "' has type " + dtype_name(t) +
                ", which is not a floating-point or quantized type");
}

// Rows of `row_elems` elements of type t, dequantized a bounded number at a time.
void dump_rows(DType t, const uint8_t* data, uint64_t n_rows, uint64_t row_elems, NpyWriter& out) {
  const uint64_t row_bytes = *dtype_row_bytes(t, row_elems);
  const uint64_t rows_per_chunk =
      row_elems == 0 ? 1 : std::max<uint64_t>(1, (1u << 20) / row_elems);
  std::vector<float> buf(static_cast<size_t>(std::min(n_rows, rows_per_chunk) * row_elems));
  for (uint64_t r = 0; r < n_rows; r += rows_per_chunk) {
    const uint64_t nr = std::min(rows_per_chunk, n_rows - r);
    quants::dequantize_row(t, data + r * row_bytes, buf.data(),
                           static_cast<int64_t>(nr * row_elems));
    out.write(buf.data(), static_cast<size_t>(nr * row_elems));
  }
}

bool is_gguf(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  if (!f.read(magic, 4)) return false;
  return std::string(magic, 4) == "GGUF";
}

void dump_gguf(const DumpOptions& o) {
  auto file = gguf::File::open(o.file);
  const gguf::TensorInfo* t = file.find_tensor(o.name);
  if (t == nullptr) throw Error("no tensor named '" + o.name + "' in " + o.file);
  require_float(o.name, t->dtype);
  std::vector<uint64_t> shape(t->ne.rbegin(), t->ne.rend());  // ggml ne is innermost first
  const uint64_t row = t->ne.empty() ? 1 : t->ne[0];
  const uint64_t n = t->n_elements();
  NpyWriter out(o.out, shape);
  if (n > 0) dump_rows(t->dtype, t->data, n / row, row, out);
  out.finish();
  std::printf("%s: %s %s -> %s\n", o.name.c_str(), dtype_name(t->dtype), o.file.c_str(),
              o.out.c_str());
}

void dump_safetensors(const DumpOptions& o) {
  auto ckpt = safetensors::Checkpoint::open(o.file);
  const safetensors::TensorInfo* t = ckpt.find(o.name);
  if (t == nullptr) throw Error("no tensor named '" + o.name + "' in " + o.file);
  require_float(o.name, t->dtype);
  const uint64_t n = t->n_elements();
  const uint64_t row = t->shape.empty() ? 1 : t->shape.back();
  NpyWriter out(o.out, t->shape);
  const safetensors::TensorInfo* s =
      t->dtype == DType::F8_E4M3 ? ckpt.find(o.name + "_scale_inv") : nullptr;
  if (s == nullptr) {
    if (n > 0) dump_rows(t->dtype, t->data, n / row, row, out);
  } else {
    // Block-scaled FP8 weight [M, N] with F32 scales [ceil(M/128), ceil(N/128)].
    if (t->shape.size() != 2)
      throw Error("FP8 tensor '" + o.name + "' with block scales must have 2 dimensions");
    const uint64_t m = t->shape[0], cols = t->shape[1];
    const uint64_t sm = static_cast<uint64_t>(quants::fp8_scale_blocks(static_cast<int64_t>(m)));
    const uint64_t sn = static_cast<uint64_t>(quants::fp8_scale_blocks(static_cast<int64_t>(cols)));
    if (s->dtype != DType::F32 || s->shape.size() != 2 || s->shape[0] != sm || s->shape[1] != sn)
      throw Error("scale tensor '" + s->name + "' must be F32 [" + std::to_string(sm) + ", " +
                  std::to_string(sn) + "] for '" + o.name + "' [" + std::to_string(m) + ", " +
                  std::to_string(cols) + "]");
    std::vector<float> scales(static_cast<size_t>(sm * sn));
    if (!scales.empty()) std::memcpy(scales.data(), s->data, scales.size() * sizeof(float));
    std::vector<float> buf(static_cast<size_t>(cols));
    for (uint64_t r = 0; r < m; ++r) {
      quants::dequantize_row_fp8_block(t->data + r * cols, scales.data() + (r / 128) * sn,
                                       buf.data(), static_cast<int64_t>(cols));
      out.write(buf.data(), buf.size());
    }
  }
  out.finish();
  std::printf("%s: %s%s %s -> %s\n", o.name.c_str(), dtype_name(t->dtype),
              s ? " x block scales" : "", o.file.c_str(), o.out.c_str());
}

void run_dump(const DumpOptions& o) {
  if (is_gguf(o.file))
    dump_gguf(o);
  else
    dump_safetensors(o);
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<DumpOptions>();
  CLI::App* sub = app.add_subcommand(
      "dump-tensor", "Write one tensor, dequantized to float32, as a NumPy .npy file");
  sub->add_option("FILE", o->file, "a .gguf file, or a safetensors file or folder")->required();
  sub->add_option("NAME", o->name, "tensor name as stored in the file")->required();
  sub->add_option("-o,--output", o->out, "output .npy path")->required();
  sub->callback([o] { run_dump(*o); });
});

}  // namespace
}  // namespace r1::cli
