"""Guided labeling at MNIST scale: score and rank 60,000 latent codes.

    python -m benchmarks.bench_guided [--quick]

60,000 codes of a 10-dimensional latent space in 10 Gaussian classes, 1% labeled (600, the
paper's MNIST setting). Prints the median time to fit the linear SVM, to compute its raw scores, to score all samples
(``score_samples``: raw scores, normalised confidence, margin, probabilities), to rank the
unlabeled ones by each strategy (``rank_scores``, top 100), both together, and a reliability
diagram of the scores.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from saeviz.core.method.calibration import reliability_diagram
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.ranking import (
    STRATEGIES,
    rank_candidates,
    rank_scores,
    score_samples,
)


def codes(n: int = 60_000, d: int = 10, k: int = 10, labeled: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 2.0
    y = rng.integers(0, k, n)
    Z = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    labels = np.full(n, -1, np.int64)
    chosen = rng.choice(n, int(n * labeled), replace=False)
    labels[chosen] = y[chosen]
    return Z, y, labels


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 20
    Z, y, labels = codes()
    n, d = Z.shape
    print(f"{n:,} codes, latent {d}, 10 classes, {int((labels >= 0).sum())} labeled; median of {repeats} runs")
    clf = LatentClassifier().fit(Z, labels)
    fit_ms = median_ms(lambda: LatentClassifier().fit(Z, labels), max(3, repeats // 4))
    print(f"{'fit the linear SVM on the labeled codes':52s} {fit_ms:8.1f} ms")
    raw_ms = median_ms(lambda: clf.decision_function(Z), repeats)
    print(f"{'raw SVM scores alone (decision_function)':52s} {raw_ms:8.1f} ms")
    print(f"{'score_samples (all samples)':52s} {median_ms(lambda: score_samples(clf, Z), repeats):8.1f} ms")
    scores = score_samples(clf, Z)
    for strategy in STRATEGIES:
        ms = median_ms(lambda: rank_scores(scores, labels, k=100, strategy=strategy), repeats)
        print(f"{'rank_scores, top 100, ' + strategy:52s} {ms:8.1f} ms")
    total = median_ms(lambda: rank_candidates(clf, Z, labels, k=100, strategy="margin"), repeats)
    print(f"{'score + rank (rank_candidates, margin, top 100)':52s} {total:8.1f} ms")
    rel = reliability_diagram(scores.confidence, scores.predicted == y)
    print(f"{'reliability diagram (10 bins)':52s} "
          f"{median_ms(lambda: reliability_diagram(scores.confidence, scores.predicted == y), repeats):8.1f} ms"
          f"   (ECE {rel.ece:.3f}, accuracy {np.mean(scores.predicted == y):.3f})")


if __name__ == "__main__":
    main()
