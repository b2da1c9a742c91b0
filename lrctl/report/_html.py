"""The self-contained HTML page of a report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrctl.report._constants import STATUS_OK

if TYPE_CHECKING:  # pragma: no cover
    from lrctl.report._engine import AnalysisResult, Report

# ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2329;background:#fafbfc}
header{background:#1f3a5f;color:#fff;padding:1.2em 2em}
header h1{margin:0;font-size:1.5em} header p{margin:.3em 0 0;opacity:.85}
main{max-width:1150px;margin:0 auto;padding:1em 2em 4em}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4em}
nav li a{display:inline-block;padding:.25em .6em;border-radius:4px;text-decoration:none;color:#1d2329;background:#e8edf3}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:1em 1.5em;margin:1.5em 0}
h2{margin-top:.2em} .name{font-family:ui-monospace,monospace;color:#5b6875;font-size:.85em}
.badge{font-size:.75em;padding:.15em .5em;border-radius:3px;margin-left:.5em;vertical-align:middle;color:#fff}
.ok{background:#2e7d32} .claims-failed{background:#c77700} .failed{background:#b3261e}
ul.claims{list-style:none;padding-left:0} ul.claims li{margin:.3em 0}
.mark{display:inline-block;width:1.4em;font-weight:bold} .holds{color:#2e7d32} .fails{color:#b3261e}
.detail{color:#5b6875;font-size:.9em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #dde3ea;padding:.25em .6em;text-align:left;font-size:.92em}
td.num{font-family:ui-monospace,monospace}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eef1f4}
figcaption{color:#3c4650;font-size:.92em}
.deriv{border-left:3px solid #1f3a5f;padding-left:1em;margin:1em 0}
.deriv ol{margin:.3em 0} pre{background:#f3f5f7;padding:.8em;overflow-x:auto;font-size:.85em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt_number(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_number(x) for x in v[:12]) + (", …" if len(v) > 12 else "") + "]"
    return str(v)


_MATHML_ALLOWED = None


def _safe_mathml(markup: str) -> str:
    """MathML produced by sympy, checked to be MathML only (no script, no attributes that run
    code); anything else is shown escaped instead."""
    import re

    global _MATHML_ALLOWED
    if _MATHML_ALLOWED is None:
        _MATHML_ALLOWED = re.compile(
            r"</?(math|mrow|mi|mn|mo|msup|msub|msubsup|mfrac|msqrt|mroot|mfenced|mtable|mtr|mtd"
            r"|mtext|mspace|mover|munder|munderover|mstyle|mpadded|mphantom|menclose)"
            r"(\s+(xmlns|display|mathvariant|separators|open|close|stretchy|linethickness|fence"
            r"|columnalign|rowalign|lspace|rspace|width|notation)=\"[^\"<>]*\")*\s*/?>"
        )
    for m in re.finditer(r"<[^>]*>", markup):
        if not _MATHML_ALLOWED.fullmatch(m.group(0)):
            return f"<code>{_e(markup)}</code>"
    return markup


def render_html(report: Report) -> str:
    """The self-contained ``index.html`` of a report (inline CSS, no scripts, no network)."""
    parts: list[str] = []
    n_ok = sum(a.status == STATUS_OK for a in report.analyses)
    n_claims = sum(len(a.claims) for a in report.analyses)
    n_hold = sum(bool(c.get("holds")) for a in report.analyses for c in a.claims)
    parts.append(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>lrctl report</title><style>{_CSS}</style></head><body>"
        "<header><h1>lrctl report</h1>"
        f"<p>{n_ok}/{len(report.analyses)} analyses ok · {n_hold}/{n_claims} claims hold"
        f"{' · quick mode' if report.quick else ''}</p></header><main>"
    )
    parts.append("<nav><ul>")
    for a in report.analyses:
        parts.append(
            f"<li><a href='#{_e(a.name)}'>{_e(a.title)} "
            f"<span class='badge {_e(a.status)}'>{_e(a.status)}</span></a></li>"
        )
    parts.append("</ul></nav>")
    for a in report.analyses:
        parts.append(_render_section(a))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _render_section(a: AnalysisResult) -> str:
    out = [f"<section id='{_e(a.name)}'>"]
    out.append(
        f"<h2>{_e(a.title)}<span class='badge {_e(a.status)}'>{_e(a.status)}</span></h2>"
        f"<div class='name'>{_e(a.name)} · {_e(Path(a.script).name)} · {a.seconds:.1f} s</div>"
    )
    if a.summary:
        out.append(f"<p>{_e(a.summary)}</p>")
    if a.error:
        out.append(f"<h3>Error</h3><pre>{_e(a.error)}</pre>")
    if a.claims:
        out.append("<h3>Claims</h3><ul class='claims'>")
        for c in a.claims:
            ok = bool(c.get("holds"))
            mark = "<span class='mark holds'>✓</span>" if ok else "<span class='mark fails'>✗</span>"
            detail = f" <span class='detail'>{_e(c.get('evidence', ''))}</span>" if c.get("evidence") else ""
            out.append(f"<li>{mark}{_e(c.get('text', ''))}{detail}</li>")
        out.append("</ul>")
    if a.numbers:
        out.append("<h3>Numbers</h3><table><tr><th>name</th><th>value</th><th>unit</th>"
                   "<th>meaning</th></tr>")
        for k, v in a.numbers.items():
            d = a.number_details.get(k, {})
            out.append(
                f"<tr><td>{_e(k)}</td><td class='num'>{_e(_fmt_number(v))}</td>"
                f"<td>{_e(d.get('unit', ''))}</td><td>{_e(d.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    for d in a.derivations:
        out.append(f"<div class='deriv'><h3>{_e(d.get('title', 'Derivation'))}</h3>")
        out.append(_safe_mathml(d.get("statement_mathml", "")))
        steps = d.get("steps", [])
        if steps:
            out.append("<ol>")
            for s in steps:
                out.append(f"<li>{_e(s.get('text', ''))} {_safe_mathml(s.get('mathml', ''))}</li>")
            out.append("</ol>")
        if d.get("assumptions"):
            out.append("<p class='detail'>Assumptions: " + "; ".join(_e(x) for x in d["assumptions"]) + "</p>")
        out.append("</div>")
    for f in a.figures:
        png, svg = _e(f.get("png", "")), _e(f.get("svg", ""))
        out.append(
            f"<figure><a href='figures/{svg}'><img src='figures/{png}' alt='{_e(f.get('caption') or f.get('key'))}'></a>"
            f"<figcaption>{_e(f.get('caption', ''))} <a href='figures/{svg}'>(SVG)</a></figcaption></figure>"
        )
    if a.log.strip():
        out.append(f"<details><summary>script output</summary><pre>{_e(a.log[-20000:])}</pre></details>")
    out.append("</section>")
    return "\n".join(out)

