"""A PyTorch CLIP with the state_dict names of the published model (CLIP.md),
used only to make test fixtures: random weights, saved as a TorchScript archive
(OpenAI's float16 choice) and as a torch.save state_dict, with reference outputs.
Needs Debian's python3-torch; `make test` itself never runs it."""

from collections import OrderedDict

import torch
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, gelu):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, width // 64)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", nn.GELU() if gelu else QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, gelu):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(width, gelu) for _ in range(layers)])

    def forward(self, x, mask=None):
        for b in self.resblocks:
            x = b(x, mask)
        return x


class Visual(nn.Module):
    def __init__(self, res, patch, width, layers, embed, gelu):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        s = width ** -0.5
        self.class_embedding = nn.Parameter(s * torch.randn(width))
        self.positional_embedding = nn.Parameter(s * torch.randn((res // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, gelu)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(s * torch.randn(width, embed))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, embed=32, res=32, v_layers=2, v_width=64, patch=8,
                 context=16, vocab=512, t_width=64, t_layers=2, gelu=False):
        super().__init__()
        self.context_length = context
        self.visual_res = res
        self.visual = Visual(res, patch, v_width, v_layers, embed, gelu)
        self.transformer = Transformer(t_width, t_layers, gelu)
        self.token_embedding = nn.Embedding(vocab, t_width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context, t_width))
        self.ln_final = nn.LayerNorm(t_width)
        self.text_projection = nn.Parameter(t_width ** -0.5 * torch.randn(t_width, embed))
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))
        mask = torch.full((context, context), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)
        # LayerNorms get random affine parameters so that tests see them.
        for m in self.modules():
            if isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, 1.0, 0.1)
                nn.init.normal_(m.bias, 0.0, 0.1)
        for m in self.modules():
            if isinstance(m, nn.MultiheadAttention):
                nn.init.normal_(m.in_proj_bias, 0.0, 0.1)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        return self.encode_image(image), self.encode_text(text)


def half_names(model):
    """The parameters OpenAI's convert_weights stores as float16."""
    names = set()
    for mname, m in model.named_modules():
        p = mname + "." if mname else ""
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            names.update(p + n for n, _ in m.named_parameters(recurse=False))
        if isinstance(m, nn.MultiheadAttention):
            names.update(p + n for n in ("in_proj_weight", "in_proj_bias"))
    names.update(["text_projection", "visual.proj"])
    return names


def round_to(model, names, dtype):
    """Rounds the named parameters through dtype, so the float32 model computes
    with exactly the values a float16/bfloat16 file holds."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in names:
                p.copy_(p.to(dtype).float())


MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def preprocess(n_px, exif=False):
    """CLIP's published preprocess (clip.py's _transform); with exif, the
    photo is first turned upright as its EXIF orientation says."""
    from PIL import Image, ImageOps
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    steps = [Resize(n_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(n_px),
             lambda im: im.convert("RGB"), ToTensor(), Normalize(MEAN, STD)]
    if exif:
        steps.insert(0, ImageOps.exif_transpose)
    return Compose(steps)
