"""Unicode text to LaTeX: escaping user text and writing gdtrace's symbols as math commands.

gdtrace's symbols are Unicode (ŷ, ∂, σ, subscripts); LaTeX output is plain ASCII, so every
non-ASCII character becomes a command here, for text (:func:`tex`) and for math
(:func:`math_text`). The printer and the document writer use these; nothing here knows a trace.
"""

from __future__ import annotations

import unicodedata

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
