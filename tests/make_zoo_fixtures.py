"""Makes OpenCLIP and Hugging Face checkpoints with OpenCLIP's own code
(mlfoundations/open_clip v2.24.0, which runs on Debian 12's python3-torch
1.13 where its current code needs torch.compiler; no timm needed for plain
ViT models) and the reference
outputs of OpenCLIP's encode_text / encode_image on them:

    python3 tests/make_zoo_fixtures.py OPEN_CLIP_SRC tests/fixtures
        # the committed small fixtures: zoo-*/ folders and zoo-*.ref
    python3 tests/make_zoo_fixtures.py OPEN_CLIP_SRC --model ViT-H-14 --layers 1 \\
        --format safetensors --dtype f16 OUT_DIR OUT.ref
        # a real OpenCLIP config (every width, head width, MLP ratio, patch,
        # resolution and context) with fewer layers; --hf writes it as a
        # Hugging Face CLIPModel instead (OpenAI-architecture configs only)

OPEN_CLIP_SRC is open_clip's src/ folder. The Hugging Face files are made by
renaming the OpenCLIP model's state_dict as transformers'
convert_clip_original_pytorch_to_hf.py does (transformers is not in Debian
12): q, k, v split out of in_proj, projections transposed. Weights are
random; with --dtype f16 every weight is rounded to float16 before the
reference runs in float32, so that the reference is exactly the model the
file holds. `make test` never runs this."""

import argparse
import json
import os
import re
import struct
import sys
import types

import torch


def import_open_clip(src):
    # open_clip imports tqdm and ftfy (download bars, text cleaning) and
    # regex for its tokenizer: none is used here, nor in Debian's torch
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda x=None, *a, **k: x))
    sys.modules.setdefault("ftfy", types.SimpleNamespace(fix_text=lambda s: s))
    try:
        import regex  # noqa: F401
    except ImportError:
        sys.modules["regex"] = re
    sys.path.insert(0, src)
    import open_clip
    return open_clip


def randomise(model, seed):
    """Random weights, LayerNorms and biases included (init leaves them 1 and 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)


def texts_for(vocab, context, gen):
    """Token sequences as CLIP's tokenizer makes them: the start id, then the
    end id (the largest id, where encode_text pools) last."""
    out = []
    for n in (2, 3, context // 2, context - 1, context):
        mid = torch.randint(1, vocab - 2, (n - 2,), generator=gen).tolist()
        out.append([vocab - 2] + mid + [vocab - 1])
    return out


def reference(model, cfg, path, seed):
    gen = torch.Generator().manual_seed(seed)
    t, v = cfg["text_cfg"], cfg["vision_cfg"]
    texts = texts_for(t["vocab_size"], t["context_length"], gen)
    res = v["image_size"]
    images = torch.rand(2, 3, res, res, generator=gen) * 4 - 2
    with torch.no_grad():
        C = t["context_length"]
        tv = model.encode_text(torch.tensor([ids + [0] * (C - len(ids)) for ids in texts]))
        iv = model.encode_image(images)
    with open(path, "w") as f:
        for ids, out in zip(texts, tv):
            f.write("text %d %s\n" % (len(ids), " ".join(map(str, ids))))
            f.write("out %d %s\n" % (len(out), " ".join("%.9g" % x for x in out.tolist())))
        for im, out in zip(images, iv):
            f.write("image %d %s\n" % (im.numel(), " ".join("%.9g" % x for x in im.flatten().tolist())))
            f.write("out %d %s\n" % (len(out), " ".join("%.9g" % x for x in out.tolist())))


def hf_state_dict(sd):
    """OpenAI / OpenCLIP names to transformers' CLIPModel names."""
    whole = {
        "logit_scale": "logit_scale",
        "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "positional_embedding": "text_model.embeddings.position_embedding.weight",
        "ln_final.weight": "text_model.final_layer_norm.weight",
        "ln_final.bias": "text_model.final_layer_norm.bias",
        "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "visual.class_embedding": "vision_model.embeddings.class_embedding",
        "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "visual.ln_post.weight": "vision_model.post_layernorm.weight",
        "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    }
    block = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
             "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    out = {}
    for name, t in sd.items():
        if name in whole:
            out[whole[name]] = t
        elif name == "text_projection":
            out["text_projection.weight"] = t.t().contiguous()
        elif name == "visual.proj":
            out["visual_projection.weight"] = t.t().contiguous()
        else:
            m = re.match(r"(visual\.)?transformer\.resblocks\.(\d+)\.(.*)[._](weight|bias)$", name)
            tower = "vision_model" if m.group(1) else "text_model"
            prefix = "%s.encoder.layers.%s." % (tower, m.group(2))
            if m.group(3) == "attn.in_proj":
                for part, piece in zip("qkv", t.chunk(3)):
                    out["%sself_attn.%s_proj.%s" % (prefix, part, m.group(4))] = piece.contiguous()
            else:
                out[prefix + block[m.group(3)] + "." + m.group(4)] = t
    C = sd["positional_embedding"].shape[0]
    G = sd["visual.positional_embedding"].shape[0]
    out["text_model.embeddings.position_ids"] = torch.arange(C).unsqueeze(0)
    out["vision_model.embeddings.position_ids"] = torch.arange(G).unsqueeze(0)
    return out


def hf_configs(cfg):
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    act = "quick_gelu" if cfg.get("quick_gelu") else "gelu"
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": cfg["embed_dim"],
        "logit_scale_init_value": 2.6592,
        "text_config": {"hidden_size": t["width"], "intermediate_size": int(t["width"] * t.get("mlp_ratio", 4.0)),
                        "num_attention_heads": t["heads"], "num_hidden_layers": t["layers"],
                        "max_position_embeddings": t["context_length"], "vocab_size": t["vocab_size"],
                        "hidden_act": act, "layer_norm_eps": 1e-05, "projection_dim": cfg["embed_dim"],
                        "bos_token_id": t["vocab_size"] - 2, "eos_token_id": t["vocab_size"] - 1},
        "vision_config": {"hidden_size": v["width"], "intermediate_size": int(v["width"] * v.get("mlp_ratio", 4.0)),
                          "num_attention_heads": v["width"] // v.get("head_width", 64), "num_hidden_layers": v["layers"],
                          "image_size": v["image_size"], "patch_size": v["patch_size"], "hidden_act": act,
                          "layer_norm_eps": 1e-05, "projection_dim": cfg["embed_dim"]},
    }
    n = v["image_size"]
    pre = {"crop_size": {"height": n, "width": n}, "do_center_crop": True, "do_convert_rgb": True,
           "do_normalize": True, "do_rescale": True, "do_resize": True,
           "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
           "image_processor_type": "CLIPImageProcessor", "resample": 3, "rescale_factor": 1 / 255,
           "size": {"shortest_edge": n}}
    return config, pre


def save_safetensors(sd, path):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in sd.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)


def write_checkpoint(open_clip, cfg, out, fmt, dtype, hf, seed):
    """Builds the model of cfg with OpenCLIP, writes it into folder out as
    the hub would hold it; returns the model (on the values written)."""
    model = open_clip.model.CLIP(**cfg).eval()
    randomise(model, seed)
    if dtype == "f16":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    sd = {k: (v.half() if dtype == "f16" else v) for k, v in model.state_dict().items()}
    os.makedirs(out, exist_ok=True)
    if hf:
        sd = hf_state_dict(sd)
        config, pre = hf_configs(cfg)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)
        name = "model.safetensors" if fmt == "safetensors" else "pytorch_model.bin"
    else:
        with open(os.path.join(out, "open_clip_config.json"), "w") as f:
            json.dump({"model_cfg": cfg, "preprocess_cfg": {
                "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                "interpolation": "bicubic", "resize_mode": "shortest"}}, f, indent=2)
        name = "open_clip_model.safetensors" if fmt == "safetensors" else "open_clip_pytorch_model.bin"
    if fmt == "safetensors":
        save_safetensors(sd, os.path.join(out, name))
    else:
        torch.save(sd, os.path.join(out, name))
    return model


# Small configs for the committed fixtures: head widths other than 64, MLP
# ratios other than 4, both activations. Widths are multiples of 64, MLP
# widths of 8, as clippie's weights file wants.
SMALL_VISION = dict(image_size=32, layers=2, width=64, head_width=32, mlp_ratio=4.5, patch_size=8)
SMALL_TEXT = dict(context_length=16, vocab_size=128, width=64, heads=2, layers=1)
FIXTURES = [
    # name, config, format, dtype, hf
    ("zoo-oc-bin", dict(embed_dim=32, vision_cfg=SMALL_VISION, text_cfg=SMALL_TEXT), "bin", "f32", False),
    ("zoo-oc-st", dict(embed_dim=32, quick_gelu=True, vision_cfg=dict(SMALL_VISION, head_width=16),
                       text_cfg=dict(SMALL_TEXT, heads=4, mlp_ratio=3.5)), "safetensors", "f16", False),
    # OpenAI's architecture (heads of 64, MLP 4 times as wide), as transformers holds it
    ("zoo-hf-st", dict(embed_dim=32, quick_gelu=True, vision_cfg=dict(SMALL_VISION, width=128, head_width=64,
                                                                      mlp_ratio=4.0, layers=1),
                       text_cfg=dict(SMALL_TEXT, heads=1, mlp_ratio=4.0, layers=2)), "safetensors", "f16", True),
    ("zoo-hf-bin", dict(embed_dim=32, vision_cfg=dict(SMALL_VISION, head_width=64, mlp_ratio=4.0),
                        text_cfg=dict(SMALL_TEXT, heads=1, mlp_ratio=4.0)), "bin", "f32", True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("open_clip_src")
    ap.add_argument("out")
    ap.add_argument("ref", nargs="?")
    ap.add_argument("--model")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--format", choices=["bin", "safetensors"], default="safetensors")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--hf", action="store_true")
    a = ap.parse_args()
    open_clip = import_open_clip(a.open_clip_src)
    torch.set_num_threads(2)
    if not a.model:
        for k, (name, cfg, fmt, dtype, hf) in enumerate(FIXTURES):
            model = write_checkpoint(open_clip, cfg, os.path.join(a.out, name), fmt, dtype, hf, 100 + k)
            reference(model, cfg, os.path.join(a.out, name + ".ref"), 200 + k)
        return
    cfg = open_clip.get_model_config(a.model)
    cfg = dict(cfg, vision_cfg=dict(cfg["vision_cfg"], layers=a.layers), text_cfg=dict(cfg["text_cfg"], layers=a.layers))
    model = write_checkpoint(open_clip, cfg, a.out, a.format, a.dtype, a.hf, 7)
    reference(model, cfg, a.ref, 8)


if __name__ == "__main__":
    main()
