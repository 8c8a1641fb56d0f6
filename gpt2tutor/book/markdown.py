"""Lesson Markdown to HTML (markdown-it-py, Pygments for code) and to plain-text sections for the search."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

LIGHT_STYLE, DARK_STYLE = "default", "github-dark"
_FORMATTER = HtmlFormatter(nowrap=True)


def _code_block(code: str, lang: str, _attrs: object) -> str:
    """A fenced block: highlighted when it names a language Pygments knows; otherwise a plain picture,
    kept exactly as written (the CSS never wraps a <pre>)."""
    lang = (lang or "").strip().lower()
    lexer = None
    if lang not in ("", "text", "plain"):
        try:
            lexer = get_lexer_by_name(lang)
        except ClassNotFound:
            pass
    if lexer is None:
        return f'<pre class="plain"><code>{html.escape(code)}</code></pre>\n'
    return (f'<pre class="highlight" data-lang="{html.escape(lang)}"><code>'
            f"{highlight(code, lexer, _FORMATTER)}</code></pre>\n")


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """CommonMark with tables, strikethrough, bare URLs as links, and ids on h1–h3 for the search's links."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "highlight": _code_block})
    md.enable(["table", "strikethrough", "linkify"])
    md.use(anchors_plugin, min_level=1, max_level=3)
    md.add_render_rule("link_open", _link_open)
    return md


def _link_open(self, tokens, idx, options, env) -> str:
    """Marks a bare URL made into a link, so that print doesn't repeat the address after it."""
    if tokens[idx].markup == "linkify":
        tokens[idx].attrSet("class", "bare")
    return self.renderToken(tokens, idx, options, env)


def parse(text: str) -> list[Token]:
    return parser().parse(text)


def to_html(tokens: list[Token]) -> str:
    md = parser()
    return md.renderer.render(tokens, md.options, {})


def pygments_css() -> str:
    """Token colours: the light style, and the dark one on screens that prefer dark."""
    light = "\n".join(HtmlFormatter(style=LIGHT_STYLE).get_token_style_defs(".highlight"))
    dark = "\n".join("  " + rule for rule in HtmlFormatter(style=DARK_STYLE).get_token_style_defs(".highlight"))
    return f"{light}\n@media screen and (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


@dataclass
class Section:
    """A heading (or the page's start) and the plain text under it, up to the next heading."""

    anchor: str
    heading: str
    text: str = ""


def _inline_text(token: Token) -> str:
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def sections(tokens: list[Token]) -> list[Section]:
    """Parsed Markdown as sections at h2 and h3 headings, for the search index."""
    found: list[Section] = [Section("", "")]
    chunks: list[list[str]] = [[]]
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            title = _inline_text(tokens[i + 1])
            if token.tag == "h1":
                found[0].heading = title
            else:
                found.append(Section(str(token.attrs.get("id", "")), title))
                chunks.append([])
        elif token.type == "inline" and tokens[i - 1].type != "heading_open":
            chunks[-1].append(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            chunks[-1].append(token.content)
    for section, chunk in zip(found, chunks):
        section.text = " ".join(" ".join(chunk).split())
    return found
