"""Evaluation: scores of classifiers' probabilities (the official challenge definitions)."""

from dermnet.evaluation.scoring import binary_scores, classification_scores, multiclass_scores

__all__ = ["binary_scores", "classification_scores", "multiclass_scores"]
