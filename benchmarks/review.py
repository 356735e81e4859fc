"""Precision and recall of the five-rule reviewer on its labelled corpus.

The corpus is tests/review_corpus/: small snippets and a few multi-file
packages (reviewed together, so calls between their files count), each file
declaring on its first line the findings it should produce. Also reports how long a review of the
lab's own package takes. Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from labkit.review import RULES, review_paths
from labkit.review.corpus import score

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "review_corpus"


def main() -> None:
    began = time.perf_counter()
    result = score(CORPUS)
    corpus_s = time.perf_counter() - began
    for name, (missed, extra) in sorted(result.mismatches.items()):
        print(f"{name}: missed {missed or '-'}, extra {extra or '-'}")
    began = time.perf_counter()
    own = review_paths([ROOT / "labkit"])
    own_s = time.perf_counter() - began
    print(json.dumps({
        "precision": {rule: round(result.precision(rule), 3) for rule in RULES},
        "recall": {rule: round(result.recall(rule), 3) for rule in RULES},
        "true_positives": result.tp,
        "false_positives": result.fp,
        "false_negatives": result.fn,
        "corpus_files": result.files,
        "corpus_review_s": round(corpus_s, 3),
        "labkit_files": len(own.files),
        "labkit_findings": len(own),
        "labkit_review_s": round(own_s, 3),
    }))


if __name__ == "__main__":
    main()
