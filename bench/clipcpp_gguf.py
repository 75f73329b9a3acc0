"""Writes an OpenAI-CLIP TorchScript checkpoint (the one bench/latency.sh
makes with tests/make_fixtures.py --b32) as the GGUF file clip.cpp
(monatis/clip.cpp 3484ffc, its ggml pin) loads, so the peer runs on the very
weights clippie does. clip.cpp's own converter needs transformers and the
gguf package, which Debian 12 lacks; this does what it does with numpy:

    python3 bench/clipcpp_gguf.py b32.pt bpe_simple_vocab_16e6.txt.gz out.gguf

The layout follows clip.cpp's loader (clip.cpp: KEY_* and TN_* names) and
ggml's GGUF version 2 reader (ggml.c: gguf_init_from_file): a header, the
key/value pairs, the tensor infos, then each tensor's bytes aligned to 32.
As its converter does, 2-D ".weight" matrices and the 4-D patch kernel are
stored float16, everything else float32."""

import gzip
import os
import struct
import sys

import numpy as np
import torch

# CLIP's byte-to-character table, as vocab.bpe.h is generated from it
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_vocab import byte_symbols  # noqa: E402

GGUF_MAGIC = 0x46554747  # "GGUF" read as a little-endian uint32
GGUF_VERSION = 2  # what this ggml pin writes and reads
ALIGN = 32  # GGUF_DEFAULT_ALIGNMENT: no general.alignment key is written

# gguf_type values (ggml.h: enum gguf_type)
T_UINT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 6, 7, 8, 9
# ggml_type values (ggml.h: enum ggml_type)
GGML_F32, GGML_F16 = 0, 1

# CLIP's published preprocessing (the same numbers clippie uses)
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def clip_vocab(merges_gz, n_vocab):
    """The token strings by id, as CLIP's SimpleTokenizer builds them: the 256
    byte characters, the same with "</w>", one token per merge, then the two
    specials. clip.cpp's tokenizer matches words against these strings."""
    lines = gzip.open(merges_gz, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : n_vocab - 512 - 2 + 1]
    chars = byte_symbols()
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    if len(vocab) != n_vocab:
        raise SystemExit(f"vocab has {len(vocab)} tokens, the checkpoint {n_vocab}")
    return vocab


def tensors(sd):
    """(clip.cpp name, numpy array in HF CLIPModel's layout) for each tensor
    clip.cpp reads. OpenAI's fused in_proj splits into q, k, v; its
    projections (x @ proj) become HF's Linear weights (proj transposed).
    clip.cpp's names swap HF's fc1/fc2: fc1 (c_fc) is "ffn_down"."""
    out = []

    def put(name, t):
        out.append((name, t.detach().float().numpy()))

    for tower, pre, width in (("t", "", sd["ln_final.weight"].shape[0]), ("v", "visual.", sd["visual.ln_post.weight"].shape[0])):
        i = 0
        while f"{pre}transformer.resblocks.{i}.ln_1.weight" in sd:
            r = f"{pre}transformer.resblocks.{i}."
            b = f"{tower}.blk.{i}."
            w, bias = sd[r + "attn.in_proj_weight"], sd[r + "attn.in_proj_bias"]
            for j, qkv in enumerate("qkv"):
                put(b + f"attn_{qkv}.weight", w[j * width : (j + 1) * width])
                put(b + f"attn_{qkv}.bias", bias[j * width : (j + 1) * width])
            put(b + "attn_out.weight", sd[r + "attn.out_proj.weight"])
            put(b + "attn_out.bias", sd[r + "attn.out_proj.bias"])
            for ln in ("1", "2"):
                put(b + f"ln{ln}.weight", sd[r + f"ln_{ln}.weight"])
                put(b + f"ln{ln}.bias", sd[r + f"ln_{ln}.bias"])
            put(b + "ffn_down.weight", sd[r + "mlp.c_fc.weight"])
            put(b + "ffn_down.bias", sd[r + "mlp.c_fc.bias"])
            put(b + "ffn_up.weight", sd[r + "mlp.c_proj.weight"])
            put(b + "ffn_up.bias", sd[r + "mlp.c_proj.bias"])
            i += 1
    put("t.token_embd.weight", sd["token_embedding.weight"])
    put("t.position_embd.weight", sd["positional_embedding"])
    put("t.post_ln.weight", sd["ln_final.weight"])
    put("t.post_ln.bias", sd["ln_final.bias"])
    put("text_projection.weight", sd["text_projection"].t())
    put("v.class_embd", sd["visual.class_embedding"])
    put("v.patch_embd.weight", sd["visual.conv1.weight"])
    put("v.position_embd.weight", sd["visual.positional_embedding"])
    put("v.pre_ln.weight", sd["visual.ln_pre.weight"])
    put("v.pre_ln.bias", sd["visual.ln_pre.bias"])
    put("v.post_ln.weight", sd["visual.ln_post.weight"])
    put("v.post_ln.bias", sd["visual.ln_post.bias"])
    put("visual_projection.weight", sd["visual.proj"].t())
    return out


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, kind, value):
    """One key/value pair: the key, its gguf_type, the value."""
    head = gstr(key) + struct.pack("<I", kind)
    if kind == T_UINT32:
        return head + struct.pack("<I", value)
    if kind == T_FLOAT32:
        return head + struct.pack("<f", value)
    if kind == T_BOOL:
        return head + struct.pack("<B", 1 if value else 0)
    if kind == T_STRING:
        return head + gstr(value)
    elem, items = value  # T_ARRAY: (element type, list)
    body = struct.pack("<IQ", elem, len(items))
    if elem == T_STRING:
        return head + body + b"".join(gstr(x) for x in items)
    return head + body + np.asarray(items, dtype="<f4").tobytes()


def config(sd):
    """The hyperparameters read off the tensors' shapes, as the checkpoint
    carries no config (64-wide heads, as every released CLIP has)."""
    t_width = sd["ln_final.weight"].shape[0]
    v_width = sd["visual.ln_post.weight"].shape[0]
    patch = sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)

    def layers(pre):
        n = 0
        while f"{pre}transformer.resblocks.{n}.ln_1.weight" in sd:
            n += 1
        return n

    return dict(
        t_width=t_width, t_ff=sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0], t_heads=t_width // 64,
        t_layers=layers(""), context=sd["positional_embedding"].shape[0], vocab=sd["token_embedding.weight"].shape[0],
        proj=sd["text_projection"].shape[1], v_width=v_width, v_ff=sd["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        v_heads=v_width // 64, v_layers=layers("visual."), patch=patch, res=patch * grid)


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: clipcpp_gguf.py CHECKPOINT.pt BPE_MERGES.txt.gz OUT.gguf")
    sd = torch.jit.load(sys.argv[1], map_location="cpu").state_dict()
    c = config(sd)
    pairs = [
        kv("clip.has_text_encoder", T_BOOL, True),
        kv("clip.has_vision_encoder", T_BOOL, True),
        kv("general.file_type", T_UINT32, 1),  # f16
        kv("general.name", T_STRING, "clippie bench checkpoint"),
        kv("general.description", T_STRING, "two-tower CLIP model"),
        kv("clip.text.context_length", T_UINT32, c["context"]),
        kv("clip.text.embedding_length", T_UINT32, c["t_width"]),
        kv("clip.text.feed_forward_length", T_UINT32, c["t_ff"]),
        kv("clip.text.projection_dim", T_UINT32, c["proj"]),
        kv("clip.text.attention.head_count", T_UINT32, c["t_heads"]),
        kv("clip.text.attention.layer_norm_epsilon", T_FLOAT32, 1e-5),
        kv("clip.text.block_count", T_UINT32, c["t_layers"]),
        kv("tokenizer.ggml.tokens", T_ARRAY, (T_STRING, clip_vocab(sys.argv[2], c["vocab"]))),
        kv("clip.vision.image_size", T_UINT32, c["res"]),
        kv("clip.vision.patch_size", T_UINT32, c["patch"]),
        kv("clip.vision.embedding_length", T_UINT32, c["v_width"]),
        kv("clip.vision.feed_forward_length", T_UINT32, c["v_ff"]),
        kv("clip.vision.projection_dim", T_UINT32, c["proj"]),
        kv("clip.vision.attention.head_count", T_UINT32, c["v_heads"]),
        kv("clip.vision.attention.layer_norm_epsilon", T_FLOAT32, 1e-5),
        kv("clip.vision.block_count", T_UINT32, c["v_layers"]),
        kv("clip.vision.image_mean", T_ARRAY, (T_FLOAT32, MEAN)),
        kv("clip.vision.image_std", T_ARRAY, (T_FLOAT32, STD)),
        kv("clip.use_gelu", T_BOOL, False),  # OpenAI's CLIP uses quick GELU
    ]
    infos, blobs, offset = [], [], 0
    for name, a in tensors(sd):
        f16 = a.ndim == 4 or (a.ndim == 2 and name.endswith(".weight"))
        data = a.astype("<f2" if f16 else "<f4").tobytes()
        # GGUF lists dimensions fastest first (ggml's ne), numpy slowest first
        infos.append(gstr(name) + struct.pack("<I", a.ndim) + struct.pack(f"<{a.ndim}Q", *reversed(a.shape))
                     + struct.pack("<IQ", GGML_F16 if f16 else GGML_F32, offset))
        pad = -len(data) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    head = struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(infos), len(pairs)) + b"".join(pairs) + b"".join(infos)
    with open(sys.argv[3], "wb") as f:
        f.write(head + b"\0" * (-len(head) % ALIGN))
        for b in blobs:
            f.write(b)
    print(f"{sys.argv[3]}: {len(infos)} tensors, {offset / 2**20:.1f} MB of data, res {c['res']}, patch {c['patch']}")


if __name__ == "__main__":
    main()
