"""docs/index.md lists every page; links in the index and in the listing pages resolve;
the Mermaid diagrams are well formed and show the endpoints the endpoint list documents."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .tables import DOCS, code, read, tables

INDEX = "index.md"
CHECKED_PAGES = ["index.md", "configuration.md", "klaviyo-listing.md", "api-endpoints.md", "data-exchanged.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def links(text: str) -> list[str]:
    return LINK.findall(FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {slug(line.lstrip("#")) for line in FENCE.sub("", text).splitlines() if line.startswith("#")}


def test_every_docs_page_is_in_the_index():
    listed = {Path(target).name for target in links(read(INDEX)) if not target.startswith(("http:", "https:"))}
    pages = {p.name for p in DOCS.glob("*.md")} - {INDEX}
    missing = sorted(pages - listed)
    assert not missing, f"docs/{INDEX} does not list {missing}"


def test_index_has_one_line_per_page():
    entries = [line for line in read(INDEX).splitlines() if line.startswith("- [")]
    targets = [links(line)[0] for line in entries]
    assert len(targets) == len(set(targets)), "a page is listed twice"
    assert all(line.split(":", 1)[1].strip() for line in entries), "every entry needs a description"


@pytest.mark.parametrize("page", CHECKED_PAGES)
def test_links_resolve(page):
    text = read(page)
    for target in links(text):
        if target.startswith(("http:", "https:", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (DOCS / path).resolve() if path else DOCS / page
        assert file.exists(), f"docs/{page}: link {target!r} points to a missing file"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text()), f"docs/{page}: no heading for anchor {target!r}"


def mermaid_blocks(text: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", text, re.S)


def test_listing_has_the_two_diagrams():
    blocks = mermaid_blocks(read("klaviyo-listing.md"))
    assert len(blocks) == 2
    for block in blocks:
        assert block.lstrip().startswith("flowchart")
        assert block.count('"') % 2 == 0, "unbalanced quotes"
        for opening, closing in ("[]", "()", "{}"):
            unquoted = re.sub(r'"[^"]*"', "", block)
            assert unquoted.count(opening) == unquoted.count(closing), f"unbalanced {opening}{closing}"


def test_workflow_diagram_shows_every_entry_point_and_stage():
    workflow = mermaid_blocks(read("klaviyo-listing.md"))[0]
    for words in ("invoke deploy", "GitHub Actions", "invoke rollback", "lock", "preflight", "plan",
                  "gate", "verify", "bake", "deployed", "automatic rollback"):
        assert words in workflow, f"the workflow diagram does not mention {words!r}"


def test_architecture_diagram_labels_every_documented_endpoint():
    architecture = mermaid_blocks(read("klaviyo-listing.md"))[1]
    documented = {code(row["path"]) for table in tables(read("api-endpoints.md"))
                  if table and {"method", "path"} <= set(table[0]) for row in table}
    for path in documented:
        shown = path.split("{")[0].rstrip("/") or path
        assert shown in architecture, f"the architecture diagram has no arrow for {path}"
    for box in ("Kubernetes API server", "app pods", "Klaviyo API", "status page", "LaunchDarkly REST",
                "stream", "git remote", "GitHub Actions"):
        assert box in architecture, f"the architecture diagram has no {box!r}"
