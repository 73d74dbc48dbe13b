"""Rollout undo: ``invoke rollback --via undo --yes`` against ``kubectl rollout undo`` + ``kubectl rollout status``.

One 10-replica Deployment on the kube stand-in (instant pods) with two revisions. Each run
undoes it, so the two sides alternate on the same object, flipping between the two images,
each doing one whole rolling update. Both are timed as whole processes from the first start
to the last exit:
* ours: ``invoke rollback --via undo --yes`` with a configuration naming that Deployment; it
  takes the deploy lock, plans, records the audit log, patches and watches until the rollout
  is complete (kubectl rollout status's rule) before exiting;
* baseline: the runbook's by-hand pair, two kubectl processes (discovery cached in
  KUBECACHEDIR, as on an on-call laptop after its first command).
Target (issue 12): ours <= 1.2x the kubectl pair.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Command, Comparison, run_all  # noqa: E402
from standins import ROOT, Standins, running  # noqa: E402

NAME = "bench-undo"
REPLICAS = 10
TARGET = 1.2
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
INVOKE = str(Path(sys.executable).parent / "invoke")
CONFIG = f"""
[defaults]
app = "{NAME}"
[defaults.kube]
kubeconfig = "${{KUBECONFIG}}"
deployment = "{NAME}"
container = "app"
[defaults.rollout]
progress_deadline_seconds = 60
[env.local]
[env.local.rollback]
via = ["undo"]
"""


def deployment(image: str) -> dict:
    labels = {"app": NAME}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": "default"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def kubectl(standins: Standins, *args: str, stdin: str | None = None) -> None:
    subprocess.run(["kubectl", *args], env=standins.env, input=stdin, text=True, check=True,
                   capture_output=True, timeout=120)


def prepare(standins: Standins) -> Path:
    """Two revisions of the Deployment, both rolled out; the configuration file for ours."""
    kubectl(standins, "apply", "-f", "-", stdin=json.dumps(deployment("web:1")))
    kubectl(standins, "rollout", "status", f"deploy/{NAME}", "--timeout=60s")
    kubectl(standins, "set", "image", f"deploy/{NAME}", "app=web:2")
    kubectl(standins, "rollout", "status", f"deploy/{NAME}", "--timeout=60s")
    config = standins.directory / "pipeline.toml"
    config.write_text(CONFIG)
    return config


def comparison(standins: Standins) -> Comparison:
    config = prepare(standins)
    options = dict(env=standins.env, cwd=str(ROOT))
    return Comparison("rollout-undo", f"undo of a {REPLICAS}-replica Deployment until the rollout is complete",
                      Command.of("invoke rollback --via undo",
                                 [INVOKE, "rollback", "--env", "local", "--via", "undo", "--yes",
                                  "--config", str(config), "--reason", "benchmark"], **options),
                      Command.of("kubectl undo + status",
                                 ["kubectl", "rollout", "undo", f"deploy/{NAME}"],
                                 ["kubectl", "rollout", "status", f"deploy/{NAME}", "--timeout=60s"], **options),
                      TARGET, RUNS)


def main() -> int:
    with running() as standins:
        return run_all([comparison(standins)])


if __name__ == "__main__":
    raise SystemExit(main())
