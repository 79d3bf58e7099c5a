"""Every file, path and module the project cites exists in the project.

Comments, docstrings, docs and templates point maintainers elsewhere ("see
docs/streaming.md", "``streaming/runs/``", ``chatapp.live``). A pointer to a
file that was moved, renamed or never committed sends the reader nowhere, so
this scans every text file in the repository for:

- names of markdown files (``*.md``) and the targets of markdown links;
- repository paths that start with a top-level folder (``streaming/…``,
  ``docs/…``, ``templates/…``; a trailing ``*`` makes it a glob);
- template names given to ``{% include %}``/``{% extends %}`` or rendered
  from Python (``"chat/_message.html"``, under ``templates/``);
- sections of a markdown file, as ``docs/streaming.md, Stack facts`` or as a
  link's ``#anchor``: the file must have that heading;
- dotted module paths of the project's packages (``streaming.runs.run``,
  ``chatapp.projection``, ``chatapp.asgi:application``), where any part
  after the module must be a name found in its source.

and fails with the list of those that do not exist.
"""

from __future__ import annotations

import fnmatch
import io
import re
import subprocess
import tokenize
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Which files are read: the project's text files (not data such as the
# CommonMark spec fixture, not images).
SCANNED_SUFFIXES = frozenset({".py", ".html", ".md", ".js", ".css", ".toml", ".txt", ".cfg"})
SCANNED_NAMES = frozenset({"Makefile", "Procfile", "run"})  # run: .ci/run
SCANNED_FOLDERS = ("deploy/",)  # every file there (nginx.conf…)
# Files that are data, not the project's prose: what they mention cites nothing.
NOT_SCANNED = (
    "bench/corpus/",  # sample model answers the benchmarks and property tests stream
    "tests/fixtures/commonmark_spec_LICENSE.txt",  # a third-party licence, verbatim
)

# References that are right although nothing in the repository matches them,
# each with its reason (none so far: prefer rewording to an entry here).
ALLOWED: dict[str, str] = {}

# A dotted name ending in one of these is a file name, not a module path.
FILE_SUFFIXES = frozenset({".md", ".py", ".html", ".js", ".css", ".toml", ".txt", ".json"})
URL_RE = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
MD_LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
MD_NAME_RE = re.compile(r"(?<![\w/.*{}<>$-])(/?(?:[\w.-]+/)*[\w-][\w.-]*\.md)\b")
# "docs/accessibility.md, Live regions": a section named after the file.
SECTION_RE = re.compile(r"((?:[\w-]+/)*[\w-]+\.md), ([A-Z][\w'-]*(?: [\w'-]+)*)")
TEMPLATE_NAME_RE = re.compile(r"""["']((?:[\w-]+/)*_?[\w-]+\.html)["']""")


@dataclass(frozen=True, slots=True)
class Reference:
    source: str  # repository path of the citing file
    line: int
    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.kind} {self.target!r}"


@cache
def repository_files() -> frozenset[str]:
    """Tracked files plus new ones not yet committed (ignored files excluded)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return frozenset(name for name in out.split("\0") if name and (ROOT / name).exists())


@cache
def repository_dirs() -> frozenset[str]:
    dirs: set[str] = set()
    for name in repository_files():
        dirs.update(str(parent) for parent in PurePosixPath(name).parents if str(parent) != ".")
    return frozenset(dirs)


@cache
def basenames() -> frozenset[str]:
    return frozenset(PurePosixPath(name).name for name in repository_files())


@cache
def top_folders() -> tuple[str, ...]:
    return tuple(sorted(d for d in repository_dirs() if "/" not in d and not d.startswith(".")))


@cache
def packages() -> tuple[str, ...]:
    return tuple(d for d in top_folders() if f"{d}/__init__.py" in repository_files())


def scanned_files() -> list[str]:
    return sorted(
        name
        for name in repository_files()
        if not name.startswith(NOT_SCANNED)
        and (
            PurePosixPath(name).suffix in SCANNED_SUFFIXES
            or PurePosixPath(name).name in SCANNED_NAMES
            or name.startswith(SCANNED_FOLDERS)
        )
    )


def path_exists(path: str) -> bool:
    path = path.rstrip("/")
    if any(ch in path for ch in "*?["):
        return any(fnmatch.fnmatchcase(name, path) for name in repository_files())
    return path in repository_files() or path in repository_dirs()


def module_exists(dotted: str) -> bool:
    """``a.b.c`` (or ``a.b:c``): the longest prefix that is a module of the
    repository, and the next part (if any) a name in that module's source.
    ``app.model`` is also Django's label of a model of that app."""
    parts = dotted.replace(":", ".").split(".")
    if len(parts) == 2 and _is_model(parts[0], parts[1]):
        return True
    for cut in range(len(parts), 0, -1):
        base = "/".join(parts[:cut])
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if candidate in repository_files():
                if cut == len(parts):
                    return True
                source = (ROOT / candidate).read_text()
                return re.search(rf"\b{re.escape(parts[cut])}\b", source) is not None
    return False


def _is_model(app: str, name: str) -> bool:
    models = ROOT / app / "models.py"
    if f"{app}/models.py" not in repository_files():
        return False
    return re.search(rf"^class {name}\(", models.read_text(), re.M | re.I) is not None


def references_in(source: str, text: str) -> list[Reference]:
    """The references one file makes (``source`` is its repository path)."""
    found: list[Reference] = []
    folders = "|".join(re.escape(f) for f in top_folders())
    path_re = re.compile(rf"(?<![\w/.$-])((?:{folders})/[\w/.*-]*[\w/*])")
    module_re = re.compile(
        rf"(?<![\w/.$-])((?:{'|'.join(packages())})(?:\.[A-Za-z_]\w*)+(?::\w+)?)(?![\w/-])"
    )
    here = PurePosixPath(source).parent
    if source.endswith(".py"):
        text = prose_of_python(text)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = URL_RE.sub(" ", raw)
        if source.endswith(".md"):
            for target in MD_LINK_RE.findall(line):
                target, _, anchor = target.partition("#")
                resolved = _normalise((here / target).as_posix()) if target else source
                if target:
                    found.append(Reference(source, number, "link", resolved))
                if anchor and resolved.endswith(".md"):
                    found.append(Reference(source, number, "anchor", f"{resolved}#{anchor}"))
            line = MD_LINK_RE.sub("]()", line)  # a link's target is checked as the link
        for match in SECTION_RE.finditer(line):
            found.append(Reference(source, number, "section", ", ".join(match.groups())))
        for match in MD_NAME_RE.finditer(line):
            if match.group(1).startswith(tuple(f"{f}/" for f in top_folders())):
                continue  # a repository path: checked as one below
            found.append(Reference(source, number, "markdown file", match.group(1)))
        for match in path_re.finditer(line):
            if line[match.end() : match.end() + 1] in ("<", "{"):
                continue  # a pattern such as docs/<name>.md, not a path
            found.append(Reference(source, number, "path", match.group(1)))
        for match in module_re.finditer(line):
            if PurePosixPath(match.group(1)).suffix in FILE_SUFFIXES:
                continue  # a file name such as streaming.md, checked as one above
            found.append(Reference(source, number, "module", match.group(1)))
        if source.endswith((".py", ".html")):
            for match in TEMPLATE_NAME_RE.finditer(line):
                name = match.group(1)
                if not name.startswith(top_folders()):
                    found.append(Reference(source, number, "template", name))
    return found


# Tokens of Python source that hold prose (what cites files), not code.
PROSE_TOKENS = frozenset(
    {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
)


def prose_of_python(text: str) -> str:
    """``text`` with everything but comments and string literals blanked out.

    Code is checked by Python itself; only prose can cite what is not there
    (an attribute read in code that looks like a file name cites nothing).
    Lines and columns are kept, so line numbers still match the file.
    """
    lines = [" " * len(line) for line in text.splitlines()]
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in PROSE_TOKENS:
            continue
        first, start = token.start
        pieces = token.string.split("\n")
        for offset, piece in enumerate(pieces):
            row = first - 1 + offset
            col = start if offset == 0 else 0
            if row < len(lines):
                lines[row] = lines[row][:col] + piece + lines[row][col + len(piece) :]
    return "\n".join(lines)


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def heading_slugs(path: str) -> dict[str, str]:
    """The headings of a markdown file: GitHub's anchor slug -> heading text."""
    if path not in repository_files():
        return {}
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", (ROOT / path).read_text(), re.M)
    return {re.sub(r"[^\w -]", "", h.lower()).replace(" ", "-"): h for h in headings}


def _md_path(source: str, name: str) -> str:
    """A markdown file named in ``source``: repository-relative, else beside it."""
    if name in repository_files():
        return name
    return _normalise(f"{PurePosixPath(source).parent}/{name}")


def exists(ref: Reference) -> bool:
    if ref.target in ALLOWED:
        return True
    match ref.kind:
        case "anchor":
            path, _, anchor = ref.target.partition("#")
            return anchor in heading_slugs(path)
        case "section":
            name, _, section = ref.target.partition(", ")
            headings = heading_slugs(_md_path(ref.source, name)).values()
            return section.lower() in {h.lower() for h in headings}
        case "module":
            return module_exists(ref.target)
        case "template":
            return path_exists(f"templates/{ref.target}")
        case "markdown file" if "/" not in ref.target:
            return ref.target in basenames()
        case "markdown file":
            return path_exists(_md_path(ref.source, ref.target))
        case _:
            return path_exists(ref.target)


def dangling() -> list[Reference]:
    refs = [
        ref
        for name in scanned_files()
        for ref in references_in(name, (ROOT / name).read_text(errors="replace"))
    ]
    return [ref for ref in refs if not exists(ref)]


# --- the scanner finds what it should, and only that ---------------------------

# Built by concatenation so that this file does not cite them itself.
GONE_PY = "streaming/" + "runs_gone.py"
GONE_MD = "NOTES" + ".md"
GONE_MODULE = "chatapp." + "nowhere"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"see {GONE_PY} for the rest", [("path", GONE_PY)]),
        (f"the design ({GONE_MD}, section 4)", [("markdown file", GONE_MD)]),
        (f"outside: /srv/notes/{GONE_MD}", [("markdown file", "/srv/notes/" + GONE_MD)]),
        (f"built in {GONE_MODULE}.make()", [("module", GONE_MODULE + ".make")]),
        (f"[notes](../{GONE_MD}#top)", [("link", GONE_MD), ("anchor", GONE_MD + "#top")]),
        ("CORPUS.glob('*.md') and https://example.org/x/README.md", []),
        ('f"{document}.md"', []),
        (
            "[the protocol](streaming.md#resume)",
            [("link", "docs/streaming.md"), ("anchor", "docs/streaming.md#resume")],
        ),
        ("[above](#actions)", [("anchor", "docs/streaming.md#actions")]),
        (
            "(docs/accessibility.md, Live regions)",
            [("section", "docs/accessibility.md, Live regions"), ("path", "docs/accessibility.md")],
        ),
    ],
)
def test_scanner_finds_references(text: str, expected: list[tuple[str, str]]) -> None:
    refs = references_in("docs/streaming.md", text)
    assert [(ref.kind, ref.target) for ref in refs] == expected


def test_scanner_accepts_what_exists() -> None:
    text = (
        "streaming/runs/ and streaming/runs/run.py, chatapp.live, "
        "chatapp.asgi:application, chatapp.runtime.get_manager, docs/streaming.md, "
        'tests/test_markdown_*.py, {% include "chat/_message_body.html" %}'
    )
    refs = references_in("templates/base.html", text)
    assert len(refs) == 8
    assert [ref for ref in refs if not exists(ref)] == []
    assert exists(Reference("x.py", 1, "module", "chatapp.message"))  # a model's label
    assert exists(Reference("x.py", 1, "section", "docs/streaming.md, Stack facts"))
    assert not exists(Reference("x.py", 1, "section", "docs/streaming.md, " + "No such part"))
    assert exists(Reference("docs/architecture.md", 1, "anchor", "docs/streaming.md#stack-facts"))
    assert not exists(
        Reference("docs/architecture.md", 1, "anchor", "docs/streaming.md#" + "nowhere")
    )
    assert not exists(Reference("x.py", 1, "module", "streaming.runs." + "no_such_name"))


def test_python_code_is_not_read_as_prose() -> None:
    # Code that looks like a file name or a module, and one real citation.
    code = "state" + ".md.parse(x)  # see docs/streaming.md\nstreaming" + '.set()\nf"{GONE}.md"\n'
    refs = references_in("tests/conftest.py", code)
    assert [(ref.line, ref.kind, ref.target) for ref in refs] == [(1, "path", "docs/streaming.md")]


def test_every_cited_file_path_and_module_exists() -> None:
    missing = dangling()
    assert not missing, "references to what the repository does not hold:\n" + "\n".join(
        str(ref) for ref in missing
    )
