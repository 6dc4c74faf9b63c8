"""Model cards: what a succeeded run's model is and is not, for a colleague, offline.

:func:`collect` gathers a run's stored facts — meta.json (model, preprocessing, domain, training
times), its config, split.json, evaluation.json (metrics with bootstrap intervals, per class,
confusion, calibration), the slices of its test split (``core.analysis.slices``; skipped with a note when
they cannot be computed) and a few Grad-CAM examples of right and wrong test predictions
(``core.analysis.cells.cam_overlays``; skipped with a note without a model or images). :func:`render_html`
turns that into one self-contained HTML page — inline CSS, tables, the confusion matrix as a shaded
table, the examples as base64 PNGs; no script, no link, nothing fetched — and :func:`render_markdown`
into Markdown (the same text and tables; the images only in the HTML). Intended use, the
research-use notice (lesion and fundus models) and the known limitations are derived from the
card's facts at render time, so a card for a lesion model always carries the notice.

``python -m core model-card RUN --out card.html [--markdown card.md]`` writes them (exit 2 for an
unknown run or one that has not succeeded); the command is core.cli.analysis.
"""
from __future__ import annotations

import base64
import html
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.paired import DEFAULT_MAX_FILES, load_run_predictions, read_json_or_empty
from core.analysis.verdicts import LOW_PRECISION, one_class_verdict, sensitivity_shortfalls, shortfalls_text
from core.metrics.bootstrap import INTERVAL_RESAMPLES
from core.store.artifacts import RunFolder, file_name
from core.validation import LabError, NotFoundError, ValidationError

__all__ = [
    "RESEARCH_NOTICE",
    "collect",
    "render_html",
    "render_markdown",
    "model_card",
    "write_model_card",
    "intended_use",
    "limitations",
]

RESEARCH_NOTICE = "Research use only — not a diagnosis. This model has not been validated for clinical use."
DOMAIN_MODELS = ("lesion", "fundus")
HEADLINE = (("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"), ("macro_f1", "Macro F1"),
            ("macro_auc", "Macro AUC (one-vs-rest)"), ("kappa_quadratic", "Quadratic weighted kappa"))
PER_CLASS_COLUMNS = ("support", "precision", "sensitivity", "specificity", "f1", "auc", "ap")
SMALL_TEST = 500      # fewer test images: intervals are wide
SMALL_CLASS = 30      # fewer test images of a class: its sensitivity says little


# --------------------------------------------------------------------------------------
# collecting a run's facts
# --------------------------------------------------------------------------------------
def collect(run, folder: RunFolder | str | Path | None = None, *, store=None, examples: int = 2, slices: bool = True,
            slices_bootstrap: int = INTERVAL_RESAMPLES, max_files: int = DEFAULT_MAX_FILES) -> dict[str, Any]:
    """The facts of a succeeded run's model card (JSON-serialisable but for nothing: plain dicts,
    lists, numbers and base64 text). ``examples`` right and as many wrong test images get a Grad-CAM
    overlay (0: none); ``slices=False`` skips the slices."""
    status = getattr(run, "status", None)
    created = getattr(run, "created_at", None)
    if status is not None and status != "succeeded":
        raise ValidationError(f"Run {getattr(run, 'id', '?')} has status {status}: a model card needs a succeeded "
                              "run (one with a saved model and an evaluation on its test split).")
    rp = load_run_predictions(run, folder, store=store)
    ev = read_json_or_empty(rp.files, "evaluation")
    if not ev.get("summary"):
        raise NotFoundError(f"{rp.label} has no {file_name('evaluation')} in {str(rp.folder)!r}: nothing to report.")
    card = {
        "run": {"id": rp.run_id, "name": rp.name, "status": status, "dataset": getattr(run, "dataset", None),
                "model": getattr(run, "model", None), "seed": getattr(run, "seed", None),
                "created": created.strftime("%Y-%m-%d %H:%M %Z").strip() if hasattr(created, "strftime")
                else str(created or ""), "notes": getattr(run, "notes", None) or ""},
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "meta": {k: v for k, v in rp.meta.items() if k not in ("config", "test_summary")},
        "config": {**(rp.meta.get("config") or {}), **rp.config}, "class_names": rp.class_names, "evaluation": ev,
        "split": _split_facts(rp), "notes": [],
    }
    card["slices"] = _slices_summary(run, rp, store, slices_bootstrap, max_files) if slices else \
        {"skipped": "slices were not computed for this card"}
    card["examples"] = _examples(rp, examples) if examples else {"items": [], "note": "no examples asked for"}
    return card


def _split_facts(rp) -> dict[str, Any]:
    """Sizes per class of train / val / test and how the split was made (split.json, the dataset's
    labels when it can be reloaded, else the test split alone from the predictions)."""
    split = read_json_or_empty(rp.files, "split")
    names = rp.class_names
    test = np.bincount(rp.pred["y_true"].to_numpy(dtype=np.int64), minlength=len(names)).tolist()
    out = {"strategy": split.get("strategy"), "grouped_by": split.get("grouped_by"), "seed": split.get("seed"),
           "val_ratio": split.get("val_ratio"), "test_ratio": split.get("test_ratio"),
           "counts": {"test": test}, "note": None}
    spec = rp.config.get("dataset") or rp.meta.get("dataset") or {}
    if not split.get("train") or not spec.get("name"):
        out["note"] = "train and validation sizes per class are not known (no split.json or dataset recorded)"
        return out
    try:
        from core.datasets import load_dataset

        ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
        for part in ("train", "val"):
            lab = ds.labels[ds.index_of(split.get(part) or [])]
            out["counts"][part] = np.bincount(lab, minlength=len(names)).tolist()
    except (LabError, OSError, ValueError) as e:
        out["counts"].update({p: None for p in ("train", "val")})
        out["note"] = f"train and validation sizes per class are not known: the dataset cannot be reloaded ({e})"
        out["totals"] = {p: len(split.get(p) or []) for p in ("train", "val")}
    return out


def _slices_summary(run, rp, store, n_bootstrap: int, max_files: int) -> dict[str, Any]:
    try:
        from core.analysis.slices import flagged_sentences, run_slices, slices_frame

        res = run_slices(run, rp.folder, store=store, n_bootstrap=n_bootstrap, max_files=max_files)
    except Exception as e:  # noqa: BLE001 - any failure becomes a note on the card, never a missing card
        return {"skipped": f"slices could not be computed: {e}"}
    df = slices_frame(res, per_class=False)
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]
    return {"rows": rows, "flagged": flagged_sentences(res), "notices": list(res.get("notices", [])),
            "skipped_columns": dict(res.get("skipped", {})), "min_n": res["options"]["min_n"],
            "level": res["options"]["level"]}


def _png_b64(image: np.ndarray) -> str:
    from PIL import Image

    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _examples(rp, n: int) -> dict[str, Any]:
    """``n`` right and ``n`` wrong test predictions, the most confident of each, with Grad-CAM for
    the predicted class: base64 PNGs of the image and its overlay."""
    from core.analysis.cells import cam_overlays, cell_table, display_image

    table = cell_table(rp.pred, rp.class_names)
    ok = table["y_true"] == table["y_pred"]
    pick = [(table[ok], "right"), (table[~ok], "wrong")]
    rows = [(r, kind) for part, kind in pick
            for _, r in part.sort_values("id", kind="stable").sort_values("confidence", ascending=False,
                                                                          kind="stable").head(n).iterrows()]
    if not rows:
        return {"items": [], "note": "no test predictions to show"}
    spec = rp.config.get("dataset") or rp.meta.get("dataset") or {}
    try:
        from core.datasets import load_dataset
        from core.datasets.io import load_images
        from core.serving.trained_model import load_trained

        ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
        ids = [r["id"] for r, _ in rows]
        imgs = list(load_images(ds, ds.index_of(ids), size=None))
        tm = load_trained(rp.folder)
        over = cam_overlays(tm, imgs, [int(r["y_pred"]) for r, _ in rows])
    except Exception as e:  # noqa: BLE001 - the card says why there are no examples
        return {"items": [], "note": f"Grad-CAM examples are not available: {e}"}
    items = [{"id": r["id"], "kind": kind, "actual": r["actual"], "predicted": r["predicted"],
              "confidence": float(r["confidence"]), "top_k": r["top_k"], "image": _png_b64(display_image(im)),
              "overlay": _png_b64(ov)} for (r, kind), im, ov in zip(rows, imgs, over, strict=True)]
    return {"items": items, "note": None}


# --------------------------------------------------------------------------------------
# derived text: intended use and limitations
# --------------------------------------------------------------------------------------
def _domain(card: dict) -> str:
    return str((card.get("meta") or {}).get("domain") or "general")


def intended_use(card: dict) -> list[str]:
    """Sentences on what the model is for, from its domain, dataset and classes."""
    dataset = (card.get("meta", {}).get("dataset") or {}).get("name") or card["run"].get("dataset") or "its dataset"
    k = len(card["class_names"])
    out = [f"Classifies an image into one of {k} classes learnt from {dataset}: "
           f"{', '.join(card['class_names'][:20])}{', ...' if k > 20 else ''}.",
           "Made in the image-classification lab for teaching and experiments: to compare training choices and "
           "to study where a model fails, on images like its training images."]
    if _domain(card) in DOMAIN_MODELS:
        what = "skin-lesion (dermatoscopic)" if _domain(card) == "lesion" else "retinal fundus"
        out.append(f"{RESEARCH_NOTICE} It was trained on {what} images for research and teaching; it must not be "
                   "used to diagnose, screen or triage patients or to guide any clinical decision.")
    out.append("Out of scope: images of another kind or source than the training images (other cameras, "
               "populations, sizes or colours), classes it was not trained on, and any decision about a person.")
    return out


def limitations(card: dict) -> list[str]:
    """Known limitations derived from the run's config, meta, split and evaluation."""
    cfg, meta, ev = card.get("config") or {}, card.get("meta") or {}, card["evaluation"]
    s, k = ev["summary"], len(card["class_names"])
    out = _verdict_limitations(card)  # first: a model that does not work, classes it misses
    mpc = ((cfg.get("dataset") or meta.get("dataset") or {}).get("params") or {}).get("max_per_class")
    if mpc:
        out.append(f"The data was a balanced subsample (at most {mpc} images per class, max_per_class): the test "
                   "split has (nearly) equal class counts, not the real class mix. Accuracy over-weights rare "
                   "classes, and precision (PPV) and NPV will differ on data with the real class frequencies.")
    weights = cfg.get("weights") or (cfg.get("model_options") or {}).get("weights") or \
        (meta.get("model_options") or {}).get("weights")
    if not weights:
        out.append("The weights were not pretrained (random initialisation): with little data such a model learns "
                   "less general features than a pretrained one.")
    n = int(s.get("n_samples") or sum(card["split"]["counts"]["test"]))
    if n < SMALL_TEST:
        out.append(f"The test set is small ({n} images): the 95 % intervals of its metrics are wide, and differences "
                   "between runs smaller than them are not evidence.")
    small = [c for c, m in zip(card["class_names"], card["split"]["counts"]["test"], strict=True) if m < SMALL_CLASS]
    if small:
        out.append(f"{len(small)} class(es) have fewer than {SMALL_CLASS} test images ({', '.join(small[:8])}"
                   f"{', ...' if len(small) > 8 else ''}): their per-class figures say little.")
    acc = s.get("balanced_accuracy")
    if acc is not None and acc < 1.5 / k and not one_class_verdict(s, evaluation=ev):
        out.append(f"Balanced accuracy {acc:.3f} is close to chance ({1 / k:.3f} for {k} classes): the model has "
                   "learnt little; do not use its predictions.")
    if s.get("ece") is not None and s["ece"] > 0.1:
        out.append(f"Its probabilities are poorly calibrated (ECE {s['ece']:.3f}): a stated 90 % is not right "
                   "90 % of the time.")
    out += _split_limitations(card)
    out.append("All test images come from the same source as the training images (an internal test split): "
               "there was no external validation, so performance on other data is unknown.")
    out.append("Grad-CAM heatmaps show which regions raised the predicted class's score, not a reason a person "
               "could verify; they can look plausible for a wrong answer.")
    return out + [str(x) for x in (meta.get("notices") or []) + (ev.get("notices") or [])]


def _verdict_limitations(card: dict) -> list[str]:
    """The verdicts of ``core.analysis.verdicts``: a model at chance or predicting one class, and the
    classes whose sensitivity is under the floor of its dataset (the champion gate's list)."""
    ev, meta = card["evaluation"], card.get("meta") or {}
    out = []
    verdict = one_class_verdict(ev["summary"], evaluation=ev)
    if verdict:
        out.append(verdict.text)
    dataset = (meta.get("dataset") or {}).get("name") or card["run"].get("dataset")
    short = sensitivity_shortfalls(ev, dataset, meta.get("class_codes"))
    if short:
        out.append(f"Its test sensitivity is below the floor set for {dataset} for {len(short)} class(es): "
                   f"{shortfalls_text(short)}. It misses most images of these classes; do not rely on it to find "
                   "them.")
    rare = [c for c in ev.get("per_class") or [] if c.get("predicted") and (c.get("precision") or 0) < LOW_PRECISION]
    if rare and not verdict:
        out.append("When it predicts " + ", ".join(f"{c['class']} (precision {c['precision']:.2f}, {c['predicted']} "
                                                  "predicted)" for c in rare[:8])
                   + ", it is more often wrong than right on its test split.")
    return out


def _split_limitations(card: dict) -> list[str]:
    split, out = card["split"], []
    if _domain(card) in DOMAIN_MODELS and not split.get("grouped_by"):
        out.append("The split was not grouped by patient or lesion: images of one patient or lesion may be in "
                   "both training and test, which makes the test figures optimistic.")
    sl = card.get("slices") or {}
    if sl.get("flagged"):
        out.append("Some subgroups of the test split do worse than the whole: " + " ".join(sl["flagged"]))
    return out


# --------------------------------------------------------------------------------------
# tables shared by both renderings: (header, rows of text)
# --------------------------------------------------------------------------------------
def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and (np.isnan(v) or np.isinf(v))):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _model_rows(card: dict) -> list[list[str]]:
    m, cfg, run = card["meta"], card["config"], card["run"]
    params = m.get("params") or {}
    prep = m.get("preprocessing") or {}
    weights = cfg.get("weights") or (cfg.get("model_options") or {}).get("weights")
    rows = [["Run", f"#{run['id']} {run['name']}" if run.get("id") is not None else str(run["name"])],
            ["Architecture", str(m.get("model") or cfg.get("model") or run.get("model") or "?")],
            ["Parameters", f"{params.get('total', '?')} ({params.get('trainable', '?')} trainable)"],
            ["Input", "x".join(str(v) for v in (m.get("input_shape") or [])) or "?"],
            ["Preprocessing", ", ".join(f"{k} {v}" for k, v in prep.items() if v is not None) or "—"],
            ["Initial weights", str(Path(str(weights)).name) if weights else "random initialisation (not pretrained)"],
            ["Classes", ", ".join(card["class_names"])],
            ["Domain", _domain(card)], ["Created", run.get("created") or m.get("created") or "?"],
            ["Keras", str(m.get("keras_version") or "?")]]
    return rows


def _training_rows(card: dict) -> list[list[str]]:
    cfg, m = card["config"], card["meta"]
    keys = ("epochs", "batch_size", "optimizer", "learning_rate", "momentum", "weight_decay", "schedule",
            "early_stopping", "monitor", "class_weight", "oversample", "augment", "mixed_precision", "seed")
    rows = [[k.replace("_", " "), _option_text(k, cfg[k]) if isinstance(cfg.get(k), (dict, list))
             else (f"{cfg[k]:g}" if isinstance(cfg.get(k), float) else _f(cfg.get(k)))] for k in keys if k in cfg]
    for k, label in (("epochs_run", "epochs run"), ("best_epoch", "best epoch"),
                     ("train_time_s", "training time (s)"), ("n_train", "training images"),
                     ("n_val", "validation images"), ("n_test", "test images")):
        if m.get(k) is not None:
            rows.append([label, _f(m[k], 1) if isinstance(m[k], float) else str(m[k])])
    return rows


def _option_text(key: str, v) -> str:
    """One dataset option as words: lists joined, nested options as 'key value' pairs, unset ones named."""
    if v is None:
        return "all images" if key == "max_per_class" else "not set"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(_option_text("", x) for x in v) or "none"
    if isinstance(v, dict):
        return "; ".join(f"{str(k).replace('_', ' ')} {_option_text(str(k), x)}" for k, x in v.items()) or "none"
    return _f(v)


def _dataset_rows(card: dict) -> list[list[str]]:
    """The dataset's name and each of its options (as recorded in meta.json, else the config)."""
    data = card["meta"].get("dataset") or card["config"].get("dataset") or {}
    rows = [["dataset", str(data.get("name") or card["run"].get("dataset") or "—")]]
    rows += [[str(k).replace("_", " "), _option_text(str(k), v)] for k, v in (data.get("params") or {}).items()]
    return rows


def _split_rows(card: dict) -> tuple[list[str], list[list[str]]]:
    counts = card["split"]["counts"]
    parts = [p for p in ("train", "val", "test") if counts.get(p) is not None]
    rows = [[c, *(str(counts[p][i]) for p in parts)] for i, c in enumerate(card["class_names"])]
    rows.append(["all", *(str(sum(counts[p])) for p in parts)])
    return ["class", *parts], rows


def _metric_rows(card: dict) -> tuple[list[list[str]], int]:
    s = card["evaluation"]["summary"]
    level = round(100 * float((card["evaluation"].get("options") or {}).get("ci_level", 0.95)))
    rows = []
    for key, label in HEADLINE:
        if s.get(key) is None:
            continue
        lo, hi = s.get(f"ci_low_{key}"), s.get(f"ci_high_{key}")
        rows.append([label, _f(s[key]), f"{_f(lo)} – {_f(hi)}" if lo is not None else "—"])
    for key, label in (("log_loss", "Log loss"), ("ece", "Expected calibration error (ECE)"),
                       ("mean_specificity", "Mean specificity"), ("min_sensitivity", "Lowest class sensitivity")):
        if s.get(key) is not None:
            rows.append([label, _f(s[key]), "—"])
    return [[f"{r[0]}", r[1], r[2]] for r in rows] if rows else [["(no metrics)", "—", "—"]], level


def _per_class_rows(card: dict) -> tuple[list[str], list[list[str]]]:
    pc = card["evaluation"].get("per_class") or []
    cols = [c for c in PER_CLASS_COLUMNS if any(c in r for r in pc)]
    return ["class", *cols], [[str(r.get("class")), *(_f(r.get(c)) for c in cols)] for r in pc]


def _calibration_rows(card: dict) -> tuple[list[str], list[list[str]]]:
    cal = card["evaluation"].get("calibration") or {}
    edges, rows = cal.get("edges") or [], []
    for i, n in enumerate(cal.get("count") or []):
        if n:
            rows.append([f"{edges[i]:.1f}–{edges[i + 1]:.1f}", _f(cal["mean_confidence"][i]),
                         _f(cal["accuracy"][i]), str(n)])
    return ["confidence bin", "mean confidence", "accuracy", "images"], rows


def _calibration_facts(card: dict) -> list[str]:
    """ECE and any temperature-scaling figures the evaluation carries (summary keys with ece/temperature)."""
    s = card["evaluation"]["summary"]
    out = [f"{k.replace('_', ' ')}: {_f(v)}" for k, v in s.items()
           if ("ece" in k or "temperature" in k) and not isinstance(v, (dict, list))]
    for k in ("temperature", "calibration_after", "temperature_scaling"):
        v = card["evaluation"].get(k) if k != "temperature" else card["meta"].get(k)
        if isinstance(v, (int, float)):
            out.append(f"{k.replace('_', ' ')}: {_f(float(v))}")
    return out


def _slice_rows(card: dict) -> tuple[list[str], list[list[str]]]:
    sl = card["slices"]

    def iv(v, lo, hi) -> str:
        return "—" if v is None else (f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None
                                      else f"{v:.3f}")

    rows = [[str(r["by"]), str(r["slice"]), str(r["n"]), iv(r["accuracy"], r["accuracy low"], r["accuracy high"]),
             iv(r["balanced accuracy"], r["balanced low"], r["balanced high"]) +
             (f" ({r['balanced note']})" if r.get("balanced note") else ""), str(r.get("status") or "")]
            for r in sl.get("rows", [])]
    return ["by", "slice", "n", "accuracy [CI]", "balanced accuracy [CI]", "status"], rows


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #d0d7de;
padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #d0d7de;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.notice{border:2px solid #d1242f;background:#fff0f0;padding:.7em 1em;font-weight:600;margin:1em 0}
.muted{color:#59636e;font-size:.9em}.cm td{text-align:center;min-width:2.6em}
.examples{display:flex;flex-wrap:wrap;gap:1em}.ex{border:1px solid #d0d7de;padding:.5em;width:220px;font-size:.85em}
.ex img{width:100px;image-rendering:pixelated;margin-right:4px}
"""


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    def cell(v, tag="td"):
        num = tag == "td" and str(v).replace(".", "", 1).replace("-", "", 1).replace("—", "").isdigit()
        return f"<{tag}{' class=num' if num else ''}>{_e(v)}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table{f' class={cls}' if cls else ''}>{head}{body}</table>"


def _confusion_html(card: dict) -> str:
    conf = card["evaluation"].get("confusion") or {}
    counts = np.asarray(conf.get("counts") or [], dtype=float)
    if counts.ndim != 2 or counts.size == 0:
        return "<p class=muted>No confusion matrix stored.</p>"
    names = conf.get("labels") or card["class_names"]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    head = "<tr><th>actual / predicted</th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"
    body = ""
    for i, n in enumerate(names):
        cells = "".join(
            f"<td style=\"background:rgba(31,119,180,{share[i, j]:.2f});"
            f"color:{'#fff' if share[i, j] > .55 else '#1f2328'}\" title=\"{share[i, j]:.0%} of actual {_e(n)}\">"
            f"{int(counts[i, j])}</td>" for j in range(len(names)))
        body += f"<tr><th>{_e(n)}</th>{cells}</tr>"
    return f"<table class=cm>{head}{body}</table><p class=muted>Rows: actual class; columns: predicted class; " \
           "shading: share of the row (sensitivity on the diagonal).</p>"


def _examples_html(card: dict) -> str:
    ex = card.get("examples") or {}
    if not ex.get("items"):
        return f"<p class=muted>{_e(ex.get('note') or 'No examples.')}</p>"
    tiles = "".join(
        f"<div class=ex><img alt=\"test image {_e(i['id'])}\" src=\"data:image/png;base64,{i['image']}\">"
        f"<img alt=\"Grad-CAM of {_e(i['id'])}\" src=\"data:image/png;base64,{i['overlay']}\"><br>"
        f"<b>{_e(i['kind'])}</b> · {_e(i['id'])}<br>true {_e(i['actual'])} · predicted {_e(i['predicted'])} "
        f"(p {i['confidence']:.2f})<br><span class=muted>top 3: {_e(i['top_k'])}</span></div>" for i in ex["items"])
    return f"<div class=examples>{tiles}</div><p class=muted>The most confident right and wrong test predictions; " \
           "left the image, right the Grad-CAM overlay for the predicted class.</p>"


def _slices_html(card: dict) -> str:
    sl = card.get("slices") or {}
    if sl.get("skipped"):
        return f"<p class=muted>Slices skipped: {_e(sl['skipped'])}.</p>"
    parts = [_table(*_slice_rows(card))]
    parts += [f"<p>{_e(s)}</p>" for s in sl.get("flagged", [])] or ["<p>No slice is below the whole test set.</p>"]
    parts += [f"<p class=muted>{_e(n)}</p>" for n in sl.get("notices", [])]
    parts += [f"<p class=muted>Not sliced by {_e(c)}: {_e(w)}</p>" for c, w in sl.get("skipped_columns", {}).items()]
    return "".join(parts)


def _split_text(card: dict) -> str:
    sp = card["split"]
    grouped = f"grouped by {sp['grouped_by']} (all images of one group in one part)" if sp.get("grouped_by") \
        else "not grouped (images assigned one by one)"
    return (f"Split: {sp.get('strategy') or 'stratified'}, {grouped}; validation share {_f(sp.get('val_ratio'), 2)}, "
            f"test share {_f(sp.get('test_ratio'), 2)}, split seed {sp.get('seed')}.")


def render_html(card: dict) -> str:
    """The card as one self-contained HTML page (inline CSS and images; no script, link or URL)."""
    run = card["run"]
    title = f"Model card: run #{run['id']} {run['name']}" if run.get("id") is not None else f"Model card: {run['name']}"
    notice = f"<div class=notice>{_e(RESEARCH_NOTICE)}</div>" if _domain(card) in DOMAIN_MODELS else ""
    metrics, level = _metric_rows(card)
    cal_facts = "".join(f"<li>{_e(x)}</li>" for x in _calibration_facts(card))
    sections = [
        ("Intended use", "".join(f"<p>{_e(x)}</p>" for x in intended_use(card))),
        ("Model", _table(["property", "value"], _model_rows(card))),
        ("Data and split", _table(["property", "value"], _dataset_rows(card)) + f"<p>{_e(_split_text(card))}</p>"
                           + _table(*_split_rows(card))
                           + (f"<p class=muted>{_e(card['split']['note'])}</p>" if card["split"].get("note") else "")),
        ("Training", _table(["setting", "value"], _training_rows(card))),
        ("Metrics on the test split", _table(["metric", "value", f"{level} % bootstrap interval"], metrics)
         + f"<p class=muted>{_e(card['evaluation']['summary'].get('n_samples'))} test images; intervals from "
           f"{_e((card['evaluation'].get('options') or {}).get('n_bootstrap'))} bootstrap resamples.</p>"),
        ("Per class", _table(*_per_class_rows(card))),
        ("Confusion matrix", _confusion_html(card)),
        ("Calibration", f"<ul>{cal_facts}</ul>" + _table(*_calibration_rows(card))),
        ("Slices of the test split", _slices_html(card)),
        ("Grad-CAM examples", _examples_html(card)),
        ("Known limitations", "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in limitations(card)) + "</ul>"),
    ]
    body = "".join(f"<h2>{_e(h)}</h2>{c}" for h, c in sections)
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>" + _e(title) + "</title><style>" + CSS
            + "</style></head><body><h1>" + _e(title) + f"</h1><p class=muted>Generated {_e(card['generated'])} by "
            "the image-classification lab from the run's stored evaluation.</p>" + notice + body + "</body></html>")


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------
def _md(v) -> str:
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) or " " for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(card: dict) -> str:
    """The card as Markdown: the same sections as the HTML (the Grad-CAM images only in the HTML)."""
    run = card["run"]
    title = f"run #{run['id']} {run['name']}" if run.get("id") is not None else str(run["name"])
    out = [f"# Model card: {_md(title)}", "",
           f"Generated {card['generated']} by the image-classification lab from the run's stored evaluation.", ""]
    if _domain(card) in DOMAIN_MODELS:
        out += [f"> **{RESEARCH_NOTICE}**", ""]
    metrics, level = _metric_rows(card)
    sl = card.get("slices") or {}
    ex = card.get("examples") or {}
    sections = [
        ("Intended use", "\n\n".join(_md(x) for x in intended_use(card))),
        ("Model", _md_table(["property", "value"], _model_rows(card))),
        ("Data and split", _md_table(["property", "value"], _dataset_rows(card)) + f"\n\n{_md(_split_text(card))}\n\n"
                           + _md_table(*_split_rows(card))
                           + (f"\n\n{_md(card['split']['note'])}" if card["split"].get("note") else "")),
        ("Training", _md_table(["setting", "value"], _training_rows(card))),
        ("Metrics on the test split", _md_table(["metric", "value", f"{level} % bootstrap interval"], metrics)),
        ("Per class", _md_table(*_per_class_rows(card))),
        ("Confusion matrix", "Rows: actual class; columns: predicted class.\n\n" + _md_table(
            ["actual / predicted", *card["class_names"]],
            [[n, *map(str, row)] for n, row in zip(card["class_names"],
                                                   (card["evaluation"].get("confusion") or {}).get("counts") or [],
                                                   strict=False)])),
        ("Calibration", "\n".join(f"- {_md(x)}" for x in _calibration_facts(card)) + "\n\n"
         + _md_table(*_calibration_rows(card))),
        ("Slices of the test split", f"Skipped: {_md(sl['skipped'])}." if sl.get("skipped") else
         _md_table(*_slice_rows(card)) + "\n\n" + ("\n\n".join(_md(s) for s in sl.get("flagged", []))
                                                  or "No slice is below the whole test set.")),
        ("Grad-CAM examples", "\n".join(f"- {i['kind']}: {_md(i['id'])}, true {_md(i['actual'])}, predicted "
                                        f"{_md(i['predicted'])} (p {i['confidence']:.2f})" for i in ex.get("items", []))
         + ("\n\nThe images and overlays are in the HTML card." if ex.get("items") else _md(ex.get("note") or ""))),
        ("Known limitations", "\n".join(f"- {_md(x)}" for x in limitations(card))),
    ]
    for h, c in sections:
        out += [f"## {h}", "", c, ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# a stored run, files
# --------------------------------------------------------------------------------------
def model_card(run, folder: RunFolder | str | Path | None = None, *, store=None, **options) -> tuple[str, str]:
    """(HTML, Markdown) of a run's model card; ``options`` go to :func:`collect`."""
    card = collect(run, folder, store=store, **options)
    return render_html(card), render_markdown(card)


def write_model_card(store, run_id: int, out: str | Path, markdown: str | Path | None = None,
                     **options) -> dict[str, Path]:
    """Write run ``run_id``'s card to ``out`` (HTML) and, when given, ``markdown``."""
    page, md = model_card(store.get_run(run_id), store=store, **options)
    written = {"html": Path(out)}
    Path(out).write_text(page, encoding="utf-8")
    if markdown:
        Path(markdown).write_text(md, encoding="utf-8")
        written["markdown"] = Path(markdown)
    return written
