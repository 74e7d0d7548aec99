"""Evaluation: the ISIC challenges' official scores (`score`), plain-array scorers, test-time
augmentation, SVM stacking, nearest-class-mean prediction over embeddings, Grad-CAM, and the
`dermnet evaluate` report."""

from dermnet.evaluation.gradcam import gradcam
from dermnet.evaluation.ncm import NearestClassMean
from dermnet.evaluation.report import evaluate
from dermnet.evaluation.scoring import (binary_scores, classification_scores, classifier_scores, jaccard_scores,
                                        multiclass_scores, score)
from dermnet.evaluation.stacking import Stacker
from dermnet.evaluation.tta import tta, tta_model

__all__ = ["NearestClassMean", "Stacker", "binary_scores", "classification_scores", "classifier_scores", "evaluate", "gradcam",
           "jaccard_scores", "multiclass_scores", "score", "tta", "tta_model"]
