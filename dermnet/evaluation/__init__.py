"""Evaluation: the ISIC challenges' official scores (`score`), plain-array scorers, test-time
augmentation, SVM stacking, and nearest-class-mean prediction over embeddings."""

from dermnet.evaluation.ncm import NearestClassMean
from dermnet.evaluation.scoring import (binary_scores, classification_scores, jaccard_scores, multiclass_scores,
                                        score)
from dermnet.evaluation.stacking import Stacker
from dermnet.evaluation.tta import tta, tta_model

__all__ = ["NearestClassMean", "Stacker", "binary_scores", "classification_scores", "jaccard_scores", "multiclass_scores",
           "score", "tta", "tta_model"]
