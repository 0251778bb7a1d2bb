"""The demo's science through the Python API: RBFOX1-like oracle, counts and spacing.

Run: python examples/python_api.py [OUT_DIR]
"""

import sys

import causalgia as cg
from causalgia.experiment.backgrounds import iid
from causalgia.testing import RBPOracle, reference_ace

out_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/python_api"

oracle = RBPOracle()  # declares layout="NCL", alphabet="rna"
model = cg.as_model(oracle, batch_size=256)
background = iid(41, gc=0.45, alphabet="rna")

arms = (
    cg.sweep_counts("UGCAUG", [1, 2, 3], positions=[6, 18, 30])
    + cg.sweep_spacing("UGCAUG", range(0, 16, 3), start=4)
    + [cg.Arm("placebo", cg.Identity(), experiment="placebo")]
)
study = cg.design(background, arms, n=250, kind="paired", rng=1)
result = cg.simulate(model, study)
ace = cg.estimate_ace(result, method="paired_t", ci=0.95)
print(ace.summary())

truth = reference_ace(oracle, background, arms, n=20_000)
run = cg.write_report(
    out_dir,
    ace=ace.to_frame(),
    ice=result.table,
    truth=truth,
    design=study.to_frame(),
    manifest={
        "model": model.name,
        "seed": study.seed,
        "n_backgrounds": study.n,
        "design_kind": study.kind,
        "model_fingerprint": result.model_fingerprint,
        "background": background.describe(),
    },
    title="Python API: counts and spacing",
)
print(f"wrote {run.path / 'report.md'}")
