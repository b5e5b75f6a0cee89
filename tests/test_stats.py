"""Statistics against Demšar (2006), and the results-table reader behind ``mfbench cd``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from scipy import stats as sst

from mfbench.analysis import stats as S
from mfbench.cli import main
from mfbench.core.errors import UsageError

NAMES = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
DATASETS = [
    "adult (sample)",
    "breast cancer",
    "breast cancer wisconsin",
    "cmc",
    "ionosphere",
    "iris",
    "liver disorders",
    "lung cancer",
    "lymphography",
    "mushroom",
    "primary tumor",
    "rheum",
    "voting",
    "wine",
]
# Demšar (2006), Table 6: AUC, higher is better.
AUC = np.array(
    [
        [0.763, 0.768, 0.771, 0.798],
        [0.599, 0.591, 0.590, 0.569],
        [0.954, 0.971, 0.968, 0.967],
        [0.628, 0.661, 0.654, 0.657],
        [0.882, 0.888, 0.886, 0.898],
        [0.936, 0.931, 0.916, 0.931],
        [0.661, 0.668, 0.609, 0.685],
        [0.583, 0.583, 0.563, 0.625],
        [0.775, 0.838, 0.866, 0.875],
        [1.000, 1.000, 1.000, 1.000],
        [0.940, 0.962, 0.965, 0.962],
        [0.619, 0.666, 0.614, 0.669],
        [0.972, 0.981, 0.975, 0.975],
        [0.957, 0.978, 0.946, 0.970],
    ]
)


def table6(exact_voting: bool = True) -> pd.DataFrame:
    """Table 6 as printed; with ``exact_voting`` the voting row follows the paper's own ranks.

    The paper prints 0.975 for both C4.5+cf and C4.5+m+cf on voting but ranks them 2 and 3
    (it ranked unrounded AUCs). 0.9752 and 0.9748 both print as 0.975 and give those ranks.
    """
    a = AUC.copy()
    if exact_voting:
        a[12, 2], a[12, 3] = 0.9752, 0.9748
    return pd.DataFrame(a, index=DATASETS, columns=NAMES)


def test_demsar_worked_example_published_numbers():
    c = S.compare_optimizers(table6(), higher_is_better=True, alpha=0.05)
    # average ranks 3.143, 2.000, 2.893, 1.964
    assert [round(c.average_ranks[m], 3) for m in NAMES] == [3.143, 2.000, 2.893, 1.964]
    assert round(c.friedman_chi2, 2) == 9.28
    assert round(c.iman_davenport_f, 2) == 3.69
    assert c.iman_davenport_df == (3, 39)
    # "the critical value of F(3, 39) for alpha = 0.05 is 2.85, so we reject the null-hypothesis"
    assert round(float(sst.f.ppf(0.95, 3, 39)), 2) == 2.85
    assert c.significant
    # Nemenyi: q_0.05 = 2.569, CD = 1.25; even the best-worst difference (1.179) is below it
    assert round(c.q_alpha, 3) == 2.569
    assert round(c.critical_difference, 2) == 1.25
    assert c.nemenyi_pairs() == []
    assert c.cd_cliques == [["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]]


def test_demsar_alpha_010_two_groups():
    c = S.compare_optimizers(table6(), higher_is_better=True, alpha=0.10)
    # q_0.10 = 2.291, CD = 1.12: pure C4.5 is worse than C4.5+m and C4.5+m+cf; C4.5+cf undecided
    assert round(c.q_alpha, 3) == 2.291
    assert round(c.critical_difference, 2) == 1.12
    assert sorted(c.nemenyi_pairs()) == [("C4.5", "C4.5+m"), ("C4.5", "C4.5+m+cf")]
    assert c.cd_cliques == [["C4.5+m+cf", "C4.5+m", "C4.5+cf"], ["C4.5+cf", "C4.5"]]


def test_demsar_bonferroni_dunn_and_holm_against_control():
    avg = S.compare_optimizers(table6(), higher_is_better=True).average_ranks
    # Table 5(b): q_0.05 = 2.394 for 4 classifiers; the paper rounds 2.394 * 0.488 = 1.168 to 1.16
    cd = S.bonferroni_dunn_cd(4, 14, 0.05)
    assert cd == pytest.approx(2.394 * np.sqrt(20 / 84), abs=1e-3) and abs(cd - 1.16) < 0.01
    assert avg["C4.5"] - avg["C4.5+m+cf"] > cd > avg["C4.5"] - avg["C4.5+m"]
    # z-tests against C4.5 with Holm: p = 0.016, 0.019, 0.607; the first two are rejected
    t = S.control_tests(avg, 14, "C4.5")
    ps = [t.loc[m, "p"] for m in ("C4.5+m+cf", "C4.5+m", "C4.5+cf")]
    assert ps == pytest.approx([0.016, 0.019, 0.607], abs=2e-3)  # the paper used ranks rounded to 3 decimals
    assert list(t["reject"]) == [True, False, True]  # rows: C4.5+m, C4.5+cf, C4.5+m+cf


def test_ties_averaged_as_printed_table():
    # the table as printed (voting tied): ties share ranks, so the published ranks are not reproduced
    c = S.compare_optimizers(table6(exact_voting=False), higher_is_better=True)
    assert round(c.average_ranks["C4.5+cf"], 3) == 2.929 and round(c.average_ranks["C4.5+m+cf"], 3) == 1.929
    r = c.ranks.loc["mushroom"]
    assert list(r) == [2.5, 2.5, 2.5, 2.5]
    assert list(c.ranks.loc["iris"]) == [1.0, 2.5, 4.0, 2.5]


def test_friedman_matches_scipy_without_ties_and_direction():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(9, 5)), columns=list("abcde"))
    lower = S.compare_optimizers(x, higher_is_better=False)
    assert lower.friedman_chi2 == pytest.approx(sst.friedmanchisquare(*x.to_numpy().T).statistic)
    assert lower.friedman_p == pytest.approx(sst.friedmanchisquare(*x.to_numpy().T).pvalue)
    higher = S.compare_optimizers(x, higher_is_better=True)
    assert np.allclose(higher.average_ranks + lower.average_ranks, 6.0)  # k + 1


def test_wilcoxon_zsplit_reproduces_demsar_table2():
    # C4.5 vs C4.5+m (Demšar section 3.1.3): R+ = 93, R- = 12, T = 12 <= 21, reject at 0.05.
    # integers in thousandths so that the equal differences (0.005, 0.000) tie exactly
    a, b = np.round(AUC[:, 0] * 1000), np.round(AUC[:, 1] * 1000)
    res = sst.wilcoxon(b, a, zero_method="zsplit")
    assert res.statistic == 12.0 and res.pvalue < 0.05
    holm, raw = S.wilcoxon_holm(pd.DataFrame({"C4.5": a, "C4.5+m": b}))
    assert raw.loc["C4.5", "C4.5+m"] == pytest.approx(res.pvalue)
    assert holm.loc["C4.5", "C4.5+m"] == pytest.approx(res.pvalue)  # one test: Holm changes nothing


def test_wilcoxon_holm_is_adjusted_and_cliques():
    rng = np.random.default_rng(1)
    base = rng.normal(size=12)
    x = pd.DataFrame(
        {"a": base, "b": base + 2 + rng.normal(0, 0.1, 12), "c": base + 2 + rng.normal(0, 0.1, 12), "d": base}
    )  # a == d exactly: all zero differences
    holm, raw = S.wilcoxon_holm(x)
    assert (holm.to_numpy() >= raw.to_numpy() - 1e-15).all()
    assert holm.loc["a", "d"] == 1.0
    assert holm.loc["a", "b"] < 0.05 and holm.loc["d", "c"] < 0.05
    assert S.nonsignificant_cliques(holm, 0.05) == [["a", "d"], ["b", "c"]]


def test_missing_cells_drop_block_and_are_listed():
    x = table6()
    x.iloc[3, 1] = np.nan
    c = S.compare_optimizers(x, higher_is_better=True)
    assert c.n_blocks == 13 and "cmc" not in c.blocks
    assert c.dropped_blocks == [{"block": "cmc", "reason": "missing value for C4.5+m"}]
    with pytest.raises(UsageError):
        S.compare_optimizers(x.iloc[:2].assign(**{"C4.5": np.nan}))


def test_all_blocks_identical_is_not_significant():
    x = pd.DataFrame(np.ones((6, 3)), columns=["a", "b", "c"])
    c = S.compare_optimizers(x)
    assert c.friedman_chi2 == 0.0 and c.iman_davenport_p == 1.0 and not c.significant
    json.dumps(c.to_dict())  # finite numbers or null, serialisable


def test_perfect_agreement_gives_infinite_f_and_null_in_json():
    x = pd.DataFrame(np.tile([1.0, 2.0, 3.0], (5, 1)), columns=["a", "b", "c"])
    c = S.compare_optimizers(x)
    assert c.iman_davenport_p == 0.0 and c.significant
    d = json.loads(json.dumps(c.to_dict()))
    assert d["iman_davenport"]["F"] is None and d["average_ranks"] == {"a": 1.0, "b": 2.0, "c": 3.0}


def test_load_results_long_and_wide(tmp_path):
    wide = table6()
    wide.rename_axis("Dataset").to_csv(tmp_path / "wide.csv")
    long = wide.rename_axis("DataSet").reset_index().melt(id_vars="DataSet", var_name="Algorithm", value_name="AUC")
    long.sample(frac=1.0, random_state=0).to_csv(tmp_path / "long.csv", index=False)
    a, b = S.load_results(tmp_path / "wide.csv"), S.load_results(tmp_path / "long.csv")
    assert list(a.columns) == NAMES and a.shape == (14, 4)
    pd.testing.assert_frame_equal(a.sort_index(), b.loc[:, NAMES].sort_index(), check_names=False)
    long.iloc[:-1].to_csv(tmp_path / "hole.csv", index=False)  # one cell missing
    c = S.compare_optimizers(S.load_results(tmp_path / "hole.csv"), higher_is_better=True)
    assert c.n_blocks == 13 and len(c.dropped_blocks) == 1
    pd.concat([long, long.iloc[:1]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(UsageError, match="more than one value"):
        S.load_results(tmp_path / "dup.csv")
    (tmp_path / "bad.csv").write_text("block,x,y\nA,1,oops\nB,2,3\n")
    with pytest.raises(UsageError, match="non-numeric"):
        S.load_results(tmp_path / "bad.csv")


def test_cd_cli_writes_figure_and_stats(tmp_path, capsys):
    table6().rename_axis("dataset").to_csv(tmp_path / "r.csv")
    out, js = tmp_path / "cd.png", tmp_path / "stats.json"
    assert main(["cd", str(tmp_path / "r.csv"), "--out", str(out), "--json", str(js), "--higher-is-better"]) == 0
    img = plt.imread(out)
    assert img.ndim == 3 and len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 2, "a blank figure"
    d = json.loads(js.read_text())
    assert round(d["friedman"]["chi2"], 2) == 9.28 and round(d["critical_difference"]["value"], 2) == 1.25
    assert round(d["iman_davenport"]["F"], 2) == 3.69 and len(d["pairwise"]) == 6
    assert d["direction"] == "higher is better" and d["dropped_blocks"] == []
    printed = capsys.readouterr().out
    assert "C4.5+m+cf" in printed and "Would the verdict reproduce?" in printed
    sh = d["split_half"]  # 14 data sets: halves of 7
    assert sh["n_half"] == 7 and -1.0 <= sh["split_half_spearman_mean"] <= 1.0 and sh["reading"] in printed
    # without --higher-is-better the ranks flip (AUC read as lower-is-better)
    assert main(["cd", str(tmp_path / "r.csv"), "--out", str(out), "--json", str(js)]) == 0
    assert round(json.loads(js.read_text())["average_ranks"]["C4.5"], 3) == round(5 - 3.143, 3)


def test_cd_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["cd", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mfbench cd: error:") and "\n" not in err
    (tmp_path / "one.csv").write_text("block,a\nx,1\ny,2\n")
    assert main(["cd", str(tmp_path / "one.csv")]) == 2
    assert "at least 2 methods" in capsys.readouterr().err


def test_wilcoxon_p_equals_scipy_in_every_regime():
    rng = np.random.default_rng(3)
    cases = [
        (rng.normal(size=9), rng.normal(size=9)),  # no ties: scipy's exact distribution
        (np.round(rng.normal(size=8), 1), np.round(rng.normal(size=8), 1)),  # ties, n <= 13: permutation
        (np.r_[np.zeros(3), rng.normal(size=5)], np.zeros(8)),  # zeros, n <= 13: permutation
        (np.round(rng.normal(size=20), 1), np.round(rng.normal(size=20), 1)),  # ties, n > 13: normal approx.
    ]
    for a, b in cases:
        assert S.wilcoxon_p(a, b) == pytest.approx(sst.wilcoxon(a, b, zero_method="zsplit").pvalue, rel=1e-9)


# ---- split-half reliability ------------------------------------------------------------------


def test_split_half_perfectly_stable_ranking_is_one():
    """Every block ranks the methods the same way (different values, same order): rho = 1 on every split."""
    from mfbench.analysis.stats import split_half

    rng = np.random.default_rng(0)
    base = np.arange(8, dtype=float)
    scores = pd.DataFrame(base + rng.random((10, 1)) * 5 + rng.random((10, 8)) * 0.1)  # order kept per block
    r = split_half(scores, n_splits=500)
    assert r.n_half == 5 and r.n_undefined == 0
    assert r.mean == pytest.approx(1.0) and r.p05 == pytest.approx(1.0) and r.full == pytest.approx(1.0)
    assert r.reproduces and "would reproduce" in r.reading()
    # benchmarks as blocks share the optimizers' seeds: the reading says what the rerun keeps
    assert "same optimizer seeds" in split_half(scores, n_splits=50, block_word="benchmarks").reading()
    assert "same optimizer seeds" not in split_half(scores, n_splits=50, block_word="seeds").reading()


def test_split_half_pure_noise_is_about_zero():
    """Scores of pure noise: two halves' average ranks are independent, so E[rho] = 0.

    One data set's split-half mean is itself a random quantity (SD about 1/sqrt(k - 1) = 1/3 for
    k = 10 methods: the splits share the data), so average it over 60 independent data sets:
    the grand mean has SD <= 1/3/sqrt(60) = 0.043; 0.13 is three of those.
    """
    from mfbench.analysis.stats import split_half

    rng = np.random.default_rng(7)
    means = [split_half(pd.DataFrame(rng.normal(size=(12, 10))), n_splits=200, seed=i).mean for i in range(60)]
    assert abs(float(np.mean(means))) < 0.13
    one = split_half(pd.DataFrame(rng.normal(size=(12, 10))), n_splits=200)
    assert not one.reproduces and "would not reproduce" in one.reading()


def test_split_half_direction_and_odd_blocks():
    """higher_is_better flips the ranks but not the agreement; an odd block count leaves one out."""
    from mfbench.analysis.stats import split_half

    rng = np.random.default_rng(3)
    scores = pd.DataFrame(np.arange(6.0) + rng.normal(0, 1.0, (9, 6)))
    lo, hi = split_half(scores, n_splits=300), split_half(scores, n_splits=300, higher_is_better=True)
    assert lo.n_half == 4 and lo.mean == pytest.approx(hi.mean)
    assert split_half(scores.iloc[:3]).n_splits == 0  # halves of one block: not measurable
    assert "not measurable" in split_half(scores.iloc[:3]).reading()


def test_spearman_brown_by_hand():
    from mfbench.analysis.stats import blocks_needed, spearman_brown

    # rho = 0.6 doubled: 2 * 0.6 / (1 + 0.6) = 1.2 / 1.6 = 0.75
    assert spearman_brown(0.6, 2.0) == pytest.approx(0.75)
    # halved: 0.5 * 0.75 / (1 - 0.5 * 0.75) = 0.375 / 0.625 = 0.6 (the inverse)
    assert spearman_brown(0.75, 0.5) == pytest.approx(0.6)
    # rho = 0.6 on halves of 5 blocks, target 0.9: k = 0.9 * 0.4 / (0.6 * 0.1) = 6 -> 30 blocks
    assert blocks_needed(0.6, 5, 0.9) == 30
    # rho = 0.79 on 5: k = 0.9 * 0.21 / (0.79 * 0.1) = 2.392... -> 11.96 -> 12 blocks
    assert blocks_needed(0.79, 5, 0.9) == 12
    assert blocks_needed(0.0, 5) == float("inf") and blocks_needed(-0.2, 5) == float("inf")
    # the prophecy at the blocks needed reaches the target
    assert spearman_brown(0.6, 30 / 5) == pytest.approx(0.9)
