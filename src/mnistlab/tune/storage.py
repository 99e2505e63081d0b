"""Where a study lives: Optuna's storages, opened with one-sentence errors.

- no URL: `sqlite:///STUDY_DIR/study.db`, nothing to set up;
- an RDB URL (`sqlite:///...`, `postgresql://...`, `mysql://...`): Optuna's `RDBStorage`, with
  a heartbeat, so a trial whose process died on any machine is failed once its heartbeat is
  stale (`GRACE_SECONDS`);
- `journal:PATH`: Optuna's `JournalStorage` on a file, for a shared filesystem without a database.

Processes pointed at one storage share the study with no coordinator: Optuna hands each
`ask` a new trial number. A trial killed on this host (SIGKILL) is failed as soon as any
process opens the study here (`fail_dead_trials`): the process it recorded is gone.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from mnistlab.errors import MnistlabError, UsageError
from mnistlab.reproduce.claims import is_stale, read_claim

DB_FILE = "study.db"
JOURNAL = "journal:"
HEARTBEAT_SECONDS = 20
GRACE_SECONDS = 120
EXTRA = "pip install 'mnistlab[tune]'"


def import_optuna() -> ModuleType:
    """Optuna, quiet (mnistlab prints its own lines); a UsageError naming the extra without it."""
    try:
        import optuna
    except ModuleNotFoundError:
        raise UsageError(f"`mnistlab tune` needs Optuna, in the tune extra: {EXTRA}.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage_url(url: str | None, study_dir: Path) -> str:
    """The URL the study uses: `url`, or the SQLite file in the study's folder."""
    return url if url else f"sqlite:///{study_dir.resolve() / DB_FILE}"


# What two processes creating Optuna's tables in one new database at once see: the later
# one is told the tables (or the schema version) exist; it then opens them as they are.
_CREATION_RACE = ("already exists", "UNIQUE constraint failed", "duplicate key", "database is locked")


def open_storage(url: str, attempts: int = 5) -> Any:
    """Optuna's storage for `url`; an unreachable one is a MnistlabError (exit 1).

    Opening creates Optuna's tables in a new database (the SQLite file too), so callers check
    the space and the data first. Several processes may open one new database at once.
    """
    for attempt in range(attempts):
        try:
            return _open(url)
        except Exception as exc:  # sqlalchemy's, a missing driver, a bad URL: all one sentence
            if attempt + 1 < attempts and any(s in str(exc) for s in _CREATION_RACE):
                time.sleep(0.1 + random.random() * 0.4)
                continue
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MnistlabError(f"Cannot open the study storage {url}: {reason}.") from None
    raise AssertionError("unreachable")


def _open(url: str) -> Any:
    optuna = import_optuna()
    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len(JOURNAL) :])
        if not path.parent.is_dir():
            raise OSError(f"no folder {path.parent}")
        return JournalStorage(JournalFileBackend(str(path)))
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}  # several processes wait for the file's lock
    return optuna.storages.RDBStorage(
        url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS
    )


def fail_dead_trials(study: Any, optuna: ModuleType) -> list[int]:
    """Mark FAIL every running trial of this host whose process is gone; returns their numbers.

    A trial records its host and pid first thing; its run folder's claim adds the process's
    start time, so a pid used again by a new process is not taken for the trial's. A trial of
    another machine is left to the storage's heartbeat.
    """
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = trial.user_attrs
        claim = read_claim(Path(attrs["run_dir"])) if "run_dir" in attrs else None
        owner = {
            "host": attrs.get("host"),
            "pid": attrs.get("pid"),
            "process_start": (claim or {}).get("process_start"),
        }
        if is_stale(owner):
            try:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                failed.append(trial.number)
            except (ValueError, RuntimeError):  # another process failed it first
                pass
    return failed


def load_study(study_dir: Path, url: str | None, name: str | None) -> Any:
    """The study `name` (or the storage's only one, or the one named like `study_dir`) in the
    storage at `url` (default: STUDY_DIR/study.db), for a report."""
    optuna = import_optuna()
    if url is None and not (study_dir / DB_FILE).is_file():
        raise UsageError(
            f"{study_dir} holds no {DB_FILE}; pass the study folder, or --storage URL for another storage."
        )
    storage = open_storage(storage_url(url, study_dir))
    names = optuna.study.get_all_study_names(storage)
    name = name or (names[0] if len(names) == 1 else study_dir.name)
    if name not in names:
        raise UsageError(f"The storage holds no study {name!r}; it holds: {', '.join(names) or 'none'}.")
    return optuna.load_study(study_name=name, storage=storage)
