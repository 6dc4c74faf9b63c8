"""Moving runs between labs: export a run as a bundle, and import a bundle into a store.

    from core.serving.bundle import export_bundle, import_bundle
    export_bundle(store, 12, "run_12.zip")        # a zip (files under run_12/), or a folder
    res = import_bundle(other_store, "run_12.zip")  # -> ImportResult(run_id=3, ...)

A bundle holds run.json (the run's fields), config.json, params.json, summary.json,
metrics.csv (the metric history), the run's registered files (model, meta, predictions, split,
evaluation, ...) and manifest.json (format and version, the store's schema revision, the lab
version, where it came from, each file's kind, size and SHA-256). These member names and the
manifest are the bundle format: they are defined once, below.

The run gets a new id in the receiving store; its parent (a search or a group of the other
lab) is dropped, and where it came from is kept in the tags ``imported_from`` (the source
lab's host and database, the original run id), ``imported_parent`` and ``imported_at`` (when it was
imported, ISO 8601 UTC; the run keeps the original's ``created_at``). Config, params,
summary, metric history, tags, notes and the run's files (model, meta, predictions, split,
evaluation, history, calibration) are restored; the files are copied into the new run's folder.

Refused, with a message saying what is wrong and what is accepted (``BundleError``), and with
nothing left behind (no run row, no files): a file that is not a zip or fails its CRC or
SHA-256 check, an entry outside the bundle's folder (``../``, absolute paths, links), an
absurd uncompressed size or compression ratio, a missing ``run.json``/``config.json``, a
manifest of an unknown format or newer version or from a store at a schema revision this lab
does not know, a run that has not finished, and a model that only loads with Keras' safe_mode
off (a Lambda layer: code that would run on loading). Bundles without ``manifest.json`` (made
by the export before it had one) are accepted when otherwise valid.

No streamlit here; TensorFlow is imported only to check a bundle's model.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import stat
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import sqlalchemy as sa

from core import __version__
from core.files import OutputError, atomic_write, describe_os_error, dumps, file_sha256
from core.store.artifacts import RESULT_KINDS, file_name, kind_of_name
from core.store.engine import current_revision
from core.store.records import HOST, RunDetail, utcnow
from core.store.schema import FINAL_STATUSES
from core.validation import LabError, ValidationError

# the bundle format: the manifest's format name and version, and the bundle's own files
BUNDLE_FORMAT = "lab-run-bundle"
BUNDLE_FORMAT_VERSION = 1
RUN_JSON = "run.json"  # the run's fields (name, kind, status, dataset, times, tags, notes, ...)
CONFIG_JSON = "config.json"
PARAMS_JSON = "params.json"
SUMMARY_JSON = "summary.json"  # the summary metrics
METRICS_CSV = "metrics.csv"  # the metric history: key, step, value, time (ISO 8601)
MANIFEST_JSON = "manifest.json"
METADATA_FILES = (MANIFEST_JSON, RUN_JSON, CONFIG_JSON, PARAMS_JSON, SUMMARY_JSON, METRICS_CSV)
ACCEPTED_FORMAT_VERSIONS = (1,)  # manifest.json "format_version"s this lab imports (and none: the earlier export)
MAX_BUNDLE_BYTES = 2 << 30  # uncompressed, all files together (a 224-px backbone run is a few hundred MB)
MAX_ENTRIES = 200
MAX_RATIO = 200  # uncompressed / compressed size of one entry above 1 MiB: a zip bomb, not a run
MAX_METADATA_BYTES = 256 << 20  # run.json, config.json, metrics.csv, ...
WHAT_IS_ACCEPTED = ("A run bundle is the zip made by 'Download run bundle (zip)' on a run's page or by "
                    "`python -m core runs export ID --out BUNDLE.zip`: one folder with run.json, config.json, "
                    "the run's metrics and files, and manifest.json.")


class BundleError(ValidationError):
    """A run bundle that cannot be imported (damaged, unsafe, or from an incompatible lab)."""


@dataclass
class ImportResult:
    run_id: int
    name: str
    original_id: int | None
    source: str
    files: list[str] = field(default_factory=list)
    bytes: int = 0  # the bundle's size
    seconds: float = 0.0
    model_checked: bool = False
    manifest: bool = True  # False: a bundle of the earlier export, without manifest.json

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class _Bundle:
    """What was read from a bundle before anything is written."""

    prefix: str
    manifest: dict | None
    run: dict
    params: dict
    summary: dict
    metrics: list[dict]
    files: dict[str, zipfile.ZipInfo]  # the run's own files (name -> entry)


def import_bundle(store, source: str | Path | IO[bytes], *, name: str | None = None,
                  max_bytes: int = MAX_BUNDLE_BYTES, actor: Any = None) -> ImportResult:
    """Import the run bundle ``source`` (a path, or an open binary file such as an upload, then
    ``name`` is its file name for messages) into ``store``. ``BundleError`` when it is refused;
    nothing is written then. ``actor`` (a ``core.auth.policy.Actor``; None: the local user) needs
    the right ``import_bundle`` (``Denied`` before the bundle is read, audited) and owns the new run."""
    t0 = time.perf_counter()
    label = name or (Path(source).name if isinstance(source, (str, Path)) else getattr(source, "name", "the upload"))
    target = store
    if actor is not None:  # refused before the bundle is read; an import is recorded once it is done
        from core.auth.guard import guarded

        target = guarded(store, actor)
        if not target.can("import_bundle"):
            target.authorize("import_bundle", target=f"bundle:{label}")  # Denied, written to the audit log
    size = _size_of(source, label)
    with _open_zip(source, label) as zf:
        b = _read_bundle(zf, label, max_bytes)
        staging = Path(store.models_dir) / f".import-{uuid.uuid4().hex}"
        try:
            _extract(zf, b, staging, label)
            checked = _check_model(staging, label)
            original = b.run.get("id")
            src = _source(b, label)
            tags = _import_tags(b.run.get("tags"), original, b.run.get("parent_id"), src)
            artifacts = {n: _kind_of(n, b.manifest) for n in b.files}
            try:
                rid = target.restore_run(b.run, params=b.params, summary=b.summary, metrics=b.metrics, tags=tags,
                                        artifacts=artifacts, files_dir=staging)
            except (ValueError, TypeError) as err:  # a value the store refuses (a name too long, a bad key...)
                raise BundleError(f"{label} was refused: {err} Nothing was imported.") from None
            except OSError as exc:  # the run's folder could not be made (rolled back)
                raise _import_write_error(exc, staging.parent) from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return ImportResult(run_id=rid, name=store.get_run(rid).name, original_id=_int_or_none(original), source=src,
                        files=sorted(b.files), bytes=size, seconds=time.perf_counter() - t0, model_checked=checked,
                        manifest=b.manifest is not None)


# ---------------------------------------------------------------- the zip itself
def _size_of(source, label: str) -> int:
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise BundleError(f"{label}: no such file. {WHAT_IS_ACCEPTED}")
        return p.stat().st_size
    try:
        pos = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(pos)
        return int(end)
    except (OSError, AttributeError):
        return 0


def _open_zip(source, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise BundleError(f"{label} is not a zip archive (damaged, truncated, or another kind of file). "
                          f"{WHAT_IS_ACCEPTED}") from None
    except (zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError) as exc:
        raise BundleError(f"{label} cannot be read as a zip archive: {exc}. {WHAT_IS_ACCEPTED}") from None


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is unsafe or not one of a bundle's (None: fine)."""
    n = info.filename
    parts = PurePosixPath(n.rstrip("/")).parts
    if n.startswith(("/", "\\")) or "\\" in n or (len(n) > 1 and n[1] == ":"):
        return "an absolute or Windows path"
    if any(p in ("..", ".", "") for p in n.rstrip("/").split("/")):
        return "a path that leaves the bundle's folder ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if info.flag_bits & 0x1:
        return "an encrypted file"
    if len(parts) > 2:
        return "a sub-folder (a bundle holds one folder of files)"
    return None


def _layout(zf: zipfile.ZipFile, label: str, max_bytes: int) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """The bundle's folder prefix (``run_12/``, or "" for files at the top) and its files by name."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise BundleError(f"{label} holds {len(infos):,} entries; a run bundle has a few dozen at most "
                          f"(the limit is {MAX_ENTRIES}).")
    for info in infos:
        why = _entry_problem(info)
        if why:
            raise BundleError(f"{label} was refused: the entry {info.filename!r} is {why}. {WHAT_IS_ACCEPTED}")
    files = [i for i in infos if not i.is_dir()]
    tops = {PurePosixPath(i.filename).parts[0] if len(PurePosixPath(i.filename).parts) == 2 else "" for i in files}
    if len(tops) != 1:
        raise BundleError(f"{label} was refused: its files are not in one folder (found "
                          f"{', '.join(sorted(repr(t or '/') for t in tops)) or 'no files'}). {WHAT_IS_ACCEPTED}")
    prefix = tops.pop()
    by_name = {PurePosixPath(i.filename).name: i for i in files}
    if len(by_name) != len(files):
        raise BundleError(f"{label} was refused: it holds the same file name twice.")
    _check_sizes(files, label, max_bytes)
    return (prefix + "/" if prefix else ""), by_name


def _check_sizes(files: list[zipfile.ZipInfo], label: str, max_bytes: int) -> None:
    total = sum(i.file_size for i in files)
    if total > max_bytes:
        raise BundleError(f"{label} was refused: it would unpack to {_gb(total)}, more than the {_gb(max_bytes)} "
                          "a run bundle may hold (damaged, or not a run bundle).")
    for i in files:
        if i.file_size > (1 << 20) and i.file_size > MAX_RATIO * max(1, i.compress_size):
            ratio = i.file_size / max(1, i.compress_size)
            raise BundleError(f"{label} was refused: {i.filename!r} would unpack {ratio:,.0f} times larger than it is "
                              f"stored (more than {MAX_RATIO}x): a zip bomb, not a run's file.")


def _gb(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= (1 << 30) else f"{n / (1 << 20):.1f} MiB"


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> bytes:
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise BundleError(f"{label} is damaged: {info.filename!r} cannot be read ({exc}). "
                          "Export the run again.") from None


# ---------------------------------------------------------------- what the bundle says
def _read_bundle(zf: zipfile.ZipFile, label: str, max_bytes: int) -> _Bundle:
    prefix, by_name = _layout(zf, label, max_bytes)
    for required in (RUN_JSON, CONFIG_JSON):
        if required not in by_name:
            raise BundleError(f"{label} was refused: {required} is missing. {WHAT_IS_ACCEPTED}")
    too_big = [n for n in METADATA_FILES if n in by_name and by_name[n].file_size > MAX_METADATA_BYTES]
    if too_big:
        raise BundleError(f"{label} was refused: {too_big[0]} is larger than {_gb(MAX_METADATA_BYTES)}.")
    raw = {n: _read(zf, by_name[n], label) for n in METADATA_FILES if n in by_name}
    manifest = _json(raw, MANIFEST_JSON, label) if MANIFEST_JSON in raw else None
    if manifest is not None:
        _check_manifest(manifest, label)
        _check_listed(manifest, by_name, label)
        _check_digests(manifest, {n: raw[n] for n in raw if n != MANIFEST_JSON}, label)
    run = _json(raw, RUN_JSON, label)
    run["config"] = _json(raw, CONFIG_JSON, label)
    params = _json(raw, PARAMS_JSON, label) if PARAMS_JSON in raw else {}
    summary = _json(raw, SUMMARY_JSON, label) if SUMMARY_JSON in raw else {}
    metrics = _metrics(raw.get(METRICS_CSV, b""), label)
    if run.get("status") not in FINAL_STATUSES:
        raise BundleError(f"{label} was refused: its run has status {run.get('status')!r}; only a finished run "
                          f"({', '.join(FINAL_STATUSES[:-1])} or {FINAL_STATUSES[-1]}) can be imported.")
    files = {n: i for n, i in by_name.items() if n not in METADATA_FILES}
    return _Bundle(prefix=prefix, manifest=manifest, run=run, params=params, summary=summary, metrics=metrics,
                   files=files)


def _json(raw: dict[str, bytes], name: str, label: str) -> dict:
    try:
        value = json.loads(raw[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{label} was refused: {name} is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise BundleError(f"{label} was refused: {name} must hold a JSON object, not {type(value).__name__}.")
    return value


def known_revisions() -> list[str]:
    """The store schema revisions this lab knows (its Alembic scripts)."""
    from alembic.script import ScriptDirectory

    from core.store.engine import alembic_config

    return sorted(r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def _check_manifest(m: dict, label: str) -> None:
    accepted = (f"this lab imports bundle format {', '.join(map(str, ACCEPTED_FORMAT_VERSIONS))} "
                "(and bundles without manifest.json from the earlier export)")
    if m.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{label} was refused: its manifest.json describes {m.get('format')!r}, not a run bundle "
                          f"({BUNDLE_FORMAT!r}); {accepted}.")
    version = m.get("format_version")
    if version not in ACCEPTED_FORMAT_VERSIONS:
        newer = isinstance(version, int) and version > BUNDLE_FORMAT_VERSION
        raise BundleError(f"{label} was refused: it is a run bundle of format version {version!r}"
                          f"{' (made by a newer lab' + _lab(m) + ')' if newer else ''}; {accepted}. "
                          f"{'Upgrade this lab to import it.' if newer else ''}".rstrip())
    rev, known = m.get("schema_revision"), known_revisions()
    if rev is not None and rev not in known:
        raise BundleError(f"{label} was refused: it comes from a run store at schema revision {rev!r}{_lab(m)}, which "
                          f"this lab does not know (known: {', '.join(known)}). Upgrade this lab to import it.")


def _lab(m: dict) -> str:
    return f", lab version {m['lab_version']}" if m.get("lab_version") else ""


def _check_listed(m: dict, by_name: dict[str, zipfile.ZipInfo], label: str) -> None:
    """The bundle holds exactly the files its manifest lists (else it was changed or cut short)."""
    listed = m.get("files")
    if not isinstance(listed, dict):
        raise BundleError(f"{label} was refused: manifest.json's 'files' must be an object.")
    missing = sorted(set(listed) - set(by_name))
    extra = sorted(set(by_name) - set(listed) - {MANIFEST_JSON})
    if missing:
        raise BundleError(f"{label} is damaged: {', '.join(missing)} listed in manifest.json "
                          f"{'is' if len(missing) == 1 else 'are'} missing. Export the run again.")
    if extra:
        raise BundleError(f"{label} was refused: {', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not listed "
                          "in manifest.json (the bundle was changed after it was exported).")


def _check_digests(m: dict, raw: dict[str, bytes], label: str) -> None:
    listed = m.get("files") or {}
    for name, data in raw.items():
        want = (listed.get(name) or {}).get("sha256")
        if want and hashlib.sha256(data).hexdigest() != want:
            raise BundleError(f"{label} is damaged: {name} does not match the SHA-256 in manifest.json. "
                              "Export the run again.")


def _metrics(data: bytes, label: str) -> list[dict]:
    """metrics.csv (key, step, value, time as ISO 8601) -> rows for the store."""
    if not data.strip():
        return []
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", errors="replace")))
    if reader.fieldnames is None or not {"key", "step", "value", "time"} <= set(reader.fieldnames):
        raise BundleError(f"{label} was refused: metrics.csv must have the columns key, step, value, time "
                          f"(found {reader.fieldnames}).")
    rows = []
    for n, r in enumerate(reader, start=2):
        try:
            rows.append({"key": r["key"], "step": int(r["step"]),
                         "value": float(r["value"]) if r["value"] not in ("", None) else None,
                         "time": datetime.fromisoformat(r["time"]).timestamp()})
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{label} was refused: line {n} of metrics.csv cannot be read ({exc}).") from None
    return rows


# ---------------------------------------------------------------- files, model, tags
def _import_write_error(exc: OSError, models_dir: Path) -> OutputError:
    """The one-line message of an import that could not write the run's files (nothing was imported)."""
    return OutputError(f"{describe_os_error(exc, models_dir, 'write the imported run to the models folder')} "
                       "Nothing was imported.")


def _extract(zf: zipfile.ZipFile, b: _Bundle, staging: Path, label: str) -> None:
    """Copy the run's files into ``staging`` (checked against the CRC and the manifest's SHA-256)."""
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise _import_write_error(exc, staging.parent) from exc
    listed = (b.manifest or {}).get("files") or {}
    for name, info in b.files.items():
        h = hashlib.sha256()
        try:
            with zf.open(info) as src, open(staging / name, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    h.update(block)
                    dst.write(block)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise BundleError(f"{label} is damaged: {info.filename!r} cannot be read ({exc}). "
                              "Export the run again.") from None
        except OSError as exc:  # a full disk, a file-size limit, no permission: name the models folder
            raise _import_write_error(exc, staging.parent) from exc
        want = (listed.get(name) or {}).get("sha256")
        if want and h.hexdigest() != want:
            raise BundleError(f"{label} is damaged: {name} does not match the SHA-256 in manifest.json.")


def _check_model(staging: Path, label: str) -> bool:
    """Load the bundle's model with Keras' safe_mode on (refused: a model that runs code on loading)."""
    path = staging / file_name("model")
    if not path.is_file():
        return False
    from core.serving.trained_model import load_keras_model

    try:
        load_keras_model(path)
    except LabError as err:
        raise BundleError(f"{label} was refused: its model cannot be loaded safely. {err}") from None
    return True


def _kind_of(name: str, manifest: dict | None) -> str:
    """A bundled file's kind: as its manifest says, else a run result's kind by its name, else its stem."""
    for a in (manifest or {}).get("artifacts") or []:
        if isinstance(a, dict) and a.get("file") == name and isinstance(a.get("kind"), str):
            return a["kind"]
    kind = kind_of_name(name, default="")
    return kind if kind in RESULT_KINDS else (PurePosixPath(name).stem or "file")


def _source(b: _Bundle, label: str) -> str:
    src = ((b.manifest or {}).get("source") or {}).get("store")
    return str(src) if src else f"{label} (a bundle without manifest)"


def _import_tags(tags: Any, original: Any, parent: Any, source: str) -> dict[str, str]:
    out = {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()} if isinstance(tags, dict) else {}
    where = f"run {original} of {source}" if original is not None else source
    if out.get("imported_from"):  # imported before: keep the chain, newest first
        where += f"; before: {out['imported_from']}"
    out["imported_from"] = where[:500]
    out["imported_at"] = utcnow().isoformat(timespec="seconds")  # created_at stays the original's
    if parent is not None:
        out["imported_parent"] = str(parent)[:500]
    return out


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- export
def export_bundle(store, run_id: int, dest: str | Path, *, actor: Any = None, action: str = "download_bundle") -> Path:
    """Write the bundle of run ``run_id`` of ``store``: config.json, run.json, params.json, summary.json,
    metrics.csv, the run's registered files (model, predictions, split, evaluation, ...) and manifest.json
    (bundle format version, the store's schema revision, the lab version, a SHA-256 per file) to a
    folder, or to a zip (files under ``run_<id>/``, written atomically) when ``dest`` ends with
    ``.zip``. ``import_bundle`` reads such a zip in another lab. Returns the path written.
    ``actor`` (a ``core.auth.policy.Actor``; None: the local user) needs the right ``action``
    (``download_bundle`` for a download, ``export`` for ``runs export``) on the run: ``Denied``
    otherwise, audited, and a run they may not see is missing (NotFoundError)."""
    if actor is not None:
        from core.auth.guard import guarded

        guarded(store, actor).authorize(action, run_id)
    detail = store.get_run(run_id)
    dest = Path(dest)
    files = _metadata_files(store, detail)
    copies = _run_files(detail)
    files[MANIFEST_JSON] = dumps(_manifest(store, detail, files, copies)).encode()
    try:
        if dest.suffix.lower() == ".zip":
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(dest, lambda tmp: _write_zip(tmp, f"run_{detail.id}", files, copies))
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (dest / name).write_bytes(data)
        for name, (_, path) in copies.items():
            shutil.copy2(path, dest / name)
    except OSError as exc:  # a full disk, a file-size limit, no permission: name the bundle asked for
        raise OutputError(describe_os_error(exc, dest, "write the run bundle")) from exc
    return dest


def source_label(store) -> str:
    """Which lab a bundle came from, without secrets: host name and database name."""
    try:
        db = sa.make_url(store.url).database or ""
    except Exception:  # noqa: BLE001
        db = ""
    return f"{HOST}:{Path(db).name if store.dialect == 'sqlite' else db}"


def _metadata_files(store, detail: RunDetail) -> dict[str, bytes]:
    """The bundle's own files of a run (JSON by the lab's one rule: NaN and infinities are null)."""
    history = store.get_metric_history(detail.id)
    history = history.assign(time=history["time"].map(lambda t: t.isoformat()))
    run_info = {k: v for k, v in detail.to_dict().items()
                if k not in ("config", "params", "summary", "artifacts", "metric_keys")}
    return {
        CONFIG_JSON: dumps(detail.config).encode(),
        RUN_JSON: dumps(run_info).encode(),
        PARAMS_JSON: dumps(detail.params).encode(),
        SUMMARY_JSON: dumps(detail.summary).encode(),
        METRICS_CSV: history.to_csv(index=False).encode(),
    }


def _run_files(detail: RunDetail) -> dict[str, tuple[str, Path]]:
    """The run's registered files that exist, by file name (the first registered of a name): (kind, path)."""
    copies: dict[str, tuple[str, Path]] = {}
    for art in detail.artifacts:
        if art.path.is_file() and art.path.name not in METADATA_FILES:
            copies.setdefault(art.path.name, (art.kind, art.path))
    return copies


def _manifest(store, detail: RunDetail, files: dict[str, bytes], copies: dict[str, tuple[str, Path]]) -> dict:
    digests = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
               for name, data in files.items()}
    for name, (_, path) in copies.items():
        digests[name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    return {
        "format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, "lab_version": __version__,
        "schema_revision": current_revision(store.engine), "exported_at": utcnow().isoformat(),
        "source": {"store": source_label(store), "run_id": detail.id},
        "artifacts": [{"kind": kind, "file": name} for name, (kind, _) in copies.items()],
        "files": digests,
    }


def _write_zip(path: Path, folder: str, files: dict[str, bytes], copies: dict[str, tuple[str, Path]]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{folder}/{name}", data)
        for name, (_, path_) in copies.items():
            zf.write(path_, f"{folder}/{name}")
