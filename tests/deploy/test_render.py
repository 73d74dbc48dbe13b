import pytest

from pipeline.config import EnvConfig, KubeSettings
from pipeline.deploy.image import InvalidImage, parse_image
from pipeline.deploy.render import CHANGE_CAUSE, ManifestError, load_manifests, render

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: klaviyo-sync}
spec:
  replicas: 2
  selector: {matchLabels: {app: klaviyo-sync}}
  template:
    metadata: {labels: {app: klaviyo-sync}}
    spec:
      containers:
      - {name: app, image: klaviyo-sync:1.0.0}
      - {name: sidecar, image: envoy:1}
---
apiVersion: v1
kind: Service
metadata: {name: klaviyo-sync}
spec: {selector: {app: klaviyo-sync}, ports: [{port: 80}]}
"""


@pytest.mark.parametrize("ref, repo, tag", [
    ("klaviyo-sync:1.4.0", "klaviyo-sync", "1.4.0"),
    ("ghcr.io/acme/klaviyo-sync:1.4.0-bad-auth", "klaviyo-sync", "1.4.0-bad-auth"),
    ("localhost:5000/team/app@sha256:" + "a" * 64, "app", None),
])
def test_valid_images(ref, repo, tag):
    image = parse_image(ref)
    assert (image.repository, image.tag) == (repo, tag)


@pytest.mark.parametrize("ref, message", [
    ("klaviyo-sync", "neither a tag nor a digest"),
    ("Klaviyo-Sync:1", "is not an image reference"),
    ("a b:1", "is not an image reference"),
    ("app:", "is not an image reference"),
    ("", "is not an image reference"),
])
def test_invalid_images_are_named(ref, message):
    with pytest.raises(InvalidImage) as error:
        parse_image(ref)
    assert message in str(error.value) and repr(ref) in str(error.value)


def test_render_sets_namespace_image_and_change_cause(tmp_path):
    (tmp_path / "app.yaml").write_text(DEPLOYMENT)
    config = EnvConfig("t", kube=KubeSettings(namespace="prod-ns", manifests=str(tmp_path)))
    objects = load_manifests(tmp_path)
    rendered = render(objects, config, "klaviyo-sync:2.0.0", "deploy 2.0.0 by me")
    assert {o["metadata"]["namespace"] for o in rendered.objects} == {"prod-ns"}
    images = [c["image"] for c in rendered.deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["klaviyo-sync:2.0.0", "envoy:1"]
    assert rendered.deployment["metadata"]["annotations"][CHANGE_CAUSE] == "deploy 2.0.0 by me"
    assert objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "klaviyo-sync:1.0.0"


def test_render_errors_name_the_setting(tmp_path):
    with pytest.raises(ManifestError, match="nowhere' .kube.manifests. not found"):
        load_manifests(tmp_path / "nowhere")
    (tmp_path / "app.yaml").write_text(DEPLOYMENT)
    objects = load_manifests(tmp_path)
    with pytest.raises(ManifestError, match="no container named 'web' .kube.container.; it has: app, sidecar"):
        render(objects, EnvConfig("t", kube=KubeSettings(container="web")), "a:1", "x")
    with pytest.raises(ManifestError, match="no Deployment named 'other'"):
        render(objects, EnvConfig("t", kube=KubeSettings(deployment="other")), "a:1", "x")
