"""Session-wide fixtures: one real Ray instance for the whole test session, data roots."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
_EXIT_STATUS = pytest.StashKey[int]()
_REAL_HOME = pytest.StashKey[tuple[Path, dict[str, float]]]()
_SESSION_ROOT = pytest.StashKey[Path]()
# HOME points into the test session's own folder, so every default cache and data root of the
# product (~/.cache/gan-mode-study/...: partitions, statistics, classifiers, data) and
# matplotlib's and Ray's user folders start empty: a test reads nothing an earlier run left on
# this machine (a stage cached under the user's home once made a test pass here and fail on a
# fresh machine). The STUDY_* variables are unset for the same reason: a test that wants one
# sets it itself.
CACHE_ENVS = ("STUDY_PARTITION_CACHE", "STUDY_STATS_CACHE", "STUDY_CLASSIFIERS_DIR",
              "STUDY_DATA_ROOT", "STUDY_STORAGE", "STUDY_INCEPTION_WEIGHTS", "MPLCONFIGDIR")
PRODUCT_CACHE = Path(".cache") / "gan-mode-study"


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(f): f.stat().st_mtime for f in folder.rglob("*") if f.is_file()} \
        if folder.is_dir() else {}


def pytest_configure(config: pytest.Config) -> None:
    """A fresh HOME and fresh cache roots for the whole session (subprocesses and Ray workers
    inherit them); the real home's product cache is remembered to check it is left alone."""
    import tempfile

    real_home = Path.home()
    config.stash[_REAL_HOME] = (real_home, _snapshot(real_home / PRODUCT_CACHE))
    root = Path(tempfile.mkdtemp(prefix="gan-mode-study-tests-"))
    config.stash[_SESSION_ROOT] = root
    os.environ["HOME"] = str(root / "home")
    (root / "home").mkdir()
    for name in CACHE_ENVS:
        os.environ.pop(name, None)
    # Ray Train's controller collects its workers' reports when it polls them, every 2 s by
    # default: a test's runs report every second or two, so the poll is the wait. Ray's
    # processes (multi-node test clusters included) inherit this.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
    # A worker group's start (new processes importing torch) took up to 138 s on this 2-core
    # machine beside the other pytest worker, past Train's default limit of 60 s: a slow start
    # is not a failure here.
    os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "180")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Two pytest workers share two cores: torch's compute in one takes one core, not both,
        # so the Ray worker's processes start in time.
        os.environ.setdefault("OMP_NUM_THREADS", "1")


RAY_MARK = "pytest.mark.ray"


@functools.cache
def ray_test_files(root: Path) -> set[str]:
    """Test files (rootdir-relative) with a test that uses Ray, marked in the file's text (read
    once per process: the scheduler, the collection check and the per-test check all ask)."""
    return {str(f.relative_to(root)) for f in (root / "tests").rglob("test_*.py")
            if RAY_MARK in f.read_text()}


def in_ray_file(config: pytest.Config, nodeid: str) -> bool:
    """Whether a test (or a scheduling scope) lives in a Ray test file."""
    return nodeid.split("::", 1)[0] in ray_test_files(Path(config.rootpath))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist (`-n 2`, as scripts/test.sh runs the suite): every Ray test file goes
    to one worker, so that a session has one Ray instance, started once; the other files run
    beside it, each file's tests together (its module fixtures are built once). Groups go out in
    collection order, where the Ray tests come first: the Ray group is the first work unit of
    its worker."""
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # not largest first: collection order

    class RayApart(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "ray" if in_ray_file(config, nodeid) else nodeid.split("::", 1)[0]

    return RayApart(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A Ray test whose file does not spell the mark (a mark set another way) would run beside
    the Ray worker's tests, with a Ray instance of its own: refused. Tests that replace the
    shared Ray with a cluster of their own run last, so the shared one starts once. The Ray
    tests come first (the suite's critical path, see pytest_xdist_make_scheduler), and among
    them those that start Ray Train worker groups (`train_group`) come after the rest: their
    process starts are the CPU-hungriest part of the Ray worker's work, and by then the other
    worker has finished its CPU-heavy files (measured in clean CI runs: the two-worker image
    PGMGAN test took 128 s beside them, 31-35 s after them)."""
    items.sort(key=lambda i: (not in_ray_file(config, i.nodeid),
                              i.get_closest_marker("own_cluster") is not None,
                              i.get_closest_marker("train_group") is not None))
    stray = [i.nodeid for i in items
             if i.get_closest_marker("ray") and not in_ray_file(config, i.nodeid)]
    if stray:
        raise pytest.UsageError(f"tests marked ray in a file that does not spell `{RAY_MARK}`: "
                                f"{stray[:3]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    real_home, before = session.config.stash[_REAL_HOME]
    after = _snapshot(real_home / PRODUCT_CACHE)
    written = sorted(f for f, t in after.items() if before.get(f) != t)
    if written:
        print(f"\nerror: tests wrote under the real home's {PRODUCT_CACHE}: {written[:5]}",
              file=sys.stderr)
        exitstatus = session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Ends a pytest process with pytest's own exit status once everything is reported, before
    the interpreter's finalisation. After ray.shutdown() the driver keeps Ray's native threads
    (gRPC, GCS client, worker I/O) running, and finalising the interpreter under them segfaulted
    once in CI after every test had passed (exit 139). Only a process that pytest itself runs
    is ended so: pytest.main() called from another program returns as usual."""
    # The session's HOME (statistics caches: about 230 MB a session) goes with the session.
    if _SESSION_ROOT in config.stash:
        shutil.rmtree(config.stash[_SESSION_ROOT], ignore_errors=True)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    runs_pytest = (spec is not None and spec.name in ("pytest", "pytest.__main__")) or \
        Path(sys.argv[0]).name in ("pytest", "py.test")
    if runs_pytest and _EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT_STATUS])


def _ray_up() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


@pytest.fixture(autouse=True)
def _ray_only_in_ray_files(request: pytest.FixtureRequest):
    """A test in a file without the ray mark that starts or joins Ray (a TorchTrainer built
    joins the machine's running cluster) would share the other worker's Ray: it fails."""
    before = _ray_up()
    yield
    if not before and _ray_up():
        if not in_ray_file(request.config, request.node.nodeid):
            pytest.fail(f"{request.node.nodeid} started or joined Ray: mark it "
                        f"`@{RAY_MARK}` (it then runs in the Ray worker)")


@pytest.fixture(autouse=True)
def _tracking_uri_per_test():
    """Each test starts with no MLflow tracking URI: `mlflow.set_tracking_uri` also sets
    $MLFLOW_TRACKING_URI for subprocesses, and a URI one test set once reached the next test's
    `study resume`, which (rightly) took it as the store in use and refused it."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Offline data copies: $STUDY_TEST_DATA_ROOT, else ../shared/datasets beside the repo."""
    root = Path(os.environ.get("STUDY_TEST_DATA_ROOT", REPO.parent / "shared" / "datasets"))
    if not root.is_dir():
        pytest.fail(f"offline data sets not found at {root}: set STUDY_TEST_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def _ray_session():
    """Stops the test session's local Ray at the end (whoever started it last)."""
    yield
    import ray

    ray.shutdown()


@pytest.fixture
def ray_cluster(_ray_session):
    """A real local Ray shared by the tests: started once, again only after a test that needed
    a cluster of its own (multi-node) shut it down. Subprocess drivers join it by address."""
    from tests.study.helpers import session_ray

    return session_ray()
