from pipeline.deploy.apply import Change, changed_paths, referenced_secret_keys


def test_changed_paths_ignores_status_and_bookkeeping():
    live = {"metadata": {"name": "a", "resourceVersion": "1", "labels": {"x": "1"}}, "status": {"replicas": 1},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}, "replicas": 2}}
    proposed = {"metadata": {"name": "a", "resourceVersion": "2", "labels": {"x": "1"}}, "status": {},
                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}, "replicas": 2}}
    assert changed_paths(live, proposed) == ["spec.template.spec.containers[0].image"]
    assert changed_paths(live, live) == []


def test_change_description():
    assert Change("Deployment", "web", "configured", ("spec.replicas",)).describe() == \
        "Deployment/web configured: spec.replicas"


def test_referenced_secret_keys():
    deployment = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "K1"}}},
        {"name": "B", "value": "plain"},
        {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "K2"}}}]}]}}}}
    assert referenced_secret_keys(deployment) == {"s": {"K1", "K2"}}
