"""Makes tests/fixtures/tokens.txt and tests/fixtures/mojibake.txt: texts and
the ids openai/CLIP's reference tokenizer gives them. Needs a checkout of
openai/CLIP and of rspeer/python-ftfy 6.3.1 (neither is committed here),
Debian's python3-regex and python3-wcwidth, and the word lists wamerican,
wfrench, wngerman, wspanish (tokens.txt), and also wpolish, wukrainian,
wbulgarian, hunspell-el, hunspell-tr, hunspell-ar (mojibake.txt):

    python3 tests/make_token_fixtures.py CLIP/ python-ftfy/ VOCAB.gz > tests/fixtures/tokens.txt
    python3 tests/make_token_fixtures.py CLIP/ python-ftfy/ VOCAB.gz mojibake > tests/fixtures/mojibake.txt

In tokens.txt each line is the text's UTF-8 bytes in hex, a tab, and the ids
(SOT and EOT included, no padding). mojibake.txt is smaller: the text's UTF-8
itself, with bytes below 0x20, 0x7f and '\\' written \\xHH.

mojibake.txt holds ftfy's own test cases (its tests folder and the examples
in its docstrings), words and phrases in ten languages garbled as
fix_encoding repairs them (UTF-8 read as latin-1, Windows-1252 strict, sloppy
and with U+FFFD for its holes, Windows-1250/1251/1253/1254/1257, ISO-8859-2,
MacRoman, cp437; once and twice; no-break spaces turned into spaces; garbled
parts inside clean text; CESU-8 and Java's U+0000), and the same words and
phrases clean, which must come out as the reference leaves them."""

import glob
import importlib.util
import json
import random
import re
import sys

clip_dir, ftfy_dir, vocab = sys.argv[1:4]
sys.path.insert(0, ftfy_dir)
import ftfy  # noqa: E402  (the checkout's, for the sloppy codecs and the counts)

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


def tokens_main():
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


# ---- mojibake.txt ----

DOCSTRING_CASES = [
    "\u00e2\u0153\u201d No problems", "&macr;\\_(\u00e3\x83\x84)_/&macr;", "s\u00c3\u00b3", "voil\u00c3 le travail",
    "\u00c3\u00b3", "&ATILDE;&SUP3;", "\u00ef\u00bb\u00bf", "\u00e2\u20ac\u0153 like this \u00e2\u20ac\ufffd",
    b"\xed\xa6\x9d\xed\xbd\xb7 is an unassigned character, and \xc0\x80 is null".decode("latin-1"),
    b"\xe8\xed\xe2\xe5\xed\xf2\xe0\xf0\xe8\xe7\xe0\xf6\xe8\xff ".decode("windows-1251"),
]

# short texts in scripts the word lists lack
OTHER = [
    "\u65e5\u672c\u8a9e", "\u6771\u4eac\u30bf\u30ef\u30fc", "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c", "\u4e2d\u6587\u7f51\u9875",
    "\u5317\u4eac\u5927\u5b66", "\ud55c\uad6d\uc5b4", "\uc11c\uc6b8 \ud0c0\uc6cc", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0936\u093e\u0902\u0924\u093f", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "\u2714 done", "\u00af\\_(\u30c4)_/\u00af", "\U0001f1eb\U0001f1f7",
    "\u2013 en dash \u2014 em dash", "\u201cquoted\u201d", "it\u2019s", "\u2018single\u2019", "caf\u00e9 cr\u00e8me", "na\u00efve",
    "\u00a310", "\u20ac5", "\u00a5100", "25\u00b0C", "\u00bd cup", "x\u00b2 + y\u00b3", "\u00a9 2024", "\u00ae", "\u2122",
    "\u00bfqu\u00e9?", "\u00a1hola!", "\u00abbonjour\u00bb", "\u2026", "\u2022 item", "\u00a7 3", "\u00b6",
]

# tricky clean texts: close to mojibake, the reference must leave them
NEAR = [
    "(\u256f\u00b0\u25a1\u00b0)\u256f\ufe35 \u253b\u2501\u253b", "\u0ca0_\u0ca0", "(\u00ac_\u00ac)", "\u00af\\_(\u30c4)_/\u00af",
    "\u2552\u2550\u2555 \u2551 \u2558\u2550\u255b", "\u00d7\u00b2", "\u00c0 la carte", "\u00c2ge", "\u00d8resund",
    "\u00c5 \u00e5 \u00e4 \u00f6", "S\u00e3o Paulo", "\u00c0 bient\u00f4t", "\u00e0 \u00e1 \u00e2 \u00e3", "\u00c3 la",
    "\u0397 \u00a8\u03b1\u03bd\u03b1\u03c4\u03c1\u03bf\u03c6\u03ae\u00a8", "\u00b5m", "10\u00b12", "\u00bc \u00bd \u00be",
    "\u00ea\u00e9\u00e8", "\u0392\u0393\u039e\u039f", "\u0432\u0402", "\u201e\u00c3\u00a4", "\u00c3\u00a4", "\u00e2\u0080\u0099",
]

LANGS = [
    ("/usr/share/dict/american-english", "utf-8"), ("/usr/share/dict/french", "utf-8"),
    ("/usr/share/dict/ngerman", "utf-8"), ("/usr/share/dict/spanish", "utf-8"),
    ("/usr/share/dict/polish", "utf-8"), ("/usr/share/dict/ukrainian", "utf-8"),
    ("/usr/share/dict/bulgarian", "utf-8"), ("/usr/share/hunspell/el_GR.dic", "iso-8859-7"),
    ("/usr/share/hunspell/tr_TR.dic", "utf-8"), ("/usr/share/hunspell/ar.dic", "utf-8"),
]


def dict_words(path, enc):
    out = []
    with open(path, encoding=enc, errors="replace") as f:
        for line in f:
            w = line.split("/")[0].split("\t")[0].strip()
            if w and not w.isdigit() and "\ufffd" not in w and any(c.isalpha() for c in w):
                out.append(w)
    return out


def clean_texts(rng):
    """Words and short phrases of each language, with some punctuation."""
    texts = []
    punct = ["", "", "", ".", ",", "!", "?", ":", " \u2013", " \u2014", "\u2019s", "\u2026", " \u20ac", " \u00a9"]
    for path, enc in LANGS:
        ws = [w for w in dict_words(path, enc) if any(ord(c) > 127 for c in w)] or dict_words(path, enc)
        for _ in range(215):
            k = rng.choice([1, 1, 1, 2])
            t = " ".join(rng.choice(ws) for _ in range(k)) + rng.choice(punct)
            if rng.random() < 0.15:
                t = "\u201c" + t + "\u201d"
            texts.append(t)
    return texts + OTHER


def garble(s, enc):
    """s written as UTF-8 and read in enc, as fix_encoding meets it."""
    b = s.encode("utf-8")
    if enc == "windows-1252-replace":
        return b.decode("windows-1252", errors="replace")
    return b.decode(enc)


ENCS = ["latin-1", "windows-1252-replace", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
        "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2", "macroman", "cp437"]


def cesu8(s):
    out = b""
    for c in s:
        if ord(c) > 0xffff:
            v = ord(c) - 0x10000
            for u in (0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff)):
                out += chr(u).encode("utf-8", "surrogatepass")
        elif c == "\0":
            out += b"\xc0\x80"
        else:
            out += c.encode("utf-8")
    return out


def mojibake_texts(rng, clean):
    texts = []
    common = ["latin-1", "sloppy-windows-1252", "windows-1252-replace"]
    for s in clean:
        if len(texts) >= 2400:
            break
        if all(ord(c) < 128 for c in s) or rng.random() < 0.3:
            continue
        enc = rng.choice(ENCS + common * 3)
        try:
            m = garble(s, enc)
        except UnicodeDecodeError:
            continue
        if len(m) > 48:
            continue
        texts.append(m)
        r = rng.random()
        if r < 0.25:  # twice
            try:
                texts.append(garble(m, rng.choice(common)))
            except UnicodeDecodeError:
                pass
        elif r < 0.4:  # no-break spaces lost
            texts.append(m.replace("\u00a0", " ") if "\u00a0" in m else garble(s + "\u00a0!", "latin-1").replace("\u00a0", " "))
        elif r < 0.6:  # garbled part inside clean text
            texts.append(rng.choice(clean).split()[0] + " " + m)
        elif r < 0.65:
            texts.append(m.upper())
        elif r < 0.7:  # as HTML entities
            texts.append("".join("&#%d;" % ord(c) if ord(c) > 127 else c for c in m))
        elif r < 0.75:  # lines
            texts.append(m + "\n" + rng.choice(clean).split()[0] + "\n" + m)
    for s in OTHER[11:20] + ["a\0b", "null \0 here \U0001f600"]:
        for enc in ("latin-1", "sloppy-windows-1252"):
            texts.append(cesu8(s).decode(enc))
            texts.append(cesu8(s).decode(enc) + "\n")
    return texts


def ftfy_cases():
    texts = list(DOCSTRING_CASES)
    for path in sorted(glob.glob(ftfy_dir + "/tests/test-cases/*.json")):
        for case in json.load(open(path, encoding="utf-8")):
            texts.append(case["original"])
    return texts


def escape(b):
    return "".join("\\x%02x" % c if c < 0x20 or c == 0x7f or c == 0x5c else chr(c) for c in b).encode("latin-1")


def mojibake_main():
    rng = random.Random(18)
    clean = clean_texts(rng)
    groups = [("ftfy's cases", ftfy_cases()), ("near mojibake", NEAR), ("garbled", mojibake_texts(rng, clean)),
              ("clean", clean)]
    seen = set()
    out = sys.stdout.buffer
    for name, texts in groups:
        kept = changed = 0
        for t in texts:
            if t in seen:
                continue
            seen.add(t)
            kept += 1
            changed += ftfy.fix_encoding(t) != t
            ids = [49406] + tok.encode(t) + [49407]
            out.write(escape(t.encode("utf-8")) + b"\t" + " ".join(map(str, ids)).encode() + b"\n")
        sys.stderr.write("%s: %d texts, fix_encoding changes %d\n" % (name, kept, changed))


if sys.argv[4:5] == ["mojibake"]:
    mojibake_main()
else:
    tokens_main()
