"""Small serializable layers shared by dermnet models."""

from collections.abc import Iterator

import keras
from keras import ops

# Per-channel statistics that the ImageNet weights of keras.applications were trained with.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="dermnet")
class Preprocess(keras.layers.Layer):
    """Turns raw RGB pixels in [0, 255] into what a backbone was trained on.

    Models carry this layer so that users (and exported SavedModels) feed camera pixels,
    uint8 or float, and never call a `preprocess_input` function themselves.

    Args:
        mode: one of
            - `"caffe"`: RGB → BGR, minus the ImageNet mean (VGG16, ResNet-50/101);
            - `"tf"`: scaled to [-1, 1] (InceptionV3, Inception-ResNet-v2, Inception-v4);
            - `"torch"`: scaled to [0, 1], then ImageNet mean and std (DenseNet);
            - `"rescale"`: scaled to [0, 1] (models trained from scratch);
            - `"imagenet_mean"`: RGB minus the ImageNet mean RGB, unscaled (RECOD's U-nets);
            - `"per_image"`: each image minus its own per-channel mean, divided by 127.5
              (RECOD's per-image normalisation; the scale keeps "tf"-like magnitudes);
            - `"raw"`: the pixels unchanged, as float32 (EfficientNet, EfficientNetV2, ConvNeXt: their
              keras.applications trunks normalise their input themselves).

    The layer computes in float32 whatever the mixed-precision policy, so that mean
    subtraction is exact; the next layer casts to its own compute dtype.

    Example:
    >>> layer = Preprocess("tf")
    >>> keras.ops.convert_to_numpy(layer(np.full((1, 1, 2, 3), 255, "uint8")))  # [0, 255] → [-1, 1]
    array([[[[1., 1., 1.],
             [1., 1., 1.]]]], dtype=float32)
    """

    MODES = ("caffe", "tf", "torch", "rescale", "imagenet_mean", "per_image", "raw")

    def __init__(self, mode, **kwargs):
        if mode not in self.MODES:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of {self.MODES}.")
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, "float32")
        if self.mode == "raw":
            return x
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "rescale":
            return x / 255.0
        if self.mode == "torch":
            return (x / 255.0 - ops.array(_TORCH_MEAN)) / ops.array(_TORCH_STD)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.array(_CAFFE_BGR_MEAN)
        if self.mode == "imagenet_mean":
            return x - ops.array(_CAFFE_BGR_MEAN[::-1])
        return (x - ops.mean(x, axis=(1, 2), keepdims=True)) / 127.5

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def nested_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer inside `model` (not `model` itself), at any depth: its nested models' layers too."""
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from nested_layers(layer)


def preprocessing_of(model: keras.layers.Layer) -> str | None:
    """The mode of the `Preprocess` layers `model` carries, nested models searched ("tf, torch" for an
    ensemble of two kinds); None where it carries none."""
    modes = sorted({layer.mode for layer in nested_layers(model) if isinstance(layer, Preprocess)})
    return ", ".join(modes) or None


@keras.saving.register_keras_serializable(package="dermnet")
class Resize(keras.layers.Layer):
    """Bilinear resize of a batch of images to `(height, width)`, with `keras.ops` only.

    Used in front of an ensemble member whose input size differs from the ensemble's.
    Keras' own `Resizing` is a tf.data preprocessing layer: inside a traced TensorFlow graph
    (a SavedModel export) it switches backends, and a model behind it served different
    outputs from the same model run eagerly. This layer is a plain layer and compiles under XLA.
    """

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    def call(self, images):
        return ops.image.resize(images, (self.height, self.width), interpolation="bilinear")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="dermnet")
class ResizeLike(keras.layers.Layer):
    """Bilinear resize of `x` to the height and width of `reference`: `ResizeLike()([x, reference])`.

    Decoders upsample with it to their skip's (or the input's) exact size, so that a segmentor
    built with `input_shape=(None, None, 3)` takes any image size, not only multiples of its
    total stride (max-pooling floors odd sides, and a fixed ×2 upsampling would then miss).
    """

    def call(self, inputs):
        x, reference = inputs
        return ops.image.resize(x, ops.shape(reference)[1:3], interpolation="bilinear")

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[-1])


@keras.saving.register_keras_serializable(package="dermnet")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excitation (Hu et al. 2018): channels reweighted by a gate computed from their
    global average, `x · σ(W₂ ReLU(W₁ mean(x)))`. SegAN's VGG19 encoder carries one per block.

    Args:
        ratio: channel reduction of the bottleneck (16 in Hu et al.).
        min_units: the fewest bottleneck units. Hu et al. met no block under 256 channels (16 units);
            on VGG's 64 the ratio leaves 4 ReLU units, all of which start dead in about one draw in
            16, and a dead bottleneck never learns (its gate is then a constant). 8 is timm's floor
            (its `make_divisible`): that takes about one draw in 256. 1 (the default) keeps the ratio
            alone, as models saved before this argument were built.
    """

    def __init__(self, ratio=16, min_units=1, **kwargs):
        super().__init__(**kwargs)
        self.ratio, self.min_units = int(ratio), int(min_units)

    def build(self, input_shape):
        channels = input_shape[-1]
        reduced = max(channels // self.ratio, self.min_units)
        self.squeeze = keras.layers.Dense(reduced, activation="relu", name="squeeze", dtype=self.dtype_policy)
        self.excite = keras.layers.Dense(
            channels, activation="sigmoid", name="excite", dtype=self.dtype_policy
        )
        self.squeeze.build((input_shape[0], channels))
        self.excite.build((input_shape[0], reduced))

    def call(self, x):
        gate = self.excite(self.squeeze(ops.mean(x, axis=(1, 2))))
        return x * gate[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "min_units": self.min_units}
