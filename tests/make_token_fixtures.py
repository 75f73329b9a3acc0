"""Makes tests/fixtures/tokens.txt: texts and the ids openai/CLIP's reference
tokenizer gives them. Needs a checkout of openai/CLIP and of rspeer/python-ftfy
(neither is committed here), Debian's python3-regex and python3-wcwidth, and
the word lists wamerican, wfrench, wngerman, wspanish:

    python3 tests/make_token_fixtures.py CLIP/ python-ftfy/ VOCAB.gz > tests/fixtures/tokens.txt

Each line is the text's UTF-8 bytes in hex, a tab, and the ids (SOT and EOT
included, no padding)."""

import importlib.util
import random
import re
import sys

clip_dir, ftfy_dir, vocab = sys.argv[1:4]
sys.path.insert(0, ftfy_dir)
spec = importlib.util.spec_from_file_location("simple_tokenizer", clip_dir + "/clip/simple_tokenizer.py")
st = importlib.util.module_from_spec(spec)
spec.loader.exec_module(st)
tok = st.SimpleTokenizer(vocab)

HARD = [
    "", " ", "\t\n", "a", "A photo of a dog.", "a dog on a beach", "THE QUICK BROWN FOX", "Hello,   world!!!",
    "it's", "IT'S", "don't", "we're", "they've", "I'm", "you'll", "he'd", "'s", "'", "''", "rock'n'roll",
    "l'été", "café", "CAFÉ", "cafe\u0301", "naïve façade", "Straße", "STRASSE", "İstanbul", "ıi", "Ǆemal",
    "ΟΔΟΣ", "Σ", "ΣΑΣ ΚΑΙ", "οδός", "ΌΣΟΙ.", "Москва", "ПРИВЕТ мир", "Ελληνικά", "日本語のテキスト", "中文文本",
    "한국어 텍스트", "ｈｅｌｌｏ　ｗｏｒｌｄ", "ＡＢＣ１２３", "ｶﾀｶﾅ", "مرحبا بالعالم", "नमस्ते दुनिया", "שלום",
    "ไทย", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🏳️‍🌈", "a😀b", "12345", "3.14159", "1,000,000", "٣٤٥", "²³", "Ⅻ", "½",
    "...", "?!?!", "--", "—", "a—b", "(parenthesis)", "[brackets] {braces}", "#hashtag @mention", "e-mail",
    "\u201ccurly\u201d \u2018quotes\u2019", "\u201eGerman\u201c", "it\u2019s", "\u00abguillemets\u00bb",
    "ﬁne ﬂour", "ﬃ ﬄ ﬀ", "Ĳssel", "&amp;", "&lt;b&gt;", "&amp;amp;amp;", "Tom &amp; Jerry", "&eacute;t&eacute;",
    "&EACUTE;", "&#233;", "&#x1F600;", "&#65;&#66;", "&copy 2024", "&notit;", "&not", "a &lt; b", "<b>bold</b> &amp;",
    "x < y &amp; z", "&#0;", "&#128;", "&#x80;", "&#150;", "&#59;", "&#xD800;", "&#1114112;", "&#13;", "&ampx",
    "&#9999999999999;", "&;", "&#;", "&#x;", "&hellip;", "&nbsp;&nbsp;x", "a\u00a0b", "a\u2003b", "a\u3000b",
    "a\u200bb", "a\u200db", "a\ufeffb", "a\u00adb", "\x1b[31mred\x1b[0m", "a\x00b", "a\x07b", "a\x0bb", "a\x85b",
    "a\x80b", "a\x9db", "a\r\nb", "a\rb", "a\u2028b", "a\u2029b", "line1\nline2", "tab\tseparated",
    "<|startoftext|>", "<|endoftext|>", "<|startoftext|>hello<|endoftext|>", "a<|endoftext|>b",
    "<|STARTOFTEXT|>", "<|ſtartoftext|>", "'ſ", "ǅ", "Ǉubljana", "ǈ", "ŉ", "Ⓐⓑ", "ǰ", "ß", "ẞ", "K", "Å",
    "supercalifragilisticexpialidocious", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "lol" * 30,
    "a " * 100, "word " * 80, "\u0301", "e\u0301\u0301", "x\u20dd", "Ǻ", "ᾼ", "ǃ", "\ufffd", "\U0001d400\U0001d41a",
    "ℌ𝔢𝔩𝔩𝔬", "™", "℃", "№5", "µ", "Ω", "Å", "\u212b", "ﬀ\u0301", "\u0149n", "ÆØÅ æøå", "ŒUVRE œuvre",
    "Ⅰ Ⅱ ⅰ", "ⓗⓘ", "Ｈｅｌｌｏ，ｗｏｒｌｄ！", "ｱｲｳ", "\uff5e", "\uffe5", "\uffe8",
]


def words(path, n, rng):
    with open(path, encoding="utf-8", errors="replace") as f:
        ws = [w.strip() for w in f if w.strip()]
    return rng.sample(ws, min(n, len(ws)))


def prompts(path):
    s = open(path, encoding="utf-8").read()
    out = []
    for a, b in re.findall(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"", s):
        t = (a or b).replace("\\'", "'").replace('\\"', '"')
        out.append(t.replace("{}", "dog") if "{}" in t else t)
    return out


def main():
    rng = random.Random(5)
    texts = list(HARD)
    for d in ("american-english", "french", "ngerman", "spanish"):
        texts += words("/usr/share/dict/" + d, 1000, rng)
    texts += prompts(clip_dir + "/data/prompts.md")
    seen = set()
    for t in texts:
        if t in seen:
            continue
        seen.add(t)
        ids = [49406] + tok.encode(t) + [49407]
        sys.stdout.write("%s\t%s\n" % (t.encode("utf-8").hex(), " ".join(map(str, ids))))


main()
