"""Batch streams: content, order, sampling schemes, and the PyDataset path used without tf.data."""

import itertools

import keras
import numpy as np
import pytest
from harness import write_dataset

from dermnet import data
from dermnet.data import pipeline

pytestmark = pytest.mark.portable


@pytest.fixture(params=["native", "pydataset"])
def stream_kind(request, monkeypatch):
    """Every test runs on the backend's own stream and on the PyDataset used without TensorFlow."""
    if request.param == "pydataset":
        monkeypatch.setattr(pipeline, "_have_tensorflow", lambda: False)
    return request.param


@pytest.fixture
def dataset(tmp_path):
    return data.from_csv(write_dataset(tmp_path / "data", n=30, masks=True))


def batches(stream):
    return [tuple(keras.tree.map_structure(np.asarray, batch)) for batch in stream]


def image_number(images):
    """write_dataset() stores each image's number in its blue channel."""
    return images[..., 0, 0, 2].astype(int)


def test_classification_batches(dataset, tmp_path, stream_kind):
    stream = data.classification_dataset(dataset, 16, batch_size=8, cache_dir=tmp_path, shuffle=False)
    if stream_kind == "pydataset":
        assert isinstance(stream, keras.utils.PyDataset)
    epoch = batches(stream)
    assert [len(x) for x, _ in epoch] == [8, 8, 8, 6]  # evaluation keeps every image, in order
    images = np.concatenate([x for x, _ in epoch])
    labels = np.concatenate([y for _, y in epoch])
    assert images.dtype == np.uint8 and images.shape == (30, 16, 16, 3)
    assert image_number(images).tolist() == list(range(30))
    assert labels.tolist() == [i % 3 for i in range(30)] and labels.dtype == np.int64
    one_hot = data.classification_dataset(dataset, 16, 8, cache_dir=tmp_path, shuffle=False, one_hot=True)
    np.testing.assert_array_equal(batches(one_hot)[0][1], np.eye(3, dtype="float32")[labels[:8]])


def test_shuffled_epochs_differ_and_repeat_from_the_seed(dataset, tmp_path, stream_kind):
    def order(seed, epochs=2, first_epoch=None):
        stream = data.classification_dataset(dataset, 16, 8, cache_dir=tmp_path, seed=seed)
        if first_epoch is not None:
            data.set_epoch(stream, first_epoch)
        result = []
        for _ in range(epochs):
            if isinstance(stream, keras.utils.PyDataset):
                stream.on_epoch_begin()  # what fit() calls before each pass
            result.append(np.concatenate([image_number(x) for x, _ in batches(stream)]).tolist())
        return result

    first, second = order(seed=0)
    assert len(first) == 24 and len(set(first)) == 24  # full batches only, no repeats
    assert first != second
    assert order(seed=0) == [first, second] and order(seed=1)[0] != first
    assert order(seed=0, epochs=1, first_epoch=1) == [second]  # how a resumed run picks up the data


def test_class_balanced_sampling(tmp_path, stream_kind):
    df = data.from_csv(write_dataset(tmp_path / "data", n=60, num_classes=3))
    df = df[(df["label"] != "class_2") | (df.index < 6)]  # class_2: 2 images of 42
    stream = data.classification_dataset(df, 8, 14, cache_dir=tmp_path, class_balanced=True)
    labels = np.concatenate([y for _, y in batches(stream)])
    assert len(labels) == 42 and abs(np.mean(labels == 2) - 1 / 3) < 0.15
    weights = data.class_weights(df)
    assert weights[2] == pytest.approx(42 / (3 * 2)) and weights[0] == pytest.approx(42 / (3 * 20))


@pytest.mark.parametrize("n", [2, 3])
def test_pair_batches_for_sdl(dataset, tmp_path, stream_kind, n):
    stream = data.pair_dataset(dataset, 16, batch_size=10, n=n, cache_dir=tmp_path, seed=2)
    for images, targets in batches(stream):
        assert len(images) == n and all(x.shape == (10, 16, 16, 3) for x in images)
        labels, synergic = targets["labels"], targets["synergic"]
        assert labels.shape == (10, n) and synergic.shape == (10, n * (n - 1) // 2)
        for k, (i, j) in enumerate(itertools.combinations(range(n), 2)):
            np.testing.assert_array_equal(synergic[:, k], labels[:, i] == labels[:, j])
        for k in range(n):  # each image is the one its label says
            np.testing.assert_array_equal(image_number(images[k]) % 3, labels[:, k])
        assert 0.45 <= synergic.mean() <= 0.55


def test_independent_streams_for_components_trained_apart(dataset, tmp_path, stream_kind):
    stream = data.pair_dataset(dataset, 16, batch_size=10, n=2, cache_dir=tmp_path, same_class_share=None)
    epoch = batches(stream)
    numbers = np.stack([np.concatenate([image_number(images[k]) for images, _ in epoch]) for k in range(2)])
    # Each position goes through the whole data in its own order: every image once per epoch.
    assert [sorted(row) for row in numbers.tolist()] == [list(range(30))] * 2
    assert numbers[0].tolist() != numbers[1].tolist()
    for images, targets in epoch:
        np.testing.assert_array_equal(
            targets["synergic"][:, 0], targets["labels"][:, 0] == targets["labels"][:, 1]
        )


def test_triplet_batches_are_p_by_k(tmp_path, stream_kind):
    df = data.from_csv(write_dataset(tmp_path / "data", n=40, num_classes=4))
    df = df[(df["label"] != "class_3") | (df.index < 8)]  # class_3: 2 images
    stream = data.triplet_dataset(df, 8, classes_per_batch=3, images_per_class=4, cache_dir=tmp_path)
    epoch = batches(stream)
    assert len(epoch) == len(df) // 12
    for images, labels in epoch:
        assert images.shape == (12, 8, 8, 3)
        blocks = labels.reshape(3, 4)
        assert (blocks == blocks[:, :1]).all() and len(set(blocks[:, 0])) == 3
    seen = np.concatenate([labels for _, labels in epoch])
    assert np.mean(seen == 3) > 2 / len(df)  # the minority class is oversampled


def test_segmentation_batches(dataset, tmp_path, stream_kind):
    stream = data.segmentation_dataset(dataset, 16, 10, cache_dir=tmp_path, shuffle=False)
    images, masks = batches(stream)[0]
    assert images.shape == (10, 16, 16, 3) and masks.shape == (10, 16, 16, 1) and masks.dtype == np.uint8
    assert masks[:, 8, 8, 0].all() and not masks[:, 0, 0, 0].any()
    with pytest.raises(ValueError, match="needs mask columns"):
        data.segmentation_dataset(dataset.drop(columns="mask"), 16, 10, cache_dir=tmp_path)


def test_a_model_trains_on_a_stream(dataset, tmp_path, stream_kind):
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stream = data.classification_dataset(dataset, 16, 8, cache_dir=tmp_path)
    history = model.fit(stream, epochs=2, shuffle=False, verbose=0)  # the stream shuffles itself
    assert len(history.history["loss"]) == 2


def test_augmentation_inside_the_stream(dataset, tmp_path, stream_kind):
    from dermnet.data.augment import Augmentation

    augmentation = Augmentation(brightness=0.3, crop=(12, 12))
    stream = data.segmentation_dataset(
        dataset, 16, 10, augment=augmentation, cache_dir=tmp_path, shuffle=False
    )
    images, masks = batches(stream)[0]
    assert images.shape == (10, 12, 12, 3) and images.dtype == np.uint8
    assert masks.shape == (10, 12, 12, 1) and set(np.unique(masks)) <= {0, 1}
    plain = batches(data.segmentation_dataset(dataset, 16, 10, cache_dir=tmp_path, shuffle=False))[0][0]
    brightness_change = images.astype(int).mean((1, 2, 3)) - plain.astype(int).mean((1, 2, 3))
    assert np.abs(brightness_change).max() > 5  # each image got its own offset...
    assert len(set(np.round(brightness_change))) > 3
    again = data.segmentation_dataset(
        dataset, 16, 10, augment=augmentation, cache_dir=tmp_path, shuffle=False
    )
    np.testing.assert_array_equal(batches(again)[0][0], images)  # ...reproducibly from the seed
    labelled = data.classification_dataset(
        dataset, 16, 10, augment="zhang2018", cache_dir=tmp_path, shuffle=False
    )
    images, labels = batches(labelled)[0]
    assert images.shape == (10, 16, 16, 3) and labels.tolist() == [i % 3 for i in range(10)]
