"""Evaluation: the ISIC challenges' official scores (`score`, `challenge_scores`), plain-array scorers,
predictions on a manifest, mask post-processing and ensembling, test-time augmentation, SVM
stacking, nearest-class-mean prediction over embeddings, Grad-CAM, the `dermnet evaluate` report, bootstrap
intervals and DeLong's test (`intervals`), two models compared on one test set (`compare`), temperature
scaling (`calibration`), and scores by subgroup of sex, age band, site, skin type and source (`subgroups`)."""

from dermnet.evaluation.calibration import apply_temperature, fit_temperature
from dermnet.evaluation.compare import compare, compare_evaluations
from dermnet.evaluation.evaluate import evaluate
from dermnet.evaluation.gradcam import gradcam
from dermnet.evaluation.intervals import bootstrap_intervals, delong_test
from dermnet.evaluation.masks import mask_names, mask_scores
from dermnet.evaluation.ncm import NearestClassMean
from dermnet.evaluation.postprocess import average_masks, dense_crf, postprocess_mask, postprocess_masks
from dermnet.evaluation.predict import predict_masks, predict_probabilities
from dermnet.evaluation.scoring import (
    CHALLENGES,
    attribute_scores,
    challenge_scores,
    classification_scores,
    score,
    segmentation_scores,
)
from dermnet.evaluation.stacking import Stacker
from dermnet.evaluation.subgroups import subgroup_scores
from dermnet.evaluation.submissions import SubmissionError
from dermnet.evaluation.tta import tta, tta_model

__all__ = [
    "CHALLENGES",
    "NearestClassMean",
    "Stacker",
    "SubmissionError",
    "apply_temperature",
    "attribute_scores",
    "average_masks",
    "bootstrap_intervals",
    "challenge_scores",
    "classification_scores",
    "compare",
    "compare_evaluations",
    "delong_test",
    "evaluate",
    "fit_temperature",
    "gradcam",
    "mask_names",
    "mask_scores",
    "postprocess_mask",
    "postprocess_masks",
    "dense_crf",
    "predict_masks",
    "predict_probabilities",
    "score",
    "segmentation_scores",
    "subgroup_scores",
    "tta",
    "tta_model",
]
