"""One list of report blocks, rendered to Markdown (images as files) and self-contained HTML (images inline)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Block:
    """kind: "h1" | "h2" | "h3" | "p" | "pre" | "table" | "img" | "details" (a folded preformatted text)."""

    kind: str
    text: str = ""  # details: its one-line summary
    rows: list[list[str]] = field(default_factory=list)  # tables: the first row is the header
    image: bytes = b""  # img: PNG bytes; `text` is its file name
    folded: str = ""  # details: the preformatted text shown when unfolded


def to_markdown(blocks: list[Block], image_dir: str) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(block.kind[1]) + " " + block.text, ""]
        elif block.kind == "p":
            lines += [block.text, ""]
        elif block.kind == "pre":
            lines += ["```", block.text.rstrip("\n"), "```", ""]
        elif block.kind == "table":
            cells = [[cell.replace("|", "\\|").replace("\n", " ") for cell in row] for row in block.rows]
            lines += ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
            lines += ["| " + " | ".join(row) + " |" for row in cells[1:]] + [""]
        elif block.kind == "img":
            lines += [f"![{block.text}]({image_dir}/{block.text})", ""]
        elif block.kind == "details":
            lines += ["<details><summary>" + html.escape(block.text) + "</summary>", "", "```",
                      block.folded.rstrip("\n"), "```", "", "</details>", ""]
    return "\n".join(lines)


def to_html(blocks: list[Block], title: str) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top}"
             "pre{background:#f6f6f6;padding:8px;overflow-x:auto}img{max-width:100%}</style></head><body>"]
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            parts.append(f"<{block.kind}>{html.escape(block.text)}</{block.kind}>")
        elif block.kind == "p":
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "pre":
            parts.append(f"<pre>{html.escape(block.text)}</pre>")
        elif block.kind == "table":
            header = "".join(f"<th>{html.escape(c)}</th>" for c in block.rows[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows[1:])
            parts.append(f"<table><tr>{header}</tr>{body}</table>")
        elif block.kind == "img":
            data = base64.b64encode(block.image).decode("ascii")
            parts.append(f"<p><img alt='{html.escape(block.text)}' src='data:image/png;base64,{data}'></p>")
        elif block.kind == "details":
            parts.append(f"<details><summary>{html.escape(block.text)}</summary><pre>{html.escape(block.folded)}</pre>"
                         "</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(blocks: list[Block], out: Path, title: str) -> None:
    """report.md with its PNGs in out/figures/, and report.html with every image inline."""
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for block in blocks:
        if block.kind == "img":
            (figures / block.text).write_bytes(block.image)
    (out / "report.md").write_text(to_markdown(blocks, "figures"), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks, title), encoding="utf-8")
