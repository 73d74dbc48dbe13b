"""TLS of the app's public URL, held to Klaviyo's listing: TLS >= 1.2, no weak cipher suites.

"Weak" is Mozilla's intermediate profile (Server Side TLS guideline 5.7, what the listing
requirements point to): TLS 1.2 and 1.3 only; for TLS 1.2 only the eight AEAD suites with
forward secrecy below; for TLS 1.3 its three standard suites.

The probe (I/O) makes plain handshakes with Python's OpenSSL, its security level lowered so
that it can *offer* what a weak server would accept: one handshake per protocol version pinned
(TLS 1.0 to 1.3), then, for TLS 1.2, handshakes offering every suite outside the profile,
removing each one the server picks, until it refuses: so every weak suite the server accepts is
named in (weak + 1) handshakes. A last handshake verifies the certificate and host name.
The judgement is pure.
"""
from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pipeline.config import EnvConfig, http_opt_outs
from pipeline.listing.model import Row, failed, not_checked, passed

GUIDELINE = "Mozilla intermediate, guideline 5.7"
MOZILLA_INTERMEDIATE_TLS12 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
)
MOZILLA_INTERMEDIATE_TLS13 = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
ALLOWED_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)   # probing the old versions is the point
    VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
                "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_EVERYTHING = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"


class Unreachable(Exception):
    """No TLS handshake could even start (connection refused, DNS, timeout)."""


@dataclass(frozen=True)
class TlsProbe:
    host: str
    port: int
    protocols: tuple[str, ...]                 # versions the server completed a handshake with
    weak_suites: tuple[str, ...]               # TLS 1.2 (or older) suites accepted outside the profile
    tls13_suite: str | None                    # what TLS 1.3 negotiated, when it did
    certificate_error: str | None              # None: chain and host name verified
    verified_against: str = "the system trust store"
    handshakes: int = 0
    notes: tuple[str, ...] = field(default=())


def target_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{url!r} is not an https:// URL")
    return parts.hostname, parts.port or 443


def probe_tls(url: str, ca_file: str | None = None, timeout: float = 5.0) -> TlsProbe:
    """Handshake with the server behind ``url`` as described above; raises :class:`Unreachable`."""
    host, port = target_of(url)
    counter = [0]
    negotiated = {name: _handshake(host, port, timeout, counter, version, _EVERYTHING)
                  for name, version in VERSIONS.items()}
    protocols = tuple(name for name, suite in negotiated.items() if suite is not None)
    suite13 = negotiated["TLSv1.3"]
    weak = _weak_suites(host, port, timeout, counter) if set(protocols) & {"TLSv1", "TLSv1.1", "TLSv1.2"} else ()
    cert_error = _certificate_error(host, port, timeout, ca_file, counter)
    return TlsProbe(host, port, protocols, weak, suite13, cert_error,
                    f"CA file {ca_file}" if ca_file else "the system trust store", counter[0])


def _client(version: ssl.TLSVersion, ciphers: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE   # verified separately
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)
    return context


def _handshake(host: str, port: int, timeout: float, counter: list[int], version: ssl.TLSVersion,
               ciphers: str) -> str | None:
    """The negotiated suite, or None when the server refused the handshake."""
    counter[0] += 1
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise Unreachable(f"{host}:{port}: {exc.strerror or type(exc).__name__}") from None
    try:
        with _client(version, ciphers).wrap_socket(raw, server_hostname=host) as tls:
            negotiated = tls.cipher()
            return negotiated[0] if negotiated else None
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout):
        return None
    finally:
        raw.close()


def _weak_suites(host: str, port: int, timeout: float, counter: list[int]) -> tuple[str, ...]:
    probe = _client(ssl.TLSVersion.TLSv1_2, _EVERYTHING)
    offered = [c["name"] for c in probe.get_ciphers()
               if c["protocol"] != "TLSv1.3" and c["name"] not in MOZILLA_INTERMEDIATE_TLS12]
    accepted: list[str] = []
    while offered:
        picked = _handshake(host, port, timeout, counter, ssl.TLSVersion.TLSv1_2, ":".join(offered) + ":@SECLEVEL=0")
        if picked is None or picked not in offered:
            break
        accepted.append(picked)
        offered.remove(picked)
    return tuple(accepted)


def _certificate_error(host: str, port: int, timeout: float, ca_file: str | None,
                       counter: list[int]) -> str | None:
    counter[0] += 1
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except (ssl.SSLError, OSError) as exc:
        return f"handshake failed: {type(exc).__name__}"


@dataclass(frozen=True)
class TlsVerdict:
    passed: bool
    detail: str


def judge_tls(probe: TlsProbe) -> TlsVerdict:
    """Pure: the listing's TLS requirement against what the probe saw."""
    problems = []
    old = [p for p in probe.protocols if p not in ALLOWED_PROTOCOLS]
    if old:
        problems.append(f"accepts {', '.join(old)} (below TLS 1.2)")
    if not set(probe.protocols) & set(ALLOWED_PROTOCOLS):
        problems.append("completes no TLS 1.2 or 1.3 handshake")
    if probe.weak_suites:
        problems.append(f"accepts {len(probe.weak_suites)} cipher suite(s) outside {GUIDELINE}: "
                        f"{', '.join(probe.weak_suites)}")
    if probe.tls13_suite and probe.tls13_suite not in MOZILLA_INTERMEDIATE_TLS13:
        problems.append(f"negotiates TLS 1.3 suite {probe.tls13_suite} outside {GUIDELINE}")
    if probe.certificate_error:
        problems.append(f"certificate not valid for {probe.host} ({probe.certificate_error}; "
                        f"checked against {probe.verified_against})")
    where = f"{probe.host}:{probe.port}"
    if problems:
        return TlsVerdict(False, f"{where} " + "; ".join(problems))
    refused = [p for p in VERSIONS if p not in probe.protocols]
    return TlsVerdict(True, (f"{where}: {', '.join(probe.protocols)} accepted, {', '.join(refused) or 'nothing'} "
                             f"refused; no cipher suite outside {GUIDELINE}; certificate valid for {probe.host} "
                             f"(checked against {probe.verified_against}); {probe.handshakes} handshakes"))


# --- the row ---------------------------------------------------------------------------------

NAME = "tls"
REQUIREMENT = "TLS 1.2 or higher with strong cipher suites (Mozilla); HTTPS for all API communication"


def tls_row(config: EnvConfig, ca_file: str | None = None) -> Row:
    url = config.oauth.public_url
    opt_outs = http_opt_outs(config)
    recorded = (f"; HTTPS opt-out recorded for {', '.join(opt_outs)} ({config.https.reason})" if opt_outs else "")
    if not url:
        return not_checked(NAME, REQUIREMENT, f"env.{config.name}.oauth.public_url is not set: no public URL to "
                                              f"handshake with{recorded}")
    if url.startswith("http://"):
        if config.name == "local":
            return not_checked(NAME, REQUIREMENT, f"{url} is the local sandbox's plain-HTTP address{recorded}")
        return failed(NAME, REQUIREMENT, f"{url} is plain HTTP (https.allow_http opt-out: {config.https.reason})")
    try:
        probe = probe_tls(url, ca_file)
    except (Unreachable, ValueError) as exc:
        return not_checked(NAME, REQUIREMENT, f"{exc}{recorded}")
    verdict = judge_tls(probe)
    measured = {"protocols": list(probe.protocols), "weak_suites": list(probe.weak_suites),
                "tls13_suite": probe.tls13_suite, "certificate_error": probe.certificate_error,
                "http_opt_outs": list(opt_outs)}
    if not verdict.passed or opt_outs:
        return failed(NAME, REQUIREMENT, verdict.detail + recorded, **measured)
    return passed(NAME, REQUIREMENT, verdict.detail, **measured)
