"""Notebook display of result objects: a short ``repr`` (a summary, never a table dump) and a
``_repr_html_`` (a heading with the same summary, then a styled table, one row per effect).

Every object is built through the public API, small: the PyMC fits are module-scoped and short
(their diagnostics may fail; the display must say so, not hide it).
"""

from __future__ import annotations

import html as html_lib
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from causalgia import backgrounds as bgs
from causalgia.checks.controls import CheckResult, ControlReport, evaluate_controls
from causalgia.experiment.designs import design, sweep_positions
from causalgia.lab import concordance, controlled_concordance, lab_effects, library_table
from causalgia.lab.measurements import Measurements
from causalgia.pooling import SbcResult, calibrate, fit_count_model, fit_hierarchical
from causalgia.stats import additivity, contrast, estimate_ace, positional_curve

# -- helpers ------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Collects every <table>: its header cells and the text cells of each body row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.where: list[str] = []
        self.cell: list[str] | None = None
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "iframe", "link", "img"}:
            self.errors.append(tag)
        if tag == "table":
            self.tables.append({"header": [], "rows": []})
        elif tag in {"thead", "tbody"}:
            self.where.append(tag)
        elif tag == "tr" and self.tables and self.where and self.where[-1] == "tbody":
            self.tables[-1]["rows"].append([])
        elif tag in {"td", "th"} and self.tables:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in {"thead", "tbody"} and self.where:
            self.where.pop()
        elif tag in {"td", "th"} and self.cell is not None:
            text = "".join(self.cell).strip()
            t = self.tables[-1]
            if self.where and self.where[-1] == "tbody" and t["rows"]:
                t["rows"][-1].append(text)
            elif self.where and self.where[-1] == "thead":
                t["header"].append(text)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def parse(html: str) -> list[dict]:
    parser = _Tables()
    parser.feed(html)
    parser.close()
    assert not parser.errors, parser.errors  # self-contained: no scripts, no fetched resources
    assert html.lstrip().startswith('<div class="causalgia-result">')
    assert html.rstrip().endswith("</div>")
    return parser.tables


def check_repr(obj, frame: pd.DataFrame, *headline: str) -> str:
    text = repr(obj)
    lines = text.splitlines()
    assert 1 <= len(lines) <= 5, text
    assert all(len(line) <= 100 for line in lines), text
    assert lines[0].startswith(type(obj).__name__), text
    for part in headline:
        assert part in text, (part, text)
    # not a DataFrame dump: no header row of the table, no "[n rows x m columns]"
    header = frame.to_string(index=False).splitlines()[0]
    assert header not in text and "rows x" not in text and "DataFrame" not in text
    return text


def check_html(obj, frame: pd.DataFrame, column: str, table: int = 0) -> dict:
    """The HTML has a heading with the repr's first line and `frame` as table number `table`."""
    html = obj._repr_html_()
    assert isinstance(html, str)
    first = repr(obj).splitlines()[0]
    assert html_lib.escape(first) in html
    tables = parse(html)
    t = tables[table]
    assert len(t["rows"]) == len(frame)
    assert t["header"][: len(frame.columns)] == [str(c) for c in frame.columns]
    j = t["header"].index(column)
    shown = [row[j] for row in t["rows"]]
    expected = ["" if math.isnan(v) else f"{v:.4f}" for v in frame[column].astype(float)]
    assert shown == expected
    return t


def ci_text(lo: float, hi: float, fmt: str) -> str:
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


# -- stats --------------------------------------------------------------------------------------


def paired_table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for j, effect in enumerate([0.0, 0.5, 2.0]):
        ice = effect + rng.normal(0, 0.5, 20)
        rows.append(pd.DataFrame({"experiment": "pos", "label": f"p{j}", "position": j,
                                  "background_id": range(20), "ice": ice}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_ace_estimates():
    est = estimate_ace(paired_table())
    t = est.table
    top = t.iloc[int(np.argmax(t["ace"].abs()))]
    detected = int((t["q_value"] < 0.05).sum())
    check_repr(
        est, t, f"{len(t)} effects", "95% CI", f"method={est.method}",
        f"{detected} with q < 0.05", f"{top['experiment']} / {top['label']} = {top['ace']:+.4g}",
        ci_text(top["ci_low"], top["ci_high"], "+.4g"),
    )  # fmt: skip
    # frozen dataclass: the explicit __repr__ is kept, not replaced by the generated one
    assert "AceEstimates.__repr__" in type(est).__dict__["__repr__"].__qualname__
    check_html(est, t, "ace")
    check_html(est, t, "ci_high")


def test_contrast_additivity_and_curve():
    t = paired_table()
    res = contrast(t, {"p2": 1.0, "p1": -1.0})
    row = res.table.iloc[0]
    check_repr(res, res.table, "1 contrast(s)", f"= {row['estimate']:+.4g}",
               f"p={row['p_value']:.3g}")  # fmt: skip
    check_html(res, res.table, "estimate")

    rng = np.random.default_rng(0)
    means = {1: 1.0, 2: 1.6, 3: 1.9}
    counts = pd.concat(
        [pd.DataFrame({"experiment": "count", "label": f"x{k}", "count": k,
                       "background_id": range(30), "ice": m + rng.normal(0, 0.1, 30)})
         for k, m in means.items()]
    )  # fmt: skip
    add = additivity(counts, n_resamples=50, rng=1)
    amp = add.fit.set_index("parameter").loc["amplitude"]
    check_repr(add, add.contrasts.table, "3 counts", "2 contrast(s)",
               f"amplitude={amp['estimate']:.4g}")  # fmt: skip
    check_html(add, add.contrasts.table, "estimate", table=0)
    check_html(add, add.curve, "ace", table=2)

    curve = positional_curve(t, experiment="pos")
    c = curve.curve
    check_repr(curve, c, f"{len(c)} points", f"from {c['ace'].min():.4g} to {c['ace'].max():.4g}")
    check_html(curve, c, "ace")


def test_long_tables_are_cut_in_the_html_not_the_repr():
    rng = np.random.default_rng(2)
    labels = np.repeat([f"m{i}" for i in range(70)], 4)
    t = pd.DataFrame({"experiment": "k", "label": labels, "background_id": np.tile(range(4), 70),
                      "ice": rng.normal(size=280)})  # fmt: skip
    est = estimate_ace(t)
    assert len(repr(est).splitlines()) <= 5
    html = est._repr_html_()
    assert len(parse(html)[0]["rows"]) == 60 and "first 60 of 70 rows" in html


def test_plain_html_without_jinja2(monkeypatch):
    """pandas' Styler needs jinja2 (not a dependency): the same table from DataFrame.to_html."""
    import causalgia.pooling.display as pooling_display
    import causalgia.stats.display as stats_display

    def missing(frame):
        raise ImportError("Missing optional dependency 'Jinja2'")

    monkeypatch.setattr(stats_display, "_style", missing)
    monkeypatch.setattr(pooling_display, "_style", missing)
    est = estimate_ace(paired_table())
    html = est._repr_html_()
    assert "<style" not in html and 'class="dataframe causalgia-table"' in html
    check_html(est, est.table, "ace")
    sbc = _sbc()
    assert "<style" not in sbc._repr_html_()
    check_html(sbc, sbc.uniformity(), "chi2")


# -- pooling ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hierarchical_fit():
    return fit_hierarchical(paired_table(), draws=100, tune=100, chains=2, random_seed=1,
                            diagnostics="ignore")  # fmt: skip


def test_hierarchical_fit(hierarchical_fit):
    fit, d = hierarchical_fit, hierarchical_fit.diagnostics
    t = fit.table
    top = t.iloc[int(np.argmax(t["post_mean"].abs()))]
    check_repr(
        fit, t, f"{len(t)} conditions", f"sampler={fit.settings['sampler']}",
        f"max R-hat {d.max_r_hat:.3f}", f"min bulk ESS {d.min_ess_bulk:.0f}",
        f"{d.divergences} divergences", "-> ok" if d.passed else "-> FAILED",
        f"{top['condition']} = {top['post_mean']:+.4g}",
    )  # fmt: skip
    check_html(fit, t, "post_mean")
    check_html(fit, fit.hyper, "post_mean", table=1)


def test_count_fit():
    rows = [{"experiment": "count", "motif": "A", "label": f"x{k}", "count": k,
             "ace": 1 - 0.5**k, "se": 0.05} for k in (1, 2, 3, 4)]  # fmt: skip
    fit = fit_count_model(pd.DataFrame(rows), draws=100, tune=100, chains=2, random_seed=1,
                          diagnostics="ignore")  # fmt: skip
    d, row = fit.diagnostics, fit.table.iloc[0]
    check_repr(
        fit, fit.table, "1 count curve(s)", f"max R-hat {d.max_r_hat:.3f}",
        f"{d.divergences} divergences", f"r = {row['r']:.3g}",
        ci_text(row["r_low"], row["r_high"], ".3g"),
    )  # fmt: skip
    html = fit._repr_html_()
    assert f"{row['family']}: {row['verdict']}" in html_lib.unescape(html)
    check_html(fit, fit.table.drop(columns="verdict"), "beta")  # the verdict is the caption
    check_html(fit, fit.curve, "ace", table=1)


def test_calibration():
    x = np.linspace(0, 1, 12)
    cal = calibrate(x, 1 + 2 * x + np.random.default_rng(0).normal(0, 0.1, 12), draws=100,
                    tune=100, chains=1, rng=0)  # fmt: skip
    slope = cal.table.set_index("parameter").loc["slope"]
    check_repr(cal, cal.table, "95% credible", "100 draws", f"slope {slope['mean']:+.4g}",
               ci_text(slope["hdi_low"], slope["hdi_high"], "+.4g"))  # fmt: skip
    check_html(cal, cal.table, "mean")


def _sbc() -> SbcResult:
    ranks = pd.DataFrame(
        {"replicate": [0, 1, 0, 1], "parameter": ["mu", "mu", "tau", "tau"], "truth": 0.0,
         "rank": [3, 97, 40, 60], "in_50": [False, False, True, True],
         "in_90": [True, False, True, True]}
    )  # fmt: skip
    return SbcResult(ranks, pd.DataFrame(), 99, {})


def test_sbc_result():
    sbc = _sbc()
    unif = sbc.uniformity()
    worst = unif.iloc[int(np.argmin(unif["p_value"]))]
    check_repr(sbc, sbc.ranks, "2 replicates", "2 parameters",
               f"smallest uniformity p {worst['p_value']:.3g} ({worst['parameter']})")  # fmt: skip
    check_html(sbc, unif, "chi2")


# -- checks -------------------------------------------------------------------------------------


def test_control_report():
    ace = pd.DataFrame({"experiment": ["pos", "neg", "neg2"], "label": ["m", "s", "t"],
                        "ace": [1.0, 0.01, 0.9], "se": [0.1, 0.02, 0.1],
                        "ci_low": [0.8, -0.03, 0.7], "ci_high": [1.2, 0.05, 1.1],
                        "p_value": [1e-6, 0.6, 1e-5]})  # fmt: skip
    good = evaluate_controls(ace, positive=["pos"], negative=["neg"])
    bad = evaluate_controls(ace, positive=["pos"], negative=["neg2"])
    informational = ControlReport(
        (*bad.results, CheckResult("note", None, pd.DataFrame({"x": [1.0]}), "just a number"))
    )
    for report in (good, bad, informational):
        marks = [{True: "PASS", False: "FAIL", None: "INFO"}[r.passed] for r in report]
        overall = {True: "pass", False: "FAILED", None: "none decided"}[report.passed]
        text = check_repr(
            report, report.to_frame(), f"{len(report)} checks",
            f"{marks.count('PASS')} PASS", f"{marks.count('FAIL')} FAIL",
            f"{marks.count('INFO')} INFO", overall,
        )  # fmt: skip
        assert all(f"{r.check_name} {m}" in text for r, m in zip(report, marks, strict=True))
        html = report._repr_html_()
        t = parse(html)[0]
        assert t["header"] == ["check", "verdict", "text"]
        assert [row[1] for row in t["rows"]] == marks
        assert [row[0] for row in t["rows"]] == [r.check_name for r in report]
        if "FAIL" in marks:
            assert "#f8d7d7" in html  # the FAIL colour
    assert not bad.passed and "1 FAIL" in repr(bad)
    neg = bad["negative"]
    check_repr(neg, neg.table, "CheckResult negative: FAIL", f"{len(neg.table)}-row table")
    assert len(parse(neg._repr_html_())[0]["rows"]) == len(neg.table)


# -- lab ----------------------------------------------------------------------------------------


def test_concordance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    c = concordance(x, x + rng.normal(size=40), n_resamples=200, rng=1)
    rho = c.table.set_index("statistic").loc["spearman_rho"]
    check_repr(
        c, c.table, f"n={int(rho['n'])}", f"Spearman rho {rho['estimate']:+.3f}",
        ci_text(rho["ci_low"], rho["ci_high"], "+.3f"), f"p={rho['p_value']:.3g}",
    )  # fmt: skip
    t = check_html(c, c.table, "estimate")
    assert [row[0] for row in t["rows"]] == c.table["statistic"].tolist()


def test_controlled_concordance():
    rng = np.random.default_rng(1)
    strata = rng.integers(0, 3, 150)
    x = rng.normal(size=150) + strata
    y = x + rng.normal(size=150)
    wrong = {"gc": strata + 0.1 * rng.normal(size=150)}
    c = controlled_concordance(x, y, strata=strata, baselines=wrong, n_resamples=100,
                               n_permutations=100, rng=0)  # fmt: skip
    mine = c.table[c.table["model"] == c.model].set_index("statistic")
    strat = mine.loc["stratified_spearman"]
    check_repr(
        c, c.table, "n=150", "1 wrong model(s)",
        f"within strata {strat['estimate']:+.2f}",
        ci_text(strat["ci_low"], strat["ci_high"], "+.2f"),
        f"survives the composition control: {'yes' if c.survives else 'no'}",
    )  # fmt: skip
    check_html(c, c.table, "estimate")
    check_html(c, c.strata, "spearman", table=1)


def test_lab_effects():
    d = design(bgs.iid(16), sweep_positions("GATA", [2, 8]), n=20, rng=2, kind="randomized")
    lib = library_table(d)
    value = np.where(lib["arm"] == "do", 1.0, 0.0) + 0.1 * (lib["background_id"] % 3)
    m = Measurements(pd.DataFrame({"construct_id": lib["construct_id"], "value": value,
                                   "replicate": 0}), "construct_id", "-")  # fmt: skip
    lab = lab_effects(m, lib)
    t = lab.ace.table
    check_repr(lab, t, f"LabEffects: {len(t)} effects", f"method={lab.ace.method}",
               f"{len(lab.unmeasured)} library constructs unmeasured")  # fmt: skip
    check_html(lab, t, "ace")
