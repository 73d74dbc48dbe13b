"""`invoke test`: the whole suite, exactly as README and .ci/run give it.

``--long`` runs the model-based test of the deploy invariant (tests/e2e/test_invariant_model.py)
with many more random examples and steps than CI's fixed, bounded run.
"""
from invoke import task

LONG_EXAMPLES = 25
LONG_STEPS = 5


@task(help={"args": "extra pytest arguments, e.g. '-k kubectl'",
            "long": "the invariant's model-based test with 25 examples of 5 steps (CI: 4 of 3)"})
def test(c, args="", long=False):
    """Run the test suite (python -m pytest)."""
    env = {"PIPELINE_MODEL_EXAMPLES": str(LONG_EXAMPLES), "PIPELINE_MODEL_STEPS": str(LONG_STEPS)} if long else {}
    c.run(f"python -m pytest {args}", pty=False, env=env)
