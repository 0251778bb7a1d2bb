"""Designs with many arms: vectorised keys, batched fixed edits and grouped t tests.

Every fast path must give the same bits as the per-arm formula it replaces: keys against the
original ``unit_keys`` arithmetic, tables against a per-arm reference simulation, and ACE tables
against the per-group estimator path.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import causalgia.stats.estimators as est
from causalgia._rng import (
    keyed,
    keyed_many,
    label_code,
    mix64,
    purpose_base,
    purpose_bases,
    unit_keys,
)
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import (
    Arm,
    arm_keys,
    design,
    sweep_counts,
    sweep_positions,
    sweep_spacing,
)
from causalgia.experiment.hairpin import Hairpin
from causalgia.experiment.interventions import Ablate, Compose, Identity, Insert, Mutate, Substitute
from causalgia.sequences.motifs import Motif
from causalgia.stats.estimators import estimate_ace, paired_t, welch
from causalgia.testing import AdditiveOracle, NaNModel

_G = np.uint64(0x9E3779B97F4A7C15)
METHODS = ["paired_t", "welch", "cluster", "bootstrap_percentile", "bootstrap_bca", "permutation"]


def _old_unit_keys(seed: int, ids, *purpose) -> np.ndarray:
    """The original per-call formula of ``unit_keys``, in numpy uint64, kept as the reference."""

    def code(label):
        if isinstance(label, str):
            digest = hashlib.blake2b(label.encode(), digest_size=8).digest()
            return np.uint64(int.from_bytes(digest, "little"))
        return np.uint64(int(label) & 0xFFFFFFFFFFFFFFFF)

    with np.errstate(over="ignore"):
        base = mix64(np.array([seed], dtype=np.uint64) + _G)
        for label in purpose:
            base = mix64(base ^ code(label) + _G)
        ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
        return mix64(base ^ mix64(ids + _G) + _G)


PWM = Motif.from_counts([[8, 1, 1, 0], [0, 0, 10, 0], [9, 1, 0, 0], [0, 1, 0, 9]], name="pwm")


def _mixed_arms() -> list[Arm]:
    """Fixed and keyed interventions interleaved, so the two paths must be merged in order."""
    return (
        sweep_positions("GATAAG", [0, 10, 30])
        + sweep_positions(PWM, [17], experiment="pwm")
        + [
            Arm("rc", Substitute("GATAAG", 20, "-"), "strand"),
            Arm("mut", Mutate(5, "T"), "mutation"),
            Arm("mut2", Mutate(6, 2), "mutation"),
            Arm("two", Compose((Substitute("GATA", 2), Substitute("GATA", 25))), "pair"),
            Arm("twopwm", Compose((Substitute(PWM, 2), Mutate(25, "A"))), "pair"),
            Arm("placebo", Identity(), "placebo"),
            Arm("ins", Insert("GG", 7), "ins"),
            Arm("abl", Ablate(10, 18, fill="shuffle"), "abl"),
            Arm("iupac", Substitute("GAYN", 12), "iupac"),
            Arm("cons", Substitute(PWM, 12, "-", instance="consensus"), "iupac"),
            Arm("hp", Hairpin("GCAUG", 5, context="loop", stem_length=4, loop_length=7), "hp"),
        ]
        + sweep_counts("GATA", [1, 2], positions=[2, 20])
        + sweep_spacing("GATA", [0, 3], start=2, orientations=("+", "-"))
    )


def _kmer_arms(k: int = 3) -> list[Arm]:
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    return [Arm(m, Substitute(m, 10), "screen", {"kmer": m}) for m in kmers]


def _model() -> object:
    return as_model(AdditiveOracle(np.random.default_rng(0).normal(size=(40, 4))), batch_size=64)


def _reference_table(model, d) -> pd.DataFrame:
    """The paired ICE table computed arm by arm with the original key formula."""
    ids = d.background_ids
    bg = d.background.generate(ids, d.seed)
    y0 = model.predict(bg)
    frames = []
    for arm in d.arms:
        keys = _old_unit_keys(d.seed, ids, "arm", arm.experiment, arm.label)
        do = arm.intervention.apply_keyed(bg, keys)
        y = y0.copy()
        diff = np.any(do != bg, axis=1)
        if diff.any():
            y[diff] = model.predict(do[diff])
        frames.append(
            pd.DataFrame(
                {"experiment": arm.experiment, "label": arm.label, "background_id": ids, "y_do": y}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["y_control"] = np.tile(y0, len(d.arms))
    return out


# ---------------------------------------------------------------- keys
@pytest.mark.parametrize("seed", [0, 1, 2**40 + 7, 2**63 - 1])
def test_arm_keys_equal_the_original_per_call_formula(seed: int) -> None:
    ids = np.array([0, 1, 5, 2**31, 2**62], dtype=np.int64)
    arms = _mixed_arms()[:6] + [Arm("ü-label", Identity(), "expé")]
    expected = np.stack([_old_unit_keys(seed, ids, "arm", a.experiment, a.label) for a in arms])
    for arm, row in zip(arms, expected, strict=True):
        np.testing.assert_array_equal(arm.keys(seed, ids), row)
        np.testing.assert_array_equal(unit_keys(seed, ids, "arm", arm.experiment, arm.label), row)
    got = arm_keys(arms, seed, ids)
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "purpose", [(), ("background",), ("arm", "e", "l"), (3, "x", -1), (2**64 - 1,)]
)
def test_unit_keys_and_bases_equal_the_original_formula(purpose) -> None:
    ids = [0, 3, 2**40, 2**63 - 1]
    for seed in (0, 5, 2**63 - 1):
        ref = _old_unit_keys(seed, ids, *purpose)
        np.testing.assert_array_equal(unit_keys(seed, ids, *purpose), ref)
        codes = [label_code(p) for p in purpose]
        base = purpose_base(seed, codes)
        np.testing.assert_array_equal(keyed(base, ids), ref)
        many = purpose_bases(seed, np.array([codes, codes], dtype=np.uint64).reshape(2, -1))
        assert many.tolist() == [base, base]
        np.testing.assert_array_equal(keyed_many(many, ids), np.stack([ref, ref]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**63 - 1),
    ids=st.lists(st.integers(0, 2**62), min_size=1, max_size=20),
    purpose=st.lists(st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**64 - 1)), max_size=4),
)
def test_unit_keys_property_equals_the_original_formula(seed, ids, purpose) -> None:
    np.testing.assert_array_equal(
        unit_keys(seed, ids, *purpose), _old_unit_keys(seed, ids, *purpose)
    )


@dataclass(frozen=True)
class _OffsetArm(Arm):
    """An arm whose keys are those of unit ``id + offset`` (like sequential's shifted arms)."""

    offset: int = field(default=0)

    def keys(self, seed: int, ids: np.ndarray) -> np.ndarray:
        return super().keys(seed, np.asarray(ids, dtype=np.int64) + self.offset)


def test_arm_keys_respects_a_subclass_that_overrides_keys() -> None:
    arms = [Arm("a", Identity()), _OffsetArm("b", Identity(), offset=10), Arm("c", Identity())]
    ids = np.arange(4)
    got = arm_keys(arms, 3, ids)
    np.testing.assert_array_equal(got[1], _old_unit_keys(3, ids + 10, "arm", "main", "b"))
    np.testing.assert_array_equal(got[2], _old_unit_keys(3, ids, "arm", "main", "c"))


# ---------------------------------------------------------------- fixed edits
@pytest.mark.parametrize(
    "intervention",
    [
        Substitute("GATAAG", 3),
        Substitute("GATAAG", 3, "-"),
        Substitute("GACU", 1),
        Substitute(PWM, 4, "-", instance="consensus"),
        Mutate(7, "G"),
        Mutate(0, 3),
        Identity(),
        Compose((Substitute("GG", 0), Mutate(5, "C"), Substitute("ACG", 8, "-"))),
    ],
)
def test_fixed_edits_equal_apply_keyed_for_any_key(intervention) -> None:
    codes = iid(20).generate(np.arange(30), 4)
    edits = intervention.fixed_edits(20)
    assert edits is not None
    expected = codes.copy()
    for start, row in edits:
        expected[:, start : start + len(row)] = row
    for seed in (0, 9):
        keys = unit_keys(seed, np.arange(30), "test")
        np.testing.assert_array_equal(intervention.apply_keyed(codes, keys), expected)


@dataclass(frozen=True)
class _Reversed(Substitute):
    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return super().apply_keyed(codes, keys)[:, ::-1].copy()


@pytest.mark.parametrize(
    "intervention",
    [
        Substitute(PWM, 3),
        Substitute("GAYA", 3),
        Insert("GG", 4),
        Ablate(2, 8),
        Compose((Substitute("GG", 0), Substitute(PWM, 6))),
        Hairpin("GCAUG", 2, stem_length=4, loop_length=7),
        _Reversed("GATA", 2),
    ],
)
def test_random_or_overridden_interventions_have_no_fixed_edits(intervention) -> None:
    assert intervention.fixed_edits(20) is None


def test_arm_plan_groups_fixed_arms_by_window_widths() -> None:
    d = design(iid(40), _mixed_arms(), n=4, rng=1)
    plan = d.arm_plan()
    assert plan is d.arm_plan()  # computed once per design
    labels = [a.label for a in d.arms]
    assert [labels[i] for i in plan.keyed] == ["pwm@17+", "twopwm", "ins", "abl", "iupac", "hp"]
    grouped = sorted(i for g in plan.groups for i in g.arms.tolist())
    assert sorted(grouped + plan.keyed.tolist()) == list(range(len(labels)))
    for g_index, group in enumerate(plan.groups):
        assert (plan.group_of[group.arms] == g_index).all()
        assert plan.row_of[group.arms].tolist() == list(range(len(group.arms)))
    kmer_plan = design(iid(40), _kmer_arms(), n=4, rng=1).arm_plan()
    assert len(kmer_plan.groups) == 1 and kmer_plan.keyed.size == 0


# ---------------------------------------------------------------- tables
@pytest.mark.parametrize("chunk_size", [1, 7, 60, 2048])
@pytest.mark.parametrize("arms", [_mixed_arms, _kmer_arms], ids=["mixed", "kmers"])
def test_paired_tables_equal_the_per_arm_reference(arms, chunk_size: int) -> None:
    model = _model()
    d = design(iid(40), arms(), n=25, rng=7)
    got = simulate(model, d, chunk_size=chunk_size, progress=False).table
    ref = _reference_table(model, d)
    for col in ["experiment", "label", "background_id"]:
        assert got[col].tolist() == ref[col].tolist()
    for col in ["y_do", "y_control"]:
        np.testing.assert_array_equal(got[col].to_numpy(), ref[col].to_numpy())
    np.testing.assert_array_equal(got["ice"].to_numpy(), (ref["y_do"] - ref["y_control"]).values)


def test_randomized_table_uses_each_arms_keyed_stream() -> None:
    model = _model()
    d = design(iid(40), _mixed_arms(), n=300, kind="randomized", rng=2)
    a = simulate(model, d, chunk_size=17, progress=False).table
    b = simulate(model, d, chunk_size=4096, progress=False).table
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    ids = d.background_ids
    bg = d.background.generate(ids, d.seed)
    assign = d.assignment()
    expected = model.predict(bg)
    for index, arm in enumerate(d.arms):
        mine = assign == index
        if mine.any():
            keys = _old_unit_keys(d.seed, ids[mine], "arm", arm.experiment, arm.label)
            expected[mine] = model.predict(arm.intervention.apply_keyed(bg[mine], keys))
    np.testing.assert_array_equal(a["y"].to_numpy(), expected)


# ---------------------------------------------------------------- grouped t tests
def _per_group(table: pd.DataFrame, **options) -> pd.DataFrame:
    """estimate_ace through the original per-group path (the vectorised path switched off)."""
    original = est._fast_effects
    est._fast_effects = lambda *args, **kwargs: None
    try:
        return estimate_ace(table, **options).table
    finally:
        est._fast_effects = original


def _dropped_table() -> pd.DataFrame:
    """A paired table with unequal group sizes: NaN outputs dropped, then rows removed and
    shuffled, and one constant group."""
    model = as_model(NaNModel(AdditiveOracle.from_motif("GATAAG", length=40), prefix="AC"))
    d = design(iid(40), _mixed_arms(), n=40, rng=3)
    table = simulate(model, d, on_nonfinite="drop", progress=False).table
    rng = np.random.default_rng(1)
    table = table.drop(index=rng.choice(len(table), 60, replace=False))
    return table.sample(frac=1.0, random_state=2).reset_index(drop=True)


def test_dropped_table_really_has_unequal_groups() -> None:
    sizes = _dropped_table().groupby("label").size()
    assert sizes.nunique() > 3 and sizes.min() >= 2


@pytest.mark.parametrize("method", METHODS)
def test_vectorised_estimates_equal_the_per_group_path(method: str) -> None:
    table = _dropped_table()
    options = (
        {"n_resamples": 199, "rng": 4} if method not in ("paired_t", "welch", "cluster") else {}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant-like groups, both paths
        got = estimate_ace(table, method=method, **options).table
        ref = _per_group(table, method=method, **options)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)


def test_vectorised_paired_t_equals_paired_t_per_group() -> None:
    table = _dropped_table()
    got = estimate_ace(table).table.set_index("label")
    for label, sub in table.groupby("label"):
        ice = sub.sort_values("background_id", kind="stable")["ice"].to_numpy()
        expected = paired_t(ice)
        for key, value in expected.items():
            assert got.loc[label, key] == value, (label, key)


@pytest.mark.parametrize("method", ["welch", "bootstrap_percentile", "permutation"])
def test_vectorised_randomized_estimates_equal_the_per_group_path(method: str) -> None:
    model = _model()
    d = design(iid(40), _mixed_arms(), n=900, kind="randomized", rng=5)
    table = simulate(model, d, progress=False).table
    table = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    options = {"n_resamples": 99, "rng": 1} if method != "welch" else {}
    got = estimate_ace(table, method=method, **options).table
    pd.testing.assert_frame_equal(
        got, _per_group(table, method=method, **options), check_exact=True
    )


def test_grouped_t_rows_are_bitwise_the_one_group_functions() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 8, 20, 129, 300):
        ice = rng.normal(size=(12, n)) * 10.0 ** rng.integers(-6, 6, size=(12, 1))
        ice[3] = 0.0
        ice[5] = 1.5
        control = rng.normal(size=(12, n))
        control[5] = 0.25
        rows = est._paired_t_rows(ice, 0.9)
        wrows = est._welch_rows(ice, control, 0.9)
        for i in range(12):
            assert rows[i] == paired_t(ice[i], 0.9)
            assert wrows[i] == welch(ice[i], control[i], 0.9)


def test_many_arms_end_to_end_matches_the_per_group_estimates() -> None:
    d = design(iid(40), _kmer_arms(4), n=12, rng=3)
    table = simulate(_model(), d, progress=False).table
    got = estimate_ace(table).table
    assert len(got) == 256 and got["kmer"].tolist() == [a.label for a in d.arms]
    pd.testing.assert_frame_equal(got, _per_group(table), check_exact=True)


@pytest.mark.parametrize("method", ["paired_t", "cluster"])
def test_pooled_groups_with_repeated_background_ids_keep_the_tie_order(method: str) -> None:
    table = _dropped_table()
    table["label"] = table["experiment"]  # pool the arms of each experiment: repeated ids
    got = estimate_ace(table, method=method).table
    pd.testing.assert_frame_equal(got, _per_group(table, method=method), check_exact=True)
