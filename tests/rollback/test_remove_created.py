"""The first-release rollback's input check (its behaviour against the stand-in is in
tests/e2e/test_first_release.py)."""
import pytest

from pipeline.rollback.remove_created import parse


def test_objects_are_kind_slash_name():
    assert parse(["Deployment/web", "Service/web"]) == [("Deployment", "web"), ("Service", "web")]


@pytest.mark.parametrize("text", ["Deployment", "Deployment/", "CronJob/web", "web"])
def test_a_kind_it_cannot_delete_is_refused_naming_what_is_accepted(text):
    with pytest.raises(ValueError) as caught:
        parse([text])
    assert repr(text) in str(caught.value) and "Deployment" in str(caught.value)
