"""Recipes: plain data that builds the papers' optimizers, schedules and callbacks."""

import json
import re

import keras
import numpy as np
import pytest

import dermnet
from dermnet import recipes
from dermnet.data.augment import get as get_augmentation


def test_registry_lists_and_gets():
    assert {"ray2020", "ray2020_all", "menegola2017_cls"} <= set(recipes.list_recipes())
    with pytest.raises(ValueError, match="ray2020"):
        recipes.get("ray2021")


@pytest.mark.parametrize("name", recipes.list_recipes())
def test_config_round_trips_through_json(name):
    recipe = recipes.get(name)
    config = json.loads(json.dumps(recipe.to_config()))
    assert recipes.Recipe.from_config(config) == recipe


def test_ray2020_is_the_papers_recipe():
    """The settings Ray et al. 2020's Methods state (../shared/papers/002_*.txt)."""
    recipe, all_layers = recipes.get("ray2020"), recipes.get("ray2020_all")
    assert recipe.input_shape == (192, 256, 3)

    def settings(r, model):
        return [(p.freeze, p.epochs, p.optimizer_name, p.learning_rate) for p in r.for_model(model).phases]

    assert settings(recipe, "baseline_cnn") == [("none", 35, "Adam", 0.01)]
    assert settings(recipe, "vgg16") == [("backbone", 3, "Adam", 1e-3), ("top", 20, "Adam", 1e-3)]
    for model in ("inception_v3", "inception_resnet_v2"):
        assert [p[:2] for p in settings(recipe, model)] == [("backbone", 3), ("top", 20)]
    assert [p[:2] for p in settings(recipe, "densenet201")] == [("backbone", 3), ("top", 27)]  # Part A
    assert [p[:2] for p in settings(all_layers, "densenet201")] == [("backbone", 3), ("none", 20)]  # Part B
    assert [p[:2] for p in settings(all_layers, "inception_v3")] == [("backbone", 3), ("none", 20)]
    assert recipe.for_model("densenet201").batch_size == 32
    adam = recipe.phases[0].make_optimizer(steps_per_epoch=10)
    assert isinstance(adam, keras.optimizers.Adam) and not adam.amsgrad
    # The text gives no schedule: none of the phases changes the learning rate.
    for r in (recipe, all_layers):
        for model in (None, "baseline_cnn", "vgg16", "densenet201"):
            phases = r.for_model(model).phases if model else r.phases
            assert all(p.schedule is None and p.callbacks == () for p in phases)


def test_menegola2017_part1_is_the_papers_recipe():
    """Section I-C and I-D of Menegola et al. 2017 (../shared/papers/004_*.txt)."""
    recipe = recipes.get("menegola2017")
    assert recipe.input_shape == (128, 128, 3) and recipe.loss["class_name"] == "DiceLoss"
    augmentation = get_augmentation(recipe.augment)
    assert (augmentation.shift, augmentation.zoom, augmentation.rotation) == (0.1, (0.8, 1.2), 270.0)
    assert not (augmentation.flip_horizontal or augmentation.flip_vertical or augmentation.colour)

    def settings(model):
        return [(p.freeze, p.epochs, p.optimizer_name) for p in recipe.for_model(model).phases]

    assert settings("unet_vgg16") == [("backbone", 100, "Adam"), ("none", 100, "Adam")]
    assert settings("unet_fc") == settings("unet_bn") == [("none", 220, "Adam")]
    for name in ("unet_fc", "unet_bn"):  # the ImageNet mean RGB subtracted, unscaled
        assert dermnet.model_card(name).preprocessing == "imagenet_mean"
    layer = dermnet.layers.Preprocess("imagenet_mean")
    pixels = keras.ops.convert_to_numpy(layer(np.array([[[[123.68, 116.779, 103.939]]]], "float32")))
    np.testing.assert_allclose(pixels, 0, atol=1e-4)


def test_menegola2017_part3_trains_each_network_at_its_papers_size():
    recipe = recipes.get("menegola2017_cls")
    assert recipe.for_model("inception_v4").input_shape == (299, 299, 3)
    assert recipe.for_model("inception_v4").model_kwargs == {"preprocessing": "per_image"}
    assert recipe.for_model("resnet101").input_shape == (224, 224, 3)
    assert recipes.Recipe.from_config(recipe.to_config()) == recipe  # per-model sizes survive JSON


def test_xue2018_tasks_1_and_2_are_the_papers_recipes():
    """Xue et al. 2018 (../shared/papers/003_*.txt): task 1's Adam from 1e-3 on a linear schedule with the
    VGG encoder frozen for 50 epochs (DeepLab v3+, from scratch, trains whole); task 2's Adam 1e-3 ×0.1
    every 100 epochs, batch 32, 300 epochs."""
    task1 = recipes.get("xue2018")
    assert task1.batch_size == 25 and [(p.freeze, p.epochs) for p in task1.phases][0] == ("backbone", 50)
    steps = 10
    rates = []
    for phase in task1.phases:
        schedule = phase.make_optimizer(steps)._learning_rate  # the schedule (learning_rate: its value now)
        rates += [float(schedule(step)) for step in range(0, phase.epochs * steps, 100)]
    np.testing.assert_allclose(
        rates, np.linspace(1e-3, 0, 11)[:-1], rtol=1e-5, atol=1e-9
    )  # one straight line
    for plain, doubled in zip(task1.phases, task1.for_model("segan").phases):  # two optimizer steps a batch
        assert doubled.schedule["config"]["decay_epochs"] == 2 * plain.schedule["config"]["decay_epochs"]
    assert task1.make_loss().dice_weight == 0.0  # DeepLab v3+: the pixels' cross-entropy
    deeplab = task1.for_model("deeplabv3plus")  # from scratch: nothing frozen, the same straight-line rate
    assert [p.freeze for p in deeplab.phases] == ["none", "none"]
    assert [p.schedule for p in deeplab.phases] == [p.schedule for p in task1.phases]
    segan = dermnet.model_card("segan")
    assert segan.recipe == "xue2018"
    task2 = recipes.get("xue2018_task2")
    assert dermnet.model_card("attribute_net").recipe == "xue2018_task2"
    assert (task2.input_shape, task2.batch_size, task2.resize) == ((224, 224, 3), 32, None)
    (phase,) = task2.phases
    assert (phase.optimizer_name, phase.learning_rate, phase.epochs) == ("Adam", 1e-3, 300)
    schedule = phase.make_optimizer(steps)._learning_rate
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 999, 1000, 2000)], [1e-3, 1e-3, 1e-4, 1e-5], rtol=1e-5
    )


def test_xue2018_task3_is_the_papers_recipe():
    """Task 3's "Data" and "Training" (../shared/papers/003_*.txt)."""
    recipe = recipes.get("xue2018_task3")
    assert (recipe.resize, recipe.input_shape, recipe.batch_size) == ((270, 360), (256, 256, 3), 64)
    assert get_augmentation(recipe.augment).crop == (256, 256)
    (phase,) = recipe.phases
    assert (phase.epochs, phase.optimizer_name, phase.optimizer_args) == (500, "SGD", {"momentum": 0.9})
    schedule = phase.make_optimizer(steps_per_epoch=10)._learning_rate
    rates = [float(schedule(step)) for step in (0, 999, 1000, 2000)]  # ×0.1 every 100 epochs
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])
    small = recipe.at_size(32)
    assert small.resize == (34, 45) and get_augmentation(small.augment).crop == (32, 32)


def test_menegola2017_decays_the_rate_every_two_epochs():
    recipe = recipes.get("menegola2017_cls")
    (phase,) = recipe.phases
    optimizer = phase.make_optimizer(steps_per_epoch=50)
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert (optimizer.rho, optimizer.momentum, optimizer.epsilon, optimizer.weight_decay) == (
        0.9,
        0.9,
        1.0,
        4e-5,
    )
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 99, 100, 250)]
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.0094, 0.01 * 0.94**2], rtol=1e-6)
    assert recipe.for_model("inception_v4").model_kwargs == {"preprocessing": "per_image"}
    assert recipe.for_model("resnet101").model_kwargs == {}


def _recipe_file(tmp_path, change):
    """A shared recipe file: ray2020's config with `change(config)` applied."""
    config = recipes.get("ray2020").to_config()
    change(config)
    path = tmp_path / "shared.json"
    path.write_text(json.dumps({"recipe": config}))
    return path


def _callback(name, **config):
    def change(recipe):
        recipe["phases"][0]["callbacks"] = [{"class_name": name, "config": config}]

    return change


@pytest.mark.parametrize(
    "name, argument",
    [
        ("BackupAndRestore", "backup_dir"),
        ("CSVLogger", "filename"),
        ("RemoteMonitor", "root"),
        ("LambdaCallback", "on_epoch_end"),
    ],
)
def test_a_recipe_file_naming_a_callback_outside_the_allowed_ones_is_refused(tmp_path, name, argument):
    """A recipe is data: a callback that writes, deletes or sends what the file names is never built."""
    victim = tmp_path / "thesis"
    victim.mkdir()
    path = _recipe_file(tmp_path, _callback(name, **{argument: str(victim)}))
    allowed = "EarlyStopping, ReduceLROnPlateau"
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .*'{name}'.*{allowed}"):
        recipes.load(path)
    assert victim.is_dir()


@pytest.mark.parametrize(
    "config, refused",
    [
        ({"monitor": "val_loss", "filepath": "/tmp/x"}, "filepath"),  # an argument it does not take
        ({"monitor": "http://example.com/steal"}, "monitor"),  # a metric's name, never an address or path
        ({"monitor": "loss", "factor": 2.0}, "factor"),
        ({"monitor": "loss", "patience": "3"}, "patience"),
    ],
)
def test_an_allowed_callback_has_its_arguments_checked(tmp_path, config, refused):
    path = _recipe_file(tmp_path, _callback("ReduceLROnPlateau", **config))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .*ReduceLROnPlateau.*{refused}"):
        recipes.load(path)


def test_an_allowed_callback_loads_and_builds(tmp_path):
    path = _recipe_file(
        tmp_path, _callback("EarlyStopping", monitor="val_loss", patience=2, restore_best_weights=True)
    )
    (callback,) = recipes.load(path).phases[0].make_callbacks()
    assert isinstance(callback, keras.callbacks.EarlyStopping) and callback.patience == 2


def _set(*keys, value):
    def change(config):
        target = config
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    "change, named",
    [
        (_set("phases", 0, "optimizer_name", value="deserialize"), "deserialize"),
        (_set("phases", 0, "optimizer_args", value={"name": "../x"}), "name"),
        (
            _set("phases", 0, "schedule", value={"class_name": "LearningRateSchedule", "config": {}}),
            "LearningRateSchedule",
        ),
        (
            _set(
                "phases",
                0,
                "schedule",
                value={
                    "class_name": "ExponentialDecay",
                    "config": {"decay_rate": 0.5, "decay_epochs": 1, "module": "os"},
                },
            ),
            "module",
        ),
        (_set("loss", value={"class_name": "Loss", "config": {}}), "Loss"),
        (_set("loss", value={"class_name": "DiceLoss", "config": {"reduction": "x"}}), "reduction"),
        (_set("model_kwargs", value={"weights": "/home/me/other.keras"}), "weights"),
        (_set("model_kwargs", value={"preprocessing": "https://example.com/x"}), "preprocessing"),
        (_set("per_model", "vgg16", value={"model_kwargs": {"weights": "x.keras"}}), "vgg16.*weights"),
        (
            _set(
                "per_model",
                "vgg16",
                value={
                    "phases": [
                        dict(recipes.get("ray2020").to_config()["phases"][0], optimizer_name="Optimizer")
                    ]
                },
            ),
            "vgg16.*Optimizer",
        ),
        (_set("augment", value="../presets"), "augment"),
        (_set("postprocess", value={"opening": 2, "module": "os"}), "module"),
        (_set("postprocess", value={"opening": -1}), "opening"),
        (_set("postprocess", value=["crf"]), "postprocess"),
    ],
)
def test_everything_a_recipe_file_builds_by_name_is_allowed_and_checked(tmp_path, change, named):
    path = _recipe_file(tmp_path, change)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .*{named}"):
        recipes.load(path)


@pytest.mark.parametrize("name", recipes.list_recipes())
def test_every_shipped_recipe_loads_from_a_file(tmp_path, name):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipes.get(name).to_config()))
    assert recipes.load(path) == recipes.get(name)


def test_xue2018_post_processes_by_a_crf_with_morphological_operations():
    """Xue et al. 2018, task 1: "we leverage the Conditional Random Fields (CRFs) with morphological
    operations to refine the generated segmentation masks and remove the isolated small regions"."""
    recipe = recipes.get("xue2018")
    assert recipe.postprocess == {
        "crf": True,
        "opening": 3,
        "closing": 3,
        "fill_holes": True,
        "largest_component": True,
    }
    assert recipe.for_model("segan").postprocess == recipe.postprocess
    small = recipe.at_size(64)  # radii in pixels: they scale with the inputs, never below 1
    assert (small.postprocess["opening"], small.postprocess["closing"]) == (1, 1)
    assert recipe.at_size(448).postprocess["opening"] == 6
    assert recipes.get("menegola2017").postprocess is None  # RECOD report none
    assert recipes.Recipe.from_config(recipe.to_config()) == recipe


def test_a_recipe_at_a_budget_keeps_each_phases_share_and_its_schedules_shape():
    xue = recipes.get("xue2018").at_budget(10)
    segan = xue.for_model("segan")
    assert [p.epochs for p in segan.phases] == [5, 5] and segan.name == "xue2018_at_10_epochs"
    # 50 of 100 epochs: each phase's linear decay, over twice its epochs, is cut by the same tenth
    assert [p.schedule["config"]["decay_epochs"] for p in segan.phases] == [10.0, 10.0]
    assert [p.learning_rate for p in segan.phases] == [
        p.learning_rate for p in recipes.get("xue2018").for_model("segan").phases
    ]
    ray = recipes.get("ray2020").at_budget(10)
    assert [p.epochs for p in ray.phases] == [1, 9]  # 3 + 20 epochs: a phase keeps one epoch at least
    assert [p.epochs for p in recipes.get("menegola2017").at_budget(10).for_model("unet_bn").phases] == [10]
    assert recipes.get("ray2020").at_budget(50).phases == recipes.get("ray2020").phases  # within budget
    assert recipes.Recipe.from_config(xue.to_config()) == xue
    # cut to one epoch, each phase keeps one, and its schedule one phase's worth of decay
    one = recipes.get("xue2018").at_budget(1).for_model("deeplabv3plus")
    assert [(p.epochs, p.schedule["config"]["decay_epochs"]) for p in one.phases] == [(1, 1.0), (1, 1.0)]
    with pytest.raises(recipes.RecipeError, match="epochs must be 1 or more"):
        recipes.get("xue2018").at_budget(0)
