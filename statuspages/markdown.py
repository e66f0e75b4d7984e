"""Markdown from operators, shown to the public: rendered, then sanitised with an allow-list.

No raw HTML survives except the tags below; no event handlers or style; links
only to http(s) and mailto, opened with rel="nofollow noopener noreferrer".
"""

from __future__ import annotations

import html
import re

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "hr",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}


def render(text: str) -> SafeString:
    html = markdown_lib.markdown(text or "", extensions=["sane_lists"], output_format="html")
    return mark_safe(  # noqa: S308 - nh3 removed everything not on the allow-list
        nh3.clean(
            html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel="nofollow noopener noreferrer"
        )
    )


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Without the control characters XML 1.0 cannot carry (feeds and SVG badges would not parse)."""
    return _NOT_XML.sub("", text or "")


def plain(text: str) -> str:
    """The text without markup (feeds' summaries, email subjects)."""
    return xml_safe(html.unescape(nh3.clean(markdown_lib.markdown(text or ""), tags=set())).strip())
