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


def _mathml(obj: Any, display: str = "inline") -> str:
    import sympy
    from sympy.printing.mathml import mathml

    if not isinstance(obj, sympy.Basic) and not isinstance(obj, sympy.MatrixBase):
        obj = sympy.sympify(obj)
    body = mathml(obj, printer="presentation")
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
        ``(sentence, sympy object)`` pairs, in order.
    assumptions
        Plain-language assumptions under which the statement holds.
    symbols
        The free symbols of ``result`` by canonical name (``eta``, ``lam``, ...), for
        :meth:`lambdify`.
    """

    title: str
    result: sympy.Basic
    statement: sympy.Basic
    steps: tuple[tuple[str, Any], ...] = ()
    assumptions: tuple[str, ...] = ()
    symbols: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title:
            raise TypeError(f"title must be a non-empty str, got {self.title!r}")
        for i, step in enumerate(self.steps):
            if not (isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], str)):
                raise TypeError(f"steps[{i}] must be a (sentence, sympy object) pair, got {step!r}")

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
