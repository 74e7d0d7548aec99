"""The normalisation layer matches the functions the ImageNet weights were trained with; the
squeeze-and-excitation gate keeps its width across a save."""

import keras
import numpy as np
import pytest

from dermnet.layers import Preprocess, SqueezeExcite

pytestmark = pytest.mark.portable

PIXELS = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize(
    "mode, reference",
    [
        ("caffe", keras.applications.vgg16.preprocess_input),
        ("caffe", keras.applications.resnet.preprocess_input),
        ("tf", keras.applications.inception_v3.preprocess_input),
        ("tf", keras.applications.inception_resnet_v2.preprocess_input),
        ("torch", keras.applications.densenet.preprocess_input),
    ],
)
def test_matches_keras_applications_preprocess_input(mode, reference):
    ours = keras.ops.convert_to_numpy(Preprocess(mode)(PIXELS.astype("uint8")))
    np.testing.assert_allclose(ours, reference(PIXELS.copy()), atol=1e-4)


def test_per_image_mode_centres_each_image_and_channel():
    out = keras.ops.convert_to_numpy(Preprocess("per_image")(PIXELS))
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out * 127.5, PIXELS - PIXELS.mean(axis=(1, 2), keepdims=True), atol=1e-3)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="caffe"):
        Preprocess("imagenet")


def test_a_squeeze_excite_config_keeps_its_width_and_one_saved_without_min_units_loads_as_built():
    gate = SqueezeExcite(min_units=8)
    gate.build((None, 4, 4, 64))
    assert gate.squeeze.units == 8 and SqueezeExcite.from_config(gate.get_config()).min_units == 8
    earlier = {key: value for key, value in gate.get_config().items() if key != "min_units"}
    again = SqueezeExcite.from_config(earlier)  # a model saved before min_units: 64 / 16 units
    again.build((None, 4, 4, 64))
    assert again.squeeze.units == 4
