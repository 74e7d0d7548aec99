"""Fixtures every test shares. Helpers and the per-model checks live in tests/harness.py."""

import os

# 100 bootstrap draws where a test names none (1000 by default): the same code, a tenth of its time,
# which was most of a small evaluation's (24 images: 23 s for an ISIC 2017 score with its intervals).
# Before dermnet is imported: `dermnet.evaluation.intervals.RESAMPLES` reads it then.
os.environ.setdefault("DERMNET_RESAMPLES", "100")
# glibc gives each thread that allocates its own arena, and TensorFlow's threads fragment them: a test worker
# held 10.5 GB resident an hour in. Two arenas, read when a process starts: the test workers (`pytest -n`),
# which this process starts, inherit it.
os.environ.setdefault("MALLOC_ARENA_MAX", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--run-large",
        action="store_true",
        help="also run the tests marked `large` (each wants the machine's memory to itself: -p no:xdist)",
    )


def pytest_collection_modifyitems(config, items):
    """`large` tests are skipped unless asked for, as keras-hub's are: beside a second CI worker on a 24 GB
    machine they met the OOM killer in four CI runs, and they would take CI past its 40 minutes."""
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="large: run with `pytest --run-large -p no:xdist -m large`")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module", autouse=True)
def release_models_between_modules():
    """After each test file, the models it built go: the harness's small builds (one per model, kept
    for the file's checks) and Keras' global state. A test process runs for an hour; without this it
    held every model the suite had built, and CI's workers met the OOM killer at 13-15 GB each."""
    yield
    import gc

    from harness import small_model

    small_model.cache_clear()
    keras.backend.clear_session()
    gc.collect()
    _give_freed_memory_back()


def _give_freed_memory_back():
    """glibc keeps what Python and TensorFlow free for later allocations; `malloc_trim` returns it to the
    system, so that a long test process holds what it uses, not the most it ever used."""
    import ctypes
    import ctypes.util

    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):  # glibc (Linux); others keep their own ways
        ctypes.CDLL(libc).malloc_trim(0)


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """The tests' image cache: never the user's, and one per test process (`pytest -n` runs several)."""
    before = os.environ.get("DERMNET_CACHE")
    os.environ["DERMNET_CACHE"] = str(tmp_path_factory.mktemp("dermnet-cache"))
    yield
    if before is None:
        del os.environ["DERMNET_CACHE"]
    else:
        os.environ["DERMNET_CACHE"] = before


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def tensorflow_only():
    if keras.config.backend() != "tensorflow":
        pytest.skip("SavedModel export and tf.data need the TensorFlow backend")
