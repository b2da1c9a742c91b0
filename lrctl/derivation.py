"""Symbolic derivations as values.

A :class:`Derivation` is what every ``derive_*`` function in lrctl returns: the derived
quantity (``result``), the relation it enters (``statement``), the chain of steps that leads
there, and the assumptions under which it holds. The symbolic result is the source of truth the
fast numeric code is tested against (``Derivation.lambdify``).

Rendering: :meth:`Derivation.latex` for papers and notebooks (``_repr_latex_``), and
:meth:`Derivation.mathml` for the offline HTML report (presentation MathML renders natively in
current browsers, with no script and no network).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import sympy


def _is_symbolic(obj: Any) -> bool:
    import sympy

    return isinstance(obj, (sympy.Basic, sympy.MatrixBase))


def _require_symbolic(what: str, obj: Any) -> None:
    """A sympy object, never a string to be parsed: :func:`sympy.sympify` evaluates Python."""
    if not _is_symbolic(obj):
        raise TypeError(
            f"{what} must be a sympy expression, relation or matrix (build it with sympy; "
            f"strings are never parsed), got {type(obj).__name__}: {obj!r:.80}"
        )


_PRINTER: Any = None


def _presentation_printer() -> Any:
    """sympy's presentation-MathML printer, except that an undefined function keeps its name
    as written (sympy lowercases it, so the plant G(z) would print as g(z)) and gets the
    sub/superscript and Greek-letter treatment of a symbol (G_0 as G with subscript 0)."""
    global _PRINTER
    if _PRINTER is None:
        import sympy
        from sympy.printing.mathml import MathMLPresentationPrinter

        class _Printer(MathMLPresentationPrinter):
            def _print_AppliedUndef(self, e):
                mrow = self.dom.createElement("mrow")
                mrow.appendChild(self._print(sympy.Symbol(e.func.__name__)))
                mrow.appendChild(self._paren_comma_separated(*e.args))
                return mrow

        _PRINTER = _Printer
    return _PRINTER


def _mathml(obj: Any, display: str = "inline") -> str:
    _require_symbolic("a derivation object", obj)
    body = _presentation_printer()().doprint(obj)
    # sympy's presentation printer writes relational operators unescaped (<mo><</mo>), which
    # is not well-formed markup; escape them.
    body = body.replace("<mo><</mo>", "<mo>&lt;</mo>").replace("<mo>></mo>", "<mo>&gt;</mo>")
    body = body.replace("<mo><=</mo>", "<mo>&le;</mo>").replace("<mo>>=</mo>", "<mo>&ge;</mo>")
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{display}">{body}</math>'


@dataclass(frozen=True)
class Derivation:
    """A symbolic derivation: result, statement, steps and assumptions.

    Attributes
    ----------
    title
        One line saying what is derived.
    result
        The derived quantity as a sympy expression (for a bound, the bound itself, e.g.
        ``2/lam``, not the inequality).
    statement
        The relation the result enters, e.g. ``eta < 2/lam``.
    steps
        ``(sentence, sympy object)`` pairs, in order. The sentence is plain words (it is
        shown as text); all mathematics goes into the sympy object (shown as MathML).
    assumptions
        Plain-language assumptions under which the statement holds.
    symbols
        The free symbols of ``result`` by canonical name (``eta``, ``lam``, ...), for
        :meth:`lambdify`.

    Every mathematical field must be a sympy object: a ``str`` in ``result``, ``statement``,
    a step or ``symbols`` is a ``TypeError`` (strings are never handed to ``sympify``, which
    evaluates Python).
    """

    title: str
    result: sympy.Basic
    statement: sympy.Basic
    steps: tuple[tuple[str, Any], ...] = ()
    assumptions: tuple[str, ...] = ()
    symbols: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title.strip():
            raise TypeError(f"title must be a non-empty str, got {self.title!r:.80}")
        _require_symbolic("result", self.result)
        _require_symbolic("statement", self.statement)
        if not isinstance(self.steps, (tuple, list)):
            raise TypeError(
                f"steps must be a tuple of (sentence, sympy object) pairs, got "
                f"{type(self.steps).__name__}"
            )
        for i, step in enumerate(self.steps):
            if not (isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], str)
                    and step[0].strip()):
                raise TypeError(
                    f"steps[{i}] must be a (sentence, sympy object) pair, got {step!r:.80}"
                )
            _require_symbolic(f"steps[{i}] object", step[1])
        if isinstance(self.assumptions, str) or not isinstance(self.assumptions, (tuple, list)):
            raise TypeError(
                f"assumptions must be a tuple of plain-language strings, got "
                f"{type(self.assumptions).__name__}"
            )
        for i, a in enumerate(self.assumptions):
            if not isinstance(a, str) or not a.strip():
                raise TypeError(f"assumptions[{i}] must be a non-empty str, got {a!r:.80}")
        if not isinstance(self.symbols, dict):
            raise TypeError(f"symbols must be a dict of name -> sympy Symbol, got "
                            f"{type(self.symbols).__name__}")
        import sympy

        for k, v in self.symbols.items():
            if not isinstance(k, str) or not isinstance(v, sympy.Symbol):
                raise TypeError(
                    f"symbols must map names (str) to sympy Symbols, got {k!r:.40}: {v!r:.40}"
                )
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "assumptions", tuple(self.assumptions))

    # -- evaluation -----------------------------------------------------------------------
    def lambdify(self, *names: str):
        """A numpy function of the named symbols that evaluates :attr:`result`.

        >>> from lrctl.quadratic import derive_gd_stability
        >>> derive_gd_stability().lambdify("lam")(4.0)
        0.5
        """
        import sympy

        missing = [n for n in names if n not in self.symbols]
        if missing:
            raise ValueError(
                f"unknown symbol name(s) {missing}; this derivation has {sorted(self.symbols)}"
            )
        args = [self.symbols[n] for n in names]
        return sympy.lambdify(args, self.result, "numpy")

    # -- rendering ------------------------------------------------------------------------
    def latex(self) -> str:
        """The whole derivation as LaTeX: statement, steps, assumptions."""
        import sympy

        lines = [rf"\textbf{{{self.title}}}", r"\begin{align*}"]
        lines.append(sympy.latex(self.statement) + r" \\")
        lines.append(r"\end{align*}")
        for sentence, obj in self.steps:
            lines.append(rf"\text{{{sentence}}}\quad {sympy.latex(obj)}")
        if self.assumptions:
            lines.append(r"\text{Assumptions: " + "; ".join(self.assumptions) + "}")
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        import sympy

        return f"$${sympy.latex(self.statement)}$$"

    def mathml(self) -> str:
        """The statement as a display MathML element."""
        return _mathml(self.statement, display="block")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (LaTeX and MathML strings) used by the report."""
        import sympy

        return {
            "title": self.title,
            "result_latex": sympy.latex(self.result),
            "statement_latex": sympy.latex(self.statement),
            "statement_mathml": self.mathml(),
            "steps": [
                {
                    "text": sentence,
                    "latex": sympy.latex(obj),
                    "mathml": _mathml(obj),
                }
                for sentence, obj in self.steps
            ],
            "assumptions": list(self.assumptions),
        }

    def __str__(self) -> str:
        import sympy

        parts = [self.title, "  " + sympy.sstr(self.statement)]
        parts += [f"  - {s}: {sympy.sstr(o)}" for s, o in self.steps]
        if self.assumptions:
            parts.append("  assuming " + "; ".join(self.assumptions))
        return "\n".join(parts)
