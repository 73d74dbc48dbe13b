"""`invoke test`: the whole suite, exactly as README and .ci/run give it."""
from invoke import task


@task(help={"args": "extra pytest arguments, e.g. '-k kubectl'"})
def test(c, args=""):
    """Run the test suite (python -m pytest)."""
    c.run(f"python -m pytest {args}", pty=False)
