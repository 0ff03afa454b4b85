"""Open a model file (GGUF file / split set, or safetensors folder / file) and present its
weights under canonical names in the mathematical orientation (see model.py).

Canonical names: embed, final_norm, lm_head; per layer `L{l}.` and per MTP depth `M{k}.`:
attn_norm, ffn_norm, q_a, q_a_norm, q_b, q, q_bias, k, k_bias, v, v_bias, o, o_bias, kv_a,
kv_a_norm, w_uk [H, d_nope, d_c], w_uv [H, d_v, d_c], gate, up, down (dense FFN), router,
router_bias, exp_gate / exp_up [E, f, d], exp_down [E, d, f], sh_gate, sh_up, sh_down;
MTP only: enorm, hnorm, eh_proj, embed, head_norm, head.
"""
import os

import numpy as np

from . import config as config_mod
from .gguf import GGUF
from .model import Model
from .safetensors import Checkpoint


class WeightError(KeyError):
    pass


class _Source:
    """Common part: canonical name -> loader function; optional cache."""

    def __init__(self, cfg, cache):
        self.cfg, self.cache = cfg, {} if cache else None
        self.table = {}          # canonical name -> zero-argument loader
        self.experts = {}        # canonical stacked-expert name -> (per-expert loader, count)

    def has(self, name):
        return name in self.table or name in self.experts

    def get(self, name):
        if self.cache is not None and name in self.cache:
            return self.cache[name]
        if name in self.table:
            v = self.table[name]()
        elif name in self.experts:
            fn, count = self.experts[name]
            v = np.stack([fn(e) for e in range(count)])
        else:
            raise WeightError(f"missing weight {name}")
        if self.cache is not None:
            self.cache[name] = v
        return v

    def opt(self, name):
        return self.get(name) if self.has(name) else None

    def expert(self, name, e):
        """One routed expert's matrix, without loading the whole stack when uncached."""
        if self.cache is not None or name not in self.experts:
            return self.get(name)[e]
        return self.experts[name][0](e)

    def check(self, names):
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise WeightError("missing weights: " + ", ".join(missing[:8]))

    def expected(self):
        """Canonical names the configuration needs (for an up-front presence check)."""
        c = self.cfg
        names = ["embed", "final_norm", "lm_head"]
        prefixes = [(f"L{i}.", c.is_moe_layer(i)) for i in range(c.n_layers)]
        for p, moe in prefixes:
            names += [p + "attn_norm", p + "ffn_norm", p + "o"]
            if c.mla:
                names += [p + "kv_a", p + "kv_a_norm", p + "w_uk", p + "w_uv"]
                names += [p + "q_a", p + "q_a_norm", p + "q_b"] if c.q_lora_rank else [p + "q"]
            else:
                names += [p + "q", p + "k", p + "v"]
            if moe:
                names += [p + "router", p + "exp_gate", p + "exp_up", p + "exp_down"]
                if c.n_shared:
                    names += [p + "sh_gate", p + "sh_up", p + "sh_down"]
                if c.has_router_bias:
                    names += [p + "router_bias"]
            else:
                names += [p + "gate", p + "up", p + "down"]
        return names


def _shape_check(name, arr, shape):
    if tuple(arr.shape) != tuple(shape):
        raise WeightError(f"{name}: shape {tuple(arr.shape)}, expected {tuple(shape)}")
    return arr


class GGUFWeights(_Source):
    def __init__(self, path, cache=True):
        self.file = GGUF(path)
        super().__init__(config_mod.from_gguf(self.file), cache)
        c, g, t = self.cfg, self.file, self.table

        def plain(gname):
            return lambda: g.tensor(gname)

        def add(canon, gname):
            if gname in g:
                t[canon] = plain(gname)

        add("embed", "token_embd.weight")
        add("final_norm", "output_norm.weight")
        add("lm_head", "output.weight" if "output.weight" in g else "token_embd.weight")
        layers = [(f"L{i}.", i) for i in range(c.n_layers)]
        layers += [(f"M{k}.", c.n_layers + k) for k in range(c.n_mtp)]
        for p, i in layers:
            b = f"blk.{i}."
            for canon, gname in [
                ("attn_norm", "attn_norm.weight"), ("ffn_norm", "ffn_norm.weight"),
                ("q_a", "attn_q_a.weight"), ("q_a_norm", "attn_q_a_norm.weight"),
                ("q_b", "attn_q_b.weight"), ("q", "attn_q.weight"), ("q_bias", "attn_q.bias"),
                ("k", "attn_k.weight"), ("k_bias", "attn_k.bias"),
                ("v", "attn_v.weight"), ("v_bias", "attn_v.bias"),
                ("o", "attn_output.weight"), ("o_bias", "attn_output.bias"),
                ("kv_a", "attn_kv_a_mqa.weight"), ("kv_a_norm", "attn_kv_a_norm.weight"),
                ("gate", "ffn_gate.weight"), ("up", "ffn_up.weight"), ("down", "ffn_down.weight"),
                ("router", "ffn_gate_inp.weight"), ("router_bias", "exp_probs_b.bias"),
                ("sh_gate", "ffn_gate_shexp.weight"), ("sh_up", "ffn_up_shexp.weight"),
                ("sh_down", "ffn_down_shexp.weight"),
                ("enorm", "nextn.enorm.weight"), ("hnorm", "nextn.hnorm.weight"),
                ("eh_proj", "nextn.eh_proj.weight"), ("embed", "nextn.embed_tokens.weight"),
                ("head_norm", "nextn.shared_head_norm.weight"),
                ("head", "nextn.shared_head_head.weight"),
            ]:
                add(p + canon, b + gname)
            # stacked experts: ne [in, out, E] -> array [E, out, in] (what we want)
            for canon, gname in [("exp_gate", "ffn_gate_exps.weight"),
                                 ("exp_up", "ffn_up_exps.weight"),
                                 ("exp_down", "ffn_down_exps.weight")]:
                add(p + canon, b + gname)
            if c.mla:
                self._mla_kv_b(p, b)

    def _mla_kv_b(self, p, b):
        c, g, t = self.cfg, self.file, self.table
        H, dn, dv, dc = c.n_heads, c.qk_nope_dim, c.v_head_dim, c.kv_lora_rank
        if b + "attn_k_b.weight" in g and b + "attn_v_b.weight" in g:
            # attn_k_b: ne [dn, dc, H] -> array [H, dc, dn] (W_UK^h transposed) -> [H, dn, dc]
            # attn_v_b: ne [dc, dv, H] -> array [H, dv, dc] = W_UV^h
            t[p + "w_uk"] = lambda: _shape_check(
                "attn_k_b", g.tensor(b + "attn_k_b.weight"), (H, dc, dn)).transpose(0, 2, 1).copy()
            t[p + "w_uv"] = lambda: _shape_check(
                "attn_v_b", g.tensor(b + "attn_v_b.weight"), (H, dv, dc))
        elif b + "attn_kv_b.weight" in g:
            def kv_b():
                w = _shape_check("attn_kv_b", g.tensor(b + "attn_kv_b.weight"), (H * (dn + dv), dc))
                return w.reshape(H, dn + dv, dc)
            t[p + "w_uk"] = lambda: kv_b()[:, :dn, :]
            t[p + "w_uv"] = lambda: kv_b()[:, dn:, :]


class HFWeights(_Source):
    def __init__(self, path, cache=True):
        self.ckpt = Checkpoint(path)
        if not self.ckpt.config:
            raise WeightError(f"{path}: no config.json next to the safetensors")
        super().__init__(config_mod.from_hf(self.ckpt.config), cache)
        c, ck, t = self.cfg, self.ckpt, self.table

        def add(canon, name):
            if name in ck:
                t[canon] = lambda: ck.tensor(name)

        add("embed", "model.embed_tokens.weight")
        add("final_norm", "model.norm.weight")
        add("lm_head", "lm_head.weight" if "lm_head.weight" in ck else "model.embed_tokens.weight")
        layers = [(f"L{i}.", i) for i in range(c.n_layers)]
        layers += [(f"M{k}.", c.n_layers + k) for k in range(c.n_mtp)]
        for p, i in layers:
            b = f"model.layers.{i}."
            for canon, name in [
                ("attn_norm", "input_layernorm.weight"), ("ffn_norm", "post_attention_layernorm.weight"),
                ("q_a", "self_attn.q_a_proj.weight"), ("q_a_norm", "self_attn.q_a_layernorm.weight"),
                ("q_b", "self_attn.q_b_proj.weight"),
                ("q", "self_attn.q_proj.weight"), ("q_bias", "self_attn.q_proj.bias"),
                ("k", "self_attn.k_proj.weight"), ("k_bias", "self_attn.k_proj.bias"),
                ("v", "self_attn.v_proj.weight"), ("v_bias", "self_attn.v_proj.bias"),
                ("o", "self_attn.o_proj.weight"), ("o_bias", "self_attn.o_proj.bias"),
                ("kv_a", "self_attn.kv_a_proj_with_mqa.weight"),
                ("kv_a_norm", "self_attn.kv_a_layernorm.weight"),
                ("gate", "mlp.gate_proj.weight"), ("up", "mlp.up_proj.weight"),
                ("down", "mlp.down_proj.weight"),
                ("router", "mlp.gate.weight"), ("router_bias", "mlp.gate.e_score_correction_bias"),
                ("sh_gate", "mlp.shared_experts.gate_proj.weight"),
                ("sh_up", "mlp.shared_experts.up_proj.weight"),
                ("sh_down", "mlp.shared_experts.down_proj.weight"),
                ("enorm", "enorm.weight"), ("hnorm", "hnorm.weight"), ("eh_proj", "eh_proj.weight"),
                ("embed", "embed_tokens.weight"), ("head_norm", "shared_head.norm.weight"),
                ("head", "shared_head.head.weight"),
            ]:
                add(p + canon, b + name)
            if c.n_experts and b + "mlp.experts.0.gate_proj.weight" in ck:
                for canon, proj in [("exp_gate", "gate_proj"), ("exp_up", "up_proj"),
                                    ("exp_down", "down_proj")]:
                    self.experts[p + canon] = (
                        (lambda b=b, proj=proj: lambda e: ck.tensor(f"{b}mlp.experts.{e}.{proj}.weight"))(),
                        c.n_experts)
            if c.mla and b + "self_attn.kv_b_proj.weight" in ck:
                H, dn, dv, dc = c.n_heads, c.qk_nope_dim, c.v_head_dim, c.kv_lora_rank

                def kv_b(b=b):
                    w = _shape_check("kv_b_proj", ck.tensor(b + "self_attn.kv_b_proj.weight"),
                                     (H * (dn + dv), dc))
                    return w.reshape(H, dn + dv, dc)
                t[p + "w_uk"] = lambda kv_b=kv_b: kv_b()[:, :dn, :]
                t[p + "w_uv"] = lambda kv_b=kv_b: kv_b()[:, dn:, :]


def open_weights(path, cache=True):
    if os.path.isdir(path) or path.endswith(".safetensors"):
        w = HFWeights(path, cache)
    else:
        w = GGUFWeights(path, cache)
    w.check(w.expected())
    return w


def load_model(path, cache=True):
    w = open_weights(path, cache)
    return Model(w.cfg, w)
