"""Evaluation: the ISIC challenges' official scores (`score`), plain-array scorers, mask
post-processing and ensembling, test-time augmentation, SVM stacking, nearest-class-mean prediction
over embeddings, Grad-CAM, and the `dermnet evaluate` report."""

from dermnet.evaluation.gradcam import gradcam
from dermnet.evaluation.masks import evaluate_masks, mask_scores, predict_masks
from dermnet.evaluation.ncm import NearestClassMean
from dermnet.evaluation.postprocess import average_masks, postprocess_mask
from dermnet.evaluation.report import evaluate
from dermnet.evaluation.scoring import (binary_scores, classification_scores, classifier_scores, jaccard_scores,
                                        multiclass_scores, score)
from dermnet.evaluation.stacking import Stacker
from dermnet.evaluation.tta import tta, tta_model

__all__ = ["NearestClassMean", "Stacker", "average_masks", "binary_scores", "classification_scores",
           "classifier_scores", "evaluate", "evaluate_masks", "gradcam", "jaccard_scores", "mask_scores",
           "multiclass_scores", "postprocess_mask", "predict_masks", "score", "tta", "tta_model"]
