from pipeline.secrets import MASK, MappingSource, Secret, redact


def test_secret_never_prints():
    secret = Secret("KLAVIYO_PRIVATE_KEY", "pk_" + "a1" * 17)
    rendered = [str(secret), repr(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)]
    assert all("a1a1" not in text for text in rendered)
    assert secret.reveal().startswith("pk_a1")


def test_mapping_source_and_redact():
    source = MappingSource({"K": "hunter2-value", "EMPTY": ""}, "test")
    assert source.get("EMPTY") is None and source.get("MISSING") is None
    key = source.get("K")
    assert redact("error: token hunter2-value rejected; pk_abcdef123456 too", [key]) == \
        f"error: token {MASK} rejected; pk_{MASK} too"


def test_chained_source_takes_the_first_that_has_it():
    from pipeline.secrets import ChainedSource

    cluster = MappingSource({"KLAVIYO_PRIVATE_KEY": "pk_cluster"}, "kubernetes secret ns/s")
    runner = MappingSource({"KLAVIYO_PRIVATE_KEY": "pk_env", "LAUNCHDARKLY_API_TOKEN": "api-x"}, "environment variables")
    chain = ChainedSource((cluster, runner))
    assert chain.get("KLAVIYO_PRIVATE_KEY").reveal() == "pk_cluster"
    assert chain.get("LAUNCHDARKLY_API_TOKEN").reveal() == "api-x"
    assert chain.get("MISSING") is None
    assert chain.describe() == "kubernetes secret ns/s, then environment variables"
