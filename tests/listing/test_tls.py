"""The TLS row against local TLS servers with a self-signed certificate: good, legacy, wrong host."""
from __future__ import annotations

import dataclasses

import pytest

from pipeline.config import OAuthSettings, load_config
from pipeline.listing.model import Verdict
from pipeline.listing.tls import MOZILLA_INTERMEDIATE_TLS12, TlsProbe, judge_tls, probe_tls, tls_row
from tests.listing.tls_server import TlsServer, legacy, mozilla_intermediate, self_signed


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_mozilla_intermediate_server_passes(cert):
    with TlsServer(mozilla_intermediate(*cert)) as server:
        probe = probe_tls(f"https://localhost:{server.port}/", ca_file=str(cert[0]))
    assert probe.protocols == ("TLSv1.2", "TLSv1.3") and probe.weak_suites == ()
    assert probe.certificate_error is None
    verdict = judge_tls(probe)
    assert verdict.passed, verdict.detail
    assert verdict.detail.startswith(f"localhost:{server.port}: TLSv1.2, TLSv1.3 accepted, TLSv1, TLSv1.1 refused; "
                                     "no cipher suite outside Mozilla intermediate, guideline 5.7")


def test_legacy_server_fails_naming_protocols_and_suites(cert):
    with TlsServer(legacy(*cert)) as server:
        probe = probe_tls(f"https://localhost:{server.port}", ca_file=str(cert[0]))
    assert {"TLSv1", "TLSv1.1", "TLSv1.2"} <= set(probe.protocols)
    assert "AES128-SHA" in probe.weak_suites and not set(probe.weak_suites) & set(MOZILLA_INTERMEDIATE_TLS12)
    verdict = judge_tls(probe)
    assert not verdict.passed
    assert "accepts TLSv1, TLSv1.1 (below TLS 1.2)" in verdict.detail
    assert "cipher suite(s) outside Mozilla intermediate, guideline 5.7: " in verdict.detail


def test_one_weak_suite_beside_good_ones_is_found(cert):
    ciphers = ":".join(MOZILLA_INTERMEDIATE_TLS12) + ":AES256-SHA"
    context = mozilla_intermediate(*cert)
    context.set_ciphers(ciphers)
    with TlsServer(context) as server:
        probe = probe_tls(f"https://localhost:{server.port}", ca_file=str(cert[0]))
    assert probe.weak_suites == ("AES256-SHA",) and probe.protocols == ("TLSv1.2", "TLSv1.3")


def test_certificate_for_another_host_or_untrusted_fails(cert, tmp_path):
    other = self_signed(tmp_path, host="other.example")
    with TlsServer(mozilla_intermediate(*other)) as server:
        wrong_host = probe_tls(f"https://localhost:{server.port}", ca_file=str(other[0]))
        untrusted = probe_tls(f"https://localhost:{server.port}")
    assert "Hostname mismatch" in wrong_host.certificate_error
    assert "self-signed" in untrusted.certificate_error or "unable to get" in untrusted.certificate_error
    assert not judge_tls(untrusted).passed


def listing_config(url: str, env: str = "staging", **https):
    config = load_config(env, environ={"KUBECONFIG": "/dev/null", "SANDBOX_KLAVIYO_URL": "http://127.0.0.1:1",
                                       "SANDBOX_STATUS_URL": "http://127.0.0.1:2",
                                       "SANDBOX_LAUNCHDARKLY_URL": "http://127.0.0.1:3"})
    return dataclasses.replace(config, oauth=OAuthSettings(enabled=True, public_url=url))


def test_row_passes_fails_or_says_why(cert):
    with TlsServer(mozilla_intermediate(*cert)) as server:
        good = tls_row(listing_config(f"https://localhost:{server.port}"), str(cert[0]))
    assert good.verdict is Verdict.PASS, good.detail
    with TlsServer(legacy(*cert)) as server:
        bad = tls_row(listing_config(f"https://localhost:{server.port}"), str(cert[0]))
    assert bad.verdict is Verdict.FAIL and "below TLS 1.2" in bad.detail
    closed = TlsServer(mozilla_intermediate(*cert)).__enter__()
    port = closed.port
    closed.__exit__()
    gone = tls_row(listing_config(f"https://localhost:{port}"), str(cert[0]))
    assert gone.verdict is Verdict.NOT_CHECKED and gone.detail.startswith(f"not checked: localhost:{port}: ")
    unset = tls_row(listing_config(""))
    assert unset.verdict is Verdict.NOT_CHECKED and "oauth.public_url is not set" in unset.detail


def test_pure_judgement_of_a_tls13_only_server():
    probe = TlsProbe("h", 443, ("TLSv1.3",), (), "TLS_AES_128_GCM_SHA256", None, handshakes=7)
    assert judge_tls(probe).passed
    assert not judge_tls(dataclasses.replace(probe, protocols=())).passed
