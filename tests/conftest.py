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


# The longest tests, longest first, by their seconds in CI (stop 45's run, beside the other worker); none
# whose time is a module fixture's, which its module's other tests would then build again elsewhere.
# `pytest -n N --dist worksteal` hands each worker a contiguous share of the collection and lets an idle
# worker take the tail of another's queue: a long test collected late then ran alone at the end (the
# Zhang notebook, 6 minutes, is among the last files), and long tests collected first all queue on the
# first worker. So they are dealt round the workers, at the head of each share: they run beside each
# other from the start and the short ones fill in after them. (pytest-xdist has no order of its own by
# duration; plugins that have one read a file of durations.)
LONGEST_FIRST = (
    "tests/test_notebooks.py::test_notebook_runs_in_smoke_mode[zhang2018_sdl]",  # 367 s
    "tests/test_docs.py::test_the_blocks_of_a_page_run[docs/training.md]",  # 309 s
    "tests/test_docs.py::test_the_blocks_of_a_page_run[docs/prediction-export.md]",  # 249 s
    "tests/test_bench.py::test_every_benchmark_runs_and_reports_its_figures",  # 222 s
    "tests/test_notebooks.py::test_notebook_runs_in_smoke_mode[ray2020_ham10000]",  # 217 s
    "tests/test_docs.py::test_the_blocks_of_a_page_run[README.md]",  # 196 s
    "tests/test_docs.py::test_the_blocks_of_a_page_run[docs/evaluation.md]",  # 169 s
    "tests/test_docs.py::test_the_blocks_of_a_page_run[docs/quickstart.md]",  # 93 s
    "tests/test_notebooks.py::test_notebook_runs_in_smoke_mode[ha2020_isic2020]",  # 88 s
    "tests/test_multihost.py::test_a_killed_process_and_a_restart_of_both_resume_to_the_same_end",  # 81 s
    "tests/test_resume.py::test_a_run_killed_mid_phase_resumes_to_the_same_weights",  # 56 s on JAX
    "tests/test_notebooks.py::test_notebook_runs_in_smoke_mode[quickstart]",  # 55 s
)


def dealt_longest_first(items, workers):
    """`items` reordered so that each of the `workers` shares xdist's worksteal hands out (contiguous:
    the i-th takes len(left) // (workers - i)) starts with its turn of `LONGEST_FIRST`; the rest keep
    their order."""
    rank = {nodeid: position for position, nodeid in enumerate(LONGEST_FIRST)}
    longest = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])
    rest = [item for item in items if item.nodeid not in rank]
    ordered, left = [], len(items)
    for worker in range(workers):
        share = left // (workers - worker)
        heads = longest[worker::workers]
        ordered += heads + rest[: max(share - len(heads), 0)]
        del rest[: max(share - len(heads), 0)]
        left -= share
    return ordered + rest


def pytest_collection_modifyitems(config, items):
    """The longest tests first (`LONGEST_FIRST`). `large` tests are skipped unless asked for, as
    keras-hub's are: beside a second CI worker on a 24 GB machine they met the OOM killer in four CI
    runs, and they would take CI past its 40 minutes."""
    items[:] = dealt_longest_first(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
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
