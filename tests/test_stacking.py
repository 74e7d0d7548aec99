"""SVM stacking: it beats its members where they are complementary; it saves and loads with them."""

import keras
import numpy as np
import pytest

import dermnet
from dermnet.evaluation import Stacker, score

pytestmark = pytest.mark.portable


def complementary_members(n, seed):
    """Two members, each sharp on its own half of the images and guessing on the other."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    half = rng.random(n) < 0.5
    members = []
    for sharp in (half, ~half):
        confidence = np.where(sharp, 0.5 + 0.4 * (2 * labels - 1) + rng.normal(0, 0.1, n), rng.random(n))
        confidence = np.clip(confidence, 0, 1)
        members.append(np.stack([1 - confidence, confidence], axis=1))
    return members, labels


def test_beats_its_members_when_they_are_complementary():
    validation, validation_labels = complementary_members(400, seed=0)
    test, test_labels = complementary_members(400, seed=1)
    groups = np.arange(400) // 2  # pairs of images of one lesion stay in one fold
    stacker = Stacker(search_iterations=8, folds=4).fit(validation, validation_labels, groups)
    stacked = score("isic2016", test_labels, stacker.predict(test)[:, 1])
    members = [score("isic2016", test_labels, m[:, 1]) for m in test]
    assert stacked["auc"] > max(m["auc"] for m in members) + 0.02, (stacked, members)
    assert len(stacker.best_c) == 1 and 1e-4 <= stacker.best_c[0] <= 1e2
    np.testing.assert_allclose(stacker.predict(test).sum(axis=1), 1.0)


def test_three_classes_are_binary_svms_each_against_the_rest():
    """RECOD's melanoma-vs-all and keratosis-vs-all: each class's score is its own SVM's, unnormalised."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    members = [np.clip(np.eye(3)[labels] * 0.6 + rng.random((300, 3)) * 0.6, 0, None) for _ in range(2)]
    members = [m / m.sum(axis=1, keepdims=True) for m in members]
    stacker = Stacker(search_iterations=4, folds=3).fit(members, labels)
    scores = stacker.predict(members)
    assert len(stacker.svms) == 3 and scores.shape == (300, 3) and not np.allclose(scores.sum(axis=1), 1.0)
    features = np.concatenate(members, axis=1)
    for k, svm in enumerate(stacker.svms):
        assert set(svm.classes_) == {False, True}  # class k against the rest
        np.testing.assert_allclose(scores[:, k], 1 / (1 + np.exp(-svm.decision_function(features))))
    melanoma = score("isic2017", np.eye(3)[labels][:, :2], scores[:, :2])
    assert melanoma["auc_melanoma"] > 0.9 and melanoma["auc_seborrheic_keratosis"] > 0.9


def test_saves_and_loads_with_its_members(tmp_path):
    keras.utils.set_random_seed(0)
    members = [dermnet.build("baseline_cnn", num_classes=2, input_shape=(16, 16, 3)) for _ in range(2)]
    members[1].name = "second"
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 16, 16, 3), dtype="uint8"), np.arange(40) % 2
    stacker = Stacker(members, search_iterations=3, folds=2).fit(images, labels)
    stacker.save(tmp_path / "stack")
    again = Stacker.load(tmp_path / "stack")
    assert len(again.members) == 2 and again.best_c == stacker.best_c
    np.testing.assert_allclose(again.predict(images[:8]), stacker.predict(images[:8]), atol=1e-6)


def test_the_svms_are_saved_as_arrays_and_predict_the_same(tmp_path):
    """No pickle: a shared stacker folder holds numbers, and the SVMs rebuilt from them decide as fitted."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    members = [rng.dirichlet(np.ones(3), 60) for _ in range(2)]
    stacker = Stacker(search_iterations=2, folds=2).fit(members, labels)
    stacker.save(tmp_path / "stack")
    assert sorted(p.name for p in (tmp_path / "stack").iterdir()) == ["stacker.json", "svms.npz"]
    with np.load(tmp_path / "stack" / "svms.npz", allow_pickle=False) as arrays:  # plain arrays only
        assert all(arrays[name].dtype == np.float64 for name in arrays.files)
    again = Stacker.load(tmp_path / "stack")
    features = np.concatenate(members, axis=1)
    for fitted, rebuilt in zip(stacker.svms, again.svms, strict=True):
        np.testing.assert_allclose(
            rebuilt.decision_function(features), fitted.decision_function(features), rtol=0, atol=1e-12
        )
    np.testing.assert_allclose(again.predict(members), stacker.predict(members), rtol=0, atol=1e-12)


def test_a_pickled_stacker_of_an_earlier_dermnet_is_refused_unread(tmp_path):
    stacker = Stacker(search_iterations=2, folds=2).fit(*complementary_members(40, seed=0))
    stacker.save(tmp_path / "stack")
    (tmp_path / "stack" / "svms.npz").unlink()
    (tmp_path / "stack" / "svms.joblib").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")  # runs if unpickled
    with pytest.raises(ValueError, match=r"stack: svms.joblib is a pickle.*never loads.*fit it again"):
        Stacker.load(tmp_path / "stack")
    (tmp_path / "stack" / "svms.joblib").unlink()
    with pytest.raises(ValueError, match=r"stack: no svms.npz .*fit it again"):
        Stacker.load(tmp_path / "stack")


def test_predict_before_fit():
    with pytest.raises(ValueError, match="fit"):
        Stacker().predict([np.zeros((2, 2))])
