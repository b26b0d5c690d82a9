"""Evaluation of trained vectors and the query commands (analogy, similar, debias).

    python -m tasks.word_embeddings analogy man king woman          # queen
    python -m tasks.word_embeddings similar frog -k 5
    python -m tasks.word_embeddings debias --report
    python -m tasks.word_embeddings similar king --vectors runs/word_embeddings/vectors.txt

The commands use the packaged GloVe 6B 50d unless `--vectors PATH` names a GloVe or word2vec file
(a training run writes one: DIR/vectors.txt).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from data.word_vectors import load_glove, load_word_vectors


def evaluate_run(vectors, config, out_dir):
    """WordSim353 and questions-words on trained vectors; writes vectors.txt, projector/, a PCA plot."""
    out_dir = Path(out_dir)
    similarity = vectors.evaluate_similarity(restrict_vocab=None)
    analogies = vectors.evaluate_analogies(restrict_vocab=None)
    vectors.save_word2vec(out_dir / "vectors.txt")
    vectors.export_projector(out_dir / "projector", limit=config.projector_words)
    probes = [w for w in ("king", "france", "war", "music", "computer", "city", "one") if w in vectors]
    neighbours = {w: [n for n, _ in vectors.most_similar(w, k=8)] for w in probes}
    (out_dir / "neighbours.json").write_text(json.dumps(neighbours, indent=2) + "\n")
    plot_pca(vectors, out_dir / "embedding_pca.png")
    return {
        "method": config.method,
        "vocabulary": len(vectors),
        "wordsim353_spearman": similarity["spearman"],
        "wordsim353_pairs": similarity["pairs"],
        "analogy_accuracy": analogies["accuracy"],
        "analogy_questions": analogies["total"],
        "neighbours": neighbours,
    }


def plot_pca(vectors, path, count=150):
    """The `count` most frequent words projected on their first two principal components."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = vectors.unit_vectors[:count].astype(np.float64)
    centred = matrix - matrix.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    fig, axis = plt.subplots(figsize=(10, 8))
    axis.scatter(points[:, 0], points[:, 1], s=4, alpha=0.4)
    for word, (x, y) in zip(vectors.words[:count], points):
        axis.annotate(word, (x, y), fontsize=7)
    axis.set_title(f"{count} most frequent words, first two principal components")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def _parser(prog, description):
    parser = argparse.ArgumentParser(prog=f"python -m tasks.word_embeddings {prog}", description=description)
    parser.add_argument("--vectors", default="", help="GloVe text or word2vec text/binary file (default: packaged GloVe 6B 50d)")
    return parser


def _load(path):
    return load_word_vectors(path) if path else load_glove()


def _known(vectors, words):
    missing = [w for w in words if w not in vectors]
    if missing:
        print(f"error: not in the vocabulary: {', '.join(missing)}", file=sys.stderr)
        return False
    return True


def analogy_command(argv):
    """a is to b as c is to ?  e.g. `analogy man king woman` prints queen"""
    parser = _parser("analogy", "a is to b as c is to ? (3CosAdd over the whole vocabulary).")
    parser.add_argument("words", nargs=3, metavar="WORD")
    parser.add_argument("-k", type=int, default=1, help="print the k best answers with their scores")
    args = parser.parse_args(argv)
    vectors = _load(args.vectors)
    if not _known(vectors, args.words):
        return 2
    if args.k <= 1:
        print(vectors.analogy(*args.words))
    else:
        for word, score in vectors.analogy_scores(*args.words, k=args.k):
            print(f"{word}\t{score:.4f}")
    return 0


def similar_command(argv):
    """nearest neighbours of a word by cosine similarity"""
    parser = _parser("similar", "The k words with the highest cosine similarity.")
    parser.add_argument("word")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)
    vectors = _load(args.vectors)
    if not _known(vectors, [args.word]):
        return 2
    for word, score in vectors.most_similar(args.word, k=args.k):
        print(f"{word}\t{score:.4f}")
    return 0


def debias_command(argv):
    """remove the gender direction (course form and Bolukbasi 2016); --report prints the evidence"""
    from tasks.word_embeddings.debias import debias_report, format_report, hard_debias

    parser = _parser("debias", "Neutralize and equalize the gender direction; report the checks.")
    parser.add_argument("--report", action="store_true", help="print projections, equidistance, direct bias, analogy accuracy")
    parser.add_argument("--restrict", type=int, default=100_000, help="most frequent words to debias and search (default 100000)")
    parser.add_argument("--json", default="", help="also write the report as JSON to this path")
    parser.add_argument("--save", default="", help="write the hard-debiased vectors (word2vec text format) to this path")
    args = parser.parse_args(argv)
    if not (args.report or args.save):
        parser.error("nothing to do: give --report and/or --save PATH")
    vectors = _load(args.vectors)
    if args.restrict:
        vectors = vectors.restrict(args.restrict)
    if args.report:
        report = debias_report(vectors, restrict_vocab=None)
        print(format_report(report))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.save:
        debiased, _, _ = hard_debias(vectors)
        debiased.save_word2vec(args.save)
        print(f"hard-debiased vectors written to {args.save}")
    return 0


COMMANDS = {"analogy": analogy_command, "similar": similar_command, "debias": debias_command}
