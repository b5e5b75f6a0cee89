"""A surrogate folder is data someone hands over: loading it must run no code from it.

The hostile file is a real exploit, not a stand-in: a skops ``ConstructorFromReduceNode``
that calls ``numpy.testing._private.utils.runstring`` (``exec`` of a string) -- a name under
``numpy.``, which a prefix allowlist trusted. Its payload writes a marker file; the manifest's
sha256 is updated to match, as a tamperer would.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mfbench.cli import main
from mfbench.core.errors import UsageError
from mfbench.surrogates import load_surrogate
from mfbench.surrogates.model import FAMILIES, make_model
from mfbench.surrogates.store import model_file, sha256_file
from mfbench.surrogates.trusted import ALLOWED_NODES, check_model_file, read_schema, schema_nodes

SHIPPED = Path(__file__).resolve().parents[1] / "surrogates" / "digits-cnn"
#: the families saved with skops (``gp`` is plain arrays: tests/test_surrogate_gp.py)
SKOPS_FAMILIES = [f for f in FAMILIES if model_file("t", f).endswith(".skops")]


def _json_str(value: str, ident: int) -> dict:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
        "__id__": ident,
    }


def evil_node(marker: Path) -> dict:
    """``runstring(code, {})`` as skops would build it: ``exec`` of code that writes ``marker``."""
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    args = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "__id__": 900000001,
        "content": [
            _json_str(code, 900000002),
            {
                "__class__": "dict",
                "__module__": "builtins",
                "__loader__": "DictNode",
                "__id__": 900000003,
                "content": {},
                "key_types": {
                    "__class__": "list",
                    "__module__": "builtins",
                    "__loader__": "ListNode",
                    "content": [],
                    "__id__": 900000004,
                },
            },
        ],
    }
    return {
        "__class__": "runstring",
        "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode",
        "content": args,
        "__id__": 900000005,
    }


def make_hostile(folder: Path, marker: Path, target: str | None = None) -> Path:
    """Copy of the shipped surrogate whose ``target`` model (default: its first skops file)
    carries the exploit as one more attribute of the estimator; the manifest's sha256 updated
    to match."""
    shutil.copytree(SHIPPED, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    target = target or next(t for t, e in manifest["models"].items() if e["file"].endswith(".skops"))
    f = folder / manifest["models"][target]["file"]
    with zipfile.ZipFile(f) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"]["evil"] = evil_node(marker)
    schema["content"]["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode", "__id__": 900000006}
    )
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)
    manifest["models"][target]["sha256"] = sha256_file(f)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return f


def test_the_payload_is_real_when_trusted(tmp_path):
    """The crafted file does run code if skops is told to trust its types (what a prefix
    allowlist did): the refusal below is a refusal of a working exploit."""
    import skops.io as sio

    marker = tmp_path / "marker"
    f = make_hostile(tmp_path / "s", marker)
    sio.load(f, trusted=sio.get_untrusted_types(file=f))
    assert marker.read_text() == "pwned"


def test_hostile_model_file_is_refused_by_the_loader(tmp_path):
    marker = tmp_path / "marker"
    make_hostile(tmp_path / "s", marker)
    with pytest.raises(UsageError, match="never produce.*runstring"):
        load_surrogate(tmp_path / "s", refit=False)
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        [
            "replay",
            "--benchmarks",
            "{dir}",
            "--optimizers",
            "random",
            "--seeds",
            "0",
            "--out",
            "{out}",
            "--no-report",
            "--no-progress",
        ],
        ["validate", "--surrogate", "{dir}", "--table", "{table}"],
        ["info", "{dir}"],
    ],
)
def test_hostile_surrogate_folder_runs_no_code_through_the_cli(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "marker"
    make_hostile(tmp_path / "s", marker)
    table = Path(__file__).resolve().parents[1] / "tabular" / "digits-grid.sqlite"
    args = [a.format(dir=tmp_path / "s", out=tmp_path / "runs", table=table) for a in argv]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "refusing to load it" in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()


def test_every_family_saves_only_allowed_nodes(tmp_path):
    """The allowlist is exactly what mfbench's own fits need with the running library versions:
    a version that moves a type to another private module fails here, not at a user's load."""
    import skops.io as sio

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 5)), rng.random(40)
    seen = set()
    for family in SKOPS_FAMILIES:
        f = tmp_path / f"{family}.skops"
        sio.dump(make_model(family, 0, n_estimators=3, threads=1).fit(X, y), f)
        nodes = set(schema_nodes(read_schema(f)))
        assert nodes <= ALLOWED_NODES, (family, nodes - ALLOWED_NODES)
        seen |= nodes
        model = sio.load(f, trusted=check_model_file(f))
        assert np.allclose(model.predict(X[:3]), make_model(family, 0, 3, 1).fit(X, y).predict(X[:3]))
    assert seen == ALLOWED_NODES  # no entry that no fit needs


def test_shipped_surrogate_passes_the_allowlist():
    for f in SHIPPED.glob("*.skops"):
        check_model_file(f)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m["models"]["val_error"].update(file="../../etc/passwd"), "not a plain file name"),
        (lambda m: m["models"]["val_error"].update(file="/etc/passwd"), "not a plain file name"),
        (lambda m: m.update(name="../../x"), "not a plain file name"),
        (lambda m: m["models"]["val_error"].pop("file"), "needs a 'file'"),
        (lambda m: m.update(models=[]), "'models' must be"),
        (lambda m: m.update(budgets="1,3"), "'budgets' must be"),
        (lambda m: m.pop("table"), "'table' needs"),
        (lambda m: m.update(format_version="1"), "not an mfbench surrogate manifest"),
    ],
)
def test_bad_manifests_are_one_line_refusals(tmp_path, edit, match):
    folder = tmp_path / "s"
    shutil.copytree(SHIPPED, folder)
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UsageError, match=match):
        load_surrogate(folder, refit=False)


def test_a_model_file_that_is_a_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(SHIPPED, folder)
    outside = tmp_path / "elsewhere.skops"
    shutil.move(folder / "val_std.skops", outside)
    (folder / "val_std.skops").symlink_to(outside)
    with pytest.raises(UsageError, match="points outside"):
        load_surrogate(folder, refit=False)
