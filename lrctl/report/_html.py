"""The self-contained HTML page of a report, and the MathML sanitizer.

Every text from a script is escaped with :func:`html.escape`. MathML (from
:meth:`lrctl.derivation.Derivation.to_dict`, but read back from a file a script wrote, so
untrusted) goes through :func:`sanitize_mathml`: it is parsed with an XML parser and
re-emitted element by element, keeping only the presentation-MathML elements and attributes
of an allow-list, with every text node escaped. Anything that does not parse is shown as
escaped source text.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lrctl.report._constants import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED

if TYPE_CHECKING:  # pragma: no cover
    from lrctl.report._engine import AnalysisResult, Report

__all__ = ["MATHML_ATTRIBUTES", "MATHML_ELEMENTS", "render_html", "sanitize_mathml"]

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

#: Presentation-MathML elements kept by :func:`sanitize_mathml` (what sympy's presentation
#: printer writes, plus layout elements). Deliberately absent: ``annotation-xml`` and
#: ``semantics`` (HTML integration points), ``mglyph`` and ``malignmark`` (special-cased by
#: the HTML parser), ``maction`` (scriptable), anything with a link.
MATHML_ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
    "mfrac", "msqrt", "mroot", "mfenced", "mtable", "mtr", "mtd", "mover", "munder",
    "munderover", "mstyle", "mpadded", "mphantom", "menclose", "merror", "mmultiscripts",
    "mprescripts", "none",
})
#: Attributes kept, each value restricted to :data:`_ATTR_VALUE` (no quotes, brackets, colons
#: or parentheses: no ``javascript:``, no ``url(...)``).
MATHML_ATTRIBUTES = frozenset({
    "display", "mathvariant", "separators", "open", "close", "stretchy", "linethickness",
    "fence", "columnalign", "rowalign", "lspace", "rspace", "width", "notation", "accent",
    "accentunder", "align", "columnspacing", "rowspacing", "scriptlevel", "displaystyle",
    "form", "largeop", "movablelimits", "symmetric", "minsize", "maxsize", "depth", "height",
    "voffset", "columnlines", "rowlines", "frame", "equalrows", "equalcolumns",
})
_ATTR_VALUE = re.compile(r"[A-Za-z0-9 .,%+\-#|]{0,64}")
#: MathML longer than this is not rendered (shown as "too long" instead).
MAX_MATHML_CHARS = 200_000


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _escaped_source(markup: str, why: str) -> str:
    shown = markup if len(markup) <= 2000 else markup[:2000] + " …"
    return f"<code class='raw' title='{_e(why)}'>{_e(shown)}</code>"


def sanitize_mathml(markup: str) -> str:
    """Safe MathML: parse ``markup`` as XML and re-emit only allow-listed MathML.

    Elements outside :data:`MATHML_ELEMENTS` are dropped with their content; attributes
    outside :data:`MATHML_ATTRIBUTES`, or whose value has characters outside a short list,
    are dropped; text is escaped; comments, processing instructions and CDATA markers
    vanish (CDATA text is kept, escaped). Markup that is not one well-formed ``<math>``
    element, declares a DOCTYPE or entities, or is longer than :data:`MAX_MATHML_CHARS`,
    is shown as escaped source instead.

    >>> sanitize_mathml('<math><mi onclick="x()">x</mi><script>alert(1)</script></math>')
    '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi></math>'
    >>> sanitize_mathml('<math><mi>x</mi></math><img src=x onerror=alert(1)>')[:18]
    "<code class='raw' "
    """
    import xml.etree.ElementTree as ET

    if not isinstance(markup, str):
        raise TypeError(f"markup must be a str of MathML, got {type(markup).__name__}")
    if not markup:
        return ""
    if len(markup) > MAX_MATHML_CHARS:
        return _escaped_source(markup, "MathML too long to render")
    if "<!" in markup.replace("<![CDATA[", "") or "<?" in markup:
        return _escaped_source(markup, "MathML with a declaration is not rendered")
    try:
        root = ET.fromstring(_ENTITY.sub(_numeric_entity, markup))
    except (ET.ParseError, ValueError, RecursionError):
        return _escaped_source(markup, "not well-formed MathML")
    if _local(root.tag) != "math" or _ns(root.tag) not in ("", MATHML_NS):
        return _escaped_source(markup, "not a <math> element")
    out: list[str] = []
    try:
        _emit(root, out, depth=0)
    except RecursionError:  # pragma: no cover - depth is bounded below
        return _escaped_source(markup, "MathML nested too deeply")
    return "".join(out)


_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,40});")
_XML_ENTITIES = frozenset({"lt", "gt", "amp", "quot", "apos"})


def _numeric_entity(m: re.Match[str]) -> str:
    """HTML named entities (sympy writes ``&InvisibleTimes;``) as numeric references, which
    an XML parser understands; an unknown name is left and fails the parse."""
    from html.entities import html5

    name = m.group(1)
    if name in _XML_ENTITIES or name + ";" not in html5:
        return m.group(0)
    return "".join(f"&#x{ord(ch):x};" for ch in html5[name + ";"])


def _ns(tag: Any) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _local(tag: Any) -> str:
    return tag.split("}", 1)[1] if isinstance(tag, str) and tag.startswith("{") else str(tag)


def _emit(el: Any, out: list[str], depth: int) -> None:
    name = _local(el.tag)
    if (not isinstance(el.tag, str) or _ns(el.tag) not in ("", MATHML_NS)
            or name not in MATHML_ELEMENTS or depth > 100):
        return  # dropped with its content (its tail text is emitted by the parent)
    attrs = []
    if name == "math":
        attrs.append(f' xmlns="{MATHML_NS}"')
    for k in sorted(el.attrib):
        v = el.attrib[k]
        if k == "xmlns" or _ns(k) or k not in MATHML_ATTRIBUTES or not _ATTR_VALUE.fullmatch(v):
            continue
        attrs.append(f' {k}="{_e(v)}"')
    out.append(f"<{name}{''.join(attrs)}>")
    if el.text:
        out.append(_e(el.text))
    for child in el:
        _emit(child, out, depth + 1)
        if child.tail:
            out.append(_e(child.tail))
    out.append(f"</{name}>")


# ---------------------------------------------------------------------------------------
# The page

_CSS = """
*{box-sizing:border-box}
html{scroll-behavior:smooth;scroll-padding-top:1em}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2329;background:#fafbfc;line-height:1.45}
header{background:#1f3a5f;color:#fff;padding:1.1em 2em}
header h1{margin:0;font-size:1.5em} a.failed-link{color:#ffd6d2} .headline{margin:.35em 0 .6em;font-size:1.05em}
.prov{display:flex;flex-wrap:wrap;gap:.2em 1.4em;margin:0;font-size:.85em;opacity:.9}
.prov div{display:flex;gap:.35em} .prov dt{opacity:.75} .prov dd{margin:0;font-family:ui-monospace,monospace}
.layout{display:flex;align-items:flex-start}
nav.toc{position:sticky;top:0;flex:0 0 17em;max-height:100vh;overflow-y:auto;padding:1em .8em 2em 1.2em;font-size:.88em;border-right:1px solid #dde3ea;background:#f3f5f8}
nav.toc ol{list-style:none;padding-left:0;margin:.2em 0} nav.toc ol ol{padding-left:.9em}
nav.toc a{color:#1d2329;text-decoration:none;display:block;padding:.1em .2em;border-radius:3px}
nav.toc a:hover{background:#e2e8f0} nav.toc .grp{font-weight:600;margin-top:.6em}
main{flex:1 1 auto;min-width:0;max-width:1150px;padding:1em 2em 4em}
h2.group{margin:1.6em 0 .4em;padding-bottom:.2em;border-bottom:2px solid #1f3a5f;font-size:1.35em}
section.analysis{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:1em 1.5em;margin:1em 0}
section.analysis h3{margin:.1em 0 .2em;font-size:1.2em} h4{margin:1em 0 .3em}
.meta{font-family:ui-monospace,monospace;color:#5b6875;font-size:.82em}
.top{float:right;font-size:.8em;color:#5b6875}
.badge{font-size:.75em;padding:.12em .5em;border-radius:3px;margin-left:.5em;vertical-align:middle;color:#fff}
.ok{background:#2e7d32} .failed{background:#b3261e} .skipped{background:#6b7785}
p.skip{background:#eef1f4;border-left:3px solid #6b7785;padding:.4em .8em}
ul.claims{list-style:none;padding-left:0;margin:.3em 0} ul.claims li{margin:.35em 0;padding:.3em .5em;border-radius:4px}
ul.claims li:target{background:#fff7d6}
.mark{display:inline-block;width:1.4em;font-weight:bold} .holds{color:#2e7d32} .fails{color:#b3261e} .partly{color:#a05a00} .untested{color:#5b6875}
.evidence{color:#3c4650;display:block;margin-left:1.4em;font-size:.92em}
details{margin:.5em 0} summary{cursor:pointer;color:#3c4650}
table{border-collapse:collapse;margin:.5em 0;width:100%} td,th{border:1px solid #dde3ea;padding:.3em .6em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#eef2f6} td.num{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
td{overflow-wrap:anywhere} .deriv{overflow-x:auto;overflow-y:hidden}
table.seed td.verdict{white-space:nowrap;font-weight:600} table.seed td:first-child{overflow-wrap:normal;min-width:9em}
figure{margin:1.2em 0} figure img{max-width:100%;border:1px solid #eef1f4}
figcaption{color:#3c4650;font-size:.92em} figcaption b{color:#1d2329}
.deriv{border-left:3px solid #1f3a5f;padding:.2em 0 .2em 1em;margin:1em 0}
.deriv ol{margin:.3em 0} .deriv li{margin:.45em 0}
math{font-size:1.12em;math-style:normal} math[display=block]{margin:.5em 0}
mfrac>*{math-depth:0}
code.raw{background:#fdecea;font-size:.85em;word-break:break-all}
pre{background:#f3f5f7;padding:.8em;overflow:auto;font-size:.82em;max-height:30em;white-space:pre-wrap;overflow-wrap:anywhere}
@media (max-width:900px){.layout{display:block} nav.toc{position:static;max-height:none;border-right:0}}
"""

_VERDICT_MARK = {
    "holds": ("✓", "holds", "holds"),
    "fails": ("✗", "fails", "fails"),
    "partly": ("◐", "partly", "partly"),
    "not tested": ("–", "untested", "not tested"),
}


def _href(path: str) -> str:
    """A relative URL for a report file: every path segment percent-encoded."""
    return _e("/".join(quote(seg, safe="") for seg in path.split("/")))


def _anchor(a: AnalysisResult, key: str) -> str:
    return key if key.startswith(a.name + "--") else f"{a.name}--{key}"


def _fmt_number(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_number(x) for x in v[:12]) + (", …" if len(v) > 12 else "") + "]"
    return str(v)


def _group_id(heading: str) -> str:
    return "group-" + re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def render_html(report: Report) -> str:
    """The self-contained ``index.html`` of a report (inline CSS, no scripts, no network)."""
    from lrctl.report._engine import Report

    if not isinstance(report, Report):
        raise TypeError(f"report must be an lrctl.report.Report, got {type(report).__name__}")
    ran = [a for a in report.analyses if a.status == STATUS_OK]
    n_hold = sum(c["holds"] for a in ran for c in a.claims)
    n_find = sum(not c["holds"] for a in ran for c in a.claims)
    n_checks = sum(len(a.checks) for a in ran)
    n_checks_ok = sum(c["holds"] for a in ran for c in a.checks)
    failed = [a for a in report.analyses if a.status == STATUS_FAILED]
    skipped = [a for a in report.analyses if a.status == STATUS_SKIPPED]
    headline = (
        f"{len(ran)} of {len(report.analyses)} analyses ran · "
        + (f"{len(skipped)} skipped (a missing optional module) · " if skipped else "")
        + f"{n_hold} claims hold · "
        f"{n_find} do not (findings) · {n_checks_ok}/{n_checks} checks pass"
        + (f" · <b>{len(failed)} failed: " + ", ".join(
            f"<a class='failed-link' href='#{_e(a.name)}'>{_e(a.name)}</a>" for a in failed)
           + "</b>" if failed else "")
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>lrctl report</title><style>{_CSS}</style></head><body>",
        f"<header id='top'><h1>lrctl report</h1><p class='headline'>{headline}</p>"
        f"{_provenance(report.provenance, report.quick)}</header>",
    ]
    groups: list[tuple[str, list[AnalysisResult]]] = []
    for a in report.analyses:
        if not groups or groups[-1][0] != a.heading:
            groups.append((a.heading, []))
        groups[-1][1].append(a)
    parts.append("<div class='layout'><nav class='toc' aria-label='Contents'><ol>"
                 "<li><a href='#top'>Top</a></li><li><a href='#seed-claims'>Seed claims</a></li>")
    for heading, members in groups:
        parts.append(f"<li class='grp'><a href='#{_group_id(heading)}'>{_e(heading)}</a><ol>")
        for a in members:
            bad = {STATUS_OK: "", STATUS_SKIPPED: " <span class='untested'>– skipped</span>"}.get(
                a.status, " <span class='fails'>✗ failed</span>")
            parts.append(f"<li><a href='#{_e(a.name)}'>{_e(a.title)}</a>{bad}</li>")
        parts.append("</ol></li>")
    parts.append("</ol></nav><main>")
    parts.append(_seed_table(report))
    counter = [0]
    for heading, members in groups:
        parts.append(f"<h2 class='group' id='{_group_id(heading)}'>{_e(heading)}</h2>")
        for a in members:
            parts.append(_render_section(a, counter))
    parts.append("</main></div></body></html>")
    return "\n".join(parts)


def _provenance(p: dict[str, Any], quick: bool) -> str:
    labels = [("lrctl", "lrctl"), ("git_commit", "commit"), ("started_utc", "started (UTC)"),
              ("mode", "mode"), ("seconds_total", "wall time (s)"), ("python", "Python"),
              ("numpy", "numpy"), ("scipy", "scipy"), ("sympy", "sympy"), ("control", "control"),
              ("matplotlib", "matplotlib"), ("cpu_count", "CPUs"), ("jobs", "jobs"),
              ("dask", "Dask scheduler"), ("dask_workers", "Dask workers"),
              ("timeout_seconds", "timeout (s)")]
    items = []
    for k, label in labels:
        if k in p:
            v = p[k]
            shown = "none" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
            items.append(f"<div><dt>{_e(label)}</dt><dd>{_e(shown)}</dd></div>")
    return f"<dl class='prov'>{''.join(items)}</dl>"


def _seed_table(report: Report) -> str:
    by_name = {a.name: a for a in report.analyses}
    rows = ["<section id='seed-claims'><h2>The seed's claims</h2>"
            "<p class='meta'>Each statement verbatim; the verdict is drawn from the claims of the "
            "analysis that tests it (all hold: ✓ holds; none: ✗ fails; some, with the condition "
            "that itself holds: ◐ partly).</p>"
            "<table class='seed'><tr><th>id</th><th>statement</th><th>verdict</th>"
            "<th>condition</th><th>evidence</th><th>analysis</th></tr>"]
    for row in report.seed_claims:
        mark, cls, word = _VERDICT_MARK.get(row["verdict"], ("?", "untested", row["verdict"]))
        a = by_name.get(row["analysis"]) if row["analysis"] else None
        links = ""
        if a is not None:
            links = f"<a href='#{_e(a.name)}'>{_e(a.name)}</a>"
            claim_links = [f"<a href='#{_e(_anchor(a, k))}'>claim {i}</a>"
                           for i, k in enumerate(row["claim_keys"], 1)]
            if row.get("condition_key"):
                claim_links.append(
                    f"<a href='#{_e(_anchor(a, row['condition_key']))}'>condition</a>")
            links += "<br>" + ", ".join(claim_links)
        rows.append(
            f"<tr id='seed-{_e(row['id'])}'><td class='meta'>{_e(row['id'])}</td>"
            f"<td>{_e(row['statement'])}</td>"
            f"<td class='verdict {cls}'>{mark} {_e(word)}</td>"
            f"<td>{_e(row['condition'] or '')}</td><td>{_e(row['evidence'])}</td>"
            f"<td>{links}</td></tr>")
    rows.append("</table></section>")
    return "\n".join(rows)


def _claim_items(a: AnalysisResult, claims: list[dict[str, Any]]) -> str:
    out = []
    for c in claims:
        ok = c["holds"]
        mark = ("<span class='mark holds'>✓</span>" if ok
                else "<span class='mark fails'>✗</span>")
        ev = f"<span class='evidence'>{_e(c['evidence'])}</span>" if c.get("evidence") else ""
        out.append(f"<li id='{_e(_anchor(a, c['key']))}'>{mark}{_e(c['text'])}{ev}</li>")
    return "\n".join(out)


def _render_section(a: AnalysisResult, counter: list[int]) -> str:
    out = [f"<section class='analysis' id='{_e(a.name)}'>",
           "<a class='top' href='#top'>back to top ↑</a>",
           f"<h3>{_e(a.title)}<span class='badge {_e(a.status)}'>{_e(a.status)}</span></h3>",
           f"<div class='meta'>{_e(a.name)} · {_e(a.script)}</div>"]
    if a.summary:
        out.append(f"<p>{_e(a.summary)}</p>")
    if a.status == STATUS_SKIPPED:
        out.append(f"<p class='skip'>Skipped, not run: {_e(a.skip_reason)}. Not a failure; "
                   "install the module and run the report again to see this analysis.</p>")
    if a.error:
        out.append(f"<h4>Error</h4><pre>{_e(a.error)}</pre>")
    if a.seed_claims:
        links = ", ".join(f"<a href='#seed-{_e(s['id'])}'>{_e(s['id'])}</a>"
                          for s in a.seed_claims)
        out.append(f"<p class='meta'>Seed claims decided here: {links}</p>")
    if a.claims:
        held = sum(c["holds"] for c in a.claims)
        out.append(f"<h4>Claims ({held} of {len(a.claims)} hold)</h4><ul class='claims'>")
        out.append(_claim_items(a, a.claims))
        out.append("</ul>")
    if a.checks:
        ok = sum(c["holds"] for c in a.checks)
        out.append(f"<details class='checks'><summary>Checks of the software: {ok} of "
                   f"{len(a.checks)} pass (identities and consistency tests; not evidence)"
                   "</summary><ul class='claims'>")
        out.append(_claim_items(a, a.checks))
        out.append("</ul></details>")
    if a.numbers:
        out.append("<h4>Numbers</h4><table><tr><th>name</th><th>value</th><th>unit</th>"
                   "<th>meaning</th></tr>")
        for k, v in a.numbers.items():
            d = a.number_details.get(k, {})
            out.append(
                f"<tr><td>{_e(k)}</td><td class='num'>{_e(_fmt_number(v))}</td>"
                f"<td>{_e(d.get('unit', ''))}</td><td>{_e(d.get('description', ''))}</td></tr>")
        out.append("</table>")
    for d in a.derivations:
        out.append(f"<div class='deriv'><h4>{_e(d.get('title', 'Derivation'))}</h4>")
        out.append(sanitize_mathml(d.get("statement_mathml", "")))
        steps = d.get("steps", [])
        if steps:
            out.append("<ol>")
            for s in steps:
                out.append(f"<li>{_e(s.get('text', ''))} {sanitize_mathml(s.get('mathml', ''))}"
                           "</li>")
            out.append("</ol>")
        if d.get("assumptions"):
            out.append("<p class='meta'>Assumptions: "
                       + "; ".join(_e(x) for x in d["assumptions"]) + "</p>")
        out.append("</div>")
    for f in a.figures:
        counter[0] += 1
        png = _href(f"figures/{a.name}/{f['png']}")
        svg = _href(f"figures/{a.name}/{f['svg']}")
        cap = f.get("caption") or ""
        out.append(
            f"<figure id='{_e(a.name)}--figure-{_e(f['key'])}'><a href='{svg}'>"
            f"<img src='{png}' alt='{_e(cap or f['key'])}'></a>"
            f"<figcaption><b>Figure {counter[0]}.</b> {_e(cap)} <a href='{svg}'>(SVG)</a>"
            "</figcaption></figure>")
    if a.log.strip():
        out.append(f"<details><summary>script output (last lines)</summary><pre>{_e(a.log)}</pre>"
                   "</details>")
    out.append("</section>")
    return "\n".join(out)
