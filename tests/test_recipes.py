"""Recipes: plain data that builds the papers' optimizers, schedules and callbacks."""

import json

import keras
import numpy as np
import pytest

from dermnet import recipes


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
    recipe = recipes.get("ray2020")
    assert recipe.input_shape == (192, 256, 3)
    assert recipe.batch_size == 64
    assert recipe.for_model("densenet201").batch_size == 32
    head, finetune = recipe.phases
    assert (head.freeze, head.epochs) == ("backbone", 3)
    adam = head.make_optimizer(steps_per_epoch=10)
    assert isinstance(adam, keras.optimizers.Adam) and adam.amsgrad
    assert float(adam.learning_rate) == pytest.approx(1e-4)
    assert finetune.freeze == "top"
    assert recipes.get("ray2020_all").phases[1].freeze == "none"
    (plateau,) = finetune.make_callbacks()
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert (plateau.monitor, plateau.patience, plateau.factor, plateau.min_lr, plateau.cooldown) == (
        "val_accuracy", 3, 0.5, 1e-6, 2)
    # the baseline CNN has nothing pretrained: one phase, everything trains
    (only,) = recipe.for_model("baseline_cnn").phases
    assert only.freeze == "none"


def test_menegola2017_decays_the_rate_every_two_epochs():
    recipe = recipes.get("menegola2017_cls")
    (phase,) = recipe.phases
    optimizer = phase.make_optimizer(steps_per_epoch=50)
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert (optimizer.rho, optimizer.momentum, optimizer.epsilon, optimizer.weight_decay) == (
        0.9, 0.9, 1.0, 4e-5)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 99, 100, 250)]
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.0094, 0.01 * 0.94**2], rtol=1e-6)
    assert recipe.for_model("inception_v4").model_kwargs == {"preprocessing": "per_image"}
    assert recipe.for_model("resnet101").model_kwargs == {}
