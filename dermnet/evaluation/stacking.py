"""SVM stacking of classifiers (RECOD Titans, ISIC 2017): linear SVMs over the members'
probabilities, one binary SVM per class against the rest (RECOD's melanoma-vs-all and
keratosis-vs-all, Section II-H), each with its C searched on a validation split by grouped
cross-validation."""

import json
from pathlib import Path

import keras
import numpy as np
from scipy.stats import loguniform
from sklearn.model_selection import GroupKFold, RandomizedSearchCV, StratifiedKFold
from sklearn.svm import LinearSVC

from dermnet.evaluation.tta import tta


class _LinearDecision:
    """A fitted `LinearSVC`'s decision function rebuilt from its arrays (`coef_` [1, F], `intercept_` [1]):
    what a saved stacker holds instead of a pickle, which would run code when a shared folder is loaded."""

    def __init__(self, coef, intercept):
        self.coef_, self.intercept_ = np.asarray(coef, "float64"), np.asarray(intercept, "float64")

    def decision_function(self, features):
        return (np.asarray(features, "float64") @ self.coef_.T + self.intercept_).reshape(-1)  # as sklearn's


class Stacker:
    """One `LinearSVC` per class, against the rest, over the concatenated class probabilities of `members`.

    Args:
        members: trained classifiers (image → probabilities), or None to stack probabilities
            computed elsewhere (`fit`/`predict` then take their list).
        tta_replicas: views per image for the members' predictions (`dermnet.evaluation.tta`;
            1: the plain prediction), with `tta_augmentation`. RECOD evaluated each image 3 times.
        search_iterations: draws of C, log-uniform in [1e-4, 1e2], by `RandomizedSearchCV`, for
            each SVM (scored by ROC AUC, the challenge's metric).
        folds: cross-validation folds, grouped by `groups` (e.g. lesion ids) when `fit` gets them.
        seed: the search's draws and folds.

    `predict` gives the sigmoid of each SVM's decision: for two classes `[1 - s, s]`; for more, one
    score per class against the rest, as an ISIC 2017 submission's columns are (melanoma and
    keratosis each in [0, 1]), not a distribution: its rows do not sum to 1.

    Example:
    >>> stacker = Stacker([inception_v4, resnet101], tta_replicas=3).fit(val_images, val_labels, val_lesions)
    >>> scores = stacker.predict(test_images)
    >>> stacker.save("stack/")
    >>> reloaded = Stacker.load("stack/")
    """

    def __init__(
        self,
        members=None,
        tta_replicas=1,
        tta_augmentation="menegola2017",
        search_iterations=30,
        folds=5,
        seed=0,
    ):
        self.members, self.tta_replicas, self.tta_augmentation = members, int(tta_replicas), tta_augmentation
        self.search_iterations, self.folds, self.seed = int(search_iterations), int(folds), seed

    def fit(self, inputs, labels, groups=None):
        """`inputs`: images (with members) or a list of per-member probabilities `[N, K]`."""
        features, labels = self._features(inputs), np.asarray(labels).reshape(-1)
        self.num_classes = max(int(labels.max()) + 1, features.shape[1] // self._member_count(inputs))
        targets = [labels == 1] if self.num_classes == 2 else [labels == k for k in range(self.num_classes)]
        folds = (
            GroupKFold(self.folds)
            if groups is not None
            else StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
        )
        self.svms, self.best_c = [], []
        for target in targets:
            search = RandomizedSearchCV(
                LinearSVC(max_iter=10_000),
                {"C": loguniform(1e-4, 1e2)},
                n_iter=self.search_iterations,
                scoring="roc_auc",
                cv=folds,
                random_state=self.seed,
            )
            search.fit(features, target, groups=groups)
            self.svms.append(search.best_estimator_)
            self.best_c.append(float(search.best_params_["C"]))
        return self

    def predict(self, inputs):
        """`[N, K]`: for two classes probabilities, for more one score per class (class docstring)."""
        if not hasattr(self, "svms"):
            raise ValueError("call fit() before predict()")
        features = self._features(inputs)
        scores = 1 / (1 + np.exp(-np.stack([svm.decision_function(features) for svm in self.svms], axis=1)))
        return np.concatenate([1 - scores, scores], axis=1) if self.num_classes == 2 else scores

    def save(self, folder):
        """The SVMs (their weights and intercepts in `svms.npz`), the settings and the members
        (`member_<i>.keras`) in `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        coef, intercept = (
            np.concatenate([getattr(svm, name) for svm in self.svms]) for name in ("coef_", "intercept_")
        )
        np.savez(folder / "svms.npz", allow_pickle=False, coef=coef, intercept=intercept)
        settings = {
            "tta_replicas": self.tta_replicas,
            "tta_augmentation": self.tta_augmentation,
            "search_iterations": self.search_iterations,
            "folds": self.folds,
            "seed": self.seed,
            "num_classes": self.num_classes,
            "best_c": self.best_c,
            "members": len(self.members or []),
        }
        for i, member in enumerate(self.members or []):
            member.save(folder / f"member_{i}.keras")
        (folder / "stacker.json").write_text(json.dumps(settings, indent=2))

    @classmethod
    def load(cls, folder):
        """The stacker `save` wrote in `folder`; its SVMs are read as plain arrays, never unpickled."""
        folder = Path(folder)
        if (folder / "svms.joblib").is_file() and not (folder / "svms.npz").is_file():
            raise ValueError(
                f"{folder}: svms.joblib is a pickle, which runs code when it is loaded, and "
                "dermnet never loads one (a stacker saved by an earlier dermnet): fit it again"
            )
        if not (folder / "svms.npz").is_file():
            raise ValueError(
                f"{folder}: no svms.npz (not a stacker, or one saved by an earlier dermnet): fit it again"
            )
        with np.load(folder / "svms.npz", allow_pickle=False) as arrays:
            svms = [
                _LinearDecision(coef[None], intercept[None])
                for coef, intercept in zip(arrays["coef"], arrays["intercept"], strict=True)
            ]
        settings = json.loads((folder / "stacker.json").read_text())
        members = [
            keras.saving.load_model(folder / f"member_{i}.keras", safe_mode=True)
            for i in range(settings.pop("members"))
        ]
        num_classes, best_c = settings.pop("num_classes"), settings.pop("best_c")
        stacker = cls(members or None, **settings)
        stacker.svms, stacker.num_classes, stacker.best_c = svms, num_classes, best_c
        return stacker

    def _member_count(self, inputs):
        return len(self.members) if self.members else len(inputs)

    def _features(self, inputs):
        if self.members:
            probabilities = [
                tta(m, inputs, self.tta_replicas, self.tta_augmentation)
                if self.tta_replicas > 1
                else m.predict(inputs, verbose=0)
                for m in self.members
            ]
        else:
            probabilities = inputs
        return np.concatenate([np.asarray(p, dtype="float64") for p in probabilities], axis=1)
