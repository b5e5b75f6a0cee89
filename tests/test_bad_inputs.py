"""Every command, fed bad input, answers with exit status 2 and exactly one line on stderr, no
traceback, and leaves the working folder exactly as it was (every file hashed before and after).

The cases run in-process (``mfbench.cli.main``) in one prepared folder: tables, a surrogate,
hostile and broken surrogate folders, results files, a replay study, config files, a binary
file, an empty folder. A case that created, changed or deleted anything there fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY
from support import collect_argv, make_tiny_table, replay_argv
from test_surrogate_security import evil_node

from mfbench.cli import main
from mfbench.studies.replay import replay
from mfbench.surrogates import fit_surrogate
from mfbench.surrogates.store import sha256_file

# --------------------------------------------------------------------------------------
# The cases: (id, argv). Paths are relative to the prepared folder (the working directory).
# --------------------------------------------------------------------------------------


def collect(*extra, db="new.sqlite"):
    return collect_argv(db, *extra)


SOBOL = [
    "collect",
    "--dataset",
    "digits",
    "--space",
    "cnn",
    "--design",
    "sobol",
    "--db",
    "new.sqlite",
    "--device",
    "cpu",
    "--no-progress",
]
FIT = [
    "--families",
    "extra_trees",
    "--folds",
    "2",
    "--n-estimators",
    "2",
    "--reference-samples",
    "10",
    "--threads",
    "1",
]
TUNE = ["tune", "--out", "newtune", "--db", "newtune.sqlite"]


def fit_args(*extra, table="t.sqlite"):
    return ["fit", table, "--out", "news", *FIT, *extra]


def validate_args(*extra, surrogate="surr", table="t.sqlite"):
    return ["validate", "--surrogate", surrogate, "--table", table, *extra]


CD = ["cd", "results.csv", "--out", "x.png"]


def cases(prefix: str, build: Callable[[str], list[str]], values: dict[str, str]) -> list[tuple[str, list[str]]]:
    """One case per ``{label: value}``, named "<prefix> <label>", with the command line
    ``build(value)``: cases that differ in one value are one line each, not a command line each."""
    return [(f"{prefix} {label}", build(value)) for label, value in values.items()]


def bad_values(command: str, base: list[str], option: str, values: dict[str, str]) -> list[tuple[str, list[str]]]:
    """The cases of ``base`` followed by ``option`` and each bad value, named "<command> <option> <label>"."""
    return cases(f"{command} {option}", lambda value: [*base, option, value], values)


def replay_args(*extra, benchmarks="synthetic-grid"):
    return replay_argv(benchmarks, "newstudy", "--jobs", "1", *extra, budget="2x")


CASES: list[tuple[str, list[str]]] = [
    # the command line itself
    ("no command", []),
    ("unknown command", ["bogus"]),
    ("unknown global option", ["--nope", "info", "t.sqlite"]),
    ("unknown option", ["info", "t.sqlite", "--nope"]),
    ("missing argument", ["info"]),
    # collect
    ("collect without --db", collect_argv()),
    ("collect --db is a folder", collect(db="emptydir")),
    ("collect --db under a file", collect(db="notes.txt/x.sqlite")),
    ("collect --db is a text file", collect(db="notes.txt")),
    ("collect --db is binary", collect(db="blob.bin")),
    ("collect --db is another sqlite", collect(db="other.sqlite")),
    ("collect --db other ladder", collect("--budgets", "1,3,9", db="t.sqlite")),
    ("collect --db other space", collect("--space", "cnn-grid", "--design", "grid", db="t.sqlite")),
    ("collect --dataset unknown", collect("--dataset", "imagenet")),
    ("collect --space unknown", collect("--space", "transformer")),
    ("collect --design unknown", collect("--design", "latin")),
    ("collect sobol without --n-configs", SOBOL),
    *bad_values(
        "collect", SOBOL, "--n-configs", {"0": "0", "-1": "-1", "1e9": "1e9", "10^9": "1000000000", "abc": "abc"}
    ),
    ("collect --design-seed -1", [*SOBOL, "--n-configs", "2", "--design-seed", "-1"]),
    ("collect --design-seed 2^40", [*SOBOL, "--n-configs", "2", "--design-seed", str(2**40)]),
    ("collect --ray unreachable", collect("--ray", "127.0.0.1:1")),
    ("collect --ray not an address", collect("--ray", "nowhere")),
    ("collect --ray with --dask", collect("--ray", "local", "--dask", "tcp://127.0.0.1:9")),
    ("collect --ray with --workers", collect("--ray", "local", "--workers", "2")),
    ("collect --ray with --trials-per-gpu auto", collect("--ray", "local", "--trials-per-gpu", "auto")),
    ("collect --design-seed x", [*SOBOL, "--n-configs", "2", "--design-seed", "x"]),
    *bad_values(
        "collect",
        collect(),
        "--seeds",
        {"empty": "", "comma": ",", "letters": "a,b", "repeated": "0,0", "negative": "-1", "reversed range": "5-3"},
    ),
    *bad_values(
        "collect",
        collect(),
        "--budgets",
        {"empty": "", "zero": "0,1", "negative": "-1", "repeated": "1,1", "huge": "1000000", "letters": "x"},
    ),
    *bad_values("collect", collect(), "--workers", {"0": "0", "-1": "-1", "x": "x"}),
    *bad_values("collect", collect(), "--fuse", {"0": "0", "word": "fused", "huge": "100000", "float": "2.5"}),
    ("collect --device tpu", collect("--device", "tpu")),
    *bad_values("collect", collect(), "--trials-per-gpu", {"0": "0", "x": "x"}),
    *bad_values("collect", collect(), "--folds", {"-1": "-1", "1": "1", "1000": "1000"}),
    *bad_values("collect", collect(), "--max-trials", {"0": "0", "-2": "-2"}),
    ("collect --benchmark traversal", collect("--benchmark", "../../evil")),
    ("collect --benchmark separator", collect("--benchmark", "a/b")),
    ("collect design file without config", [c for c in collect() if c not in ("--config-file", "configs.json")]),
    ("collect config missing", collect("--config-file", "missing.json")),
    ("collect config empty list", collect("--config-file", "configs_empty.json")),
    ("collect config bad json", collect("--config-file", "configs_bad.json")),
    ("collect config an object", collect("--config-file", "configs_obj.json")),
    ("collect config unknown key", collect("--config-file", "configs_keys.json")),
    ("collect config bad value", collect("--config-file", "configs_vals.json")),
    ("collect config wrong suffix", collect("--config-file", "notes.txt")),
    ("collect config binary json", collect("--config-file", "blob.json")),
    ("collect config is a folder", collect("--config-file", "emptydir")),
    ("collect config csv bad", collect("--config-file", "configs_bad.csv")),
    ("collect dry run other ladder", collect("--dry-run", "--budgets", "1,3,9", db="t.sqlite")),
    # benchmarks
    ("benchmarks --suite unknown", ["benchmarks", "--suite", "imagenet"]),
    ("benchmarks --suite one unknown of two", ["benchmarks", "--suite", "lcbench,imagenet"]),
    ("benchmarks --suite names nothing", ["benchmarks", "--suite", ","]),
    # download (nothing reaches the network: local or malformed addresses)
    ("download unknown data", ["download", "imagenet"]),
    ("download --url not an address", ["download", "lcbench", "--url", "nowhere"]),
    ("download --url a missing folder", ["download", "lcbench", "--url", "file:///nonexistent-mfbench-data"]),
    ("download --data-dir is a file", ["download", "lcbench", "--data-dir", "notes.txt"]),
    ("download --data-dir under a file", ["download", "lcbench", "--data-dir", "notes.txt/lcbench"]),
    # info
    ("info missing", ["info", "missing.sqlite"]),
    ("info folder", ["info", "emptydir"]),
    ("info text", ["info", "notes.txt"]),
    ("info binary", ["info", "blob.bin"]),
    ("info empty file", ["info", "empty.txt"]),
    ("info other sqlite", ["info", "other.sqlite"]),
    ("info hostile surrogate", ["info", "hostile"]),
    ("info surrogate bad json", ["info", "s_badjson"]),
    ("info surrogate no models", ["info", "s_nomodels"]),
    ("info surrogate file traversal", ["info", "s_travfile"]),
    ("info surrogate name traversal", ["info", "s_travname"]),
    ("info surrogate foreign format", ["info", "s_format"]),
    ("info surrogate missing model", ["info", "s_missing"]),
    ("info surrogate wrong hash", ["info", "s_hash"]),
    ("info surrogate manifest a list", ["info", "s_list"]),
    ("info at-sign missing", ["info", "a@b"]),
    ("info json missing", ["info", "missing.sqlite", "--json"]),
    # export
    ("export missing", ["export", "missing.sqlite", "--parquet", "out.parquet"]),
    ("export text", ["export", "notes.txt", "--parquet", "out.parquet"]),
    ("export folder", ["export", "emptydir", "--parquet", "out.parquet"]),
    ("export other sqlite", ["export", "other.sqlite", "--parquet", "out.parquet"]),
    ("export onto itself", ["export", "t.sqlite", "--parquet", "t.sqlite"]),
    ("export onto a text file", ["export", "t.sqlite", "--parquet", "notes.txt"]),
    ("export onto a folder", ["export", "t.sqlite", "--parquet", "emptydir"]),
    ("export under a file", ["export", "t.sqlite", "--parquet", "notes.txt/out.parquet"]),
    ("export onto another table", ["export", "t.sqlite", "--parquet", "grid.sqlite"]),
    ("export without --parquet", ["export", "t.sqlite"]),
    # fit
    ("fit missing table", fit_args(table="missing.sqlite")),
    ("fit text table", fit_args(table="notes.txt")),
    ("fit folder table", fit_args(table="emptydir")),
    ("fit other sqlite", fit_args(table="other.sqlite")),
    ("fit --out holds the table", ["fit", "t.sqlite", "--out", ".", *FIT]),
    ("fit --out is the table", ["fit", "t.sqlite", "--out", "t.sqlite", *FIT]),
    ("fit --out a foreign folder", ["fit", "t.sqlite", "--out", "study", *FIT]),
    ("fit --out a text file", ["fit", "t.sqlite", "--out", "notes.txt", *FIT]),
    ("fit --out under a file", ["fit", "t.sqlite", "--out", "notes.txt/s", *FIT]),
    ("fit --families comma", ["fit", "t.sqlite", "--out", "news", "--families", ","]),
    ("fit --families unknown", ["fit", "t.sqlite", "--out", "news", "--families", "svm"]),
    *bad_values("fit", fit_args(), "--folds", {"1": "1", "0": "0", "-1": "-1", "x": "x"}),
    *bad_values("fit", fit_args(), "--n-estimators", {"0": "0", "-5": "-5", "huge": "1000000000"}),
    ("fit --reference-samples 0", fit_args("--reference-samples", "0")),
    ("fit --threads 0", fit_args("--threads", "0")),
    *bad_values(
        "fit", fit_args(), "--targets", {"unknown": "accuracy", "without val_error": "test_error", "comma": ","}
    ),
    ("fit --seed x", fit_args("--seed", "x")),
    ("fit without --out", ["fit", "t.sqlite", *FIT]),
    ("fit below its gates", fit_args()),  # a tiny table's surrogate misses them: nothing written
    (
        "fit knn with fewer rows than neighbours",
        ["fit", "few.sqlite", "--out", "news", "--families", "knn", "--folds", "2", "--reference-samples", "10"],
    ),
    # validate
    *cases(
        "validate surrogate",
        lambda folder: validate_args(surrogate=folder),
        {"missing": "missing", "a plain folder": "emptydir", "a file": "notes.txt"},
    ),
    ("validate hostile surrogate", validate_args(surrogate="hostile")),
    ("validate --record hostile surrogate", validate_args("--record", surrogate="hostile")),
    *cases(
        "validate surrogate",
        lambda folder: validate_args(surrogate=folder),
        {
            "bad json": "s_badjson",
            "no models": "s_nomodels",
            "file traversal": "s_travfile",
            "missing model": "s_missing",
            "wrong hash": "s_hash",
            "budgets text": "s_budgets",
        },
    ),
    *cases(
        "validate table",
        lambda table: validate_args(table=table),
        {"missing": "missing.sqlite", "text": "notes.txt", "folder": "emptydir", "other sqlite": "other.sqlite"},
    ),
    *bad_values("validate", validate_args(), "--top", {"0": "0", "-1": "-1", "x": "x"}),
    ("validate --jobs 0", validate_args("--jobs", "0")),
    *bad_values(
        "validate",
        validate_args(),
        "--out",
        {
            "is the table": "t.sqlite",
            "is the manifest": "surr/manifest.json",
            "a folder": "emptydir",
            "under a file": "notes.txt/x",
        },
    ),
    ("validate without --table", ["validate", "--surrogate", "surr"]),
    # replay
    ("replay unknown benchmark", replay_args(benchmarks="nothere")),
    ("replay benchmark comma", replay_args(benchmarks=",")),
    ("replay benchmark empty", replay_args(benchmarks="")),
    ("replay benchmark text file", replay_args(benchmarks="notes.txt")),
    ("replay benchmark binary sqlite", replay_args(benchmarks="blob.sqlite")),
    ("replay benchmark other sqlite", replay_args(benchmarks="other.sqlite")),
    ("replay benchmark plain folder", replay_args(benchmarks="emptydir")),
    ("replay benchmark hostile surrogate", replay_args(benchmarks="hostile")),
    ("replay benchmark surrogate bad json", replay_args(benchmarks="s_badjson")),
    ("replay benchmark surrogate traversal", replay_args(benchmarks="s_travfile")),
    ("replay benchmark surrogate name traversal", replay_args(benchmarks="s_travname")),
    ("replay benchmark table name traversal", replay_args(benchmarks="evil.sqlite")),
    ("replay benchmark partial grid", replay_args(benchmarks="grid.sqlite")),
    ("replay surrogate@missing", replay_args(benchmarks="surr@missing.sqlite")),
    ("replay missing@table", replay_args(benchmarks="missing@t.sqlite")),
    ("replay twice the same", replay_args(benchmarks="synthetic-grid,synthetic-grid")),
    ("replay unreachable dask", replay_args("--dask", "tcp://127.0.0.1:9")),
    ("replay unreachable ray", replay_args("--ray", "127.0.0.1:1")),
    ("replay --ray with --dask", replay_args("--ray", "local", "--dask", "tcp://127.0.0.1:9")),
    ("replay unknown optimizer", replay_args("--optimizers", "nothere")),
    ("replay optimizer comma", replay_args("--optimizers", ",")),
    ("replay optimizer bad target", replay_args("--optimizers", "nomodule:Nothing")),
    ("replay optimizer not a class", replay_args("--optimizers", "os:getcwd")),
    ("replay --seeds letters", replay_args("--seeds", "a")),
    ("replay --seeds empty", replay_args("--seeds", "")),
    *bad_values(
        "replay",
        replay_args(),
        "--budget",
        {"letters": "lots", "zero": "0", "negative": "-5", "0x": "0x", "nan": "nan", "inf": "infx"},
    ),
    ("replay --workers 0", replay_args("--workers", "0")),
    ("replay --jobs 0", replay_args("--jobs", "0")),
    ("replay --max-evals 0", replay_args("--max-evals", "0")),
    ("replay --out a text file", replay_args("--out", "notes.txt")),
    ("replay --out under a file", replay_args("--out", "notes.txt/x")),
    ("replay --out other settings", replay_args("--out", "study", "--budget", "7x")),
    ("replay --out bad manifest", replay_args("--out", "badstudy")),
    ("replay --out manifest a list", replay_args("--out", "liststudy")),
    ("replay --out manifest runs wrong type", replay_args("--out", "typestudy")),
    # tune
    ("tune unknown dataset", [*TUNE, "--dataset", "imagenet"]),
    ("tune unknown optimizer", [*TUNE, "--optimizer", "nothere"]),
    ("tune unknown space", [*TUNE, "--space", "transformer"]),
    *bad_values("tune", TUNE, "--budget", {"letters": "lots", "zero": "0x", "negative": "-3"}),
    ("tune --device tpu", [*TUNE, "--device", "tpu"]),
    *bad_values("tune", TUNE, "--budgets", {"zero": "0,1", "repeated": "1,1", "empty": ""}),
    ("tune --seed -1", [*TUNE, "--seed", "-1"]),
    ("tune --max-evals 0", [*TUNE, "--max-evals", "0"]),
    ("tune --db a folder", ["tune", "--out", "newtune", "--db", "emptydir"]),
    ("tune --db a text file", ["tune", "--out", "newtune", "--db", "notes.txt"]),
    ("tune --db under a file", ["tune", "--out", "newtune", "--db", "notes.txt/x.sqlite"]),
    ("tune --out a text file", ["tune", "--out", "notes.txt", "--db", "newtune.sqlite"]),
    ("tune --out a replay", ["tune", "--out", "study", "--db", "newtune.sqlite", "--budget", "60"]),
    # report
    ("report missing", ["report", "missing"]),
    ("report a file", ["report", "notes.txt"]),
    ("report a plain folder", ["report", "emptydir"]),
    ("report bad manifest", ["report", "badstudy"]),
    ("report manifest a list", ["report", "liststudy"]),
    ("report manifest empty object", ["report", "emptystudy"]),
    ("report manifest runs wrong type", ["report", "typestudy"]),
    *bad_values(
        "report", ["report", "study"], "--budgets", {"letters": "x", "zero": "0", "above one": "2", "empty": ""}
    ),
    *bad_values("report", ["report", "study"], "--alpha", {"0": "0", "1.5": "1.5", "x": "x"}),
    ("report --out a file", ["report", "study", "--out", "notes.txt"]),
    ("report --out under a file", ["report", "study", "--out", "notes.txt/r"]),
    # cd
    ("cd missing", ["cd", "missing.csv"]),
    ("cd a folder", ["cd", "emptydir"]),
    ("cd binary", ["cd", "blob.bin"]),
    ("cd empty file", ["cd", "empty.txt", "--out", "x.png"]),
    ("cd header only", ["cd", "header.csv", "--out", "x.png"]),
    ("cd one column", ["cd", "onecol.csv", "--out", "x.png"]),
    ("cd one method", ["cd", "onemethod.csv", "--out", "x.png"]),
    ("cd text values", ["cd", "strings.csv", "--out", "x.png"]),
    ("cd a table", ["cd", "t.sqlite", "--out", "x.png"]),
    ("cd --out its input", ["cd", "results.csv", "--out", "results.csv"]),
    ("cd --out unknown extension", ["cd", "results.csv", "--out", "x.docx"]),
    ("cd --out a folder", ["cd", "results.csv", "--out", "emptydir"]),
    ("cd --out under a file", ["cd", "results.csv", "--out", "notes.txt/x.png"]),
    *bad_values("cd", CD, "--json", {"its input": "results.csv", "a folder": "emptydir"}),
    *bad_values("cd", CD, "--alpha", {"0": "0", "2": "2", "x": "x"}),
]


# --------------------------------------------------------------------------------------
# The prepared folder
# --------------------------------------------------------------------------------------


def _hostile(folder: Path) -> None:
    """A real exploit inserted into the val_error model (see test_surrogate_security)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    f = folder / manifest["models"]["val_error"]["file"]
    with zipfile.ZipFile(f) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"]["evil"] = evil_node(folder.parent.parent / "PWNED")
    schema["content"]["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode", "__id__": 900000006}
    )
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(f, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    manifest["models"]["val_error"]["sha256"] = sha256_file(f)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _variant(world: Path, name: str, edit) -> None:
    shutil.copytree(world / "surr", world / name)
    m = json.loads((world / name / "manifest.json").read_text())
    out = edit(m, world / name)
    (world / name / "manifest.json").write_text(out if isinstance(out, str) else json.dumps(m))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    w = root / "world"
    w.mkdir()
    make_tiny_table(w / "t.sqlite", "cnn", 24, (0, 1), (1, 3))
    make_tiny_table(w / "evil.sqlite", "cnn-grid", None, (0,), (1, 3))
    con = sqlite3.connect(w / "evil.sqlite")
    with con:
        con.execute("UPDATE meta SET value='../../evil' WHERE key='benchmark'")
    con.close()
    make_tiny_table(w / "grid.sqlite", "cnn-grid", 4, (0,), (1, 3))
    make_tiny_table(w / "few.sqlite", "cnn", 4, (0,), (1,))
    con = sqlite3.connect(w / "other.sqlite")
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    fit_surrogate(
        w / "t.sqlite",
        w / "surr",
        families=("extra_trees",),
        folds=2,
        n_estimators=2,
        n_reference=10,
        threads=1,
        allow_below_gate=True,
    )
    shutil.copytree(w / "surr", w / "hostile")
    _hostile(w / "hostile")
    _variant(w, "s_badjson", lambda m, d: "{not json")
    _variant(w, "s_nomodels", lambda m, d: m.pop("models"))
    _variant(w, "s_travfile", lambda m, d: m["models"]["val_error"].update(file="../surr/val_error.skops"))
    _variant(w, "s_travname", lambda m, d: m.update(name="../../evil"))
    _variant(w, "s_format", lambda m, d: m.update(format="keras"))
    _variant(w, "s_missing", lambda m, d: (d / m["models"]["val_error"]["file"]).unlink())
    _variant(w, "s_hash", lambda m, d: m["models"]["val_error"].update(sha256="0" * 64))
    _variant(w, "s_list", lambda m, d: "[1, 2]")
    _variant(w, "s_budgets", lambda m, d: m.update(budgets="1,3"))
    (w / "notes.txt").write_text("my notes\n")
    (w / "empty.txt").write_text("")
    (w / "blob.bin").write_bytes(bytes(range(256)) * 64)
    (w / "blob.json").write_bytes(bytes(range(256)) * 4)
    (w / "blob.sqlite").write_bytes(bytes(range(256)) * 4)
    (w / "emptydir").mkdir()
    (w / "configs.json").write_text(json.dumps([TINY]))
    (w / "configs_empty.json").write_text("[]")
    (w / "configs_bad.json").write_text("[{")
    (w / "configs_obj.json").write_text("{}")
    (w / "configs_keys.json").write_text(json.dumps([{**TINY, "nope": 1}]))
    (w / "configs_vals.json").write_text(json.dumps([{**TINY, "width": -5}]))
    (w / "configs_bad.csv").write_text('architecture,width\n"resnet,4\n')
    (w / "results.csv").write_text("block,method,value\nb1,a,1\nb1,b,2\nb2,a,1\nb2,b,3\nb3,a,2\nb3,b,1\n")
    (w / "header.csv").write_text("block,method,value\n")
    (w / "onecol.csv").write_text("value\n1\n2\n")
    (w / "onemethod.csv").write_text("block,method,value\nb1,a,1\nb2,a,2\n")
    (w / "strings.csv").write_text("block,method,value\nb1,a,x\nb1,b,y\nb2,a,z\nb2,b,w\n")
    replay(["synthetic-grid"], ["random"], [0], "2x", jobs=1, out=w / "study", progress=False)
    (w / "badstudy").mkdir()
    (w / "badstudy" / "manifest.json").write_text("{oops")
    for name, text in (("liststudy", "[1, 2]"), ("emptystudy", "{}")):
        (w / name).mkdir()
        (w / name / "manifest.json").write_text(text)
    shutil.copytree(w / "study", w / "typestudy")
    m = json.loads((w / "typestudy" / "manifest.json").read_text())
    m["runs"] = "all of them"
    (w / "typestudy" / "manifest.json").write_text(json.dumps(m))
    cache = root / "cache"
    cache.mkdir()
    return w, cache


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_enough_distinct_cases():
    assert len({tuple(a) for _, a in CASES}) == len(CASES) >= 150


@pytest.mark.parametrize("argv", [a for _, a in CASES], ids=[i for i, _ in CASES])
def test_bad_input(world, argv, capsys, monkeypatch):
    w, cache = world
    monkeypatch.chdir(w)
    monkeypatch.setenv("MFBENCH_CACHE", str(cache))
    before, cache_before = snapshot(w), snapshot(cache)
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}; stderr: {err!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error" in lines[0], err
    assert snapshot(w) == before
    assert snapshot(cache) == cache_before
    assert not (w.parent / "PWNED").exists()
