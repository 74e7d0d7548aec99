"""Small copies of the public data sets' published layouts, drawn from nothing: the same folders, file
names and tables as the real archives (dermnet/data/layouts.py says which), and tiny generated
images in place of the real ones. `write(name, root)` writes one and returns what it holds."""

from importlib import resources
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd

from dermnet import datasets

_RNG_SEED = 7


def _pixels(rng, label_index, shape=(24, 32)):
    """A small image whose mean colour depends on its class, so that a model can learn something."""
    base = np.array([60 + 60 * label_index, 120, 200 - 50 * label_index], np.float32) % 256
    noise = rng.normal(0, 25, (*shape, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _write_image(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))


def _jpeg(pixels):
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def _one_hot(labels, columns):
    return {c: [f"{float(label == c.lower()):.1f}" for label in labels] for c in columns}


def isic2018_task3(root, rng):
    """14 HAM10000 training images (lesions with several images among them), 4 validation, 6 test."""
    with resources.files("dermnet.data.manifests").joinpath("ham10000.csv").open() as f:
        ham = pd.read_csv(f, dtype=str)
    several = ham[ham.lesion_id.duplicated(keep=False)].sort_values("lesion_id").head(8)
    train = pd.concat([several, ham[~ham.lesion_id.duplicated(keep=False)].head(6)])
    with resources.files("dermnet.data.manifests").joinpath("isic2018_task3_test.csv").open() as f:
        test = pd.read_csv(f, dtype=str).head(6)
    validation = pd.DataFrame(
        {"image_id": [f"ISIC_00343{i:02d}" for i in range(21, 25)], "label": ["nv", "mel", "bkl", "nv"]}
    )
    columns = tuple(c.upper() for c in datasets.HAM10000_CLASSES)
    for split, table in (("Training", train), ("Validation", validation), ("Test", test)):
        for image_id, label in zip(table.image_id, table.label):
            _write_image(
                root / f"ISIC2018_Task3_{split}_Input" / f"{image_id}.jpg",
                _pixels(rng, datasets.HAM10000_CLASSES.index(label)),
            )
        folder = root / f"ISIC2018_Task3_{split}_GroundTruth"
        folder.mkdir(parents=True)
        pd.DataFrame({"image": table.image_id, **_one_hot(table.label, columns)}).to_csv(
            folder / f"ISIC2018_Task3_{split}_GroundTruth.csv", index=False
        )
    return {"rows": 24, "splits": {"train": 14, "validation": 4, "test": 6}, "groups": ["lesion_id"]}


def isic2019(root, rng, with_test=True):
    """30 training images (a `_downsampled` one, lesions of 2 images, lesion_id blank for some) and,
    `with_test`, 6 test images with their published truth."""
    labels = ["mel", "nv", "bcc", "ak", "bkl", "df", "vasc", "scc"] * 3 + ["nv"] * 6
    ids = [f"ISIC_00{i:05d}" + ("_downsampled" if i == 3 else "") for i in range(len(labels))]
    lesions = [f"BCN_{i // 2:07d}" if i < 20 else "" for i in range(len(labels))]
    columns = tuple(c.upper() for c in datasets.ISIC2019_CLASSES)
    folder = root / "ISIC_2019_Training_Input"
    for image_id, label in zip(ids, labels):
        _write_image(folder / f"{image_id}.jpg", _pixels(rng, datasets.ISIC2019_CLASSES.index(label) % 4))
    pd.DataFrame({"image": ids, **_one_hot(labels, columns)}).to_csv(
        root / "ISIC_2019_Training_GroundTruth.csv", index=False
    )
    pd.DataFrame(
        {
            "image": ids,
            "age_approx": "55.0",
            "anatom_site_general": "anterior torso",
            "lesion_id": lesions,
            "sex": "female",
        }
    ).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    if not with_test:
        return {"rows": 30, "groups": ["lesion_id"]}
    test_ids, test_labels = [f"ISIC_01{i:05d}" for i in range(6)], ["mel", "nv", "unk", "bcc", "nv", "mel"]
    for image_id, label in zip(test_ids, test_labels):
        _write_image(root / "ISIC_2019_Test_Input" / f"{image_id}.jpg", _pixels(rng, 1))
    pd.DataFrame({"image": test_ids, **_one_hot(test_labels, columns)}).to_csv(
        root / "ISIC_2019_Test_GroundTruth.csv", index=False
    )
    return {"rows": 36, "splits": {"train": 30, "test": 6}, "groups": ["lesion_id"]}


def isic2020(root, rng):
    """40 images of 12 patients (8 malignant), two lesions photographed twice, and 3 published
    duplicate pairs, one of them across two patients and one chained to another."""
    n = 40
    ids = [f"ISIC_{1000000 + 17 * i:07d}" for i in range(n)]
    patients = [f"IP_{i % 12:07d}" for i in range(n)]
    malignant = [i % 5 == 0 for i in range(n)]
    lesions = [f"IL_{i:07d}" for i in range(n)]
    lesions[13], lesions[25] = lesions[1], lesions[1]  # patient 1's lesion, three times
    table = pd.DataFrame(
        {
            "image_name": ids,
            "patient_id": patients,
            "lesion_id": lesions,
            "sex": "male",
            "age_approx": "45.0",
            "anatom_site_general_challenge": "torso",
            "diagnosis": ["melanoma" if m else "nevus" for m in malignant],
            "benign_malignant": ["malignant" if m else "benign" for m in malignant],
            "target": [int(m) for m in malignant],
        }
    )
    table.to_csv(root / "ISIC_2020_Training_GroundTruth_v2.csv", index=False)
    pd.DataFrame(
        {"image_name_1": [ids[2], ids[3], ids[5]], "image_name_2": [ids[3], ids[16], ids[30]]}
    ).to_csv(root / "ISIC_2020_Training_Duplicates.csv", index=False)
    for image_id, m in zip(ids, malignant):
        _write_image(root / "ISIC_2020_Training_JPEG" / "train" / f"{image_id}.jpg", _pixels(rng, int(m)))
    return {"rows": n, "groups": ["patient_id", "lesion_id", "duplicate_of"]}


def isic2024(root, rng):
    """40 crops of 10 patients (6 malignant) in `train-image.hdf5`, stored as SLICE-3D stores them:
    a scalar of JPEG bytes per `isic_id`."""
    n = 40
    ids = [f"ISIC_{2000000 + 3 * i:07d}" for i in range(n)]
    target = [int(i % 7 == 0) for i in range(n)]
    with h5py.File(root / "train-image.hdf5", "w") as archive:
        for image_id, t in zip(ids, target):
            archive.create_dataset(image_id, data=np.void(_jpeg(_pixels(rng, t, (40, 40)))))
    pd.DataFrame(
        {
            "isic_id": ids,
            "target": target,
            "patient_id": [f"IP_{i % 10:07d}" for i in range(n)],
            "age_approx": "60.0",
            "sex": "female",
            "anatom_site_general": "posterior torso",
            "lesion_id": [f"IL_{i:07d}" if t else "" for i, t in enumerate(target)],
            "iddx_full": ["Malignant::" if t else "Benign" for t in target],
        }
    ).to_csv(root / "train-metadata.csv", index=False)
    return {"rows": n, "groups": ["patient_id"]}


PH2_HEADER = (
    "||   Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry | Pigment Network | "
    "Dots/Globules | Streaks | Regression Areas | Blue-Whitish Veil ||           Colors ||"
)


def ph2(root, rng, tab_separated=False):
    """20 images (8 common nevi, 8 atypical nevi, 4 melanomas) with their lesion masks, and the
    official `||` table (or a tab-separated one) with a legend after it."""
    codes = [0] * 8 + [1] * 8 + [2] * 4
    names = [f"IMD{i:03d}" for i in range(2, 22)]
    base = root / "PH2Dataset" / "PH2 Dataset images"
    for name, code in zip(names, codes):
        pixels = _pixels(rng, code)
        _write_image(base / name / f"{name}_Dermoscopic_Image" / f"{name}.bmp", pixels)
        mask = np.zeros(pixels.shape[:2], np.uint8)
        mask[6:18, 8:24] = 255
        _write_image(base / name / f"{name}_lesion" / f"{name}_lesion.bmp", np.repeat(mask[..., None], 3, -1))
    if tab_separated:
        lines = ["Name\tHistological Diagnosis\tClinical Diagnosis"] + [
            f"{n}\t\t{c}" for n, c in zip(names, codes)
        ]
    else:
        lines = [PH2_HEADER] + [
            f"|| {n} ||                        ||                  {c} ||     0     | T | A | A "
            f"| A | A ||   3 4  ||"
            for n, c in zip(names, codes)
        ]
        lines += ["", "Legend: Clinical Diagnosis: 0 - Common Nevus; 1 - Atypical Nevus; 2 - Melanoma."]
    (root / "PH2Dataset" / "PH2_dataset.txt").write_text("\n".join(lines) + "\n")
    return {"rows": 20, "groups": []}


DERM7PT_DIAGNOSES = [
    "melanoma",
    "clark nevus",
    "basal cell carcinoma",
    "seborrheic keratosis",
    "dermatofibroma",
    "melanoma (in situ)",
    "reed or spitz nevus",
    "blue nevus",
    "lentigo",
    "vascular lesion",
]


def derm7pt(root, rng):
    """20 cases: meta.csv with mixed-case extensions as in release_v0, and the published split files."""
    n = 20
    folder = root / "release_v0"
    diagnoses = [DERM7PT_DIAGNOSES[i % len(DERM7PT_DIAGNOSES)] for i in range(n)]
    derm = [
        f"{'NEL' if i % 2 else 'Fcl'}/{'Nel' if i % 2 else 'Fcl'}{i:03d}.{'JPG' if i % 3 == 0 else 'jpg'}"
        for i in range(n)
    ]
    for path, diagnosis in zip(derm, diagnoses):
        _write_image(folder / "images" / path, _pixels(rng, len(diagnosis) % 4))
    (folder / "meta").mkdir(parents=True)
    pd.DataFrame(
        {
            "case_num": range(1, n + 1),
            "diagnosis": diagnoses,
            "seven_point_score": 0,
            "pigment_network": "absent",
            "clinic": [p.replace("Nel", "NEL") for p in derm],
            "derm": derm,
            "case_id": "",
            "notes": "",
        }
    ).to_csv(folder / "meta" / "meta.csv", index=False)
    for name, rows in (("train", range(0, 10)), ("valid", range(10, 14)), ("test", range(14, 20))):
        pd.DataFrame({"indexes": list(rows)}).to_csv(folder / "meta" / f"{name}_indexes.csv", index=False)
    return {"rows": n, "splits": {"train": 10, "validation": 4, "test": 6}, "groups": ["lesion_id"]}


ISIC_ARCHIVE_LICENCES = ("CC-0", "CC-BY", "CC-BY-NC")
ISIC_ARCHIVE_ATTRIBUTIONS = (
    "Hospital Clínic de Barcelona",
    "Memorial Sloan Kettering Cancer Center",
    "Anonymous",
)


def isic_archive(root, rng, empty_labels=False):
    """24 images of an `isic image download` folder, as isic-cli 12 writes it: `ISIC_nnnnnnn.jpg`
    beside `metadata.csv` (`isic_id, attribution, copyright_license`, then the clinical and
    acquisition fields, sorted, empty where unknown), `attribution.txt` (one attribution per
    paragraph, most images first, Anonymous last) and `licenses/<copyright_license>.txt`.
    10 patients (4 images without one), lesions of 2 images; `empty_labels`: diagnosis_1 is
    empty for 2 images. A leftover `.isic-partial.*` file of an interrupted download lies beside."""
    n = 24
    ids = [f"ISIC_{9000000 + 11 * i:07d}" for i in range(n)]
    malignant = [i % 4 == 0 for i in range(n)]
    licences = [ISIC_ARCHIVE_LICENCES[i % 3] for i in range(n)]
    attributions = [ISIC_ARCHIVE_ATTRIBUTIONS[0 if i < 12 else 1 if i < 20 else 2] for i in range(n)]
    sites = ("posterior torso", "lower extremity", "head/neck", "")
    table = pd.DataFrame(
        {
            "isic_id": ids,
            "attribution": attributions,
            "copyright_license": licences,
            "age_approx": [str(30 + 5 * (i % 9)) if i % 7 else "" for i in range(n)],
            "anatom_site_general": [sites[i % 4] for i in range(n)],
            "concomitant_biopsy": ["True" if m else "False" for m in malignant],
            "diagnosis_1": ["Malignant" if m else "Benign" for m in malignant],
            "diagnosis_2": [
                f"{'Malignant' if m else 'Benign'} melanocytic proliferations{' (Melanoma)' * m}"
                for m in malignant
            ],
            "diagnosis_3": [
                "Melanoma Invasive" if m else "Nevus" if i % 3 else "" for i, m in enumerate(malignant)
            ],
            "diagnosis_4": "",
            "diagnosis_5": "",
            "diagnosis_confirm_type": [
                "histopathology" if m else "serial imaging showing no change" for m in malignant
            ],
            "image_type": "dermoscopic",
            "lesion_id": [f"IL_{i // 2:07d}" if i < 16 else "" for i in range(n)],
            "patient_id": [f"IP_{i // 2 % 10:07d}" if i < 20 else "" for i in range(n)],
            "sex": [("female", "male", "")[i % 3] for i in range(n)],
        }
    )
    if empty_labels:
        table.loc[[5, 17], "diagnosis_1"] = ""
    table.to_csv(root / "metadata.csv", index=False)
    for image_id, m in zip(ids, malignant):
        _write_image(root / f"{image_id}.jpg", _pixels(rng, int(m)))
    (root / ".isic-partial.4242.x1y2").write_bytes(b"half a jpeg")
    (root / "attribution.txt").write_text("\n\n".join(ISIC_ARCHIVE_ATTRIBUTIONS), encoding="utf8")
    (root / "licenses").mkdir()
    for licence in ISIC_ARCHIVE_LICENCES:
        (root / "licenses" / f"{licence}.txt").write_text(f"the text of {licence}\n")
    return {"rows": n, "groups": ["patient_id", "lesion_id"]}


def add_extras(root):
    """What a shared copy of a data set holds beside its published files: a converted copy of every
    image and mask (`.png` beside a `.jpg`, `.jpg` beside a `.bmp` or a `.png`), a thumbnail of each in
    a `thumbnails/` folder beside it, and macOS's `__MACOSX/` resource forks from a zip."""
    for path in [p for p in Path(root).rglob("*") if p.suffix.lower() in (".jpg", ".bmp", ".png")]:
        pixels = cv2.imread(str(path))
        copy = path.with_suffix(".png" if path.suffix.lower() == ".jpg" else ".jpg")
        assert cv2.imwrite(str(copy), pixels)
        (path.parent / "thumbnails").mkdir(exist_ok=True)
        assert cv2.imwrite(str(path.parent / "thumbnails" / path.name), pixels[::2, ::2])
        fork = Path(root) / "__MACOSX" / path.relative_to(root).parent / f"._{path.name}"
        fork.parent.mkdir(parents=True, exist_ok=True)
        fork.write_bytes(b"resource fork")


def isic2016(root, rng):
    """Every image of ISIC 2016 part 3 (8×8 pixels), in the folders its two archives extract to; labels
    and splits come from dermnet's packaged manifest."""
    with resources.files("dermnet.data.manifests").joinpath("isic2016.csv").open() as f:
        manifest = pd.read_csv(f, dtype=str)
    for image_id, split in zip(manifest.image_id, manifest.split):
        folder = "ISBI2016_ISIC_Part3_Training_Data" if split == "train" else "ISBI2016_ISIC_Part3_Test_Data"
        _write_image(root / folder / f"{image_id}.jpg", _pixels(rng, 0, (8, 8)))
    return {"rows": len(manifest), "splits": manifest.split.value_counts().to_dict(), "groups": []}


def _mask(shape):
    mask = np.zeros(shape, np.uint8)
    mask[shape[0] // 4 : 3 * shape[0] // 4, shape[1] // 4 : 3 * shape[1] // 4] = 255
    return mask


def isic2017_task1(root, rng):
    """6 training, 2 validation and 3 test images, each with its lesion mask in the ground-truth
    archive's folder."""
    splits = {"Training": 6, "Validation": 2, "Test_v2": 3}
    start = 0
    for split, n in splits.items():
        for i in range(start, start + n):
            _write_image(root / f"ISIC-2017_{split}_Data" / f"ISIC_{i:07d}.jpg", _pixels(rng, 0))
            masks = root / f"ISIC-2017_{split}_Part1_GroundTruth"
            masks.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(masks / f"ISIC_{i:07d}_segmentation.png"), _mask((24, 32)))
        start += n
    return {"rows": 11, "splits": {"train": 6, "validation": 2, "test": 3}, "groups": []}


def isic2018_task2(root, rng):
    """4 training and 2 validation images, each with its five attribute masks (ISIC 2018 task 2)."""
    for i in range(6):
        split = "Training" if i < 4 else "Validation"
        _write_image(root / f"ISIC2018_Task1-2_{split}_Input" / f"ISIC_{i:07d}.jpg", _pixels(rng, 1))
        masks = root / f"ISIC2018_Task2_{split}_GroundTruth{'_v3' * (split == 'Training')}"
        masks.mkdir(parents=True, exist_ok=True)
        for attribute in datasets.ATTRIBUTES:
            assert cv2.imwrite(str(masks / f"ISIC_{i:07d}_attribute_{attribute}.png"), _mask((24, 32)))
    return {"rows": 6, "splits": {"train": 4, "validation": 2}, "groups": []}


WRITERS = {
    "isic2016": isic2016,
    "isic2017_task1": isic2017_task1,
    "isic2018_task2": isic2018_task2,
    "isic2018_task3": isic2018_task3,
    "isic2019": isic2019,
    "isic2020": isic2020,
    "isic2024": isic2024,
    "ph2": ph2,
    "derm7pt": derm7pt,
    "isic_archive": isic_archive,
}
# What load_dataset needs beside the folder, per data set.
LOAD_OPTIONS = {"isic_archive": {"label": "diagnosis_1"}}


def write(name, root, **options):
    """Writes the data set `name` in its published layout under `root`; returns what it holds:
    `rows`, `splits` (where published) and its grouping columns."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return WRITERS[name](root, np.random.default_rng(_RNG_SEED), **options)
