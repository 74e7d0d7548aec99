"""SVM stacking of classifiers (RECOD Titans, ISIC 2017): a linear SVM over the members'
probabilities, its C searched on a validation split with grouped cross-validation."""

import json
from pathlib import Path

import joblib
import keras
import numpy as np
from scipy.stats import loguniform
from sklearn.model_selection import GroupKFold, RandomizedSearchCV, StratifiedKFold
from sklearn.svm import LinearSVC

from dermnet.evaluation.tta import tta


class Stacker:
    """A `LinearSVC` meta-learner over the concatenated class probabilities of `members`.

    Args:
        members: trained classifiers (image → probabilities), or None to stack probabilities
            computed elsewhere (`fit`/`predict` then take their list).
        tta_replicas: views per image for the members' predictions (`dermnet.evaluation.tta`;
            1: the plain prediction), with `tta_augmentation`.
        search_iterations: draws of C, log-uniform in [1e-4, 1e2], by `RandomizedSearchCV`.
        folds: cross-validation folds, grouped by `groups` (e.g. lesion ids) when `fit` gets them.
        seed: the search's draws and folds.

    Probabilities are the sigmoid of the SVM's decision function: for two classes `[1 - s, s]`,
    for more one sigmoid per class (one-vs-rest), normalised to sum to 1.

    Example:
    >>> stacker = Stacker([inception_v4, resnet101], tta_replicas=8).fit(val_images, val_labels, val_lesions)
    >>> probabilities = stacker.predict(test_images)
    >>> stacker.save("stack/")
    >>> reloaded = Stacker.load("stack/")
    """

    def __init__(self, members=None, tta_replicas=1, tta_augmentation="menegola2017", search_iterations=30,
                 folds=5, seed=0):
        self.members, self.tta_replicas, self.tta_augmentation = members, int(tta_replicas), tta_augmentation
        self.search_iterations, self.folds, self.seed = int(search_iterations), int(folds), seed

    def fit(self, inputs, labels, groups=None):
        """`inputs`: images (with members) or a list of per-member probabilities `[N, K]`."""
        features, labels = self._features(inputs), np.asarray(labels).reshape(-1)
        self.num_classes = max(int(labels.max()) + 1, features.shape[1] // self._member_count(inputs))
        folds = (GroupKFold(self.folds) if groups is not None
                 else StratifiedKFold(self.folds, shuffle=True, random_state=self.seed))
        search = RandomizedSearchCV(
            LinearSVC(max_iter=10_000), {"C": loguniform(1e-4, 1e2)}, n_iter=self.search_iterations,
            scoring="roc_auc" if self.num_classes == 2 else "balanced_accuracy", cv=folds, random_state=self.seed)
        search.fit(features, labels, groups=groups)
        self.svm, self.best_c = search.best_estimator_, float(search.best_params_["C"])
        return self

    def predict(self, inputs):
        """Class probabilities `[N, K]`."""
        if not hasattr(self, "svm"):
            raise ValueError("call fit() before predict()")
        decision = np.asarray(self.svm.decision_function(self._features(inputs)), dtype="float64")
        if decision.ndim == 1:
            positive = 1 / (1 + np.exp(-decision))
            return np.stack([1 - positive, positive], axis=1)
        scores = 1 / (1 + np.exp(-decision))
        return scores / scores.sum(axis=1, keepdims=True)

    def save(self, folder):
        """The SVM, the settings and the members (`member_<i>.keras`) in `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.svm, folder / "svm.joblib")
        settings = {"tta_replicas": self.tta_replicas, "tta_augmentation": self.tta_augmentation,
                    "search_iterations": self.search_iterations, "folds": self.folds, "seed": self.seed,
                    "num_classes": self.num_classes, "best_c": self.best_c, "members": len(self.members or [])}
        for i, member in enumerate(self.members or []):
            member.save(folder / f"member_{i}.keras")
        (folder / "stacker.json").write_text(json.dumps(settings, indent=2))

    @classmethod
    def load(cls, folder):
        folder = Path(folder)
        settings = json.loads((folder / "stacker.json").read_text())
        members = [keras.saving.load_model(folder / f"member_{i}.keras", safe_mode=True)
                   for i in range(settings.pop("members"))]
        num_classes, best_c = settings.pop("num_classes"), settings.pop("best_c")
        stacker = cls(members or None, **settings)
        stacker.svm, stacker.num_classes, stacker.best_c = joblib.load(folder / "svm.joblib"), num_classes, best_c
        return stacker

    def _member_count(self, inputs):
        return len(self.members) if self.members else len(inputs)

    def _features(self, inputs):
        if self.members:
            probabilities = [tta(m, inputs, self.tta_replicas, self.tta_augmentation) if self.tta_replicas > 1
                             else m.predict(inputs, verbose=0) for m in self.members]
        else:
            probabilities = inputs
        return np.concatenate([np.asarray(p, dtype="float64") for p in probabilities], axis=1)
