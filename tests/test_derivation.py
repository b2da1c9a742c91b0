"""Derivations: sympy objects only (no string ever reaches sympify), step sentences in plain
words (the mathematics is in the sympy object, rendered as MathML), distinct titles that name
the plant, and MathML that passes the report's sanitizer unchanged in structure."""

import importlib
import inspect
import re

import pytest
import sympy

from lrctl.derivation import Derivation
from lrctl.report._html import sanitize_mathml

MODULES = ("quadratic", "zdomain", "rangetest", "games", "diffusion", "continual", "cerebellar", "federated",
           "search", "adaptive")


def _all_derivations():
    """Every Derivation lrctl builds: each derive_* function (found by name, so a new one is
    covered the day it lands) with each of its documented variants."""
    from lrctl import zdomain

    variants = {
        "derive_bilinear_spectral_radius": [("simultaneous",), ("alternating",),
                                            ("extragradient",), ("optimistic",)],
        "derive_denoising_curvature": [("none",), ("edm",)],
        "derive_characteristic_polynomial": [(zdomain.first_order_plant(0.9, 0.5),),
                                             (zdomain.sharpness_plant(setpoint=1.0),)],
        "derive_stability_conditions": [(zdomain.first_order_plant(0.9, 0.5),),
                                        (zdomain.first_order_plant(0.9, 0.5, delay=1),),
                                        (zdomain.sharpness_plant(setpoint=1.0),)],
    }
    out = []
    for m in MODULES:
        mod = importlib.import_module(f"lrctl.{m}")
        for name in sorted(dir(mod)):
            fn = getattr(mod, name)
            if not name.startswith("derive_") or not callable(fn):
                continue
            if getattr(inspect.unwrap(fn), "__module__", "") != mod.__name__:
                continue
            for args in variants.get(name, [()]):
                out.append((f"{m}.{name}{args!r:.40}", fn(*args)))
    return out


DERIVATIONS = _all_derivations()
IDS = [n for n, _ in DERIVATIONS]

# A step sentence may name a symbol (one letter, Latin or Greek) but never write a formula:
# no operators or relations, no function application, no ASCII spellings of Greek letters or of
# math functions, no primes, no infinity.
_FORBIDDEN = [
    (re.compile(r"'(?!s\b)"), "a prime"),
    (re.compile(r"[=<>^*/|_+\\{}\[\]≤≥≠≈≡∝±·×÷√∫∑∞→←⇒⇔−²³′″∂∇]"), "an operator or relation"),
    (re.compile(r"[A-Za-z0-9]\("), "function application"),
    (re.compile(r"\s-\s|\s-[\dA-Za-z]|\(-|^-"), "a minus sign"),
    (re.compile(r"\b(alpha|beta|gamma|delta|Delta|epsilon|eta|theta|kappa|lambda|mu|rho|sigma|"
                r"tau|phi|psi|omega|pi|xi|chi)\b"), "an ASCII Greek name"),
    (re.compile(r"\b(sqrt|ln|exp|det|Re|Li2|oo|inf|kron|vec)\b"), "a math function name"),
]


def _ascii_math(sentence: str) -> list[str]:
    return [why for rx, why in _FORBIDDEN if rx.search(sentence)]


@pytest.mark.parametrize("d", [d for _, d in DERIVATIONS], ids=IDS)
def test_step_sentences_are_plain_words(d):
    bad = {s: _ascii_math(s) for s, _ in d.steps if _ascii_math(s)}
    assert bad == {}, f"{d.title}: math belongs in the sympy object: {bad}"


def test_titles_are_distinct():
    titles = [d.title for _, d in DERIVATIONS]
    dupes = sorted({t for t in titles if titles.count(t) > 1})
    assert dupes == []


def test_titles_of_plant_derivations_name_the_plant():
    from lrctl import zdomain

    a = zdomain.derive_stability_conditions(zdomain.first_order_plant(0.9, 0.5))
    b = zdomain.derive_stability_conditions(zdomain.first_order_plant(0.9, 0.5, delay=1))
    assert "first-order plant" in a.title and "0.9" in a.title and "delay" in b.title


@pytest.mark.parametrize("d", [d for _, d in DERIVATIONS], ids=IDS)
def test_mathml_passes_the_sanitizer(d):
    data = d.to_dict()
    for markup in [data["statement_mathml"]] + [s["mathml"] for s in data["steps"]]:
        out = sanitize_mathml(markup)
        assert out.startswith("<math ") and "class='raw'" not in out, markup[:200]
        # the sanitizer keeps the structure: same element names in the same order
        assert re.findall(r"<(m[a-z]+)", out) == re.findall(r"<(m[a-z]+)", markup)


# -- security: nothing reaches sympify (audit S2) ------------------------------------------

def _payload(tmp_path):
    target = tmp_path / "pwned"
    return f"__import__('os').system('touch {target}')", target


def test_strings_are_refused_everywhere(tmp_path):
    x = sympy.Symbol("x")
    evil, target = _payload(tmp_path)
    cases = [
        dict(result=evil, statement=x),
        dict(result=x, statement=evil),
        dict(result=x, statement=x, steps=(("s", evil),)),
        dict(result=x, statement=x, steps=[("s", evil)]),
        dict(result=x, statement=x, symbols={"x": evil}),
        dict(result=x, statement=x, symbols={"x": x, "y": "y"}),
    ]
    for kw in cases:
        with pytest.raises(TypeError, match=r"sympy|Symbol"):
            Derivation("t", **kw)
    assert not target.exists()


def test_rendering_never_sympifies(tmp_path):
    from lrctl import derivation

    evil, target = _payload(tmp_path)
    with pytest.raises(TypeError, match="sympy"):
        derivation._mathml(evil)
    assert not target.exists()


@pytest.mark.parametrize("kw", [
    dict(title=""), dict(title=3), dict(steps={"a": 1}), dict(steps=(("", sympy.S(1)),)),
    dict(steps=(("s",),)), dict(assumptions="one string"), dict(assumptions=(3,)),
    dict(symbols=[("x", sympy.Symbol("x"))]), dict(result=float("nan")), dict(result=True),
])
def test_bad_fields_are_type_errors(kw):
    x = sympy.Symbol("x")
    args = dict(title="t", result=x, statement=x) | kw
    with pytest.raises(TypeError):
        Derivation(**args)


def test_lists_are_stored_as_tuples():
    x = sympy.Symbol("x")
    d = Derivation("t", x, x, steps=[("s", x)], assumptions=["a"])
    assert d.steps == (("s", x),) and d.assumptions == ("a",)
    hash(d.steps)
