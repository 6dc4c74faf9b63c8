"""Import a Keras built-in dataset (Fashion-MNIST, MNIST, CIFAR-10) from the browser when this
machine cannot download it: the user names a server folder (or file) holding the original
files; it is checked (inside ``LAB_DATA_ROOTS``, the expected files, readable) and copied into
Keras' cache by ``core.datasets.keras_cache.import_keras_dataset``, exactly as the CLI
``python -m core import-dataset NAME SOURCE`` does."""
from __future__ import annotations

import streamlit as st

from pages import _format, _resources

FLASH = "_keras_import_done"  # session key: the last import's success message, shown once after the rerun


def markdown_with_code(text: str) -> str:
    """``text`` as Markdown whose `code spans` stay code spans and everything else shows literally
    (``_format.md_text``): core messages quote commands between backticks."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: no code spans to keep
        return _format.md_text(text)
    return "".join(f"`{p}`" if i % 2 else _format.md_text(p) for i, p in enumerate(parts))


def is_keras_dataset(name: str) -> bool:
    from core.datasets.keras_cache import KERAS_DATASETS

    return name in KERAS_DATASETS


def missing_message(name: str, title: str) -> str:
    """One Markdown message: what is missing, where Keras expects it, the two ways to import it."""
    from core.datasets.keras_cache import KERAS_DATASETS, cache_paths

    folder = cache_paths(name)[0].parent
    return (f"**{_format.md_text(title)} is not in Keras' cache** and cannot be downloaded on this machine. Import "
            f"the original files from a folder on the server below: they are checked, then copied into "
            f"{_format.md_text(folder)}. Accepted: {_format.md_text(KERAS_DATASETS[name].accepts)}. "
            f"On the server itself: `python -m core import-dataset {name} SOURCE`.")


def import_form(key: str, name: str, title: str) -> None:
    """The missing-data message and the import form of Keras dataset ``name``. A successful import
    reruns the page, which then finds the dataset ready and says so once."""
    st.warning(missing_message(name, title), icon=":material/cloud_download:")
    allowed = _resources.may("import_dataset")
    if not allowed:  # the import writes into the server's Keras cache: instructors and admins only
        st.caption(f":material/lock: {_format.md_text(allowed.reason)}")
        return
    c = st.columns([4, 1], vertical_alignment="bottom")
    source = c[0].text_input(f"Folder or file with the original files of {title}, on the server",
                             key=f"{key}_import_{name}", placeholder=f"/data/{name}",
                             help="A path the lab may read (inside LAB_DATA_ROOTS when it is set).")
    if not c[1].button("Import into Keras' cache", key=f"{key}_import_go_{name}", icon=":material/download:"):
        return
    if not source.strip():
        st.error("Type the folder (or file) that holds the original files first.", icon=":material/error:")
        return
    message = run_import(name, title, source.strip())
    if message is not None:
        st.session_state[FLASH] = message
        st.rerun()


def run_import(name: str, title: str, source: str) -> str | None:
    """Import ``source``; the success message, or None after showing why it failed."""
    from core.datasets.keras_cache import cache_paths, import_keras_dataset
    from core.files import describe_os_error
    from core.validation import LabError

    try:
        _resources.guarded_store().authorize("import_dataset", target=f"dataset:{name}")  # checked, recorded
        with st.spinner(f"Checking and copying {title}…"):
            out = import_keras_dataset(name, source)
    except LabError as err:
        st.error(f"Not imported: {_format.md_text(err)} Nothing was copied into Keras' cache.", icon=":material/error:")
        return None
    except OSError as err:
        folder = cache_paths(name)[0].parent
        st.error(f"Not imported: {_format.md_text(describe_os_error(err, folder, 'copy into'))} Files copied before "
                 "the failure may remain there.",
                 icon=":material/error:")
        return None
    _resources.cached_dataset_infos.clear()
    return f"Imported {title} into Keras' cache ({out}); it is ready."


def show_flash() -> None:
    """The last import's success message, once."""
    message = st.session_state.pop(FLASH, None)
    if message:
        st.success(_format.md_text(message), icon=":material/check:")
