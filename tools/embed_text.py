"""Rebuild the shipped MiniLM embeddings of the text data sets (drift/recorded/text_*_minilm.npz).

    python tools/embed_text.py [--name bbc_news|rotten_tomatoes]

Each record holds the float16 embeddings (N, 384), the labels, the first 8 bytes of each text's
SHA-256 (in the corpus's order) and the class names; tests/test_text.py re-embeds a sample of
documents and checks them against it. Needs the text packages (`drift.data.text.INSTALL`).
"""

import argparse
import time

import numpy as np

from drift.data import text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", choices=text.TEXT_DATASETS, action="append")
    for name in parser.parse_args().name or text.TEXT_DATASETS:
        corpus = text.CORPORA[name]()
        start = time.perf_counter()
        x = text.embed(corpus.texts, "minilm")
        seconds = time.perf_counter() - start
        path = text.record_path(name)
        np.savez_compressed(
            path,
            embeddings=x.astype(np.float16),
            y=corpus.y.astype(np.int8),
            hashes=text.text_hashes(corpus.texts),
            classes=np.array(corpus.classes),
            command=np.array(f"{text.REBUILD} --name {name}"),
        )
        print(
            f"{name}: {len(corpus.texts)} texts in {seconds:.0f} s "
            f"({len(corpus.texts) / seconds:.1f} texts/s) -> {path} "
            f"({path.stat().st_size / 1e6:.2f} MB)"
        )


if __name__ == "__main__":
    main()
