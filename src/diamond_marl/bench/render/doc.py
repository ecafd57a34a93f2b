"""The report's page: one list of blocks (headings, paragraphs, lists, tables, images),
rendered as Markdown (images linked) and as one self-contained HTML file (images embedded,
nothing fetched from elsewhere; inline Markdown, code, bold, italics and links, rendered).
Method text is collected apart (``Doc.method``) and closes the page in one collapsible
section."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;margin:.4em 0;border:1px solid #eee}
code{background:#f3f3f3;padding:0 .2em}
details{margin:1em 0} summary{cursor:pointer;font-weight:600}
"""
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])")
METHOD_TITLE = "How these numbers are computed"


def inline(text: str) -> str:
    """Inline Markdown as HTML: `code` (taken literally), **bold**, *italics*, [links](url);
    everything else escaped."""
    out = []
    for i, part in enumerate(_CODE.split(str(text))):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        part = html.escape(part, quote=False)
        part = _LINK.sub(lambda m: f'<a href="{m[2].replace(chr(34), "&quot;")}">{m[1]}</a>', part)
        part = _BOLD.sub(r"<strong>\1</strong>", part)
        out.append(_ITALIC.sub(r"<em>\1</em>", part))
    return "".join(out)


class Doc:
    """Headings, paragraphs, tables, lists and images, rendered to Markdown and HTML."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[tuple] = []
        self.methods: list[tuple[str, str]] = []  # (section, text): the collapsible end
        self.env_names: dict[str, str] = {}  # name -> label (``env_names.short_names``)

    def env(self, name: str) -> str:
        """How the page shows an environment: its label, else its name."""
        return self.env_names.get(name, name)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", header, rows))

    def img(self, path: Path | None, alt: str) -> None:
        if path is not None:
            self.blocks.append(("img", path, " ".join(alt.split())))

    def method(self, section: str, text: str) -> None:
        """How a section's numbers are made: shown once, at the end, folded."""
        self.methods.append((section, text))

    def _details(self) -> list[tuple]:
        if not self.methods:
            return []
        return [("details", METHOD_TITLE, self.methods)]

    def markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, *rest in self.blocks + self._details():
            if kind == "h":
                out += ["#" * rest[0] + " " + rest[1], ""]
            elif kind == "p":
                out += [rest[0], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in rest[0]] + [""]
            elif kind == "table":
                header, rows = rest

                def line(cells: list[str]) -> str:
                    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

                out += [line(header), "|" + "---|" * len(header)]
                out += [line(r) for r in rows] + [""]
            elif kind == "img":
                out += [f"![{rest[1]}]({rest[0].relative_to(base).as_posix()})", ""]
            elif kind == "details":
                out += [f"## {rest[0]}", "", "<details><summary>Show</summary>", ""]
                for section, text in rest[1]:
                    out += [f"**{section}.** {text}", ""]
                out += ["</details>", ""]
        return "\n".join(out)

    def html(self) -> str:
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for kind, *rest in self.blocks + self._details():
            if kind == "h":
                out.append(f"<h{rest[0]}>{inline(rest[1])}</h{rest[0]}>")
            elif kind == "p":
                out.append(f"<p>{inline(rest[0])}</p>")
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in rest[0]) + "</ul>")
            elif kind == "table":
                header, rows = rest
                head = "".join(f"<th>{inline(c)}</th>" for c in header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows
                )
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "img":
                data = base64.b64encode(rest[0].read_bytes()).decode("ascii")
                alt = html.escape(rest[1], quote=True)
                out.append(f'<div><img alt="{alt}" src="data:image/png;base64,{data}"></div>')
            elif kind == "details":
                paras = "".join(
                    f"<p><strong>{inline(t)}.</strong> {inline(x)}</p>" for t, x in rest[1]
                )
                out.append(f"<details><summary>{html.escape(rest[0])}</summary>{paras}</details>")
        out.append("</body></html>")
        return "\n".join(out)
