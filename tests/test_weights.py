"""weights=None | "imagenet" | path, without ever downloading."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import dermnet
from dermnet import backbones

SHAPE = (32, 32, 3)


def _values(layer):
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


def _assert_same(a, b):
    for x, y in zip(_values(a), _values(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_path_loads_a_whole_model(tmp_path, suffix):
    trained = dermnet.build("resnet50", weights=None, input_shape=SHAPE)
    path = tmp_path / f"trained{suffix}"
    trained.save_weights(path) if suffix == ".weights.h5" else trained.save(path)
    model = dermnet.build("resnet50", weights=path, input_shape=SHAPE)
    _assert_same(model, trained)


def test_path_of_backbone_weights_loads_the_backbone_only(tmp_path):
    trained = dermnet.build("resnet50", weights=None, input_shape=SHAPE)
    path = tmp_path / "backbone.weights.h5"
    trained.get_layer("resnet50_backbone").save_weights(path)
    model = dermnet.build("resnet50", weights=path, input_shape=SHAPE, num_classes=5)
    _assert_same(model.get_layer("resnet50_backbone"), trained.get_layer("resnet50_backbone"))


def test_keras_applications_h5_file_loads_into_the_backbone(tmp_path):
    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=SHAPE)
    path = tmp_path / backbones.BACKBONES["resnet50"].imagenet_file
    reference.save(path)  # legacy HDF5, the format (not quite the layout) of keras.applications' files
    model = dermnet.build("resnet50", weights=str(path), input_shape=SHAPE)
    _assert_same(model.get_layer("resnet50_backbone"), reference)


def test_imagenet_goes_through_keras_applications_cache(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=SHAPE)
    path = tmp_path / "cached.h5"
    reference.save(path)
    asked = []

    def fake_get_file(fname, origin, **kwargs):  # the keras cache, with no network behind it
        asked.append(fname)
        return str(path)

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    model = dermnet.build("resnet50", weights="imagenet", input_shape=SHAPE)
    assert asked == [backbones.BACKBONES["resnet50"].imagenet_file]
    _assert_same(model.get_layer("resnet50_backbone"), reference)


OFFLINE = """
import sys
from keras.src.utils import file_utils
import dermnet

def offline(fname, origin, **kwargs):
    raise Exception(f"URL fetch failure on {origin}: None -- [Errno 101] Network is unreachable")

file_utils.get_file = offline
try:
    dermnet.build("densenet201", weights="imagenet", input_shape=(32, 32, 3))
except OSError as error:
    print(error)
"""


def test_imagenet_offline_error_says_which_file_goes_where(tmp_path):
    # A fresh process: Keras reads KERAS_HOME when it is imported.
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"))
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE], env=env, capture_output=True, text=True, check=True
    )
    expected = tmp_path / "keras_home" / "models" / "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert str(expected) in result.stdout
    assert "Network is unreachable" in result.stdout


def test_other_failures_with_imagenet_are_not_blamed_on_the_download(monkeypatch):
    from keras.src.utils import file_utils

    def broken(fname, origin, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(file_utils, "get_file", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        dermnet.build("densenet201", weights="imagenet", input_shape=SHAPE)


def test_imagenet_for_a_backbone_without_such_weights_is_refused():
    with pytest.raises(ValueError, match="no ImageNet weights.*TF-slim's inception_v4.ckpt, from http"):
        dermnet.build("inception_v4", weights="imagenet")


def test_weights_that_fit_nothing_name_the_file(tmp_path):
    other = dermnet.build("baseline_cnn")
    path = tmp_path / "baseline.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match="baseline.weights.h5"):
        dermnet.build("resnet50", weights=path, input_shape=SHAPE)
    # an ensemble takes whole-ensemble files only: a backbone's file would fit only one member
    backbone_file = tmp_path / "backbone.weights.h5"
    dermnet.build("vgg16", weights=None, input_shape=(64, 64, 3)).get_layer("vgg16_backbone").save_weights(
        backbone_file
    )
    with pytest.raises(ValueError, match="whole-model file"):
        dermnet.build(
            "ensemble", members=["vgg16", "baseline_cnn"], input_shape=(64, 64, 3), weights=backbone_file
        )


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.weights.h5"):
        dermnet.build("resnet50", weights=tmp_path / "nothing.weights.h5", input_shape=SHAPE)


def test_ensemble_loads_its_own_weights_file(tmp_path):
    def make(weights):
        members = [
            dermnet.build("baseline_cnn", num_classes=3),
            dermnet.build("vgg16", num_classes=3, weights=None, input_shape=(64, 64, 3)),
        ]
        return dermnet.build("ensemble", members=members, num_classes=3, weights=weights)

    trained = make(None)
    trained.save_weights(tmp_path / "ensemble.weights.h5")
    _assert_same(make(tmp_path / "ensemble.weights.h5"), trained)
