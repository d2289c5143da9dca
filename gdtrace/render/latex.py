"""``--format latex``: the worked solution as a homework answer key.

Each update step is an ``align*`` block whose lines read symbolic → substituted → result
(``z_{1} &= w_{1} x_{1} + b = 0.08 \\cdot 5 + 0 = 0.4``); tables use booktabs rules. The output
is a fragment to ``\\input`` (it needs ``amsmath`` and ``booktabs``), or with ``--standalone`` a
whole document that compiles with pdflatex. Every user-supplied string is escaped and every
non-ASCII character is replaced by a LaTeX command, so the output is plain ASCII and needs no
``inputenc`` setup.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from gdtrace import __version__
from gdtrace import expr as E
from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.layout import (
    DocumentWriter,
    epoch_losses,
    exact,
    reading,
    step_label,
    worked_parts,
)
from gdtrace.render.printer import (
    BREAK,
    PREC_ATOM,
    PREC_MUL,
    PREC_POW,
    ExprPrinter,
    NumberFormat,
)
from gdtrace.trace import Contrast, Formula, Quantity, Role, Run, Stability, Step, Trace
from gdtrace.trace import Table as TraceTable

# A worked line wider than this (printed characters, roughly) is broken after its symbolic
# part and inside long expanded sums, so it stays on the page.
LINE_LIMIT = 80

# ------------------------------------------------------------------------------- characters

_GREEK_UPPER_COMMANDS = {"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon",
                         "Phi", "Psi", "Omega"}

MATH_SYMBOLS: dict[str, str] = {
    "−": "-", "·": r"\cdot ", "×": r"\times ", "∂": r"\partial ", "∇": r"\nabla ",
    "≥": r"\geq ", "≤": r"\leq ", "≠": r"\neq ", "≈": r"\approx ", "←": r"\leftarrow ",
    "→": r"\to ", "∞": r"\infty ", "‖": r"\| ", "√": r"\surd ", "∑": r"\sum ", "…": r"\ldots ",
    "⋯": r"\cdots ", "′": "'", "⊙": r"\odot ", "∘": r"\circ ", "⊤": r"\top ", "∈": r"\in ",
    "ℓ": r"\ell ", "±": r"\pm ", "∗": "*", "°": r"^{\circ}", "ᵀ": r"^{\top}", "∝": r"\propto ",
    "⌈": r"\lceil ", "⌉": r"\rceil ", "⌊": r"\lfloor ", "⌋": r"\rfloor ", "∣": r"\mid ",
    "⟨": r"\langle ", "⟩": r"\rangle ", "∀": r"\forall ", "∃": r"\exists ", "ℝ": r"\mathbb{R}",
    "\u00a0": "~",
}
# ℝ needs amssymb; it is replaced by a bold R so the fragment needs only amsmath.
MATH_SYMBOLS["ℝ"] = r"\mathbf{R}"

SUPERSCRIPT_CHARS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺⁽⁾ⁿⁱ", "0123456789-+()ni"))
SUBSCRIPT_CHARS = dict(zip("₀₁₂₃₄₅₆₇₈₉₋₊₍₎ᵢⱼₖₗₘₙₚₓₐₑₒₜ", "0123456789-+()ijklmnpxaeot"))

MATH_ASCII = {"_": r"\_", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "{": r"\{",
              "}": r"\}", "\\": r"\backslash ", "^": r"\wedge ", "~": r"\sim ", " ": r"\ "}
TEXT_ASCII = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
              "#": r"\#", "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%",
              "~": r"\textasciitilde{}", "<": r"\textless{}", ">": r"\textgreater{}",
              "|": r"\textbar{}", "\n": " ", "\r": " ", "\t": " "}
TEXT_UNICODE = {"—": "---", "–": "--", "“": "``", "”": "''", "‘": "`", "’": "'",
                "…": r"\ldots{}", "\u00a0": "~", "«": r"\textless{}\textless{}",
                "»": r"\textgreater{}\textgreater{}",
                "§": r"\S{}", "¶": r"\P{}", "©": r"\copyright{}",
                "£": r"\pounds{}", "•": r"\textbullet{}", "€": "EUR", "ß": r"\ss{}",
                "æ": r"\ae{}", "Æ": r"\AE{}", "ø": r"\o{}", "Ø": r"\O{}", "å": r"\aa{}",
                "Å": r"\AA{}", "œ": r"\oe{}", "Œ": r"\OE{}", "ł": r"\l{}", "Ł": r"\L{}",
                "ı": r"\i{}", "¿": r"?`", "¡": r"!`", "†": r"\dag{}", "‡": r"\ddag{}"}
MATH_ACCENTS = {"\u0302": "hat", "\u0303": "tilde", "\u0304": "bar", "\u0307": "dot",
                "\u0308": "ddot", "\u0301": "acute", "\u0300": "grave", "\u0306": "breve",
                "\u030c": "check", "\u20d7": "vec"}
TEXT_ACCENTS = {"\u0301": "'", "\u0300": "`", "\u0302": "^", "\u0303": "~", "\u0308": '"',
                "\u0304": "=", "\u0307": ".", "\u0306": "u", "\u030c": "v", "\u0327": "c",
                "\u030b": "H", "\u0328": "k", "\u030a": "r"}


def greek_command(char: str) -> str | None:
    """σ → \\sigma, Σ → \\Sigma, Α → A: the command pdflatex knows for a Greek letter."""
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    for prefix, upper in (("GREEK SMALL LETTER ", False), ("GREEK CAPITAL LETTER ", True)):
        if name.startswith(prefix):
            word = name[len(prefix):].lower().replace(" ", "")
            if word == "finalsigma":
                return r"\varsigma "
            if word == "omicron":
                return "O" if upper else "o"
            if word == "lamda":
                word = "lambda"
            if upper:
                title = word.capitalize()
                if title in _GREEK_UPPER_COMMANDS:
                    return f"\\{title} "
                ascii_form = unicodedata.normalize("NFKD", char)
                latin = {"Alpha": "A", "Beta": "B", "Epsilon": "E", "Zeta": "Z", "Eta": "H",
                         "Iota": "I", "Kappa": "K", "Mu": "M", "Nu": "N", "Rho": "P", "Tau": "T",
                         "Chi": "X"}
                return latin.get(title, ascii_form if ascii_form.isascii() else title[0])
            return f"\\{word} "
    return None


def _ascii_fallback(char: str) -> str:
    """A last resort for a character with no LaTeX name: its ASCII decomposition, or ?."""
    decomposed = unicodedata.normalize("NFKD", char)
    plain = "".join(c for c in decomposed if c.isascii())
    return plain or "?"


def math_text(text: str, words: bool = True) -> str:
    """A Unicode name (``w``, ``error``, ``X̃ᵀX̃``, ``η``, ``größe``) as LaTeX math
    (``\\text{error}``, ``\\tilde{X}^{\\top}\\tilde{X}``, ``\\eta``, ``\\text{gr\\"{o}\\ss{}e}``).
    Runs of two or more letters are upright words unless ``words`` is false (subscripts such
    as ``ij`` are indices)."""
    if not words:
        return _merge_scripts(_math_symbols(text, words)).strip()
    out: list[str] = []
    rest = ""
    for word, foreign in _words(unicodedata.normalize("NFC", text)):
        if foreign:  # a word with accented or non-Latin letters: upright text, accents kept
            out.append(_math_symbols(rest, words) + f"\\text{{{tex(word)}}}")
            rest = ""
        else:
            rest += word
    out.append(_math_symbols(rest, words))
    return _merge_scripts("".join(out)).strip()


def _word_char(char: str) -> bool:
    return (char.isalpha() and char not in SUPERSCRIPT_CHARS and char not in SUBSCRIPT_CHARS
            and char not in MATH_SYMBOLS and greek_command(char) is None)


def _words(text: str) -> list[tuple[str, bool]]:
    """Split into (piece, foreign) where foreign pieces are words of two or more letters
    with a non-ASCII letter (``größe``); everything else is left to the symbol rules."""
    pieces: list[tuple[str, bool]] = []
    index = 0
    while index < len(text):
        end = index
        while end < len(text) and (_word_char(text[end]) or (
                end > index and unicodedata.combining(text[end]))):
            end += 1
        if end == index:
            pieces.append((text[index], False))
            index += 1
            continue
        word = text[index:end]
        letters = [c for c in word if not unicodedata.combining(c)]
        pieces.append((word, len(letters) > 1 and not word.isascii()))
        index = end
    return pieces


def _math_symbols(text: str, words: bool) -> str:
    """Character by character: Greek and math signs as commands, accents as math accents."""
    tokens: list[tuple[str, str]] = []  # (kind, latex); kind "letter" for a bare ASCII letter
    for char in unicodedata.normalize("NFD", text):
        if char in MATH_ACCENTS and tokens:
            _, last = tokens.pop()
            tokens.append(("other", f"\\{MATH_ACCENTS[char]}{{{last.strip()}}}"))
        elif char.isascii() and char.isalpha():
            tokens.append(("letter", char))
        elif char.isascii():
            tokens.append(("other", MATH_ASCII.get(char, char)))
        elif char in SUPERSCRIPT_CHARS:
            tokens.append(("other", f"^{{{SUPERSCRIPT_CHARS[char]}}}"))
        elif char in SUBSCRIPT_CHARS:
            tokens.append(("other", f"_{{{SUBSCRIPT_CHARS[char]}}}"))
        elif char in MATH_SYMBOLS:
            tokens.append(("other", MATH_SYMBOLS[char]))
        elif unicodedata.combining(char):
            continue  # an accent we have no command for
        else:
            tokens.append(("other", greek_command(char) or _ascii_fallback(char)))
    out: list[str] = []
    index = 0
    while index < len(tokens):
        if tokens[index][0] == "letter":
            end = index
            while end < len(tokens) and tokens[end][0] == "letter":
                end += 1
            word = "".join(t for _, t in tokens[index:end])
            out.append(word if len(word) == 1 or not words else f"\\text{{{word}}}")
            index = end
        else:
            out.append(tokens[index][1])
            index += 1
    return "".join(out)


def _merge_scripts(text: str) -> str:
    """``x^{1}^{2}`` (from ``x¹²``) is a LaTeX error: merge neighbouring scripts."""
    for mark in ("^", "_"):
        while f"}}{mark}{{" in text and f"{mark}{{" in text:
            before = text
            text = text.replace(f"}}{mark}{{", "", 1) if _adjacent(text, mark) else text
            if text == before:
                break
    return text


def _adjacent(text: str, mark: str) -> bool:
    """True when the first ``}<mark>{`` closes a group that itself began with ``<mark>{``."""
    position = text.find(f"}}{mark}{{")
    opening = text.rfind(f"{mark}{{", 0, position)
    if opening < 0:
        return False
    inner = text[opening + 2:position]
    return "{" not in inner and "}" not in inner


def tex(text: str) -> str:
    """Escape user text (titles, column names, labels) for LaTeX text mode, ASCII only."""
    out: list[str] = []
    for char in unicodedata.normalize("NFD", str(text)):
        if char in TEXT_ACCENTS and out:
            last = out.pop()
            out.append(f"\\{TEXT_ACCENTS[char]}{{{last}}}")
        elif char.isascii():
            out.append(TEXT_ASCII.get(char, char) if char.isprintable() or char in "\n\r\t"
                       else " ")
        elif char in TEXT_UNICODE:
            out.append(TEXT_UNICODE[char])
        elif char in SUPERSCRIPT_CHARS:
            out.append(f"\\textsuperscript{{{tex(SUPERSCRIPT_CHARS[char])}}}")
        elif char in SUBSCRIPT_CHARS:
            out.append(f"\\textsubscript{{{tex(SUBSCRIPT_CHARS[char])}}}")
        elif unicodedata.combining(char):
            continue
        elif char in MATH_SYMBOLS or greek_command(char):
            out.append(f"\\ensuremath{{{math_text(char)}}}")
        else:
            out.append(tex(_ascii_fallback(char)) if _ascii_fallback(char) != "?" else "?")
    return "".join(out)


def text_math(text: str) -> str:
    """Words inside math (a formula's label): ASCII runs in ``\\text{…}``, Greek letters and
    other symbols as math (``prediction ŷ`` → ``\\text{prediction }\\hat{y}``), which
    pdflatex, KaTeX and MathJax (GitHub, Jupyter) all render the same way."""
    out: list[str] = []
    run = ""
    for char in unicodedata.normalize("NFC", " ".join(str(text).split())):
        if char.isascii():
            run += char
            continue
        if run:
            out.append(rf"\text{{{tex(run)}}}")
            run = ""
        out.append(f"{{{math_text(char)}}}")
    if run:
        out.append(rf"\text{{{tex(run)}}}")
    return "".join(out)


# ------------------------------------------------------------------------------- printer

FUNCTION_COMMANDS = {"exp": r"\exp", "ln": r"\ln", "log": r"\log", "tanh": r"\tanh",
                     "sin": r"\sin", "cos": r"\cos", "max": r"\max", "min": r"\min",
                     "sinh": r"\sinh", "cosh": r"\cosh", "σ": r"\sigma"}
RELATIONS = {"=": "=", "←": r"\leftarrow", "≈": r"\approx", ":=": ":=", "≥": r"\geq",
             "≤": r"\leq", ">": ">", "<": "<", "≠": r"\neq", "→": r"\to"}


class LatexPrinter(ExprPrinter):
    """The same trees as :class:`ExprPrinter`, written as LaTeX math."""

    times = r" \cdot "
    minus = " - "
    plus = " + "
    bracket_fractions = False  # \frac is already a unit: no (λ/n) brackets

    def paren(self, text: str) -> str:
        if BREAK in text:  # \left( … \right) cannot span the lines of an align
            return rf"\bigl({text}\bigr)"
        if any(tall in text for tall in (r"\frac", r"\sum", r"\left", r"\begin")):
            return rf"\left({text}\right)"
        return f"({text})"

    def format_number(self, value: float) -> str:
        mantissa, exponent = self.numbers.parts(value)
        return latex_number(mantissa, exponent)

    def array(self, values) -> str:  # type: ignore[no-untyped-def]
        if values.ndim == 0:
            return self.format_number(float(values))
        if values.ndim == 1:
            body = " & ".join(self.format_number(float(v)) for v in values)
            columns = len(values)
        elif values.ndim == 2:
            body = r" \\ ".join(" & ".join(self.format_number(float(v)) for v in row)
                                for row in values)
            columns = values.shape[1]
        else:
            return r"\left[" + ", ".join(self.array(v) for v in values) + r"\right]"
        return rf"\left[\begin{{array}}{{{'r' * max(columns, 1)}}}{body}\end{{array}}\right]"

    def symbol(self, node: E.Sym) -> str:
        if not node.sub and not node.hat:
            split = E.sym(node.base)  # a bare name such as x1 still reads x_{1}
            node = E.Sym(node.key, split.base, split.sub)
        base = math_text(node.base)
        if node.hat:
            base = rf"\hat{{{base}}}"
        if not node.sub:
            return base
        sub = math_text(node.sub, words=False)
        return f"{{{base}}}_{{{sub}}}" if "_" in base or "^" in base else f"{base}_{{{sub}}}"

    def join_factors(self, left: E.Expr, right: E.Expr) -> str:
        """Juxtapose as a student writes: ``\\frac{1}{n}\\sum…``, ``\\frac{\\lambda}{n} w_{j}``."""
        joined = super().join_factors(left, right)
        if joined == "":
            return " "
        if self.values is None and isinstance(left, (E.Div, E.Num)) and (
                isinstance(right, E.Sum) or (isinstance(left, E.Div) and _letter(right))):
            return " "
        return joined

    def _is_negative_text(self, text: str) -> bool:
        return text.startswith("-")

    def _print_Deriv(self, node: E.Deriv) -> tuple[str, int]:
        value = self._value_of(node.key)
        if value is not None:
            return self._leaf_number(value)
        return (rf"\frac{{\partial {self.doprint(node.of)}}}{{\partial {self.doprint(node.wrt)}}}",
                PREC_ATOM)

    def _print_Text(self, node: E.Text) -> tuple[str, int]:
        return text_math(node.text), PREC_ATOM


    def _print_Div(self, node: E.Div) -> tuple[str, int]:
        return rf"\frac{{{self._print(node.num, 0)}}}{{{self._print(node.den, 0)}}}", PREC_MUL

    def _print_Pow(self, node: E.Pow) -> tuple[str, int]:
        base = self._print(node.base, PREC_ATOM if isinstance(node.base, E.Div) else PREC_POW)
        grouped = base.startswith((r"\left(", r"\bigl("))
        if not grouped and (self._is_negative_text(base) or "^" in base):
            base = self.paren(base)  # (-0.06)^{2}, not -0.06^{2}; no double superscript
        return f"{base}^{{{self._print(node.exp, 0)}}}", PREC_POW

    def _print_Func(self, node: E.Func) -> tuple[str, int]:
        args = ", ".join(self._print(a, 0) for a in node.args)
        if node.name == "exp" and len(node.args) == 1:
            return f"e^{{{args}}}", PREC_POW
        if node.name in ("sqrt", "√") and len(node.args) == 1:
            return rf"\sqrt{{{args}}}", PREC_ATOM
        name = FUNCTION_COMMANDS.get(node.name)
        if name is None:  # relu → \operatorname{relu}; f' and σ' stay symbols
            word = re.fullmatch(r"[A-Za-z][A-Za-z_]+", node.name)
            name = rf"\operatorname{{{tex(node.name)}}}" if word else math_text(node.name)
        return f"{name}{self.paren(args)}", PREC_ATOM

    def _print_Compare(self, node: E.Compare) -> tuple[str, int]:
        op = RELATIONS.get(node.op, math_text(node.op))
        return (rf"\left[{self._print(node.lhs, 0)} {op} {self._print(node.rhs, 0)}\right]",
                PREC_ATOM)

    def _print_Sum(self, node: E.Sum) -> tuple[str, int]:
        if self.values is not None and node.terms:
            expanded = E.Add.of(*node.terms) if len(node.terms) > 1 else node.terms[0]
            self._breakable = len(node.terms) > 1
            text = self._print(expanded, 0)
            self._breakable = False
            return self.paren(text), PREC_ATOM
        index = math_text(node.index)
        upper = self._print(node.upper, PREC_ATOM)
        return rf"\sum_{{{index}=1}}^{{{upper}}} {self._print(node.body, PREC_MUL)}", PREC_MUL


def _letter(node: E.Expr) -> bool:
    return isinstance(node, (E.Sym, E.Ref, E.Deriv))


def latex_number(mantissa: str, exponent: int | None) -> str:
    """Mantissa/exponent parts of :class:`NumberFormat` as math: 1.5 \\times 10^{-6}."""
    if mantissa == "nan":
        return r"\text{NaN}"
    if mantissa in ("inf", "-inf"):
        return mantissa.replace("inf", r"\infty")
    return mantissa if exponent is None else rf"{mantissa} \times 10^{{{exponent}}}"


def relation(symbol: str) -> str:
    return RELATIONS.get(symbol, math_text(symbol))


def visible_length(latex: str) -> int:
    """Roughly how many characters wide a math line prints (commands count as one)."""
    text = re.sub(r"\\begin\{array\}\{[a-z]*\}|\\end\{array\}", "", latex)
    text = re.sub(r"\\(left|right|bigl|bigr|text|operatorname)\b", "", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}",
                  lambda m: "x" * max(len(m.group(1)), len(m.group(2))), text)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    return len(re.sub(r"[{}_^ ]|\\[,; ]", "", text))


def align_lines(printer: LatexPrinter, quantity: Quantity, limit: int = LINE_LIMIT) -> list[str]:
    """A worked line as ``align`` rows: one row when short, else one row per part and long
    substituted parts broken between the terms of their sums."""
    lhs, parts = worked_parts(printer, quantity, BREAK)
    rel = relation(quantity.relation)
    joined = " = ".join(p.replace(BREAK, "") for p in parts)
    if visible_length(lhs + joined) <= limit:
        return [f"{lhs} &{rel} {joined}"]
    rows: list[str] = []
    for position, part in enumerate(parts):
        lead = f"{lhs} &{rel} " if position == 0 else "&= "
        pieces = part.split(BREAK)
        current = lead + pieces[0]
        for piece in pieces[1:]:
            if visible_length(current + piece) > limit:
                rows.append(current)
                current = r"&\quad " + piece.lstrip()
            else:
                current += piece
        rows.append(current)
    return rows


def align_block(rows: Sequence[str]) -> str:
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


# ------------------------------------------------------------------------------- document

SECTION_COMMANDS = ["section", "subsection", "subsubsection", "paragraph"]


def formula_rows(printer: LatexPrinter, formulas: Sequence[Formula]) -> list[str]:
    """The header's general formulas as aligned rows, each label in a second column."""
    rows = []
    for formula in formulas:
        row = (f"{printer.symbolic(formula.lhs)} &{relation(formula.relation)} "
               f"{printer.symbolic(formula.rhs)}")
        if formula.label:
            row += f" && {text_math(formula.label)}"
        rows.append(row)
    return rows


class LatexWriter(DocumentWriter):
    """Writes one trace as LaTeX: the syntax of the shared layout (gdtrace.render.layout)."""

    dash = "---"
    minus = " $-$ "
    percent = "\\%"
    score_heading = r"$\hat{y}$"
    stopped_early = "The run stopped early: see the warnings below."
    worked_always = True

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        super().__init__(trace, options)
        self.printer = LatexPrinter(NumberFormat(display_decimals(trace, options)))
        self.out: list[str] = []
        self.runs_level = 1 if self.several_runs else 0

    def emit(self, text: str = "") -> None:
        self.out.append(text)

    def heading(self, level: int, title: str) -> None:
        command = SECTION_COMMANDS[min(level, len(SECTION_COMMANDS) - 1)]
        self.emit(f"\\{command}*{{{title}}}")

    def section(self, title: str, depth: int) -> None:
        self.heading(1 if depth == 0 else depth + self.runs_level, title)

    def paragraph(self, text: str) -> None:
        self.emit(f"\\noindent {text}\n")

    def text(self, text: str) -> str:
        return tex(text)

    def num(self, value: object) -> str:
        return f"${self.printer.number(value)}$"

    def setting_number(self, value: object) -> str:
        return exact(value)

    def value_is(self, symbol: str, value: object) -> str:
        return f"${symbol} = {self.printer.number(value)}$"

    def param_name(self, name: str) -> str:
        return f"${self.printer.symbolic(E.sym(name))}$"

    def prediction_rule(self, threshold: float) -> str:
        return f"$\\hat{{y}} \\geq {exact(threshold)}$"

    def param_value(self, name: str, value: object) -> str:
        return f"${self.printer.symbolic(E.sym(name))} = {self.printer.number(value)}$"

    def stability_parts(self, stability: Stability) -> tuple[str, str, str, str]:
        limit = latex_number(*self.printer.numbers.parts(stability.eta_limit))
        return (f"$H = {self.printer.symbolic(stability.hessian_formula)}$",
                f"$\\lambda_{{\\max}} = {self.printer.number(stability.lambda_max)}$",
                f"$0 < \\eta < 2/\\lambda_{{\\max}} = {limit}$",
                f"$\\eta = {self.printer.number(stability.eta)}$")

    def cell(self, value: object) -> str:
        """A table cell: fixed decimals (so a column lines up) in math mode."""
        if isinstance(value, str):
            return tex(value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, (int, float)):
            text = self.printer.numbers.fixed(float(value))
            mantissa, _, exponent = text.partition("e")
            if mantissa in ("nan", "inf", "-inf"):
                return f"${latex_number(mantissa, None)}$"
            return f"${latex_number(mantissa, int(exponent) if exponent else None)}$"
        return f"${self.printer.number(value)}$"

    def sym(self, quantity: Quantity) -> str:
        return f"${self.printer.symbolic(quantity.heading or quantity.symbol)}$"

    def data_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                   caption: str | None = None, keep: int = 1) -> None:
        """A booktabs tabular; wide tables are set smaller so they fit the text width."""
        if caption:
            self.paragraph(caption)
        small = len(headings) > 8
        self.emit("\\begin{center}")
        if small:
            self.emit("\\footnotesize\\setlength{\\tabcolsep}{3pt}")
        self.emit(f"\\begin{{tabular}}{{{'r' * len(headings)}}}")
        self.emit("\\toprule")
        self.emit(" & ".join(headings) + r" \\")
        self.emit("\\midrule")
        for row in rows:
            self.emit(" & ".join(row) + r" \\")
        self.emit("\\bottomrule")
        self.emit("\\end{tabular}")
        self.emit("\\end{center}\n")

    def worked(self, quantities: Sequence[Quantity]) -> None:
        rows = [line for q in quantities for line in align_lines(self.printer, q)]
        if rows:
            self.emit(align_rows(rows))

    def result(self) -> str:
        body = "\n".join(self.out) + "\n"
        return standalone(self.trace, body) if self.options.standalone else body

    def write_run_heading(self, run: Run) -> None:
        self.section(f"Run: {tex(run.label)}", 0)
        self.emit(tex(self.settings_text(run.settings)) + "\n")

    def write_header(self) -> None:
        trace, header = self.trace, self.trace.header
        self.emit(f"% gdtrace {__version__}: {tex(trace.problem.title)}")
        self.emit("% needs \\usepackage{amsmath,booktabs}")
        self.heading(0, tex(trace.problem.title))
        lines = [f"source: \\texttt{{{tex(trace.problem.source)}}}",
                 f"model: {tex(header.model)}", f"loss: {tex(header.loss)}",
                 f"update: {tex(header.update)}"]
        if len(trace.runs) == 1:
            lines.append(tex(self.settings_text(header.settings)))
        self.paragraph(" \\\\\n".join(lines))
        if header.formulas:
            self.emit(align_block(formula_rows(self.printer, header.formulas)))
        for note in header.notes:
            self.paragraph(f"({tex(note)})")

    def write_worked_step(self, step: Step) -> None:
        self.section(tex(step_label(step)), 2)
        rows: list[str] = []
        for sample, row in zip(step.samples, step.rows):
            inputs = [q for q in row if q.role is Role.INPUT]
            if inputs:
                given = ", ".join(f"${self.printer.symbolic(q.heading or q.symbol)} = "
                                  f"{self.printer.number(q.value)}$" for q in inputs)
                label = f"sample {sample}: " if len(step.rows) > 1 else ""
                if rows:
                    rows.append(f"\\intertext{{{label}{given}}}")
                else:  # before the block: \intertext on the first row leaves a gap
                    self.emit(f"\\noindent {label}{given}")
            for quantity in row:
                if quantity.role is not Role.INPUT:
                    rows.extend(align_lines(self.printer, quantity))
        if step.rows and step.quantities and len(step.rows) > 1:
            rows.append(r"\intertext{then for the step:}")
        for quantity in step.quantities:
            rows.extend(align_lines(self.printer, quantity))
        if rows:
            self.emit(align_rows(rows))

    def write_trace_table(self, table: TraceTable) -> None:
        self.data_table([tex(c) for c in table.columns],
                        [[self.cell(c) for c in row] for row in table.rows],
                        caption=tex(table.title) if table.title else None)

    def write_summary(self, run: Run) -> None:
        self.section(self.result_title(run), 1)
        lines = []
        if run.final:
            lines.append(self.final_parameters(run))
        if run.final_loss is not None:
            lines.append(f"final loss: {self.num(run.final_loss)}")
        if lines:
            self.paragraph(" \\\\\n".join(lines))
        losses = epoch_losses(run)
        if losses:
            self.data_table(["epoch", "$L$ at the start"],
                            [[str(i), self.cell(loss)] for i, loss in losses],
                            caption="loss per epoch:")
        if run.outcome is not None:
            self.write_predictions(run.outcome)
        for line in self.checks(run):
            self.paragraph(line)

    def reading(self, contrast: Contrast) -> str:
        return reading(contrast, self.printer.number)  # numbers outside $…$: tex escapes them

    def warnings_start(self) -> None:
        self.heading(1, "Warnings")
        self.emit("\\begin{itemize}")

    def warning(self, where: str, message: str) -> None:
        prefix = f"({tex(where)}) " if where else ""
        self.emit(f"\\item {prefix}{tex(message)}")

    def warnings_end(self) -> None:
        self.emit("\\end{itemize}\n")


def align_rows(rows: list[str]) -> str:
    """An align* block; an ``\\intertext`` row is joined to the next row without ``\\\\``."""
    text = ""
    for position, row in enumerate(rows):
        text += row
        if position < len(rows) - 1 and not row.startswith("\\intertext"):
            text += " \\\\\n"
        else:
            text += "\n"
    if rows and rows[-1].startswith("\\intertext"):
        text += "\\\\\n"
    return "\\begin{align*}\n" + text + "\\end{align*}\n"


def standalone(trace: Trace, body: str) -> str:
    """Wrap a fragment in a document that compiles with pdflatex (standard packages only)."""
    return (
        "\\documentclass[11pt]{article}\n"
        "\\usepackage{amsmath}\n"
        "\\usepackage{booktabs}\n"
        "\\usepackage[margin=2cm]{geometry}\n"
        "\\allowdisplaybreaks\n"
        "\\setlength{\\parindent}{0pt}\n"
        f"\\title{{{tex(trace.problem.title)}}}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        f"{body}"
        "\\end{document}\n"
    )


def render(trace: Trace, options: RenderOptions) -> str:
    return LatexWriter(trace, options).write()
