"""PyTorch side of bench/run.sh: the same jobs as clippie on the same
checkpoint, timed in-process (model time) or as a whole script.

    python3 torch_bench.py image-model CKPT            # ms per image at batch 32
    python3 torch_bench.py text-model CKPT IDS         # captions per second at batch 32
    python3 torch_bench.py text-query CKPT IDS         # whole-script one-off query (time it outside)
    python3 torch_bench.py latency CKPT IDS [RUNS]     # one caption, one image, batch 8: medians (model only)
    python3 torch_bench.py photos CKPT FILE...         # whole job: decode, preprocess, model
    python3 torch_bench.py search NPY QUERY            # NumPy top-10 (time it outside)
"""
import statistics
import sys
import time


def load(path):
    """The checkpoint's weights in the eager PyTorch CLIP of tests/clipref.py
    (the same modules as openai/CLIP's model.py), in float32."""
    import torch
    sys.path.insert(0, sys.path[0] + "/../tests")
    import clipref
    torch.set_grad_enabled(False)
    sd = torch.jit.load(path, map_location="cpu").state_dict()
    w, p = sd["visual.conv1.weight"].shape[0], sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    layers = lambda pre: len({k[len(pre):].split(".")[0] for k in sd if k.startswith(pre)})
    m = clipref.CLIP(embed=sd["text_projection"].shape[1], res=p * grid, v_layers=layers("visual.transformer.resblocks."),
                     v_width=w, patch=p, context=sd["positional_embedding"].shape[0],
                     vocab=sd["token_embedding.weight"].shape[0], t_width=sd["ln_final.weight"].shape[0],
                     t_layers=layers("transformer.resblocks."))
    m.load_state_dict({k: v.float() for k, v in sd.items() if k != "attn_mask"})
    return torch, m.eval()


def ids_from(path, torch):
    rows = [[int(t) for t in line.split()] for line in open(path)]
    out = torch.zeros(len(rows), 77, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r[:77])
    return out


def median_ms(fn, runs):
    """Median wall and CPU milliseconds of fn() over runs calls, after three
    warm-up calls (as bench/latency.c)."""
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def latency(torch, m, ids, runs):
    """bench/latency.c's rows for PyTorch, on 2 threads: the caption's token
    ids (no tokenizer here: the text tower alone, over the 77 padded
    positions as openai/CLIP runs it), one image, a batch of 8 (32, as
    image-model, takes minutes a run on 2 shared cores)."""
    torch.set_num_threads(2)
    one, batch = torch.randn(1, 3, 224, 224), torch.randn(8, 3, 224, 224)
    print("| one caption (text tower only) | %.2f ms | cpu %.2f ms |" % median_ms(lambda: m.encode_text(ids), runs))
    print("| one image (model only) | %.2f ms | cpu %.2f ms |" % median_ms(lambda: m.encode_image(one), runs))
    w, c = median_ms(lambda: m.encode_image(batch), max(3, runs // 3))
    print("| batch of 8 images | %.2f ms an image | cpu %.2f ms an image |" % (w / 8, c / 8))


def main():
    job = sys.argv[1]
    if job == "search":
        import numpy as np
        db = np.load(sys.argv[2], mmap_mode="r")
        q = np.fromfile(sys.argv[3], "<f4")
        s = (db @ q) / np.linalg.norm(db, axis=1)
        top = np.argsort(-s, kind="stable")[:10]
        print("\n".join("%.6f\t%d" % (s[i], i + 1) for i in top))
        return
    torch, m = load(sys.argv[2])
    if job == "image-model":
        x = torch.randn(32, 3, 224, 224)
        m.encode_image(x)  # warm-up
        times = []
        for _ in range(5):
            t = time.perf_counter()
            m.encode_image(x)
            times.append((time.perf_counter() - t) / 32 * 1000)
        print("%.1f" % statistics.median(times))
    elif job == "text-model":
        ids = ids_from(sys.argv[3], torch)
        m.encode_text(ids[:32])
        t = time.perf_counter()
        for i in range(0, len(ids), 32):
            m.encode_text(ids[i:i + 32])
        print("%.1f" % (len(ids) / (time.perf_counter() - t)))
    elif job == "latency":
        latency(torch, m, ids_from(sys.argv[3], torch)[:1], int(sys.argv[4]) if len(sys.argv) > 4 else 15)
    elif job == "text-query":
        v = m.encode_text(ids_from(sys.argv[3], torch))
        sys.stdout.buffer.write(v.numpy().tobytes())
    elif job == "photos":
        from PIL import Image
        import clipref
        pre = clipref.preprocess(224)
        files = sys.argv[3:]
        for i in range(0, len(files), 32):
            batch = torch.stack([pre(Image.open(f)) for f in files[i:i + 32]])
            m.encode_image(batch)


main()
