"""Security of the report page: an XSS corpus through every text a script controls, checked on
the rendered page with an HTML parser (no element or attribute outside the allow-list), and
the MathML sanitizer on its own.

The corpus: the audit's vectors (S1: markup after ``</math>``, a tag with no closing ``>``),
unclosed tags, entities (named, numeric, a DOCTYPE with an entity), ``javascript:`` hrefs,
SVG and ``annotation-xml`` (HTML integration points), ``<math><mtext><img onerror>``,
``mglyph`` / ``malignmark`` mutation-XSS shapes, CDATA, comments, nested ``math``, attribute
break-outs, foreign namespaces, NUL and bidi characters, huge and deeply nested input.
"""

import json
import textwrap
import time
from html.parser import HTMLParser

import pytest

from lrctl import report
from lrctl.report._html import MATHML_ATTRIBUTES, MATHML_ELEMENTS, sanitize_mathml

PWN = "document.title=/PWNED/.source"
MATHML_CORPUS = [
    # audit S1, verbatim: a tag with no closing '>' after the math element
    f"<math><mi>x</mi></math><img src=x onerror={PWN} ",
    f"<math><mi>x</mi><img src=x onerror={PWN}></math>",
    f'<math><mtext><img src="x" onerror="{PWN}"/></mtext></math>',
    f"<math><mtext><table><mglyph><style><img src=x onerror={PWN}></style></mglyph></table></mtext></math>",
    f'<math><mtext><table><mglyph><style>&lt;img src=x onerror={PWN}&gt;</style></mglyph></table></mtext></math>',
    f'<math><mi><mglyph src="javascript:{PWN}"/><malignmark/></mi></math>',
    f'<math><annotation-xml encoding="text/html"><svg onload="{PWN}"/></annotation-xml></math>',
    f'<math><semantics><annotation-xml encoding="application/xhtml+xml"><h:img xmlns:h="http://www.w3.org/1999/xhtml" src="x" onerror="{PWN}"/></annotation-xml></semantics></math>',
    f'<math xmlns:xl="http://www.w3.org/1999/xlink"><mi xl:href="javascript:{PWN}" href="javascript:{PWN}">x</mi></math>',
    f'<math><maction actiontype="statusline"><mi>x</mi><mtext>javascript:{PWN}</mtext></maction></math>',
    f'<math><mi style="background:url(javascript:{PWN})" onmouseover="{PWN}" mathvariant="bold">x</mi></math>',
    f'<math><mi mathvariant="&quot;&gt;&lt;img src=x onerror={PWN}&gt;">x</mi></math>',
    f"<math><mi mathvariant='\"><img src=x onerror={PWN}>'>x</mi></math>",
    f"<math><mi>&lt;script&gt;{PWN}&lt;/script&gt;</mi></math>",
    f'<!DOCTYPE math [<!ENTITY x "<img src=x onerror={PWN}>">]><math><mi>&x;</mi></math>',
    f"<math><mi><![CDATA[<img src=x onerror={PWN}>]]></mi></math>",
    f"<math><!--><img src=x onerror={PWN}>--><mi>x</mi></math>",
    f"<math><mi>x</mi><!-- </math><img src=x onerror={PWN}> --></math>",
    f"<math><math><mi>x</mi><script>{PWN}</script></math></math>",
    f"<math><mi>x</mi><svg><script>{PWN}</script></svg></math>",
    f'<math xmlns="http://www.w3.org/2000/svg"><script>{PWN}</script></math>',
    f'<math><mtext><a href="javascript:{PWN}">click</a></mtext></math>',
    f"<math><style>*{{x:expression({PWN})}}</style><mi>x</mi></math>",
    f"<MATH><MI>x</MI><SCRIPT>{PWN}</SCRIPT></MATH>",
    f"<math><mi>x\x00</mi><img src=x onerror={PWN}></math>",
    f"<math><mi>\u202e{PWN}</mi></math>",
    f"<?xml-stylesheet href='javascript:{PWN}'?><math><mi>x</mi></math>",
    f"<math><mi>&unknownentity;</mi><img src=x onerror={PWN}/></math>",
    f"<img src=x onerror={PWN}>",
    f"<math><mi>x</mi></math><script>{PWN}</script>",
    f"<math><mi>x</mi></math ><math><img src=x onerror={PWN}/></math>",
    # huge: longer than the limit; deeply nested (100,000 levels)
    "<math>" + "<mi>x</mi>" * 30_000 + f"<img src=x onerror={PWN}/></math>",
    "<math>" + "<mrow>" * 20_000 + f"<img src=x onerror={PWN}/>" + "</mrow>" * 20_000 + "</math>",
]
TEXT_PAYLOADS = [
    f"<script>{PWN}</script>",
    f'"><img src=x onerror={PWN}>',
    f"'><svg onload={PWN}>",
    f"javascript:{PWN}",
    f"</textarea></pre></details><img src=x onerror={PWN}>",
    f"\u202e\u0000 {PWN} 🎉",
]

PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
             "p", "b", "a", "dl", "div", "dt", "dd", "nav", "ol", "li", "main", "section", "table",
             "tr", "th", "td", "span", "br", "ul", "details", "summary", "pre", "code", "figure",
             "img", "figcaption"}
PAGE_ATTRS = {"lang", "charset", "name", "content", "id", "class", "href", "src", "alt", "title",
              "aria-label"}


class _Audit(HTMLParser):
    """Collects every element and attribute the browser's parser would build."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []
        self.stack: list[str] = []
        self.math_depth = 0

    def handle_starttag(self, tag, attrs):
        in_math = self.math_depth > 0 or tag == "math"
        if in_math:
            if tag not in MATHML_ELEMENTS:
                self.bad.append(f"<{tag}> inside math")
            for k, _v in attrs:
                if k not in MATHML_ATTRIBUTES and k != "xmlns":
                    self.bad.append(f"<{tag} {k}=> inside math")
        else:
            if tag not in PAGE_TAGS:
                self.bad.append(f"<{tag}>")
            for k, v in attrs:
                if k not in PAGE_ATTRS:
                    self.bad.append(f"<{tag} {k}=>")
                if k in ("href", "src") and not (v.startswith("#") or v.startswith("figures/")):
                    self.bad.append(f"<{tag} {k}={v!r}>")
        if tag == "math":
            self.math_depth += 1

    def handle_endtag(self, tag):
        if tag == "math" and self.math_depth:
            self.math_depth -= 1


def audit_page(page: str) -> list[str]:
    p = _Audit()
    p.feed(page)
    p.close()
    return p.bad


@pytest.mark.parametrize("i", range(len(MATHML_CORPUS)))
def test_sanitizer_keeps_only_the_allow_list(i):
    markup = MATHML_CORPUS[i]
    t0 = time.perf_counter()
    out = sanitize_mathml(markup)
    assert time.perf_counter() - t0 < 5, "no hang"  # bound against catastrophic parsing only
    assert audit_page(out) == [], out[:300]
    assert "onerror" not in out or "&" in out  # only ever as escaped text


def test_sanitizer_keeps_sympy_output():
    from lrctl import quadratic

    for step in quadratic.derive_gd_stability().to_dict()["steps"]:
        out = sanitize_mathml(step["mathml"])
        assert out.startswith('<math xmlns="http://www.w3.org/1998/Math/MathML"')
        assert "class='raw'" not in out  # parsed and re-emitted, not shown as source
    # entities sympy writes (&InvisibleTimes;, &#955;) become characters the page can show
    out = sanitize_mathml("<math><mi>&#955;</mi><mo>&InvisibleTimes;</mo><mo>&lt;</mo></math>")
    assert out == ('<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>λ</mi><mo>\u2062</mo>'
                   "<mo>&lt;</mo></math>")


def _hostile_script(payload_math: list[str], payload_text: list[str]) -> str:
    """A script that writes a result file by hand (bypassing the script API) with the payloads
    in every text field the engine renders."""
    t = payload_text
    k = 0

    def nxt():
        nonlocal k
        k += 1
        return t[k % len(t)]

    result = {
        "name": "hostile",
        "title": nxt(), "summary": nxt(),
        "figures": [{"key": nxt(), "png": "f.png", "svg": "f.svg", "caption": nxt()}],
        "numbers": {nxt(): nxt(), "n": [nxt(), 1.5]},
        "number_details": {},
        "claims": [{"key": f"c{i}", "text": nxt(), "holds": i % 2 == 0, "evidence": nxt()}
                   for i in range(len(t))],
        "checks": [{"key": "k1", "text": nxt(), "holds": True, "evidence": nxt()}],
        "seed_claims": [{"id": "pi-control", "claims": ["c0", "c1"], "condition": "c2"}],
        "derivations": [{"title": nxt(), "statement_mathml": m,
                         "steps": [{"text": nxt(), "mathml": m}], "assumptions": [nxt()]}
                        for m in payload_math],
    }
    return textwrap.dedent(f"""
        import json, os, pathlib
        d = pathlib.Path(os.environ["LRCTL_FIGURE_DIR"])
        (d / "f.png").write_bytes(b"x"); (d / "f.svg").write_bytes(b"x")
        print({t[0]!r}); print({t[1]!r})
        pathlib.Path(os.environ["LRCTL_RESULT_FILE"]).write_text(json.dumps({result!r}))
    """)


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("xss")
    (root / "a").mkdir()
    (root / "a" / "hostile.py").write_text(_hostile_script(MATHML_CORPUS, TEXT_PAYLOADS))
    # a second script fails with the payload in its traceback (the error box)
    (root / "a" / "crash.py").write_text(f"raise RuntimeError({TEXT_PAYLOADS[1]!r})\n")
    with open(root / "log", "w") as stream:
        rep = report.build_report(root / "a", root / "r", stream=stream)
    return rep, (root / "r" / "index.html").read_text(encoding="utf-8")


def test_hostile_result_renders(hostile_page):
    rep, page = hostile_page
    a = next(x for x in rep.analyses if x.name == "hostile")
    assert a.status == "ok", a.error
    assert len(a.derivations) == len(MATHML_CORPUS)
    assert "PWNED" in page  # the payloads are on the page...


def test_no_element_or_attribute_outside_the_allow_list(hostile_page):
    _, page = hostile_page
    assert audit_page(page) == []  # ...but only as text


def test_figure_links_are_percent_encoded(hostile_page):
    _, page = hostile_page
    assert "src='figures/hostile/f.png'" in page
    for bad in ("<script", "<img src=x", "<svg"):
        assert bad not in page
    from lrctl.report._html import _href

    assert _href("figures/a b/k%1#2?3.png") == "figures/a%20b/k%251%232%3F3.png"
    assert _href("figures/x/'><img.png") == "figures/x/%27%3E%3Cimg.png"


def test_report_json_keeps_the_payloads_as_data(hostile_page):
    rep, _ = hostile_page
    data = json.loads((rep.out / "report.json").read_text())
    hostile = next(x for x in data["analyses"] if x["name"] == "hostile")
    assert hostile["title"] == TEXT_PAYLOADS[1]


def test_page_skeleton_has_no_script_and_no_network(hostile_page):
    # the page itself (all of it, payloads escaped): no script element, no external URL
    _, page = hostile_page
    p = _Tags()
    p.feed(page)
    assert "script" not in p.tags and "iframe" not in p.tags and "object" not in p.tags
    # no external URL in any link (the corpus's URLs survive only as escaped text)
    assert all(h.startswith(("#", "figures/")) for h in p.links)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.links = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src")]
