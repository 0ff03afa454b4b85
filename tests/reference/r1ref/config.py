"""Hyper-parameters of one model, from a GGUF file's metadata or a Hugging Face config.json.

Every field the forward pass uses is set here explicitly, with the conventions documented in
docs/REFERENCE.md.
"""
import math

from .model import yarn_get_mscale

ARCHS = ("deepseek_v3", "deepseek_v2", "qwen2", "llama")


class ConfigError(ValueError):
    pass


class Config:
    def __init__(self):
        self.arch = None
        self.vocab_size = self.hidden = self.n_layers = 0
        self.n_heads = self.n_kv_heads = self.head_dim = 0
        self.ffn_dim = 0
        self.eps = 1e-6
        # rope
        self.rope_theta = 10000.0
        self.rope_dim = 0
        self.rope_style = "interleaved"
        self.rope_kind = "none"           # none | yarn | llama3
        self.rope_freq_factors = None     # GGUF rope_freqs.weight
        self.rope_magnitude = 1.0         # cos/sin multiplier (HF YaRN mscale ratio)
        self.yarn_factor = 1.0
        self.yarn_orig_ctx = 4096
        self.yarn_beta_fast = 32.0
        self.yarn_beta_slow = 1.0
        self.yarn_mscale = 1.0
        self.yarn_mscale_all_dim = 0.0
        self.llama3_factor = 1.0
        self.llama3_low_freq_factor = 1.0
        self.llama3_high_freq_factor = 4.0
        self.llama3_orig_ctx = 8192
        self.attn_scale = 1.0
        # MLA
        self.mla = False
        self.q_lora_rank = 0
        self.kv_lora_rank = 0
        self.qk_nope_dim = self.qk_rope_dim = self.v_head_dim = 0
        # MoE
        self.first_dense = 0
        self.n_experts = 0
        self.top_k = 0
        self.n_shared = 0
        self.moe_ffn_dim = 0
        self.scoring = "softmax"
        self.n_group = 1
        self.topk_group = 1
        self.group_score = "max"
        self.norm_topk_prob = False
        self.routed_scaling_factor = 1.0
        self.scale_mode = "v2"
        self.has_router_bias = False
        # MTP
        self.n_mtp = 0
        self.gguf_mtp_counted_in_block_count = False
        self.tied_embeddings = False

    def is_moe_layer(self, layer):
        return self.n_experts > 0 and layer >= self.first_dense

    def finish(self):
        """Derived values: softmax scale, rope magnitude."""
        if self.mla:
            self.rope_dim = self.qk_rope_dim
            qk = self.qk_nope_dim + self.qk_rope_dim
            m = yarn_get_mscale(self.yarn_factor, self.yarn_mscale_all_dim) if self.rope_kind == "yarn" else 1.0
            self.attn_scale = m * m / math.sqrt(qk)
        else:
            if not self.rope_dim:
                self.rope_dim = self.head_dim
            self.attn_scale = 1.0 / math.sqrt(self.head_dim)
        if self.n_experts and self.n_group > 1 and self.n_experts % self.n_group:
            raise ConfigError(f"{self.n_experts} experts do not split into {self.n_group} groups")
        return self

    def summary(self):
        keys = [k for k in vars(self) if k != "rope_freq_factors"]
        return {k: getattr(self, k) for k in keys}


def _rope_from_hf(cfg, hf):
    cfg.rope_theta = float(hf.get("rope_theta", 10000.0))
    rs = hf.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "yarn":
        cfg.rope_kind = "yarn"
        cfg.yarn_factor = float(rs["factor"])
        cfg.yarn_orig_ctx = int(rs.get("original_max_position_embeddings", 4096))
        cfg.yarn_beta_fast = float(rs.get("beta_fast", 32))
        cfg.yarn_beta_slow = float(rs.get("beta_slow", 1))
        cfg.yarn_mscale = float(rs.get("mscale", 1.0))
        cfg.yarn_mscale_all_dim = float(rs.get("mscale_all_dim", 0.0))
        # HF scales cos/sin by mscale(s, mscale) / mscale(s, mscale_all_dim); 1 for R1 and V2-Lite.
        cfg.rope_magnitude = (yarn_get_mscale(cfg.yarn_factor, cfg.yarn_mscale)
                              / yarn_get_mscale(cfg.yarn_factor, cfg.yarn_mscale_all_dim))
    elif kind == "llama3":
        cfg.rope_kind = "llama3"
        cfg.llama3_factor = float(rs["factor"])
        cfg.llama3_low_freq_factor = float(rs.get("low_freq_factor", 1.0))
        cfg.llama3_high_freq_factor = float(rs.get("high_freq_factor", 4.0))
        cfg.llama3_orig_ctx = int(rs.get("original_max_position_embeddings", 8192))
    elif kind not in (None, "default"):
        raise ConfigError(f"unsupported rope_scaling type {kind}")


def from_hf(hf):
    """Config from a parsed Hugging Face config.json."""
    cfg = Config()
    mt = hf.get("model_type")
    if mt not in ARCHS:
        raise ConfigError(f"unsupported model_type {mt}")
    cfg.arch = mt
    cfg.vocab_size = int(hf["vocab_size"])
    cfg.hidden = int(hf["hidden_size"])
    cfg.n_layers = int(hf["num_hidden_layers"])
    cfg.n_heads = int(hf["num_attention_heads"])
    cfg.n_kv_heads = int(hf.get("num_key_value_heads") or cfg.n_heads)
    cfg.ffn_dim = int(hf["intermediate_size"])
    cfg.eps = float(hf.get("rms_norm_eps", 1e-6))
    cfg.tied_embeddings = bool(hf.get("tie_word_embeddings", False))
    _rope_from_hf(cfg, hf)
    if mt in ("deepseek_v3", "deepseek_v2"):
        cfg.mla = True
        cfg.rope_style = "interleaved"
        cfg.q_lora_rank = int(hf.get("q_lora_rank") or 0)
        cfg.kv_lora_rank = int(hf["kv_lora_rank"])
        cfg.qk_nope_dim = int(hf["qk_nope_head_dim"])
        cfg.qk_rope_dim = int(hf["qk_rope_head_dim"])
        cfg.v_head_dim = int(hf["v_head_dim"])
        cfg.n_experts = int(hf.get("n_routed_experts") or 0)
        cfg.first_dense = int(hf.get("first_k_dense_replace", 0))
        if int(hf.get("moe_layer_freq", 1)) != 1:
            raise ConfigError("moe_layer_freq other than 1 is not supported")
        cfg.top_k = int(hf.get("num_experts_per_tok") or 0)
        cfg.n_shared = int(hf.get("n_shared_experts") or 0)
        cfg.moe_ffn_dim = int(hf.get("moe_intermediate_size") or 0)
        cfg.scoring = hf.get("scoring_func", "softmax")
        cfg.norm_topk_prob = bool(hf.get("norm_topk_prob", False))
        cfg.routed_scaling_factor = float(hf.get("routed_scaling_factor", 1.0))
        method = hf.get("topk_method", "greedy")
        cfg.n_group = int(hf.get("n_group") or 1)
        cfg.topk_group = int(hf.get("topk_group") or 1)
        if method == "noaux_tc":
            cfg.group_score, cfg.scale_mode, cfg.has_router_bias = "top2sum", "always", True
        elif method == "group_limited_greedy":
            cfg.group_score, cfg.scale_mode = "max", "v2"
        elif method == "greedy":
            cfg.group_score, cfg.scale_mode = "max", "v2"
            cfg.n_group = cfg.topk_group = 1
        else:
            raise ConfigError(f"unsupported topk_method {method}")
        if mt == "deepseek_v3" and method != "noaux_tc":
            raise ConfigError("deepseek_v3 expects topk_method noaux_tc")
        cfg.n_mtp = int(hf.get("num_nextn_predict_layers", 0) or 0)
    else:
        cfg.head_dim = int(hf.get("head_dim") or cfg.hidden // cfg.n_heads)
        cfg.rope_style = "neox"   # HF Qwen2 and Llama: rotate-half
        if mt == "qwen2" and cfg.rope_kind != "none":
            raise ConfigError("qwen2 rope scaling is not supported")
    return cfg.finish()


def from_gguf(g):
    """Config from a GGUF's metadata (llama.cpp key names, sections 2.4 / 2.5)."""
    cfg = Config()
    arch = g.get("general.architecture")

    def key(name, default=KeyError):
        full = f"{arch}.{name}"
        if full in g.metadata:
            return g.metadata[full]
        if default is KeyError:
            raise ConfigError(f"GGUF lacks {full}")
        return default

    cfg.hidden = int(key("embedding_length"))
    cfg.n_heads = int(key("attention.head_count"))
    cfg.eps = float(key("attention.layer_norm_rms_epsilon"))
    cfg.rope_theta = float(key("rope.freq_base", 10000.0))
    cfg.ffn_dim = int(key("feed_forward_length"))
    tokens = g.get("tokenizer.ggml.tokens")
    if "token_embd.weight" not in g:
        raise ConfigError("GGUF lacks token_embd.weight")
    cfg.vocab_size = int(key("vocab_size", g.tensors["token_embd.weight"].ne[1]))
    if tokens is not None and len(tokens) > cfg.vocab_size:
        raise ConfigError("tokenizer larger than the vocabulary")
    block_count = int(key("block_count"))
    cfg.n_mtp = int(key("nextn_predict_layers", 0))
    # llama.cpp (GLM-4.5 converter) counts the MTP blocks in block_count: the last
    # nextn_predict_layers blocks are MTP. A file whose nextn tensors sit at blk.{block_count}
    # and beyond counts main layers only; accept both, decided by where the tensors are.
    mtp_blocks = sorted({int(n.split(".")[1]) for n in g.tensors
                         if n.startswith("blk.") and ".nextn." in n})
    if cfg.n_mtp and len(mtp_blocks) != cfg.n_mtp:
        raise ConfigError(f"nextn_predict_layers {cfg.n_mtp}, nextn tensors in {mtp_blocks}")
    if mtp_blocks and mtp_blocks[0] >= block_count:
        cfg.n_layers = block_count
        cfg.gguf_mtp_counted_in_block_count = False
    else:
        cfg.n_layers = block_count - cfg.n_mtp
        cfg.gguf_mtp_counted_in_block_count = bool(cfg.n_mtp)
    if mtp_blocks and mtp_blocks[0] != cfg.n_layers:
        raise ConfigError(f"MTP blocks {mtp_blocks} do not follow the {cfg.n_layers} main layers")
    cfg.tied_embeddings = "output.weight" not in g
    if arch == "deepseek2":
        cfg.mla = True
        cfg.rope_style = "interleaved"      # llama.cpp rope type NORM for deepseek2
        cfg.q_lora_rank = int(key("attention.q_lora_rank", 0))
        cfg.kv_lora_rank = int(key("attention.kv_lora_rank"))
        cfg.qk_rope_dim = int(key("rope.dimension_count"))
        if f"{arch}.attention.key_length_mla" in g.metadata:
            qk = int(key("attention.key_length_mla"))
            cfg.v_head_dim = int(key("attention.value_length_mla"))
        else:
            qk = int(key("attention.key_length"))
            cfg.v_head_dim = int(key("attention.value_length"))
        cfg.qk_nope_dim = qk - cfg.qk_rope_dim
        stype = key("rope.scaling.type", "none")
        factor = float(key("rope.scaling.factor", 1.0))
        if stype == "yarn" and factor > 1.0:
            cfg.rope_kind = "yarn"
            cfg.yarn_factor = factor
            cfg.yarn_orig_ctx = int(key("rope.scaling.original_context_length"))
            cfg.yarn_beta_fast = float(key("rope.scaling.yarn_beta_fast", 32.0))
            cfg.yarn_beta_slow = float(key("rope.scaling.yarn_beta_slow", 1.0))
            # yarn_log_multiplier = 0.1 * mscale_all_dim; mscale itself is not stored, and
            # llama.cpp's cos/sin factor cancels: magnitude 1 (mscale == mscale_all_dim).
            cfg.yarn_mscale_all_dim = float(key("rope.scaling.yarn_log_multiplier", 0.0)) / 0.1
            cfg.yarn_mscale = cfg.yarn_mscale_all_dim
        elif stype not in ("none",) and factor > 1.0:
            raise ConfigError(f"unsupported deepseek2 rope scaling {stype}")
        cfg.first_dense = int(key("leading_dense_block_count", 0))
        cfg.n_experts = int(key("expert_count", 0))
        cfg.top_k = int(key("expert_used_count", 0))
        cfg.n_shared = int(key("expert_shared_count", 0))
        cfg.moe_ffn_dim = int(key("expert_feed_forward_length", 0))
        cfg.routed_scaling_factor = float(key("expert_weights_scale", 1.0))
        cfg.norm_topk_prob = bool(key("expert_weights_norm", False))
        gating = int(key("expert_gating_func", 1))
        cfg.n_group = int(key("expert_group_count", 1))
        cfg.topk_group = int(key("expert_group_used_count", cfg.n_group))
        if gating == 2:      # sigmoid + correction bias: DeepSeek-V3/R1 (noaux_tc)
            cfg.arch = "deepseek_v3"
            cfg.scoring, cfg.group_score, cfg.scale_mode = "sigmoid", "top2sum", "always"
            cfg.has_router_bias = True
        elif gating == 1:    # softmax: DeepSeek-V2 (greedy / group_limited_greedy)
            cfg.arch = "deepseek_v2"
            cfg.scoring, cfg.group_score, cfg.scale_mode = "softmax", "max", "v2"
        else:
            raise ConfigError(f"unsupported expert_gating_func {gating}")
    elif arch in ("qwen2", "llama"):
        cfg.arch = arch
        cfg.n_kv_heads = int(key("attention.head_count_kv", cfg.n_heads))
        cfg.head_dim = int(key("attention.key_length", cfg.hidden // cfg.n_heads))
        cfg.rope_dim = int(key("rope.dimension_count", cfg.head_dim))
        if arch == "qwen2":
            cfg.rope_style = "neox"
        else:
            cfg.rope_style = "interleaved"  # q/k rows permuted by the converter, rope NORM
            if "rope_freqs.weight" in g:
                cfg.rope_freq_factors = g.tensor("rope_freqs.weight").reshape(-1)
        stype = key("rope.scaling.type", "none")
        if stype not in ("none",) and float(key("rope.scaling.factor", 1.0)) != 1.0:
            raise ConfigError(f"unsupported {arch} rope scaling {stype}")
    else:
        raise ConfigError(f"unsupported GGUF architecture {arch}")
    return cfg.finish()
