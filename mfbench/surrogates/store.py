"""Save, check and load fitted surrogates (``surrogates.model.Surrogate``).

Tree and kNN models are saved with skops (no pickle: loading runs no code from the file, and
every model file's schema is checked against the allowlist of ``surrogates.trusted`` first);
a ``gp`` model is plain arrays (``.npz``, read with ``allow_pickle=False``). Beside them, a manifest that
records the sha256 of every file and of the training data, the library versions and the
choices; a file whose hash differs is refused, and a manifest written by other library versions
makes the loader refit from its table (same families, cached under ``$MFBENCH_CACHE``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.core.errors import UsageError, read_json
from mfbench.core.io import inside, jsonable, safe_name
from mfbench.surrogates.data import DEFAULT_TARGETS, training_data
from mfbench.surrogates.encoding import Encoder
from mfbench.surrogates.model import Surrogate, fit_models, target_ranges
from mfbench.surrogates.quality import to_markdown

log = logging.getLogger(__name__)

FORMAT = "mfbench-surrogate"
FORMAT_VERSION = 1
#: libraries whose version decides whether a saved model file means the same thing
REFIT_LIBRARIES = ("numpy", "scikit-learn", "skops")


def library_versions() -> dict[str, str]:
    """The versions a manifest records: those of ``REFIT_LIBRARIES`` decide whether its model files
    can be loaded as they are; the others are kept for the record."""
    import scipy
    import sklearn
    import skops

    from mfbench import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "mfbench": __version__,
    }


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_surrogate_out(out: str | Path, inputs: Sequence[str | Path] = ()) -> Path:
    """The folder a fit may write: absent, empty, or a surrogate folder of ours (its manifest says
    so), which is then replaced; never a file, another folder, or one holding an input."""
    from mfbench.core.io import contains

    out = Path(out)
    for i in inputs:
        if contains(out, i):
            raise UsageError(f"--out {out} holds the input {i}; write the surrogate to another folder")
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UsageError(f"--out {out} exists and is not a folder; refusing to replace it")
        if any(out.iterdir()):
            try:
                read_manifest(out)
            except UsageError:
                raise UsageError(
                    f"--out {out} exists and is not an mfbench surrogate folder; refusing to "
                    "replace it (give a new folder)"
                ) from None
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir() or not os.access(parent, os.W_OK):
                raise UsageError(f"--out {out}: cannot create a folder in {parent}")
            break
    return out


def _clean_stale_temporaries(out: Path) -> None:
    """Remove temporary siblings of ``out`` left by a killed save (their process is gone)."""
    for d in out.parent.glob(f".{out.name}.tmp-*-*"):
        try:
            pid = int(d.name[len(f".{out.name}.tmp-") :].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            if d.name.endswith("-old") and not out.exists():  # killed between its two renames
                d.rename(out)
            else:
                shutil.rmtree(d, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def model_file(target: str, family: str) -> str:
    """The file name of ``target``'s model: ``.npz`` arrays for a GP, a skops file otherwise."""
    return f"{target}.npz" if family == "gp" else f"{target}.skops"


def _dump_model(model: Any, f: Path, sio: Any) -> None:
    if f.suffix == ".npz":
        with open(f, "wb") as fh:  # a file object: numpy would append ".npz" to a name
            np.savez(fh, **model.to_arrays())
    else:
        sio.dump(model, f)


def _load_model(f: Path, sio: Any) -> Any:
    """One model file, refusing what mfbench's fits never write (see the module docstring)."""
    if f.suffix == ".npz":
        from mfbench.surrogates.gp import PairGP

        try:
            with np.load(f, allow_pickle=False) as arrays:
                return PairGP.from_arrays(arrays)
        except Exception as exc:  # noqa: BLE001  (not a zip, a missing array, pickled objects, bad shapes)
            raise UsageError(f"{f}: cannot load this GP model file ({type(exc).__name__}: {exc})") from None
    from mfbench.surrogates.trusted import check_model_file

    trusted = check_model_file(f)  # an exact allowlist: the hash above detects accidents, not tampering
    try:
        return sio.load(f, trusted=trusted)
    except Exception as exc:  # noqa: BLE001  (a well-formed schema whose arrays or states do not fit together)
        raise UsageError(f"{f}: cannot load this model file ({type(exc).__name__}: {exc})") from None


def save_surrogate(surr: Surrogate, out: str | Path) -> Path:
    """Write the folder atomically (a temporary sibling, then a rename): model files (skops, or .npz for a GP),
    ``manifest.json`` with their hashes, ``quality.json`` and ``quality.md``. An existing ``out``
    is replaced only when it is a surrogate folder (``check_surrogate_out``)."""
    from mfbench.core.lightimport import skops_io

    sio = skops_io()
    out = check_surrogate_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    try:
        manifest = json.loads(json.dumps(surr.manifest))
        for t, m in surr.models.items():
            f = tmp / manifest["models"][t]["file"]
            _dump_model(m, f, sio)
            manifest["models"][t]["sha256"] = sha256_file(f)
        table_file = Path(manifest["table"]["path"])
        try:
            manifest["table"]["relative_path"] = os.path.relpath(table_file, out.resolve())
        except ValueError:  # another drive
            manifest["table"]["relative_path"] = None
        (tmp / "manifest.json").write_text(_json_text(manifest))
        if surr.quality:
            (tmp / "quality.json").write_text(_json_text(surr.quality))
            (tmp / "quality.md").write_text(to_markdown(surr.quality))
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.tmp-{os.getpid()}-old")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    surr.manifest, surr.path = manifest, out
    return out


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path) / "manifest.json"
    if not p.exists():
        raise UsageError(f"{path}: not a surrogate folder (no manifest.json)")
    manifest = read_json(p)
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("format_version") != FORMAT_VERSION
    ):
        raise UsageError(f"{p}: not an mfbench surrogate manifest of format version {FORMAT_VERSION}")
    check_manifest(p, manifest)
    return manifest


def check_manifest(p: Path, manifest: Mapping[str, Any]) -> None:
    """Refuse, in one line, a manifest whose keys a loader needs are missing or of the wrong
    type, or whose names would become paths outside their folder (hand-edited or hostile)."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise UsageError(f"{p}: {what}")

    need(isinstance(manifest.get("name", "surrogate"), str), "'name' must be a string")
    safe_name(manifest.get("name", "surrogate"), f"{p}: surrogate name")
    models = manifest.get("models")
    need(isinstance(models, dict) and bool(models), "'models' must be a non-empty object")
    for t, e in models.items():
        need(
            isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("family"), str),
            f"model {t!r} needs a 'file' and a 'family' (strings)",
        )
        safe_name(e["file"], f"{p}: model file of {t}")
    need(
        isinstance(manifest.get("budgets"), list)
        and bool(manifest["budgets"])
        and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in manifest["budgets"]),
        "'budgets' must be a list of positive integers",
    )
    need(isinstance(manifest.get("space_json"), (str, dict)), "'space_json' is missing")
    table = manifest.get("table")
    need(
        isinstance(table, dict)
        and isinstance(table.get("path"), str)
        and isinstance(table.get("file"), str)
        and isinstance(table.get("data_sha256"), str),
        "'table' needs 'path', 'file' and 'data_sha256' (strings)",
    )
    need(isinstance(manifest.get("versions", {}), dict), "'versions' must be an object")


def _json_text(obj: Any) -> str:
    """How a surrogate folder's JSON files are written (manifest, quality report)."""
    return json.dumps(jsonable(obj, strict=False), indent=2) + "\n"


def write_gate_record(path: str | Path, record: Mapping[str, Any], quality: Mapping[str, Any] | None = None) -> None:
    """Record gate figures in a saved surrogate's manifest (``"gates"``), and with ``quality``
    replace its ``quality.json`` / ``quality.md`` (e.g. with coverage added): the model files
    and every field the benchmark's identity hash is computed from stay as they are."""
    from mfbench.core.io import atomic_write_text

    path = Path(path)
    manifest = read_manifest(path)
    manifest["gates"] = json.loads(json.dumps(jsonable(dict(record), strict=False)))
    if quality is not None:
        atomic_write_text(path / "quality.json", _json_text(quality))
        atomic_write_text(path / "quality.md", to_markdown(dict(quality)))
    atomic_write_text(path / "manifest.json", _json_text(manifest))


def surrogate_info(path: str | Path) -> dict[str, Any]:
    """What a surrogate folder holds, for ``mfbench info``: its manifest's summary, after the
    same checks a load makes (hashes, allowlisted types) but without constructing a model."""
    from mfbench.surrogates.trusted import check_model_file

    path = Path(path)
    manifest = read_manifest(path)
    for entry in manifest["models"].values():
        f = inside(path, entry["file"], f"{path / 'manifest.json'}: model file")
        if not f.is_file():
            raise UsageError(f"{f}: model file missing")
        if sha256_file(f) != entry.get("sha256"):
            raise UsageError(f"{f}: sha256 does not match the manifest")
        if f.suffix == ".npz":
            _load_model(f, None)  # numeric arrays only, shapes checked: building it runs nothing
        else:
            check_model_file(f)
    return {
        "path": str(path),
        "kind": "surrogate",
        "name": manifest.get("name", ""),
        "dataset": manifest.get("dataset", ""),
        "space": manifest.get("space_name", ""),
        "ladder": manifest["budgets"],
        "table": manifest["table"].get("file", ""),
        "configs": manifest["table"].get("n_configs"),
        "models": {t: e["family"] for t, e in manifest["models"].items()},
        "versions": manifest.get("versions", {}),
        "created": manifest.get("created", ""),
    }


def version_mismatch(manifest: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``{library: (saved, running)}`` for the libraries whose version decides the file format."""
    have, now = manifest.get("versions", {}), library_versions()
    return {k: (str(have.get(k)), now[k]) for k in REFIT_LIBRARIES if str(have.get(k)) != now[k]}


def cache_dir() -> Path:
    """Where refitted surrogates (and the real objective's results) are cached: ``$MFBENCH_CACHE``,
    else ``~/.cache/mfbench``."""
    return Path(os.environ.get("MFBENCH_CACHE") or Path.home() / ".cache" / "mfbench")


def load_surrogate(path: str | Path, *, refit: bool = True, threads: int | None = None) -> Surrogate:
    """Load a saved surrogate, refusing model files whose sha256 differs from the manifest.
    Saved by other library versions: refit from the manifest's table (cached under
    ``$MFBENCH_CACHE``), or refuse when ``refit=False``."""
    path = Path(path)
    manifest = read_manifest(path)
    quality = _read_json(path / "quality.json")
    mismatch = version_mismatch(manifest)
    if mismatch:
        what = ", ".join(f"{k} {a} (running {b})" for k, a, b in ((k, *v) for k, v in mismatch.items()))
        if not refit:
            raise UsageError(f"{path} was saved with {what}; refit it with 'mfbench fit'")
        log.warning("%s was saved with %s: refitting it from its table", path, what)
        surr = _refit_cached(path, manifest, quality, mismatch, threads)
    else:
        surr = _load_files(path, manifest, quality)
    surr.threads = threads
    return surr


def _read_json(p: Path) -> dict[str, Any]:
    try:
        return read_json(p) if p.exists() else {}
    except json.JSONDecodeError:
        return {}


def _load_files(path: Path, manifest: dict[str, Any], quality: dict[str, Any]) -> Surrogate:
    from mfbench.core.lightimport import skops_io

    sio = skops_io()
    models = {}
    for t, entry in manifest["models"].items():
        f = inside(path, entry["file"], f"{path / 'manifest.json'}: model file")
        if not f.is_file():
            raise UsageError(f"{f}: model file missing")
        digest = sha256_file(f)
        if digest != entry.get("sha256"):
            raise UsageError(f"{f}: sha256 {digest[:12]}... does not match the manifest; refusing to load it")
        models[t] = _load_model(f, sio)
    encoder = Encoder.from_json(manifest["space_json"], manifest["budgets"])
    return Surrogate(encoder, models, manifest, path, quality)


def find_table(path: Path, manifest: Mapping[str, Any]) -> Path:
    t = manifest["table"]
    cands = []
    if t.get("relative_path"):
        cands.append((path / t["relative_path"]).resolve())
    cands.append(Path(t["path"]))
    if os.environ.get("MFBENCH_DATA"):
        cands.append(Path(os.environ["MFBENCH_DATA"]) / "tabular" / t["file"])
    cands.append(Path(__file__).resolve().parents[2] / "tabular" / t["file"])
    for c in cands:
        if c.exists():
            return c
    raise UsageError(
        f"{path}: its training table {t['file']} is not found (looked in "
        f"{', '.join(str(c) for c in cands)}); cannot refit"
    )


def refit_from_manifest(
    path: Path, manifest: dict[str, Any], quality: dict[str, Any] | None = None, threads: int | None = None
) -> Surrogate:
    """The same families and options as the manifest, refitted on its table (no new CV:
    the manifest's scores are kept and marked as from the original fit)."""
    from mfbench.tables.table import load_table

    table_path = find_table(path, manifest)
    table = load_table(table_path)
    opts = manifest.get("fit_options", {})
    data = training_data(table, tuple(opts.get("targets", DEFAULT_TARGETS)))
    if data.digest != manifest["table"]["data_sha256"]:
        log.warning("%s: table %s has changed since the surrogate was fitted (data sha256 differs)", path, table_path)
    encoder = Encoder.from_json(manifest["space_json"], manifest["budgets"])
    chosen = {t: e["family"] for t, e in manifest["models"].items()}
    models = fit_models(data, encoder, chosen, int(opts.get("seed", 0)), int(opts.get("n_estimators", 100)), threads)
    new = json.loads(json.dumps(manifest))
    new["refit"] = {
        "from_versions": manifest.get("versions", {}),
        "table": str(table_path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data_sha256": data.digest,
    }
    new["versions"] = library_versions()
    new["target_range"] = target_ranges(data)
    new["table"]["path"] = str(Path(table_path).resolve())
    for entry in new["models"].values():
        entry.pop("sha256", None)
    return Surrogate(encoder, models, new, None, quality or {})


def _refit_cached(
    path: Path,
    manifest: dict[str, Any],
    quality: dict[str, Any],
    mismatch: Mapping[str, Any],
    threads: int | None = None,
) -> Surrogate:
    key = hashlib.sha256(
        json.dumps([manifest["table"]["data_sha256"], manifest["models"], library_versions()], sort_keys=True).encode()
    ).hexdigest()[:16]
    cached = cache_dir() / "surrogates" / safe_name(f"{manifest.get('name', 'surrogate')}-{key}", "surrogate name")
    if (cached / "manifest.json").exists():
        try:
            m = read_manifest(cached)
            if not version_mismatch(m):
                return _load_files(cached, m, quality)
        except UsageError as exc:
            log.warning("ignoring the cached refit %s: %s", cached, exc)
    surr = refit_from_manifest(path, manifest, quality, threads)
    try:
        save_surrogate(surr, cached)
    except (OSError, UsageError) as exc:  # a read-only home (or a damaged cache entry) must not stop the refit
        log.warning("could not cache the refitted surrogate in %s: %s", cached, exc)
    return surr
