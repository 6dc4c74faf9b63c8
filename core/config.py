"""Settings from the environment, with defaults relative to the project root.

Read on every call (cheap), so tests and the CLI can change the environment.

LAB_DATABASE_URL  SQLAlchemy URL of the run store (default sqlite:///<root>/runs.db)
LAB_MODELS_DIR    folder of run artifacts (default <root>/trained_models)
LAB_DATA_DIR      default folder holding user datasets (default <root>/data)
LAB_DATA_ROOTS    os.pathsep-separated folders the lab may read datasets from; when set,
                  a dataset path outside all of them is refused (deployed labs). Symbolic
                  links are resolved first: a file or folder inside a root that links to
                  somewhere outside is refused too (core.datasets.common.check_inside_roots)
LAB_HAM10000_DIR  a HAM10000 folder offered by default on the pages
LAB_FUNDUS_DIR    a fundus folder offered by default on the pages
LAB_SHARED_DATASETS  (tests/benchmarks only) the ../shared/datasets folder
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    project_root: Path
    database_url: str
    models_dir: Path
    data_dir: Path
    data_roots: tuple[Path, ...]
    ham10000_dir: Path | None
    fundus_dir: Path | None


def _opt_path(var: str) -> Path | None:
    v = os.environ.get(var, "").strip()
    return Path(v).expanduser() if v else None


def get_settings() -> Settings:
    root = PROJECT_ROOT
    models = _opt_path("LAB_MODELS_DIR") or root / "trained_models"
    db = os.environ.get("LAB_DATABASE_URL", "").strip() or f"sqlite:///{root / 'runs.db'}"
    roots_env = os.environ.get("LAB_DATA_ROOTS", "").strip()
    roots = tuple(Path(p).expanduser().resolve() for p in roots_env.split(os.pathsep) if p.strip())
    return Settings(
        project_root=root,
        database_url=db,
        models_dir=models,
        data_dir=_opt_path("LAB_DATA_DIR") or root / "data",
        data_roots=roots,
        ham10000_dir=_opt_path("LAB_HAM10000_DIR"),
        fundus_dir=_opt_path("LAB_FUNDUS_DIR"),
    )
