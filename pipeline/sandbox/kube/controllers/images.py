"""What a container image *does* in the sandbox: simulated behaviours and real-process images.

Simulated behaviour per image (default: ready instantly), settable at run time through
``PUT /_sandbox/images``:
  ready_after_seconds  the container is Running but not Ready until then
  never_ready          Running, never Ready (a rollout stalls -> ProgressDeadlineExceeded)
  crash                CrashLoopBackOff with a rising restartCount
  pull_error           the image cannot be pulled: Pending, ErrImagePull then ImagePullBackOff
  stop_seconds         seconds the container takes to exit after SIGTERM (default 0.5; capped
                       by the pod's grace period): how long a deleted pod stays Terminating
  ignore_sigterm       the container exits only when SIGKILLed at the end of the grace period
An image matches a behaviour by its full reference (``ghcr.io/acme/app:1.2``), then its
name without tag (``ghcr.io/acme/app``), then its repository (``app``).

Real-process images: an image whose repository is a key of ``processes`` runs as a local
process (``[sys.executable, "-m", "klaviyo_sync"]`` with PYTHONPATH=examples/klaviyo-sync).
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    ready_after_seconds: float = 0.0
    never_ready: bool = False
    crash: bool = False
    crash_period_seconds: float = 1.0   # how often a crashing container "restarts"
    pull_error: bool = False
    stop_seconds: float = 0.5           # how long the container takes to exit after SIGTERM
    ignore_sigterm: bool = False        # exits only when killed at the end of the grace period

    @classmethod
    def parse(cls, data: Any, where: str) -> "Behaviour":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object with any of {_names(cls)}, got {type(data).__name__}")
        unknown = set(data) - set(_names(cls))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; accepted: {_names(cls)}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{where}.{f.name}: expected true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{where}.{f.name}: expected a number >= 0, got {value!r}")
            values[f.name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class ProcessSpec:
    """How to run an image as a local process."""
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> "ProcessSpec":
        if isinstance(data, list):
            data = {"command": data}
        if not isinstance(data, dict) or not isinstance(data.get("command"), list) or not data["command"] \
                or not all(isinstance(a, str) for a in data["command"]):
            raise ValueError(f"{where}: expected {{\"command\": [\"prog\", \"arg\"...], \"env\": {{}}, \"cwd\": null}}")
        env = data.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ValueError(f"{where}.env: expected an object of strings")
        return cls(list(data["command"]), dict(env), data.get("cwd"))

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "env": self.env, "cwd": self.cwd}


def default_processes(repo_root: Path) -> dict[str, ProcessSpec]:
    return {"klaviyo-sync": ProcessSpec([sys.executable, "-m", "klaviyo_sync"],
                                        {"PYTHONPATH": str(repo_root / "examples" / "klaviyo-sync")})}


def split_image(image: str) -> tuple[str, str]:
    """``ghcr.io/acme/klaviyo-sync:1.2.0`` -> (``ghcr.io/acme/klaviyo-sync``, ``1.2.0``); digest-aware."""
    name, _, digest = image.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return name[:colon], name[colon + 1:]
    return name, digest or "latest"


def repository(image: str) -> str:
    """Last path component of the image name: ``ghcr.io/acme/klaviyo-sync:1.2`` -> ``klaviyo-sync``."""
    return split_image(image)[0].rsplit("/", 1)[-1]


class ImageCatalog:
    """The run-time table of behaviours and process images (one per sandbox)."""

    def __init__(self, processes: dict[str, ProcessSpec] | None = None) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.processes: dict[str, ProcessSpec] = dict(processes or {})

    def behaviour(self, image: str) -> Behaviour:
        name, _ = split_image(image)
        for key in (image, name, repository(image)):
            if key in self.behaviours:
                return self.behaviours[key]
        return Behaviour()

    def process(self, image: str) -> ProcessSpec | None:
        return self.processes.get(repository(image))

    def update_behaviours(self, data: Any) -> None:
        """Merge ``{"image": {...behaviour...} | null}``; null removes. All-or-nothing."""
        if not isinstance(data, dict):
            raise ValueError("body: expected an object mapping image -> behaviour (or null to remove)")
        parsed = {image: (None if spec is None else Behaviour.parse(spec, f"images[{image!r}]"))
                  for image, spec in data.items()}
        for image, behaviour in parsed.items():
            if behaviour is None:
                self.behaviours.pop(image, None)
            else:
                self.behaviours[image] = behaviour

    def to_json(self) -> dict[str, Any]:
        return {"behaviours": {k: v.to_json() for k, v in self.behaviours.items()},
                "processes": {k: v.to_json() for k, v in self.processes.items()}}

    def load_json(self, data: dict[str, Any]) -> None:
        self.update_behaviours(data.get("behaviours") or {})
        self.update_processes(data.get("processes") or {})

    def update_processes(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("body: expected an object mapping repository -> {command, env, cwd} (or null)")
        parsed = {repo: (None if spec is None else ProcessSpec.parse(spec, f"processes[{repo!r}]"))
                  for repo, spec in data.items()}
        for repo, spec in parsed.items():
            if spec is None:
                self.processes.pop(repo, None)
            else:
                self.processes[repo] = spec
