"""Reading the French catalogue and the sources without gettext installed.

``read_po`` is a small parser for the subset of the PO format ``makemessages`` writes;
``source_messages`` finds the strings ``makemessages`` would extract (Python calls to the
gettext functions, ``{% translate %}`` and ``{% blocktranslate %}`` in templates, the
latter through Django's own ``templatize``), so the tests can say "run makemessages"
on a machine without xgettext.
"""

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale" / "fr" / "LC_MESSAGES"
PO_PATH = LOCALE / "django.po"
MO_PATH = LOCALE / "django.mo"

# What `makemessages` is run without (see the README's translation section).
IGNORED_DIRS = {
    ".venv",
    "bench",
    "tests",
    "staticfiles",
    "node_modules",
    "test-artifacts",
    "locale",
    "media",
    "attachments",
}

# Placeholders that must survive translation: %(name)s, %s, %d.
PLACEHOLDER_RE = re.compile(r"%\([^)]+\)[sd]|%[sd]")


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    obsolete: bool = False

    @property
    def key(self):
        return (self.msgctxt, self.msgid)

    @property
    def is_header(self):
        return self.msgid == "" and self.msgctxt is None

    @property
    def translated(self):
        return bool(self.msgstr) and all(self.msgstr.values())


_KEYWORD_RE = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$")


def read_po(path=PO_PATH) -> list[Entry]:
    """Every entry of a PO file, the header included, obsolete ones marked."""
    entries, entry, current = [], Entry(), None

    def finish():
        nonlocal entry, current
        if entry.msgid or entry.msgstr or entry.flags or entry.references:
            entries.append(entry)
        entry, current = Entry(), None

    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
            if not line:
                continue
        elif line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        elif line.startswith("#:"):
            entry.references += line[2:].split()
            continue
        elif line.startswith("#"):
            continue
        match = _KEYWORD_RE.match(line)
        if match:
            keyword, index, text = match.groups()
            value = ast.literal_eval(text)
            if keyword == "msgctxt":
                entry.msgctxt, current = value, ("msgctxt", None)
            elif keyword == "msgid":
                entry.msgid, current = value, ("msgid", None)
            elif keyword == "msgid_plural":
                entry.msgid_plural, current = value, ("msgid_plural", None)
            else:
                slot = int(index) if index is not None else 0
                entry.msgstr[slot], current = value, ("msgstr", slot)
        elif line.startswith('"') and current is not None:
            value = ast.literal_eval(line)
            name, slot = current
            if name == "msgstr":
                entry.msgstr[slot] += value
            else:
                setattr(entry, name, getattr(entry, name) + value)
        else:
            raise ValueError(f"{path}: cannot read line {raw!r}")
    finish()
    return entries


def header_fields(entries) -> dict[str, str]:
    header = next(e for e in entries if e.is_header and not e.obsolete)
    pairs = (line.partition(":") for line in header.msgstr[0].splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, _colon, value in pairs}


# --- What makemessages would extract ------------------------------------------------------

# Function name → (position of the msgid, whether the first argument is a context).
_FUNCTIONS = {
    "_": (0, False),
    "gettext": (0, False),
    "gettext_lazy": (0, False),
    "gettext_noop": (0, False),
    "ngettext": (0, False),
    "ngettext_lazy": (0, False),
    "pgettext": (1, True),
    "pgettext_lazy": (1, True),
    "npgettext": (1, True),
    "npgettext_lazy": (1, True),
}


def _source_files(suffixes):
    for path in sorted(ROOT.rglob("*")):
        parts = path.relative_to(ROOT).parts
        if path.suffix not in suffixes or not path.is_file():
            continue
        if any(part in IGNORED_DIRS or part.startswith(".") for part in parts[:-1]):
            continue
        yield path


def _from_python(source):
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in _FUNCTIONS:
            continue
        position, has_context = _FUNCTIONS[name]
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if len(args) > position and isinstance(args[position], str):
            yield (args[0] if has_context else None, args[position])


def _from_templatized(source):
    """``templatize`` output is Python only as far as its tokens go (as for xgettext)."""
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    tokens = [
        t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip
    ]
    for i, token in enumerate(tokens):
        if token.type != tokenize.NAME or token.string not in _FUNCTIONS:
            continue
        if i + 1 >= len(tokens) or tokens[i + 1].string != "(":
            continue
        strings, j = [], i + 2
        while j < len(tokens) and tokens[j].type == tokenize.STRING:
            strings.append(ast.literal_eval(tokens[j].string))
            j += 1
            if j < len(tokens) and tokens[j].string == ",":
                j += 1
            else:
                break
        position, has_context = _FUNCTIONS[token.string]
        if len(strings) > position:
            yield (strings[0] if has_context else None, strings[position])


def source_messages() -> dict[tuple, str]:
    """(context, msgid) → the first file that uses it, for every translatable string."""
    from django.utils.translation.template import templatize

    found = {}
    for path in _source_files({".py"}):
        for key in _from_python(path.read_text(encoding="utf-8")):
            found.setdefault(key, str(path.relative_to(ROOT)))
    for path in _source_files({".html", ".txt"}):
        text = path.read_text(encoding="utf-8")
        if "{%" not in text:
            continue
        for key in _from_templatized(templatize(text, origin=str(path))):
            found.setdefault(key, str(path.relative_to(ROOT)))
    return found
