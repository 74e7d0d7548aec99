"""Segmentation losses (Dice, Jaccard, BCE + Dice) and mask metrics against small masks worked out
by hand, under mixed precision, in compile/fit, and through a `.keras` round trip."""

import keras
import numpy as np
import pytest

from dermnet.evaluation.scoring import segmentation_scores
from dermnet.losses import BCEDiceLoss, DiceLoss, JaccardLoss
from dermnet.metrics import JACCARD_THRESHOLD, DiceCoefficient, JaccardIndex, ThresholdedJaccard

pytestmark = pytest.mark.portable

METRICS = (DiceCoefficient, JaccardIndex, ThresholdedJaccard)


def masks(*images):
    """[B, H, W, 1] float32 from 2-d lists, one per image."""
    return np.array(images, "float32")[..., None]


def value(tensor):
    return keras.ops.convert_to_numpy(tensor)


def metric_result(metric_class, y_true, y_pred, **kwargs):
    metric = metric_class(**kwargs)
    metric.update_state(y_true, y_pred)
    return float(value(metric.result()))


EMPTY = [[0, 0], [0, 0]]
FULL = [[1, 1], [1, 1]]
CORNER = [[1, 0], [0, 0]]


@pytest.mark.parametrize("per_image", [False, True])
def test_empty_truth_and_prediction(per_image):
    # Σy·p = Σy = Σp = 0: Dice = Jaccard = (0 + 1) / (0 + 1) = 1, loss 0; the metrics score 1.
    y = masks(EMPTY, EMPTY)
    for loss in (DiceLoss(per_image=per_image), JaccardLoss(per_image=per_image)):
        assert float(value(loss(y, y))) == 0.0
    assert [metric_result(m, y, y) for m in METRICS] == [1.0, 1.0, 1.0]


def test_empty_truth_with_a_prediction():
    # Σy·p = 0, Σy = 0, Σp = 1: Dice = (0 + 1) / (0 + 1 + 1) = 1/2, Jaccard = (0 + 1) / (1 - 0 + 1) = 1/2.
    y, p = masks(EMPTY), masks(CORNER)
    assert float(value(DiceLoss()(y, p))) == pytest.approx(0.5)
    assert float(value(JaccardLoss()(y, p))) == pytest.approx(0.5)
    assert [metric_result(m, y, p) for m in METRICS] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("smooth, dice, jaccard", [(1.0, 0.8, 5 / 7), (0.0, 0.75, 0.6)])
def test_soft_values(smooth, dice, jaccard):
    # y = [[1, 1], [0, 0]], p = [[.5, 1], [0, .5]]: Σy·p = 1.5, Σy = 2, Σp = 2.
    # smooth 1: Dice = (3 + 1) / (4 + 1) = 0.8, Jaccard = (1.5 + 1) / (2 + 2 - 1.5 + 1) = 5/7.
    # smooth 0: Dice = 3 / 4, Jaccard = 1.5 / 2.5 = 0.6.
    y, p = masks([[1, 1], [0, 0]]), masks([[0.5, 1], [0, 0.5]])
    assert float(value(DiceLoss(smooth=smooth)(y, p))) == pytest.approx(1 - dice)
    assert float(value(JaccardLoss(smooth=smooth)(y, p))) == pytest.approx(1 - jaccard)


def test_bce_dice_is_cross_entropy_plus_weighted_dice():
    y, p = masks([[1, 1], [0, 0]]), masks([[0.5, 1], [0, 0.5]])
    # Pixels (y, p): (1, .5), (1, 1), (0, 0), (0, .5): BCE = (ln 2 + 0 + 0 + ln 2) / 4; Dice loss 0.2.
    # keras clips p to [1e-7, 1 - 1e-7], hence the tolerance.
    got = float(value(BCEDiceLoss(dice_weight=0.5)(y, p)))
    assert got == pytest.approx(np.log(2) / 2 + 0.5 * 0.2, abs=1e-5)


def test_per_image_and_batch_global_dice_differ():
    # Image 1: y = p = all 1 (Σy·p = Σy = Σp = 4). Image 2: y empty, p one pixel (0, 0, 1).
    # Per image: Dice 9/9 and 1/2, losses [0, 0.5], mean 0.25.
    # Batch-global: Σy·p = 4, Σy = 4, Σp = 5: Dice = 9/10, loss 0.1 for every image.
    y, p = masks(FULL, EMPTY), masks(FULL, CORNER)
    per_image, batch = DiceLoss(per_image=True), DiceLoss(per_image=False)
    assert float(value(per_image(y, p))) == pytest.approx(0.25)
    assert float(value(batch(y, p))) == pytest.approx(0.1)
    # call() gives one loss per image in both variants, so sample weights and reductions work alike.
    np.testing.assert_allclose(value(DiceLoss(per_image=True, reduction=None)(y, p)), [0.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(value(DiceLoss(reduction=None)(y, p)), [0.1, 0.1], atol=1e-6)
    # Weights [0, 1]: the default reduction sums the weighted losses and divides by the batch size.
    assert float(value(per_image(y, p, sample_weight=np.array([0.0, 1.0])))) == pytest.approx(0.25)
    assert float(value(batch(y, p, sample_weight=np.array([0.0, 1.0])))) == pytest.approx(0.05)


@pytest.mark.parametrize("per_image", [False, True])
def test_multi_channel(per_image):
    # One image, two channels. Channel 0: y = p = one pixel: Dice (2 + 1) / (1 + 1 + 1) = 1.
    # Channel 1: y two pixels, p empty: Dice (0 + 1) / (2 + 0 + 1) = 1/3. Loss: mean(0, 2/3) = 1/3.
    # Metrics: channel 0 scores 1, channel 1 scores 0 (Dice and Jaccard), mean 1/2.
    y = np.stack([np.array(CORNER), np.array([[1, 1], [0, 0]])], axis=-1)[None].astype("float32")
    p = np.stack([np.array(CORNER), np.array(EMPTY)], axis=-1)[None].astype("float32")
    assert float(value(DiceLoss(per_image=per_image)(y, p))) == pytest.approx(1 / 3)
    assert metric_result(DiceCoefficient, y, p) == pytest.approx(0.5)
    assert metric_result(JaccardIndex, y, p) == pytest.approx(0.5)


def three_images():
    """3×3 masks, truth the top row in each; predictions of 3, 2 and 1 of its pixels.
    Jaccard: 1, 2/3 (≥ 0.65, kept), 1/3 (zeroed). Dice: 1, 2·2/(3 + 2) = 4/5, 2·1/(3 + 1) = 1/2."""
    truth = [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    predictions = [[[0.9, 0.9, 0.9]], [[0.9, 0.9, 0.1]], [[0.9, 0.1, 0.1]]]
    return masks(truth, truth, truth), masks(*[row + [[0.1] * 3] * 2 for row in predictions])


def test_thresholded_jaccard_zeroes_an_image_below_the_floor():
    y, p = three_images()
    assert metric_result(JaccardIndex, y, p) == pytest.approx(2 / 3)  # (1 + 2/3 + 1/3) / 3
    assert metric_result(ThresholdedJaccard, y, p) == pytest.approx(5 / 9)  # (1 + 2/3 + 0) / 3
    assert metric_result(DiceCoefficient, y, p) == pytest.approx((1 + 0.8 + 0.5) / 3)
    assert ThresholdedJaccard().floor == JACCARD_THRESHOLD
    # The challenge's scoring agrees.
    official = segmentation_scores(list(y[..., 0]), list(p[..., 0] > 0.5))
    assert {key: official[key] for key in ("threshold_jaccard", "jaccard", "dice")} == pytest.approx(
        {"threshold_jaccard": 5 / 9, "jaccard": 2 / 3, "dice": 2.3 / 3}
    )


def test_threshold_binarises_the_prediction():
    # p = 0.6 everywhere on a full truth: lesion at 0.5, background at 0.7.
    y, p = masks(FULL), np.full((1, 2, 2, 1), 0.6, "float32")
    assert metric_result(JaccardIndex, y, p) == 1.0
    assert metric_result(JaccardIndex, y, p, threshold=0.7) == 0.0


def test_metrics_accumulate_per_image_and_reset():
    y, p = three_images()
    metric = ThresholdedJaccard()
    metric.update_state(y[:1], p[:1])  # Jaccard 1
    metric.update_state(y[1:], p[1:])  # 2/3 kept, 1/3 zeroed
    # The mean over the three images, not the mean of the batches' means ((1 + 1/3) / 2).
    assert float(value(metric.result())) == pytest.approx(5 / 9)
    metric.reset_state()
    assert float(value(metric.result())) == 0.0
    metric.update_state(y[1:2], p[1:2])
    assert float(value(metric.result())) == pytest.approx(2 / 3)


def test_metric_sample_weights_weigh_images():
    y, p = three_images()
    metric = JaccardIndex()
    metric.update_state(y, p, sample_weight=np.array([1.0, 0.0, 1.0]))
    assert float(value(metric.result())) == pytest.approx((1 + 1 / 3) / 2)


def test_uint8_truth_and_truth_without_channel_axis():
    y, p = three_images()
    for truth in (y.astype("uint8"), y[..., 0].astype("uint8")):
        assert float(value(DiceLoss(per_image=True)(truth, p))) == pytest.approx(
            float(value(DiceLoss(per_image=True)(y, p)))
        )
        assert float(value(BCEDiceLoss()(truth, p))) == pytest.approx(float(value(BCEDiceLoss()(y, p))))
        assert metric_result(ThresholdedJaccard, truth, p) == pytest.approx(5 / 9)


def test_float32_under_mixed_bfloat16(mixed_bfloat16):
    y, p = masks(FULL, EMPTY), masks(FULL, CORNER)
    p16 = keras.ops.convert_to_tensor(p, dtype="bfloat16")  # what a mixed-precision model outputs
    for loss, expected in ((DiceLoss(per_image=True), 0.25), (DiceLoss(), 0.1), (JaccardLoss(), 1 - 5 / 6)):
        got = loss(y.astype("uint8"), p16)
        assert keras.backend.standardize_dtype(got.dtype) == "float32"
        assert float(value(got)) == pytest.approx(expected, abs=1e-6)
    for metric_class in METRICS:
        metric = metric_class()
        metric.update_state(y, p16)
        assert [keras.backend.standardize_dtype(v.dtype) for v in metric.variables] == ["float32", "float32"]
        assert keras.backend.standardize_dtype(metric.result().dtype) == "float32"
        assert float(value(metric.result())) == 0.5  # image 1 scores 1, image 2 (empty truth) 0


@pytest.mark.parametrize(
    "obj",
    [
        DiceLoss(per_image=True, smooth=0.5, name="d"),
        JaccardLoss(smooth=2.0),
        BCEDiceLoss(dice_weight=0.3, per_image=True, smooth=0.0),
    ],
)
def test_losses_are_serializable(obj):
    again = keras.losses.deserialize(keras.losses.serialize(obj))
    assert type(again) is type(obj) and again.get_config() == obj.get_config()


@pytest.mark.parametrize(
    "obj",
    [DiceCoefficient(threshold=0.3), JaccardIndex(name="iou"), ThresholdedJaccard(threshold=0.4, floor=0.5)],
)
def test_metrics_are_serializable(obj):
    again = keras.metrics.deserialize(keras.metrics.serialize(obj))
    assert type(again) is type(obj) and again.get_config() == obj.get_config()


def tiny_segmentor():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(1, 1, activation="sigmoid"),
        ]
    )


@pytest.mark.parametrize(
    "loss",
    [DiceLoss(per_image=True), JaccardLoss(), BCEDiceLoss(dice_weight=0.5)],
    ids=["dice", "jaccard", "bce_dice"],
)
def test_compile_fit_save_and_reload(loss, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, 8, 8, 3)).astype("float32")
    y = (x[..., :1] > 0.5).astype("uint8")
    model = tiny_segmentor()
    model.compile(optimizer="adam", loss=loss, metrics=[m() for m in METRICS])
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    logs = {name: values[-1] for name, values in history.history.items()}
    assert set(logs) == {"loss", "dice", "jaccard", "threshold_jaccard"}
    assert all(np.isfinite(v) for v in logs.values())

    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(again.loss) is type(loss) and again.loss.get_config() == loss.get_config()
    before, after = (m.evaluate(x, y, batch_size=8, verbose=0, return_dict=True) for m in (model, again))
    assert after == pytest.approx(before, abs=1e-6)
