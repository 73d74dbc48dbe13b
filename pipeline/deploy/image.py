"""Image references: validated before anything changes (the Docker reference grammar)."""
from __future__ import annotations

import re
from dataclasses import dataclass

# distribution/reference: [domain[:port]/]path[:tag][@digest], lower-case path components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$")


class InvalidImage(ValueError):
    pass


@dataclass(frozen=True)
class ImageRef:
    raw: str
    repository: str          # path's last component, e.g. "klaviyo-sync"
    tag: str | None
    digest: str | None


def parse_image(reference: str) -> ImageRef:
    """Parse ``reference`` or raise :class:`InvalidImage` naming it and the accepted form."""
    match = _REFERENCE.match(reference or "")
    if not match or len(reference) > 255:
        raise InvalidImage(f"--image {reference!r} is not an image reference; expected "
                           "[registry/]name[:tag][@sha256:digest], e.g. ghcr.io/acme/klaviyo-sync:1.4.0")
    if not match["tag"] and not match["digest"]:
        raise InvalidImage(f"--image {reference!r} has neither a tag nor a digest; "
                           "deploy an explicit version (name:tag or name@sha256:...), never an implied :latest")
    return ImageRef(reference, match["path"].rsplit("/", 1)[-1], match["tag"], match["digest"])
