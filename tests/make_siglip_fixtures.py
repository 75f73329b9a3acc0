"""Makes SigLIP 2 checkpoints with OpenCLIP's and timm's own code and the
reference outputs of OpenCLIP's encode_text / encode_image on them:

    python3 tests/make_siglip_fixtures.py OPEN_CLIP_SRC TIMM_SRC tests/fixtures
        # the committed small fixtures: siglip-*/ folders and siglip-*.ref
    python3 tests/make_siglip_fixtures.py OPEN_CLIP_SRC TIMM_SRC --model ViT-B-16-SigLIP2 \\
        --layers 1 --dtype f16 --tokenizer TOKENIZER_JSON OUT_DIR OUT.ref
        # a released config at its real widths (vocabulary 256,000, context
        # 64), with fewer layers (documented runs; not committed); --hf
        # writes it as a Hugging Face SiglipModel folder instead

OPEN_CLIP_SRC is the src/ folder of mlfoundations/open_clip v2.32.0 (the
newest that runs on Debian 12's python3-torch 1.13; it has the SigLIP 2
configs), TIMM_SRC a checkout of huggingface/pytorch-image-models (tested at
aa4b5850); python3-torch only. The small fixtures keep each released
config's timm model name (which decides the image tower's activation),
patch, resolution and context, and narrow the towers to 64 (2 heads, 2
layers, vocabulary 1,200: tests/fixtures/spm-small.json is their
tokenizer.json): OpenCLIP v2.32 has no timm_model_kwargs, so timm's
create_model is given them here, as a newer OpenCLIP passes them; the config
written carries them. Weights are random and far from the initial values:
LayerNorms, the latent query, the positions all perturbed, activations O(1)
so that exact and tanh GELU differ well above the tests' tolerance. With
--dtype f16 every weight is rounded to float16 before the reference runs
in float32. The Hugging Face folders are made by renaming the state_dict
as transformers' convert_siglip_to_hf.py does (transformers is not in
Debian 12): q, k, v split out of timm's qkv, the head's q and kv joined into
its nn.MultiheadAttention's in_proj, position embedding and probe without
their leading 1; config.json's hidden_act from the towers' own activations.
`make test` never runs this."""

import argparse
import json
import math
import os
import re
import shutil
import struct
import sys
import types

import torch

OVERRIDES = {}  # timm kwargs of the model being built


def import_open_clip(oc_src, timm_src):
    # open_clip imports tqdm and ftfy (download bars, text cleaning): neither is used here
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x=None, *a, **k: x))
    sys.modules.setdefault("ftfy", types.SimpleNamespace(fix_text=lambda s: s))
    sys.path.insert(0, timm_src)
    sys.path.insert(0, oc_src)
    import timm
    import open_clip

    create = timm.create_model
    open_clip.timm_model.timm.create_model = lambda name, **kw: create(name, **dict(kw, **OVERRIDES))
    return open_clip


def randomise(model, seed):
    """Weights of unit-scale products; LayerNorm gains around 1, biases,
    positions and the latent query far from 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen)
            if name == "logit_scale":
                p.fill_(math.log(10.0))
            elif name == "logit_bias":
                p.fill_(-10.0 + 0.3 * r.item())
            elif name.endswith("latent") or "pos" in name:
                p.copy_(r * 0.5)
            elif "norm" in name or "ln_" in name:
                p.copy_((1.0 + 0.3 * r) if name.endswith("weight") else 0.2 * r)
            elif name.endswith("bias"):
                p.copy_(0.2 * r)
            elif name.endswith("token_embedding.weight"):
                p.copy_(r)
            else:
                fan_in = p[0].numel()
                p.copy_(r * 1.5 / math.sqrt(fan_in))


def save_safetensors(sd, path):
    names = {torch.float32: "F32", torch.float16: "F16"}
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in sd.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)


def build(open_clip, cfg, seed, dtype):
    global OVERRIDES
    cfg = json.loads(json.dumps(cfg))
    OVERRIDES = cfg["vision_cfg"].pop("timm_model_kwargs", {})
    cfg.pop("custom_text", None)
    model = open_clip.CustomTextCLIP(**cfg).eval()
    randomise(model, seed)
    if dtype == "f16":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    return model


def hf_state_dict(sd):
    """OpenCLIP + timm names to transformers' SiglipModel names."""
    whole = {
        "text.token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "text.positional_embedding": "text_model.embeddings.position_embedding.weight",
        "text.ln_final.weight": "text_model.final_layer_norm.weight",
        "text.ln_final.bias": "text_model.final_layer_norm.bias",
        "text.text_projection.weight": "text_model.head.weight",
        "text.text_projection.bias": "text_model.head.bias",
        "visual.trunk.patch_embed.proj.weight": "vision_model.embeddings.patch_embedding.weight",
        "visual.trunk.patch_embed.proj.bias": "vision_model.embeddings.patch_embedding.bias",
        "visual.trunk.norm.weight": "vision_model.post_layernorm.weight",
        "visual.trunk.norm.bias": "vision_model.post_layernorm.bias",
    }
    block = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "norm1": "layer_norm1", "norm2": "layer_norm2",
             "attn.out_proj": "self_attn.out_proj", "attn.proj": "self_attn.out_proj", "mlp.c_fc": "mlp.fc1",
             "mlp.c_proj": "mlp.fc2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
    pool = {"proj": "attention.out_proj", "norm": "layernorm", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
    out = {}
    for name, t in sd.items():
        if name in ("logit_scale", "logit_bias"):
            out[name] = t.reshape(1)
        elif name in whole:
            out[whole[name]] = t
        elif name == "visual.trunk.pos_embed":
            out["vision_model.embeddings.position_embedding.weight"] = t[0]
        elif name == "visual.trunk.attn_pool.latent":
            out["vision_model.head.probe"] = t
        elif name.startswith("visual.trunk.attn_pool."):
            rest = name[len("visual.trunk.attn_pool."):]
            part, kind = rest.rsplit(".", 1)
            if part == "q":
                kv = sd["visual.trunk.attn_pool.kv." + kind]
                out["vision_model.head.attention.in_proj_" + kind] = torch.cat([t, kv])
            elif part != "kv":
                out["vision_model.head.%s.%s" % (pool[part], kind)] = t
        else:
            m = re.match(r"(text\.transformer\.resblocks|visual\.trunk\.blocks)\.(\d+)\.(.*)\.(weight|bias)$", name)
            if not m:
                m = re.match(r"(text\.transformer\.resblocks)\.(\d+)\.(attn\.in_proj)_(weight|bias)$", name)
            tower = "text_model" if m.group(1).startswith("text") else "vision_model"
            prefix = "%s.encoder.layers.%s." % (tower, m.group(2))
            if m.group(3) in ("attn.in_proj", "attn.qkv"):
                for part, piece in zip("qkv", t.chunk(3)):
                    out["%sself_attn.%s_proj.%s" % (prefix, part, m.group(4))] = piece.contiguous()
            else:
                out[prefix + block[m.group(3)] + "." + m.group(4)] = t
    return {k: v.contiguous() for k, v in out.items()}


def hf_configs(model, cfg):
    """config.json and preprocessor_config.json as transformers writes them for SiglipModel"""
    import timm
    t, v = cfg["text_cfg"], cfg["vision_cfg"]
    trunk = model.visual.trunk
    vact = "gelu_pytorch_tanh" if isinstance(trunk.blocks[0].mlp.act, timm.layers.GELUTanh) else "gelu"
    tact = "gelu_pytorch_tanh" if t.get("act_kwargs", {}).get("approximate") == "tanh" else "gelu"
    W = trunk.embed_dim
    config = {
        "architectures": ["SiglipModel"], "model_type": "siglip", "initializer_factor": 1.0,
        "text_config": {"model_type": "siglip_text_model", "hidden_size": t["width"],
                        "intermediate_size": int(t["width"] * t.get("mlp_ratio", 4.0)),
                        "num_attention_heads": t["heads"], "num_hidden_layers": t["layers"],
                        "max_position_embeddings": t["context_length"], "vocab_size": t["vocab_size"],
                        "hidden_act": tact, "layer_norm_eps": 1e-06, "projection_size": cfg["embed_dim"]},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": W,
                          "intermediate_size": trunk.blocks[0].mlp.fc1.out_features,
                          "num_attention_heads": trunk.blocks[0].attn.num_heads, "num_hidden_layers": len(trunk.blocks),
                          "image_size": v["image_size"], "patch_size": trunk.patch_embed.patch_size[0],
                          "hidden_act": vact, "layer_norm_eps": 1e-06},
    }
    n = v["image_size"]
    pre = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
           "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5],
           "processor_class": "SiglipProcessor", "resample": 3, "rescale_factor": 1 / 255,
           "size": {"height": n, "width": n}}
    return config, pre


def write_checkpoint(open_clip, cfg, out, fmt, dtype, tokenizer, seed, hf=False):
    model = build(open_clip, cfg, seed, dtype)
    sd = {k: (v.half() if dtype == "f16" and v.dim() else v) for k, v in model.state_dict().items()}
    os.makedirs(out, exist_ok=True)
    if hf:
        config, pre = hf_configs(model, cfg)
        for name, obj in (("config.json", config), ("preprocessor_config.json", pre)):
            with open(os.path.join(out, name), "w") as f:
                json.dump(obj, f, indent=2)
        if tokenizer:
            shutil.copyfile(tokenizer, os.path.join(out, "tokenizer.json"))
        sd = hf_state_dict(sd)
        if fmt == "safetensors":
            save_safetensors(sd, os.path.join(out, "model.safetensors"))
        else:
            torch.save(sd, os.path.join(out, "pytorch_model.bin"))
        return model
    # what OpenCLIP's pretrained table gives SigLIP 2 (_slpcfg), as push_to_hf_hub writes it
    c = open_clip.constants
    pre = {"mean": list(c.INCEPTION_MEAN), "std": list(c.INCEPTION_STD), "interpolation": "bicubic",
           "resize_mode": "squash"}
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": pre}, f, indent=2)
    if tokenizer:
        shutil.copyfile(tokenizer, os.path.join(out, "tokenizer.json"))
    if fmt == "safetensors":
        save_safetensors(sd, os.path.join(out, "open_clip_model.safetensors"))
    else:
        torch.save(sd, os.path.join(out, "open_clip_pytorch_model.bin"))
    return model


def xorshift_image(seed, res):
    """[3, res, res] pixels as 8-bit values normalised by mean and std 0.5:
    bytes from xorshift32 (x ^= x << 13, x >> 17, x << 5; the top byte),
    so that the C test makes the same image from the seed alone"""
    x, vals = seed, []
    for _ in range(3 * res * res):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        vals.append(x >> 24)
    u = torch.tensor(vals, dtype=torch.float32).reshape(3, res, res)
    return (u / 255 - 0.5) / 0.5


def reference(model, cfg, path, seed):
    """Texts as SigLIP's tokenizer gives them (EOS = 1 last, 0 after it to
    the context), of 1 to 64 ids; two images of noise (xorshift_image)."""
    gen = torch.Generator().manual_seed(seed)
    t, v = cfg["text_cfg"], cfg["vision_cfg"]
    C, V = t["context_length"], t["vocab_size"]
    texts = []
    for n in (1, 2, 5, C // 2, C - 1, C):
        texts.append(torch.randint(4, V, (n - 1,), generator=gen).tolist() + [1])
    res = v["image_size"]
    seeds = [seed * 7919 + 1, seed * 104729 + 3]
    images = torch.stack([xorshift_image(s, res) for s in seeds])
    with torch.no_grad():
        tv = model.encode_text(torch.tensor([ids + [0] * (C - len(ids)) for ids in texts]))
        iv = model.encode_image(images)
    with open(path, "w") as f:
        f.write("logit_scale %.9g\nlogit_bias %.9g\n" % (model.logit_scale.item(), model.logit_bias.item()))
        for ids, out in zip(texts, tv):
            f.write("text %d %s\n" % (len(ids), " ".join(map(str, ids))))
            f.write("out %d %s\n" % (len(out), " ".join("%.9g" % x for x in out.tolist())))
        for s, out in zip(seeds, iv):
            f.write("image %d xorshift %d\n" % (3 * res * res, s))
            f.write("out %d %s\n" % (len(out), " ".join("%.9g" % x for x in out.tolist())))


def small(open_clip, name):
    cfg = open_clip.get_model_config(name)
    cfg["embed_dim"] = 64
    cfg["vision_cfg"]["timm_model_kwargs"] = {"depth": 2, "embed_dim": 64, "num_heads": 2}
    cfg["text_cfg"].update(width=64, heads=2, layers=2, vocab_size=1200)
    return cfg


FIXTURES = [  # name, released config, format, dtype, Hugging Face
    ("siglip-b16", "ViT-B-16-SigLIP2", "safetensors", "f32", False),
    ("siglip-b16-256", "ViT-B-16-SigLIP2-256", "bin", "f16", False),
    ("siglip-b32-256", "ViT-B-32-SigLIP2-256", "safetensors", "f16", False),
    ("siglip-hf-b16", "ViT-B-16-SigLIP2", "safetensors", "f16", True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("open_clip_src")
    ap.add_argument("timm_src")
    ap.add_argument("out")
    ap.add_argument("ref", nargs="?")
    ap.add_argument("--model")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--format", choices=["bin", "safetensors"], default="safetensors")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--tokenizer", help="a tokenizer.json to put beside the checkpoint")
    ap.add_argument("--hf", action="store_true", help="a Hugging Face SiglipModel folder")
    a = ap.parse_args()
    open_clip = import_open_clip(a.open_clip_src, a.timm_src)
    torch.set_num_threads(2)
    if not a.model:
        tok = os.path.join(a.out, "spm-small.json")
        for k, (name, model_name, fmt, dtype, hf) in enumerate(FIXTURES):
            cfg = small(open_clip, model_name)
            model = write_checkpoint(open_clip, cfg, os.path.join(a.out, name), fmt, dtype, tok, 300 + k, hf)
            reference(model, cfg, os.path.join(a.out, name + ".ref"), 400 + k)
        return
    cfg = open_clip.get_model_config(a.model)
    cfg["vision_cfg"]["timm_model_kwargs"] = {"depth": a.layers}
    cfg["text_cfg"]["layers"] = a.layers
    model = write_checkpoint(open_clip, cfg, a.out, a.format, a.dtype, a.tokenizer, 7, a.hf)
    reference(model, cfg, a.ref, 8)


if __name__ == "__main__":
    main()
