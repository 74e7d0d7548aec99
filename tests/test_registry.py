"""The factory: names, cards, and the errors a user meets first."""

import dataclasses

import pytest

import dermnet
from dermnet import backbones


def test_list_models_is_sorted_and_filters_by_pattern_and_task():
    names = dermnet.list_models()
    assert names == sorted(names)
    assert {
        "vgg16",
        "inception_v3",
        "densenet201",
        "inception_resnet_v2",
        "resnet50",
        "resnet101",
        "inception_v4",
        "baseline_cnn",
        "ensemble",
    } <= set(names)
    assert dermnet.list_models("*dense*", task="classification") == ["densenet201"]
    assert dermnet.list_models(task="no-such-task") == []


def test_model_card_describes_the_model():
    card = dermnet.model_card("densenet201")
    assert card.task == "classification"
    assert "Ray" in card.paper
    assert card.input_shape == (224, 224, 3)
    assert card.num_classes == 7
    assert card.preprocessing == "torch"
    assert card.recipe == "ray2020"
    assert card.head == "ray"
    assert card.weights == "imagenet"


def test_every_card_names_an_existing_recipe():
    for name in dermnet.list_models():
        recipe = dermnet.model_card(name).recipe
        if recipe is not None:
            dermnet.recipes.get(recipe)


def test_unknown_name_lists_the_closest_names():
    with pytest.raises(ValueError, match="densenet201"):
        dermnet.build("densenet121")


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="pretrained"):
        dermnet.build("vgg16", pretrained=True)


@pytest.mark.parametrize("num_classes", [1, -1, 2.5])
def test_num_classes_of_one_or_a_fraction_is_refused(num_classes):
    with pytest.raises(ValueError, match=r"0 \(no head\) or an integer of at least 2"):
        dermnet.build("baseline_cnn", num_classes=num_classes)


def test_every_card_has_a_builder_whose_defaults_are_the_cards():
    import inspect

    from dermnet._registry import _builder

    for name in dermnet.list_models():
        card, defaults = dermnet.model_card(name), inspect.signature(_builder(name)).parameters
        for field in ("input_shape", "num_classes", "weights", "preprocessing"):
            if field in defaults and defaults[field].default is not None:
                assert defaults[field].default == getattr(card, field), (name, field)
        if name in backbones.BACKBONES:  # a classifier's card is its backbone's
            spec = backbones.BACKBONES[name]
            assert (card.input_shape, card.preprocessing) == (spec.input_shape, spec.preprocessing), name
            assert card.weights == ("imagenet" if spec.imagenet_file else None), name


def test_a_users_model_registers_beside_dermnets_and_cannot_take_their_names():
    from dermnet._registry import _BUILDERS, _CARDS

    card = dataclasses.replace(dermnet.model_card("baseline_cnn"), name="my_cnn", description="mine")
    try:
        dermnet.register_model(card)(
            lambda num_classes=7: dermnet.build("baseline_cnn", num_classes=num_classes)
        )
        assert "my_cnn" in dermnet.list_models() and dermnet.model_card("my_cnn").description == "mine"
        assert dermnet.build("my_cnn", num_classes=3).output_shape == (None, 3)
        with pytest.raises(ValueError, match="already registered"):
            dermnet.register_model(dataclasses.replace(card, name="sdl"))(lambda: None)
    finally:
        _CARDS.pop("my_cnn"), _BUILDERS.pop("my_cnn")


def test_list_models_filters_by_pretrained_weights():
    pretrained = dermnet.list_models(pretrained=True)
    assert {"resnet50", "densenet201", "segan"} <= set(pretrained)
    assert not {"baseline_cnn", "unet", "inception_v4"} & set(pretrained)
    assert sorted(pretrained + dermnet.list_models(pretrained=False)) == dermnet.list_models()


def test_every_card_says_its_papers_data_licence_and_figures():
    for name in dermnet.list_models():
        card = dermnet.model_card(name)
        assert card.training_data and card.licence.startswith("Apache-2.0")
        assert ("ImageNet" in card.licence) == (card.weights == "imagenet")
        assert all(figure.source for figure in card.reported)
    sdl = {(f.row, f.metric): f.value for f in dermnet.model_card("sdl").reported}
    assert sdl["SDL, augmentation", "AUC"] == 0.8179 and len(sdl) == 6
    assert "900 training and 379 test images" in dermnet.model_card("sdl").training_data
    from dermnet._papers import MODEL_ROWS

    for name, (paper, rows) in MODEL_ROWS.items():  # each row names a model and a row the paper has
        card = dermnet.model_card(name)
        assert card.paper_key == paper and {(f.table, f.row) for f in card.reported} == set(rows), name


@pytest.mark.parametrize("name", ["inception_v3", "resnet50", "inception_v4"])
def test_input_too_small_says_the_minimum(name):
    minimum = backbones.BACKBONES[name].min_size
    with pytest.raises(ValueError, match=f"at least {minimum}×{minimum}"):
        dermnet.build(name, weights=None, input_shape=(minimum - 1, 256, 3))


def test_input_must_be_rgb():
    with pytest.raises(ValueError, match="RGB"):
        dermnet.build("baseline_cnn", input_shape=(64, 64, 1))


def test_unknown_head_is_refused():
    with pytest.raises(ValueError, match="head"):
        dermnet.build("baseline_cnn", head="mlp")


def test_build_passes_the_papers_arguments_through():
    model = dermnet.build(
        "densenet201", num_classes=7, weights=None, freeze="top", input_shape=(192, 256, 3), head="ray"
    )
    assert model.input_shape == (None, 192, 256, 3)
    assert model.output_shape == (None, 7)
    assert model.get_layer("pool").__class__.__name__ == "GlobalMaxPooling2D"
    assert model.get_layer("features").units == 512


def test_todays_backbones_cite_their_own_papers_and_list_beside_the_others():
    from dermnet.cli import model_table

    for name, paper in (
        ("efficientnet_b7", "Tan & Le, ICML 2019"),
        ("efficientnetv2_s", "Tan & Le, ICML 2021"),
        ("convnext_xlarge", "Liu et al., CVPR 2022"),
    ):
        card = dermnet.model_card(name)
        assert card.paper.startswith(paper) and card.paper_key is None and card.reported == ()
        assert "ImageNet-1k" in card.training_data and (card.weights, card.preprocessing) == (
            "imagenet",
            "raw",
        )
        assert f"| {name} | classification | {paper} | {card.parameters:,} |" in model_table(markdown=True)
    assert len(dermnet.list_models("efficientnet_b*")) == 8 and len(dermnet.list_models("convnext_*")) == 5
    assert len(dermnet.list_models("efficientnetv2_*")) == 7
