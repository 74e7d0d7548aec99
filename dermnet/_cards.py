"""The cards of dermnet's models: what each registered model is, before it is built.

Pure data, importing no deep-learning framework: `dermnet list`, `list_models` and `model_card` answer
from here without loading Keras. The models' modules (`dermnet.models`) register a builder under each
name; `tests/test_registry.py` checks every card against the model it builds (parameters, input
size, preprocessing and weights).
"""

import dataclasses
from typing import Optional

from dermnet import _papers

ZHANG2018 = "Zhang et al., MICCAI 2018 (synergic deep learning)"
RAY2020 = "Ray et al., JMIR Dermatol 2020 (fine-tuned CNNs on HAM10000)"
XUE2018 = "Xue et al., ISIC 2018 (SegAN, attributes, triplet loss)"
MENEGOLA2017 = "Menegola et al., ISIC 2017 (RECOD Titans)"
HA2020 = "Ha, Liu and Liu, SIIM-ISIC 2020 (1st place)"
_PAPER_KEYS = {
    ZHANG2018: "zhang2018",
    RAY2020: "ray2020",
    XUE2018: "xue2018",
    MENEGOLA2017: "menegola2017",
    HA2020: "ha2020",
}
# The backbones' own papers: dermnet reproduces none of their figures (no key in `reproduce.PAPERS`); what
# they trained on is ImageNet, which their weights come from.
TAN2019 = "Tan & Le, ICML 2019 (EfficientNet)"
TAN2021 = "Tan & Le, ICML 2021 (EfficientNetV2)"
LIU2022 = "Liu et al., CVPR 2022 (ConvNeXt)"
_BACKBONE_PAPERS = dict.fromkeys(
    (TAN2019, TAN2021, LIU2022),
    "ImageNet-1k (ILSVRC 2012): 1.28 M training images of 1,000 classes, none of skin; the paper reports no "
    "dermoscopy figures, and dermnet fine-tunes its keras.applications ImageNet weights on the data set given",
)


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a registered model is, before building it.

    Attributes:
        name: the name `dermnet.build` takes.
        task: "classification", "segmentation", ...
        paper: the paper the model comes from.
        input_shape: default `(height, width, 3)`.
        num_classes: default number of classes (the paper's dataset).
        preprocessing: the normalisation layer the model carries (`dermnet.layers.Preprocess`).
        head: default classifier head, or None.
        recipe: name of the training recipe in `dermnet.recipes`, or None.
        weights: default `weights=` ("imagenet" where keras.applications has them, else None).
        parameters: parameters of the model built with its defaults (checked by a test).
        description: one line.

    And, derived: `paper_key` (its key in `dermnet.reproduce.PAPERS`; None for a backbone's own paper),
    `training_data` (what the paper trained and scored it on), `reported` (the paper's figures of this
    model, each with its source) and `licence`. dermnet ships no weights trained on skin images:
    `weights` are ImageNet's.
    """

    name: str
    task: str
    paper: str
    input_shape: tuple
    num_classes: int
    preprocessing: str
    head: Optional[str]
    recipe: Optional[str]
    weights: Optional[str]
    parameters: int
    description: str

    @property
    def paper_key(self):
        if self.paper in _BACKBONE_PAPERS:
            return None
        return _PAPER_KEYS[self.paper]

    @property
    def training_data(self):
        if self.paper in _BACKBONE_PAPERS:
            return _BACKBONE_PAPERS[self.paper]
        return _papers.TRAINING_DATA[self.paper_key, self.task]

    @property
    def reported(self):
        return _papers.reported(self.name)

    @property
    def licence(self):
        weights = (
            "; its ImageNet weights are keras.applications', downloaded from the keras-applications "
            "releases under their terms"
            if self.weights == "imagenet"
            else "; no pretrained weights"
        )
        return "Apache-2.0 (dermnet's code)" + weights


# ModelCard(name, task, paper, input_shape, num_classes, preprocessing, head, recipe, weights, parameters,
#           description), by paper.
CARDS = {
    card.name: card
    for card in [
        ModelCard(
            "resnet50",
            "classification",
            ZHANG2018,
            (224, 224, 3),
            2,
            "caffe",
            "sdl",
            "zhang2018",
            "imagenet",
            25_687_938,
            "ResNet-50, the single-network baseline of SDL",
        ),
        ModelCard(
            "sdl",
            "classification",
            ZHANG2018,
            (224, 224, 3),
            2,
            "caffe",
            "sdl + synergic networks",
            "zhang2018",
            "imagenet",
            51_900_677,
            "Synergic deep learning: n ResNet-50 components + C(n,2) synergic networks (pairs in)",
        ),
        ModelCard(
            "resnet50x2",
            "classification",
            ZHANG2018,
            (224, 224, 3),
            2,
            "caffe",
            "sdl (each component)",
            "zhang2018",
            "imagenet",
            51_375_876,
            "ResNet-50²: two ResNet-50s trained apart, probabilities averaged (SDL's baseline)",
        ),
        ModelCard(
            "baseline_cnn",
            "classification",
            RAY2020,
            (192, 256, 3),
            7,
            "rescale",
            "ray",
            "ray2020",
            None,
            60_455,
            "Ray et al.'s 6-layer baseline CNN, trained from scratch",
        ),
        ModelCard(
            "vgg16",
            "classification",
            RAY2020,
            (224, 224, 3),
            7,
            "caffe",
            "ray",
            "ray2020",
            "imagenet",
            14_980_935,
            "VGG16 fine-tuned on HAM10000",
        ),
        ModelCard(
            "inception_v3",
            "classification",
            RAY2020,
            (299, 299, 3),
            7,
            "tf",
            "ray",
            "ray2020",
            "imagenet",
            22_855_463,
            "InceptionV3 fine-tuned on HAM10000",
        ),
        ModelCard(
            "densenet201",
            "classification",
            RAY2020,
            (224, 224, 3),
            7,
            "torch",
            "ray",
            "ray2020",
            "imagenet",
            19_309_127,
            "DenseNet-201 fine-tuned on HAM10000",
        ),
        ModelCard(
            "inception_resnet_v2",
            "classification",
            RAY2020,
            (299, 299, 3),
            7,
            "tf",
            "ray",
            "ray2020",
            "imagenet",
            55_127_271,
            "Inception-ResNet-v2 fine-tuned on HAM10000",
        ),
        ModelCard(
            "ensemble",
            "classification",
            RAY2020,
            (299, 299, 3),
            7,
            "each member's own",
            "each member's own",
            "ray2020",
            "imagenet",
            42_164_590,
            "Average of member classifiers' probabilities (default: InceptionV3 + DenseNet-201)",
        ),
        ModelCard(
            "segan",
            "segmentation",
            XUE2018,
            (224, 224, 3),
            1,
            "caffe",
            None,
            "xue2018",
            "imagenet",
            48_339_393,
            "SegAN: VGG19+SE U-net segmentor and a global-convolution critic, multi-scale L1 loss",
        ),
        ModelCard(
            "deeplabv3plus",
            "segmentation",
            XUE2018,
            (224, 224, 3),
            1,
            "caffe",
            None,
            "xue2018",
            "imagenet",
            17_829_441,
            "DeepLab v3+: ResNet-50 encoder (output stride 16), atrous spatial pyramid pooling, decoder",
        ),
        ModelCard(
            "attribute_net",
            "attributes",
            XUE2018,
            (224, 224, 3),
            5,
            "caffe",
            None,
            "xue2018_task2",
            "imagenet",
            23_947_754,
            "VGG19 encoder–decoder: 5 attribute masks and a multi-label presence head (ISIC 2018 task 2)",
        ),
        ModelCard(
            "triplet_resnet101",
            "classification",
            XUE2018,
            (224, 224, 3),
            7,
            "caffe",
            "embedding (256) + triplet loss",
            "xue2018_task3",
            "imagenet",
            43_184_519,
            "ResNet-101, a 256-d embedding (sampled triplet loss) and a 7-way classifier",
        ),
        ModelCard(
            "unet",
            "segmentation",
            MENEGOLA2017,
            (128, 128, 3),
            1,
            "tf",
            None,
            "menegola2017",
            None,
            31_396_609,
            "Ronneberger's U-net with batch normalization (depth and width as arguments)",
        ),
        ModelCard(
            "unet_fc",
            "segmentation",
            MENEGOLA2017,
            (128, 128, 3),
            1,
            "imagenet_mean",
            None,
            "menegola2017",
            None,
            544_269_921,
            "RECOD/Codella U-net: 5×5 convolutions and a fully connected 8192-unit bottleneck (fixed size)",
        ),
        ModelCard(
            "unet_bn",
            "segmentation",
            MENEGOLA2017,
            (128, 128, 3),
            1,
            "imagenet_mean",
            None,
            "menegola2017",
            None,
            7_361_793,
            "RECOD's U-net without the fully connected bottleneck, with batch normalization",
        ),
        ModelCard(
            "unet_vgg16",
            "segmentation",
            MENEGOLA2017,
            (128, 128, 3),
            1,
            "caffe",
            None,
            "menegola2017",
            "imagenet",
            18_635_361,
            "U-net with a VGG16 encoder (conv1–conv5, no pool5) and a 256/128/64/32 decoder",
        ),
        ModelCard(
            "resnet101",
            "classification",
            MENEGOLA2017,
            (224, 224, 3),
            3,
            "caffe",
            "linear",
            "menegola2017_cls",
            "imagenet",
            42_664_323,
            "ResNet-101, a RECOD ISIC 2017 classifier",
        ),
        ModelCard(
            "inception_v4",
            "classification",
            MENEGOLA2017,
            (299, 299, 3),
            3,
            "tf",
            "linear",
            "menegola2017_cls",
            None,
            41_179_011,
            "Inception-v4, RECOD's ISIC 2017 classifier",
        ),
        ModelCard(
            "ha2020_effnet",
            "classification",
            HA2020,
            (512, 512, 3),
            9,
            "raw",
            "metadata MLP (512, 128) + 5-sample dropout",
            "ha2020",
            "imagenet",
            10_872_888,
            "EfficientNet-B3 image features and a metadata network (sex, age, site, images per patient, "
            "file size), 9 diagnoses; image + metadata in",
        ),
    ]
}


def _backbone_card(name, paper, title, input_shape, parameters):
    """Today's backbones: ImageNet weights, a linear head, HAM10000's 7 classes and Ray et al.'s recipe
    (a head on the frozen trunk, then its "top"), as dermnet's defaults for a fine-tuned classifier."""
    return ModelCard(
        name,
        "classification",
        paper,
        input_shape,
        7,
        "raw",
        "linear",
        "ray2020",
        "imagenet",
        parameters,
        f"{title} (keras.applications, ImageNet weights), a linear head",
    )


# name: (paper, title, default side, parameters with the 7-class linear head)
_BACKBONE_CARDS = {
    "efficientnet_b0": (TAN2019, "EfficientNet-B0", 224, 4_058_538),
    "efficientnet_b1": (TAN2019, "EfficientNet-B1", 240, 6_584_206),
    "efficientnet_b2": (TAN2019, "EfficientNet-B2", 260, 7_778_432),
    "efficientnet_b3": (TAN2019, "EfficientNet-B3", 300, 10_794_294),
    "efficientnet_b4": (TAN2019, "EfficientNet-B4", 380, 17_686_374),
    "efficientnet_b5": (TAN2019, "EfficientNet-B5", 456, 28_527_870),
    "efficientnet_b6": (TAN2019, "EfficientNet-B6", 528, 40_976_278),
    "efficientnet_b7": (TAN2019, "EfficientNet-B7", 600, 64_115_614),
    "efficientnetv2_b0": (TAN2021, "EfficientNetV2-B0", 224, 5_928_279),
    "efficientnetv2_b1": (TAN2021, "EfficientNetV2-B1", 240, 6_940_091),
    "efficientnetv2_b2": (TAN2021, "EfficientNetV2-B2", 260, 8_779_237),
    "efficientnetv2_b3": (TAN2021, "EfficientNetV2-B3", 300, 12_941_381),
    "efficientnetv2_s": (TAN2021, "EfficientNetV2-S", 384, 20_340_327),
    "efficientnetv2_m": (TAN2021, "EfficientNetV2-M", 480, 53_159_355),
    "efficientnetv2_l": (TAN2021, "EfficientNetV2-L", 480, 117_755_815),
    "convnext_tiny": (LIU2022, "ConvNeXt-T", 224, 27_825_511),
    "convnext_small": (LIU2022, "ConvNeXt-S", 224, 49_460_071),
    "convnext_base": (LIU2022, "ConvNeXt-B", 224, 87_573_639),
    "convnext_large": (LIU2022, "ConvNeXt-L", 224, 196_241_095),
    "convnext_xlarge": (LIU2022, "ConvNeXt-XL", 224, 348_162_311),
}
CARDS.update(
    (name, _backbone_card(name, paper, title, (side, side, 3), parameters))
    for name, (paper, title, side, parameters) in _BACKBONE_CARDS.items()
)
