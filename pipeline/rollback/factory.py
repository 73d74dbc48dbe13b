"""Build rollback mechanisms by name for an environment: one place for ``invoke rollback``
and for the automatic rollback of ``invoke deploy``.

A mechanism that cannot be built (no secret, no cluster) becomes ``Unavailable`` with the
reason, so the others still run and the summary says what remains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from pipeline.config import EnvConfig
from pipeline.rollback.result import Mechanism
from pipeline.rollback.runner import Unavailable
from pipeline.secrets import Secret, SecretSource, secret_source


@dataclass(frozen=True)
class Options:
    to_revision: int = 0                 # undo: 0 = the previous revision
    commit: str | None = None            # git: the commit to revert
    resume_paused: bool = False          # undo: a deployment our own deploy paused is resumed by the undo
    good_images: frozenset[str] = frozenset()  # undo: default to the newest revision running one of these
    to_template: dict[str, Any] | None = None  # undo: return to this pod template (a deploy's recorded intent)
    remove_created: tuple[str, ...] | None = None  # undo of a first release: delete these (Kind/name) instead
    on_progress: Callable[..., Any] | None = None
    secrets: SecretSource | None = None  # default: the environment's configured source
    api_client: Any = None               # default: built from config.kube


@dataclass
class Built:
    mechanisms: list[Mechanism]
    secrets: list[Secret | None] = field(default_factory=list)   # values to scrub from any text


def build(names: Sequence[str], config: EnvConfig, options: Options = Options()) -> Built:
    built = Built([])
    for name in names:
        try:
            built.mechanisms.append(BUILDERS[name](config, options, built))
        except Exception as exc:  # noqa: BLE001 - cannot build one: the others still run
            built.mechanisms.append(Unavailable(name, f"{type(exc).__name__}: {exc}"))
    return built


def _flag(config: EnvConfig, options: Options, built: Built) -> Mechanism:
    from pipeline.rollback.flag_kill_switch import FlagKillSwitch

    source = options.secrets or _configured_secrets(config, options)
    built.secrets += [source.get(config.secrets.launchdarkly_api_token),
                      source.get(config.secrets.launchdarkly_sdk_key)]
    return FlagKillSwitch(config, source)


def _configured_secrets(config: EnvConfig, options: Options) -> SecretSource:
    if config.secrets.source != "kubernetes":
        return secret_source(config)
    from pipeline.kube.client import api_client

    return secret_source(config, options.api_client or api_client(config.kube))


def _undo(config: EnvConfig, options: Options, built: Built) -> Mechanism:
    from pipeline.kube.api import KubeApi
    from pipeline.kube.client import api_client
    from pipeline.rollback.rollout_undo import RolloutUndo

    apps = KubeApi(options.api_client or api_client(config.kube))
    if options.remove_created is not None:          # a failed first release: back to no release
        from pipeline.rollback.remove_created import RemoveCreated

        return RemoveCreated(apps, config.kube.namespace, options.remove_created)
    return RolloutUndo(apps, config.kube.namespace, config.kube.deployment, config.kube.container,
                       options.to_revision, on_progress=options.on_progress, resume_paused=options.resume_paused,
                       good_images=options.good_images, to_template=options.to_template)


def _git(config: EnvConfig, options: Options, built: Built) -> Mechanism:
    from pipeline.github_api import GitHubApi, repository_from_environ
    from pipeline.rollback.git_revert import GitRevert

    repository = repository_from_environ(config.variables)      # in Actions: the pull request is opened
    return GitRevert(config.rollback.git_repo, options.commit, config.rollback.git_remote,
                     config.rollback.git_branch, push_branch=config.rollback.git_push_branch,
                     github=GitHubApi(repository) if repository else None)


BUILDERS: dict[str, Callable[[EnvConfig, Options, Built], Mechanism]] = {"flag": _flag, "undo": _undo, "git": _git}
