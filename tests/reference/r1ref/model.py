"""The forward pass in float64, written to read like the math of deepseek-architecture.md
sections 1.2-1.6 (DeepSeek-V3/R1, DeepSeek-V2/V2-Lite) and 2.5 (Qwen2, Llama).

Weights come from a `Weights` object (loader.py) under canonical names, already in the
mathematical orientation: a Linear is [out, in] and computes y = W x; per-head MLA
up-projections are w_uk [H, d_nope, d_c] and w_uv [H, d_v, d_c]; routed experts are stacked
[E, out, in]. Nothing here knows about file formats.
"""
import math

import numpy as np


# ------------------------------------------------------------------ elementwise pieces

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def silu(z):
    return z * sigmoid(z)


def softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def swiglu(x, gate, up, down):
    """FFN(x) = W_down (SiLU(W_gate x) * (W_up x))."""
    return linear(silu(linear(x, gate)) * linear(x, up), down)


# ------------------------------------------------------------------ RoPE and YaRN

def rope_inv_freq(dim, base):
    """inv_freq_i = base^(-2i/dim), i = 0 .. dim/2 - 1."""
    return base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)


def yarn_correction_dim(rotations, dim, base, orig_ctx):
    """The rope dimension whose wavelength makes `rotations` turns over orig_ctx positions."""
    return dim * math.log(orig_ctx / (rotations * 2.0 * math.pi)) / (2.0 * math.log(base))


def yarn_low_high(dim, base, orig_ctx, beta_fast, beta_slow):
    low = max(math.floor(yarn_correction_dim(beta_fast, dim, base, orig_ctx)), 0)
    high = min(math.ceil(yarn_correction_dim(beta_slow, dim, base, orig_ctx)), dim - 1)
    return low, high


def yarn_inv_freq(dim, base, factor, orig_ctx, beta_fast, beta_slow):
    """YaRN 'NTK-by-parts': pairs below `low` keep their frequency, pairs above `high` are
    divided by the factor, pairs in between blend linearly."""
    inv = rope_inv_freq(dim, base)
    low, high = yarn_low_high(dim, base, orig_ctx, beta_fast, beta_slow)
    ramp = np.clip((np.arange(dim // 2) - low) / max(high - low, 0.001), 0.0, 1.0)
    return inv * (1.0 - ramp) + (inv / factor) * ramp


def yarn_get_mscale(factor, mscale):
    return 0.1 * mscale * math.log(factor) + 1.0 if factor > 1.0 else 1.0


def llama3_inv_freq(dim, base, factor, low_freq_factor, high_freq_factor, orig_ctx):
    """Llama-3.1 frequency scaling as in HF rope_scaling {rope_type: llama3}."""
    inv = rope_inv_freq(dim, base)
    wavelen = 2.0 * math.pi / inv
    low_wl = orig_ctx / low_freq_factor
    high_wl = orig_ctx / high_freq_factor
    smooth = (orig_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    mid = (1.0 - smooth) * inv / factor + smooth * inv
    return np.where(wavelen < high_wl, inv, np.where(wavelen > low_wl, inv / factor, mid))


def apply_rope(x, pos, inv_freq, style, magnitude=1.0):
    """Rotate the last axis of x ([n, ..., dim]) by angles pos_t * inv_freq_i.

    style 'interleaved' (GPT-J / DeepSeek / GGUF NORM): pairs (2i, 2i+1).
    style 'neox' (rotate-half, HF Llama / Qwen2): pairs (i, i + dim/2).
    """
    ang = np.asarray(pos, dtype=np.float64)[:, None] * inv_freq[None, :]
    shape = (ang.shape[0],) + (1,) * (x.ndim - 2) + (ang.shape[1],)
    cos = (np.cos(ang) * magnitude).reshape(shape)
    sin = (np.sin(ang) * magnitude).reshape(shape)
    if style == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out
    if style == "neox":
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)
    raise ValueError(f"unknown rope style {style}")


# ------------------------------------------------------------------ MoE routing

def route(logits, cfg, bias=None, forced=None):
    """Expert choice for each token. logits [n, E] -> (experts [n, k], weights [n, k]).

    cfg fields: scoring ('sigmoid' | 'softmax'), top_k, n_group, topk_group,
    group_score ('top2sum' | 'max'), norm_topk_prob, routed_scaling_factor,
    scale_mode ('always': V3 normalise-then-scale; 'v2': normalise OR scale).
    forced: optional experts [n, k] to use instead of the selection (weights still computed
    from these logits) -- lets tests compare files whose tiny routing margins flip.
    Also returns each token's selection margin: the smallest gap, in selection score, between
    a chosen and a rejected candidate (expert, or group when groups are limited).
    """
    n, E = logits.shape
    scores = sigmoid(logits) if cfg.scoring == "sigmoid" else softmax(logits)
    choice = scores + bias if bias is not None else scores.copy()   # bias: selection only
    G, keep = cfg.n_group, cfg.topk_group
    margin = np.full(n, np.inf)
    if G > 1 and keep < G:
        grouped = choice.reshape(n, G, E // G)
        if cfg.group_score == "top2sum":
            gscore = np.sort(grouped, axis=-1)[..., -2:].sum(axis=-1)
        else:
            gscore = grouped.max(axis=-1)
        order = np.argsort(-gscore, axis=-1, kind="stable")
        best = order[:, :keep]
        gs = np.take_along_axis(gscore, order, axis=-1)
        margin = gs[:, keep - 1] - gs[:, keep]
        gmask = np.zeros((n, G), dtype=bool)
        np.put_along_axis(gmask, best, True, axis=-1)
        choice = np.where(np.repeat(gmask, E // G, axis=-1), choice, -np.inf)
    order = np.argsort(-choice, axis=-1, kind="stable")
    experts = order[:, :cfg.top_k]
    if cfg.top_k < E:
        cs = np.take_along_axis(choice, order[:, cfg.top_k - 1:cfg.top_k + 1], axis=-1)
        with np.errstate(invalid="ignore"):
            gap = np.where(np.isfinite(cs[:, 1]), cs[:, 0] - cs[:, 1], np.inf)
        margin = np.minimum(margin, gap)
    if forced is not None:
        experts = np.asarray(forced)
    weights = np.take_along_axis(scores, experts, axis=-1)
    if cfg.scale_mode == "always":
        if cfg.norm_topk_prob:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        weights = weights * cfg.routed_scaling_factor
    else:  # DeepSeek-V2 code: normalise when asked (and k > 1), otherwise scale
        if cfg.norm_topk_prob and cfg.top_k > 1:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        else:
            weights = weights * cfg.routed_scaling_factor
    return experts, weights, margin


# ------------------------------------------------------------------ the model

class Model:
    """cfg: config.Config; w: a weights source with get(name) / has(name)."""

    def __init__(self, cfg, weights):
        self.cfg, self.w = cfg, weights
        c = cfg
        if c.rope_kind == "yarn":
            self.inv_freq = yarn_inv_freq(c.rope_dim, c.rope_theta, c.yarn_factor, c.yarn_orig_ctx,
                                          c.yarn_beta_fast, c.yarn_beta_slow)
        elif c.rope_kind == "llama3":
            self.inv_freq = llama3_inv_freq(c.rope_dim, c.rope_theta, c.llama3_factor,
                                            c.llama3_low_freq_factor, c.llama3_high_freq_factor,
                                            c.llama3_orig_ctx)
        else:
            self.inv_freq = rope_inv_freq(c.rope_dim, c.rope_theta)
        if c.rope_freq_factors is not None:  # GGUF rope_freqs.weight: theta_i / factor_i
            self.inv_freq = self.inv_freq / np.asarray(c.rope_freq_factors, dtype=np.float64)
        self.rope_magnitude = c.rope_magnitude
        self.attn_scale = c.attn_scale
        self.trace = None  # set to a dict to record intermediate values
        self.forced_routing = None  # {layer prefix: experts [n, k]} overrides the selection
        self.min_routing_margin = np.inf  # smallest routing margin seen (see route())
        self.token_margins = None  # per token of the last forward(): its smallest margin

    def _rec(self, key, value):
        if self.trace is not None:
            self.trace[key] = value

    # -------------------------------------------------------------- attention

    def mla(self, x, pos, p, form):
        """Multi-head latent attention of a normalised input x [n, d] (section 1.3)."""
        c, W = self.cfg, self.w.get
        n, H = x.shape[0], c.n_heads
        dn, dr, dc = c.qk_nope_dim, c.qk_rope_dim, c.kv_lora_rank
        if c.q_lora_rank:
            cq = rms_norm(linear(x, W(p + "q_a")), W(p + "q_a_norm"), c.eps)
            q = linear(cq, W(p + "q_b"))
        else:
            q = linear(x, W(p + "q"))
        q = q.reshape(n, H, dn + dr)
        q_nope, q_pe = q[..., :dn], q[..., dn:]
        kv = linear(x, W(p + "kv_a"))
        lat = rms_norm(kv[:, :dc], W(p + "kv_a_norm"), c.eps)     # normalised latent c
        k_pe = kv[:, dc:]                                         # one rope key for all heads
        q_pe = apply_rope(q_pe, pos, self.inv_freq, c.rope_style, self.rope_magnitude)
        k_pe = apply_rope(k_pe, pos, self.inv_freq, c.rope_style, self.rope_magnitude)
        w_uk, w_uv = W(p + "w_uk"), W(p + "w_uv")                 # [H, dn, dc], [H, dv, dc]
        if form == "naive":
            k_nope = np.einsum("hkc,tc->thk", w_uk, lat)
            v = np.einsum("hvc,tc->thv", w_uv, lat)
            k = np.concatenate([k_nope, np.broadcast_to(k_pe[:, None, :], (n, H, dr))], axis=-1)
            qf = np.concatenate([q_nope, q_pe], axis=-1)
            s = np.einsum("shd,thd->hst", qf, k) * self.attn_scale
            s = np.where(np.tril(np.ones((n, n), dtype=bool))[None], s, -np.inf)
            o = np.einsum("hst,thv->shv", softmax(s), v)
        elif form == "absorbed":
            # Cache only (normalised latent, rotated rope key) per token and attend one query
            # position at a time over the cache, as an incremental decoder would.
            q_abs = np.einsum("shk,hkc->shc", q_nope, w_uk)        # W_UK^T q_nope per head
            o = np.empty((n, H, c.v_head_dim))
            cache_c, cache_pe = np.empty((0, dc)), np.empty((0, dr))
            for t in range(n):
                cache_c = np.vstack([cache_c, lat[t:t + 1]])
                cache_pe = np.vstack([cache_pe, k_pe[t:t + 1]])
                s = (q_abs[t] @ cache_c.T + q_pe[t] @ cache_pe.T) * self.attn_scale  # [H, t+1]
                z = softmax(s) @ cache_c                                          # [H, dc]
                o[t] = np.einsum("hvc,hc->hv", w_uv, z)
        else:
            raise ValueError(f"unknown MLA form {form}")
        self._rec(p + "mla_latent", lat)
        self._rec(p + "mla_k_pe", k_pe)
        return linear(o.reshape(n, H * c.v_head_dim), W(p + "o"))

    def gqa(self, x, pos, p):
        """Grouped-query attention (Qwen2, Llama)."""
        c, w = self.cfg, self.w
        n, H, Hkv, hd = x.shape[0], c.n_heads, c.n_kv_heads, c.head_dim
        q = linear(x, w.get(p + "q"), w.opt(p + "q_bias")).reshape(n, H, hd)
        k = linear(x, w.get(p + "k"), w.opt(p + "k_bias")).reshape(n, Hkv, hd)
        v = linear(x, w.get(p + "v"), w.opt(p + "v_bias")).reshape(n, Hkv, hd)
        q = apply_rope(q, pos, self.inv_freq, c.rope_style, self.rope_magnitude)
        k = apply_rope(k, pos, self.inv_freq, c.rope_style, self.rope_magnitude)
        k = np.repeat(k, H // Hkv, axis=1)   # head h uses kv head h // (H / Hkv)
        v = np.repeat(v, H // Hkv, axis=1)
        s = np.einsum("shd,thd->hst", q, k) * self.attn_scale
        s = np.where(np.tril(np.ones((n, n), dtype=bool))[None], s, -np.inf)
        o = np.einsum("hst,thd->shd", softmax(s), v)
        return linear(o.reshape(n, H * hd), w.get(p + "o"), w.opt(p + "o_bias"))

    # -------------------------------------------------------------- feed-forward

    def moe(self, x, p):
        c, w = self.cfg, self.w
        logits = linear(x, w.get(p + "router"))
        forced = self.forced_routing.get(p) if self.forced_routing else None
        experts, weights, margin = route(logits, c, w.opt(p + "router_bias"), forced)
        self.min_routing_margin = min(self.min_routing_margin, float(margin.min()))
        if self.token_margins is not None and self.token_margins.shape == margin.shape:
            self.token_margins = np.minimum(self.token_margins, margin)
        self._rec(p + "moe_logits", logits)
        self._rec(p + "moe_experts", experts)
        self._rec(p + "moe_weights", weights)
        out = np.zeros_like(x)
        for e in np.unique(experts):
            rows, slot = np.nonzero(experts == e)
            y = swiglu(x[rows], w.expert(p + "exp_gate", e), w.expert(p + "exp_up", e),
                       w.expert(p + "exp_down", e))
            out[rows] += weights[rows, slot][:, None] * y
        if w.has(p + "sh_gate"):
            out += swiglu(x, w.get(p + "sh_gate"), w.get(p + "sh_up"), w.get(p + "sh_down"))
        return out

    # -------------------------------------------------------------- blocks

    def block(self, h, pos, p, moe, form):
        c, W = self.cfg, self.w.get
        a_in = rms_norm(h, W(p + "attn_norm"), c.eps)
        a = self.mla(a_in, pos, p, form) if c.mla else self.gqa(a_in, pos, p)
        h = h + a
        f_in = rms_norm(h, W(p + "ffn_norm"), c.eps)
        if moe:
            f = self.moe(f_in, p)
        else:
            f = swiglu(f_in, W(p + "gate"), W(p + "up"), W(p + "down"))
        return h + f

    def forward(self, tokens, form="naive"):
        """Logits [n, vocab] of every position (causal, positions 0..n-1), plus the final hidden
        state before and after the final norm."""
        c, W = self.cfg, self.w.get
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size == 0 or tokens.min() < 0 or tokens.max() >= c.vocab_size:
            raise ValueError(f"token ids must lie in [0, {c.vocab_size})")
        pos = np.arange(tokens.size)
        self.token_margins = np.full(tokens.size, np.inf)
        h = W("embed")[tokens]
        for layer in range(c.n_layers):
            h = self.block(h, pos, f"L{layer}.", c.is_moe_layer(layer), form)
            self._rec(f"L{layer}.out", h)
        hn = rms_norm(h, W("final_norm"), c.eps)
        logits = linear(hn, W("lm_head"))
        return logits, h, hn

    def mtp(self, tokens, hidden, next_token=None, form="naive", depth=0):
        """Draft logits of the MTP module (section 1.6).

        Row i combines the embedding of t_{i+1} with the main model's hidden state h_i:
        u_i = eh_proj [enorm(Emb(t_{i+1})); hnorm(h_i)], then the MTP block at position i,
        then shared_head: logits_i predict t_{i+2}. Rows 0 .. n-2; with next_token (t_n),
        row n-1 too.
        """
        c, w = self.cfg, self.w
        p = f"M{depth}."
        tokens = np.asarray(tokens, dtype=np.int64)
        nxt = tokens[1:]
        if next_token is not None:
            nxt = np.append(nxt, int(next_token))
        m = nxt.size
        if m == 0:
            return np.zeros((0, c.vocab_size))
        emb = w.get(p + "embed") if w.has(p + "embed") else w.get("embed")
        e = rms_norm(emb[nxt], w.get(p + "enorm"), c.eps)
        hh = rms_norm(hidden[:m], w.get(p + "hnorm"), c.eps)
        u = linear(np.concatenate([e, hh], axis=-1), w.get(p + "eh_proj"))
        u = self.block(u, np.arange(m), p, w.has(p + "router"), form)
        self._rec(p + "out", u)
        head = w.get(p + "head") if w.has(p + "head") else w.get("lm_head")
        return linear(rms_norm(u, w.get(p + "head_norm"), c.eps), head)
