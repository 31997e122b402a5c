"""Code sources: where Python files come from, each with its provenance.

One SPEC string names a source (``docs/contracts.md``):

- ``pkg:NAME``        an installed package or subpackage by import name (``pkg:torch.nn``),
                      located without importing it;
- ``dir:PATH``        a directory or git checkout (version = git HEAD, ``<sha>-dirty`` when its code differs
                      or holds a file git does not track; paths relative to the checkout root; a submodule's
                      files have its own commit and paths; each file's license is its SPDX line's, else that
                      of the nearest LICENSE/COPYING or declared license at or above its folder; see
                      ``DirectoryFacts``);
- ``wheel:PATH``      a wheel (zip) or an sdist (``.tar.gz``), read in place;
- ``pypi:NAME==VER``  fetched with ``pip download --no-deps`` into ``cache_dir/wheels``,
                      then read in place like ``wheel:`` (never installed);
- ``...#MODULE,...``  after ``wheel:`` or ``pypi:``: only those modules (and what a package of that name holds),
                      ``pypi:d2l==0.17.6#d2l.torch`` (the archive's other modules are not read);
- ``lemur``           the 10,483 model files of ``nn-dataset==2.1.2``, each its own
                      module ``ab.nn.nn.<name>``.

``Source.files()`` yields SourceFiles sorted by path, so mining is deterministic;
``Source.fingerprint()`` is cheap (sizes and mtimes, never file contents) so that a
re-index of an unchanged source is skipped in milliseconds.
"""

from __future__ import annotations

import ast
import email
import errno
import hashlib
import importlib.metadata
import configparser
import importlib.util
import json
import lzma
import os
import re
import stat
import subprocess
import sys
import tarfile
import tomllib
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Iterator

from corpus import lemur, licenses
from nnrag import pyparse
from corpus.records import Provenance, SourceFile

SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", "venv", "node_modules", "build", "dist", "site-packages", ".eggs"})


class SourceError(ValueError):
    """A source spec that cannot be opened (bad syntax, missing package or path, failed download)."""


# What reading a damaged archive raises: a truncated .tar.gz ends in gzip's EOFError (it was "Aborted." and exit 1,
# with no reason), corrupt deflate data in zlib.error, a bad .tar.xz in LZMAError
ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


def _sha(parts: list[str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def module_name_for(relpath: str) -> tuple[str, bool]:
    """Dotted module name and is-package flag for a posix path like ``a/b/__init__.py``."""
    parts = list(PurePosixPath(relpath).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _is_python_path(relpath: str) -> bool:
    parts = PurePosixPath(relpath).parts
    return relpath.endswith(".py") and not any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1])


def license_from_metadata(meta: email.message.Message | importlib.metadata.PackageMetadata | None) -> str:
    """License-Expression, else a short License field, else the OSI classifier, as an SPDX-like name
    (``licenses.spdx_like``: "MIT License" -> "MIT")."""
    if meta is None:
        return ""
    expr = meta.get("License-Expression")
    if expr:
        return licenses.spdx_like(str(expr).strip())
    lic = (meta.get("License") or "").strip()
    if lic and lic != "UNKNOWN" and len(lic) <= 80 and "\n" not in lic:
        return licenses.spdx_like(lic)
    classifiers = meta.get_all("Classifier") or []
    for c in classifiers:
        if c.startswith("License ::"):
            return licenses.spdx_like(c.split("::")[-1].strip())
    return lic.splitlines()[0][:80] if lic else ""


@dataclass
class PackageInfo:
    package: str
    version: str
    license: str
    # where ``license`` was read: "metadata" (License-Expression / License / classifier), the license files it was
    # read from ("pytorch_tabnet-4.1.0.dist-info/LICENSE"), a declaring file ("pyproject.toml"); "" when none
    license_from: str = ""


class Source:
    """A set of Python files with their provenance. Subclasses implement ``_entries``."""

    spec: str
    info: PackageInfo

    def files(self) -> Iterator[SourceFile]:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def holds_python(self) -> bool:
        """Whether there is any Python file to read. Why: a typo'd or empty directory must be reported, not indexed
        as nothing."""
        return True

    def _make(self, relpath: str, module: str, is_package: bool, text: str, facts: FileFacts | None = None) -> SourceFile:
        """A SourceFile with the source's version and license, or the file's own ``facts`` (path, version, license)."""
        prov = Provenance(
            source=self.spec,
            package=self.info.package,
            version=facts.version if facts else self.info.version,
            path=facts.path if facts else relpath,
            module=module,
            line_start=1,
            line_end=text.count("\n") + (0 if text.endswith("\n") or not text else 1),
            license=facts.license if facts else self.info.license,
        )
        extra = {"tree_path": relpath} if facts and facts.path != relpath else {}
        return SourceFile(module=module, text=text, provenance=prov, is_package=is_package, extra=extra)

    def refresh(self, prov: Provenance) -> None:
        """Give a provenance carried over from an earlier build (its file unchanged) the version and license that
        ``files()`` would give its file now. Why: a new commit that leaves the files as they were reuses them."""
        prov.version, prov.license = self.info.version, self.info.license

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


# ---------------------------------------------------------------- directories / installed packages


def python_files(root: Path) -> tuple[list[Path], dict[str, str]]:
    """The regular ``.py`` files under ``root`` (tool and VCS dirs and dot-dirs left out), and what was skipped, each
    with why: ``.py`` names that are not regular files, unreadable directories and directory links to a directory read
    already (keys ending in "/"). Why: a checkout holds editor lock links (``.#model.py``, dangling), symlink loops and
    even FIFOs; reading one stops or hangs a whole index. Directory links are followed like file links (a shared
    ``models -> ../shared_models``), each real directory once, so a loop ends; never a link to a directory that holds
    ``root`` (``up -> ..`` walked into every sibling of the source)."""
    found: list[Path] = []
    skipped: dict[str, str] = {}
    seen: dict[str, str] = {os.path.realpath(root): "."}  # real directory -> where it was read

    def unreadable(exc: OSError) -> None:
        skipped[_dir_key(Path(exc.filename), root)] = f"unreadable directory: {exc.strerror or type(exc).__name__}"

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        dirnames[:] = _dirs_to_walk(Path(dirpath), dirnames, root, seen, skipped)
        for name in filenames:
            if not name.endswith(".py"):
                continue
            path = Path(dirpath) / name
            reason = _not_a_file(path)
            if reason:
                skipped[path.relative_to(root).as_posix()] = reason
            else:
                found.append(path)
    return found, skipped


def _dir_key(path: Path, root: Path) -> str:
    """A directory's key in the skipped map: its path under ``root`` with a trailing "/"."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return f"{rel}/" if rel != "." else "./"


def _dirs_to_walk(parent: Path, names: list[str], root: Path, seen: dict[str, str], skipped: dict[str, str]) -> list[str]:
    """The sub-directories of ``parent`` to descend into, sorted (real directories before links, so a link to a
    sibling is the one left out); one whose real path was read already, or that cannot be looked at, is reported."""
    links: dict[str, bool] = {}
    for name in names:
        if name in SKIP_DIRS or name.startswith("."):
            continue
        try:
            links[name] = stat.S_ISLNK(os.lstat(parent / name).st_mode)
        except OSError as exc:  # a path past PATH_MAX, removed since the listing
            skipped[_dir_key(parent / name, root)] = f"unreadable directory: {exc.strerror or type(exc).__name__}"
    keep: list[str] = []
    top = os.path.realpath(root)
    for name in sorted(links, key=lambda d: (links[d], d)):
        real = os.path.realpath(parent / name)
        if top.startswith(real.rstrip(os.sep) + os.sep):  # ``up -> ..``: every sibling of the source, and more
            skipped[_dir_key(parent / name, root)] = "symlink loop: a link to a directory above the source"
            continue
        if real in seen:
            here = os.path.realpath(parent)
            loop = here == real or here.startswith(real.rstrip(os.sep) + os.sep)
            skipped[_dir_key(parent / name, root)] = "symlink loop" if loop else f"same directory as {seen[real]}/, read there"
            continue
        seen[real] = (parent / name).relative_to(root).as_posix()
        keep.append(name)
    return sorted(keep)


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a source file ("" when it can)."""
    try:
        mode = path.stat().st_mode  # follows symlinks
    except OSError as exc:
        if path.is_symlink():  # ELOOP: links that point at each other (a.py -> b.py -> a.py)
            return "symlink loop" if exc.errno == errno.ELOOP else "broken symlink"
        return exc.strerror or type(exc).__name__
    return "" if stat.S_ISREG(mode) else "not a regular file"


class _TreeSource(Source):
    """Files under ``root`` (a package dir or a checkout); module names relative to ``base``, provenance paths
    relative to ``path_base`` (the git checkout's root when there is one, so that commit + path finds the file)."""

    def __init__(self, spec: str, root: Path, base: Path, info: PackageInfo, single_file: Path | None = None,
                 path_base: Path | None = None, facts: DirectoryFacts | None = None):
        self.spec, self.root, self.base, self.info = spec, root, base, info
        self.single_file = single_file
        self.path_base = path_base or base
        self.facts = facts  # per-file version, path and license (a directory source); None: the source's for every file
        self._found: int | None = None  # .py files the last walk found
        self.skipped: dict[str, str] = {}  # provenance-style path -> why it was not read (see ``python_files``)

    def _paths(self) -> list[Path]:
        if self.single_file is not None:
            return [self.single_file]
        found, skipped = python_files(self.root)
        self._found = len(found)
        prefix = self.root.relative_to(self.path_base).as_posix()
        self.skipped = {k if prefix == "." else f"{prefix}/{k.removeprefix('./')}": why for k, why in skipped.items()}
        found = sorted(found, key=lambda p: p.relative_to(self.base).as_posix())
        if self.facts is not None:
            self.facts.prepare(found)
        return found

    def holds_python(self) -> bool:
        return bool(self._found if self._found is not None else self._paths())

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.path_base).as_posix()

    def _module_for(self, path: Path) -> tuple[str, bool]:
        rel = path.relative_to(self.base).as_posix()
        # a src layout's modules import as if src/ were not there, unless that would take another file's name
        if rel.startswith("src/") and not (self.base / "src" / "__init__.py").exists() and not (self.base / rel[4:]).exists():
            rel = rel[4:]
        return module_name_for(rel)

    def files(self) -> Iterator[SourceFile]:
        for path in self._paths():
            module, is_package = self._module_for(path)
            if not module:
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:  # unreadable (permissions, removed since the walk): reported, not fatal
                self.skipped[self._rel(path)] = exc.strerror or type(exc).__name__
                continue
            text = pyparse.decode_source(data)
            facts = self.facts.of(path, self._rel(path), text) if self.facts is not None else None
            made = self._make(self._rel(path), module, is_package, text, facts)
            if path.is_symlink():  # a link to another file of the tree: its blocks are named by that file (mine_source)
                made.extra["symlink"] = True
            yield made

    def refresh(self, prov: Provenance) -> None:
        if self.facts is None:
            return super().refresh(prov)
        by_module: dict[str, Path] = {}
        for path in self._paths():  # a package's __init__.py wins over a same-named module, as in mining
            module, is_package = self._module_for(path)
            if module and (is_package or module not in by_module):
                by_module[module] = path
        path = by_module.get(prov.module)
        if path is None:
            return super().refresh(prov)
        try:
            with path.open("rb") as fh:
                head = pyparse.decode_source(fh.read(8192))
        except OSError:
            head = ""
        facts = self.facts.of(path, self._rel(path), head)
        prov.path, prov.version, prov.license = facts.path, facts.version, facts.license

    def fingerprint(self) -> str:
        paths = self._paths()  # first: the walk can mark the version -dirty (a file git does not track)
        parts = [self.spec, self.info.version, self.info.license]
        for path in paths:
            # the content, not size and mtime: an older copy restored with ``cp -p`` / ``rsync -a`` has both, and the
            # store kept serving code that was no longer there (hashing timm's 304 files takes ~15 ms)
            try:
                digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
            except OSError:  # gone since the walk: the next build sees it missing
                continue
            entry = f"{self._rel(path)}:{digest}"
            if self.facts is not None:  # the file's own commit and license (a sub-folder's LICENSE, a submodule)
                facts = self.facts.of(path, self._rel(path))
                entry += f":{facts.path}:{facts.version}:{facts.license}"
            parts.append(entry)
        return _sha(parts)


@lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    """Top-level import name -> distributions; scanning every installed dist costs ~1 s, so once per process."""
    return importlib.metadata.packages_distributions()


def _distribution_for(top: str) -> importlib.metadata.Distribution | None:
    names = _packages_distributions().get(top) or []
    for name in sorted(names):
        try:
            return importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def open_package(name: str, spec: str | None = None) -> Source:
    """An installed (sub)package by import name, located with find_spec on the top-level
    package and then by path, so that nothing of it is imported."""
    if not all(p.isidentifier() for p in name.split(".")):
        raise SourceError(f"not an import name: {name!r}")
    parts = name.split(".")
    top_spec = importlib.util.find_spec(parts[0])
    if top_spec is None or top_spec.origin is None and not top_spec.submodule_search_locations:
        raise SourceError(f"package {parts[0]!r} is not installed")
    if top_spec.submodule_search_locations:
        top_dir = Path(list(top_spec.submodule_search_locations)[0])
        base = top_dir.parent
        target = top_dir.joinpath(*parts[1:])
        single = None
        if not target.is_dir():
            single = target.with_suffix(".py")
            if not single.is_file():
                raise SourceError(f"no module {name!r} under {top_dir}")
            target = single.parent
    else:
        if len(parts) > 1:
            raise SourceError(f"{parts[0]!r} is a single-module package; {name!r} does not exist")
        single = Path(top_spec.origin)
        target, base = single.parent, single.parent
    dist = _distribution_for(parts[0])
    license, license_from = installed_license(dist) if dist else ("", "")
    info = PackageInfo(
        package=dist.metadata["Name"] if dist else parts[0],
        version=dist.version if dist else "",
        license=license,
        license_from=license_from,
    )
    return _TreeSource(spec or f"pkg:{name}", target, base, info, single_file=single)


def git_checkout(path: Path) -> tuple[Path, Path] | None:
    """(work tree root, git dir) of the git checkout holding ``path``, or None. A ``.git`` file (worktree,
    submodule) points at its git dir."""
    for d in [path, *path.parents]:
        git = d / ".git"
        if git.is_file():
            m = re.match(r"gitdir:\s*(.+)", git.read_text(errors="replace").strip())
            git = (d / m.group(1)).resolve() if m else git
        if git.is_dir():
            return d, git
    return None


def _git(root: Path, *args: str) -> str | None:
    """stdout of ``git -C root ARGS``, or None when git is missing, refuses (another owner's checkout) or fails."""
    try:
        out = subprocess.run(["git", "-C", str(root), "--no-optional-locks", *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _head_from_files(git: Path) -> str:
    """HEAD's commit read from the git dir's files (no git binary): a detached HEAD, a loose ref, or ``packed-refs``
    (where ``git gc`` and fresh clones keep branch refs); a worktree's refs live in its ``commondir``."""
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return ""
    if not head.startswith("ref: "):
        return head
    ref = head[5:].strip()
    common = git / "commondir"
    dirs = [git, (git / common.read_text().strip()).resolve()] if common.is_file() else [git]
    for d in dirs:
        if (d / ref).is_file():
            return (d / ref).read_text().strip()
    for d in dirs:
        packed = d / "packed-refs"
        lines = packed.read_text(errors="replace").splitlines() if packed.is_file() else []
        for line in lines:
            sha, _, name = line.partition(" ")
            if name.strip() == ref and not line.startswith(("#", "^")):
                return sha
    return ""


def _python_pathspecs(path: Path, root: Path) -> list[str]:
    """Git pathspecs for the ``.py`` files under ``path`` that an index reads: tool, VCS and dot dirs excluded as
    ``python_files`` leaves them out (glob characters in the path escaped)."""
    rel = re.sub(r"([*?\[\]\\])", r"\\\1", path.relative_to(root).as_posix())
    prefix = "" if rel == "." else f"{rel}/"
    skipped = [f":(exclude,glob){prefix}**/{d}/**" for d in (*sorted(SKIP_DIRS), ".*")]
    return [f":(glob){prefix}**/*.py", *skipped]


def git_head(path: Path) -> str:
    """Commit of the checkout's HEAD, ``<sha>-dirty`` when a ``.py`` file under ``path`` differs from it (changed,
    staged, deleted or untracked), "" when ``path`` is in no checkout. Why: a block's version must name a commit that
    holds its code. Without a usable git binary HEAD is read from the files, and dirtiness cannot be told."""
    found = git_checkout(path)
    if found is None:
        return ""
    root, git = found
    out = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if out is None:
        return _head_from_files(git)
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *_python_pathspecs(path, root))
    return f"{out.strip()}-dirty" if status else out.strip()


# A license file's name: LICENSE, LICENCE, COPYING, UNLICENSE, any case, with .txt/.md/.rst, and the tag of a
# dual license (LICENSE-MIT, LICENSE-APACHE) or of the LGPL's COPYING.LESSER.
_LICENSE_FILE = re.compile(
    r"^(?:(?:un)?licen[cs]e|copying)(?:[-_.](?P<tag>mit|apache(?:-?2(?:\.0)?)?|bsd|isc|zlib|[al]?gpl|lesser|library|lib))?"
    r"(?:\.(?:txt|md|rst))?$",
    re.IGNORECASE,
)


def _read_license(path: Path) -> str:
    try:
        with path.open("r", errors="replace") as fh:
            return licenses.license_from_text(fh.read(65536))
    except OSError:
        return ""


def license_of_files(d: Path) -> str:
    """The license the license files in ``d`` state (``combine_license_files``)."""
    return _license_files_in(d)[0]


def _license_files_in(d: Path) -> tuple[str, list[Path]]:
    """``license_of_files`` and the files that stated it."""
    try:
        entries = sorted(d.iterdir())
    except OSError:
        return "", []
    found = [(f, _read_license(f)) for f in entries if _LICENSE_FILE.match(f.name) and f.is_file()]
    found = [(f, name) for f, name in found if name]
    return combine_license_files([(f.name, name) for f, name in found]), [f for f, _ in found]


def combine_license_files(found: list[tuple[str, str]]) -> str:
    """The license that license files state together, from (file name, license read from its text) pairs: one
    file's, "A OR B" for tagged dual-license files (LICENSE-MIT + LICENSE-APACHE), "A AND B" when two untagged files
    differ; an LGPL text wins over the GPL text that LGPL projects ship beside it (COPYING + COPYING.LESSER)."""
    plain: list[str] = []
    tagged: list[str] = []
    for filename, name in found:
        m = _LICENSE_FILE.match(filename)
        if name:
            (tagged if m and m.group("tag") else plain).append(name)
    names = list(dict.fromkeys(plain + tagged))
    lesser = [n for n in names if n.upper().startswith("LGPL")]
    if lesser:
        return lesser[0]
    if plain:
        return " AND ".join(dict.fromkeys(plain))
    return " OR ".join(dict.fromkeys(tagged))


def _license_name(value: object, d: Path) -> str:
    """A declared ``license`` value: a short string as an SPDX-like name (``licenses.spdx_like``), a long one (a whole
    text) read like a file."""
    if isinstance(value, dict):
        if value.get("file") and (d / str(value["file"])).is_file():
            return _read_license(d / str(value["file"]))
        value = value.get("text", "")
    text = str(value or "").strip()
    if "\n" not in text and len(text) <= 80:
        return licenses.spdx_like(text)
    return licenses.license_from_text(text)


def declared_license(d: Path) -> str:
    """``license`` of ``d``'s pyproject.toml (``[project]`` or ``[tool.poetry]``), setup.cfg ``[metadata]`` or
    setup.py ``setup(license=...)``, the first that declares one."""
    return declared_license_from(d)[0]


def declared_license_from(d: Path) -> tuple[str, str]:
    """``declared_license`` and the file that declared it ("" when none)."""
    pyproject = d / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(errors="replace"))
        except (tomllib.TOMLDecodeError, OSError):
            data = {}
        tool = data.get("tool")
        for table in (data.get("project"), tool.get("poetry") if isinstance(tool, dict) else None):
            if isinstance(table, dict) and table.get("license"):
                name = _license_name(table["license"], d)
                if name:
                    return name, str(pyproject)
    setup_cfg = d / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg, encoding="utf-8")
            name = _license_name(parser.get("metadata", "license", fallback=""), d)
        except (configparser.Error, OSError, UnicodeDecodeError):
            name = ""
        if name:
            return name, str(setup_cfg)
    setup_py = d / "setup.py"
    if setup_py.is_file():
        name = _license_name(setup_py_license(setup_py), d)
        if name:
            return name, str(setup_py)
    return "", ""


def setup_py_license(path: Path) -> str:
    """``license_expression=`` (else ``license=``) of the ``setup(...)`` call in a setup.py, when written as a string
    literal. Read with ``ast``: a setup.py is never run (it is untrusted code)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
        return ""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "") != "setup":
            continue
        given = {kw.arg: kw.value.value for kw in node.keywords
                 if kw.arg in ("license", "license_expression") and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)}
        found = (given.get("license_expression") or given.get("license") or "").strip()
        if found and found.upper() != "UNKNOWN":
            return found
    return ""


def directory_license(path: Path, top: Path | None = None) -> str:
    """The license of a directory: license files, else a declared license, in ``path`` and then each parent up to
    ``top`` (the checkout root), or two parents when not in a checkout. Why: a package dir rarely has its own
    LICENSE; the checkout's root has it."""
    return directory_license_from(path, top)[0]


def directory_license_from(path: Path, top: Path | None = None) -> tuple[str, str]:
    """``directory_license`` and where it was read (the license files, or the pyproject.toml / setup.cfg)."""
    chain = [path, *path.parents]
    dirs = chain[: chain.index(top) + 1] if top in chain else chain[:3]
    for d in dirs:
        name, files = _license_files_in(d)
        if name:
            return name, ", ".join(str(f) for f in files)
        name, declaring = declared_license_from(d)
        if name:
            return name, declaring
    return "", ""


def license_file_members(names: list[str], roots: list[str], declared: list[str]) -> list[str]:
    """The license files among an archive's (or a distribution's) member ``names``: the metadata's License-File
    entries (``declared``, relative to one of ``roots``) where they are there, the package's own ones first (a
    wheel's ``licenses/third_party/*/LICENSE`` only when nothing else is declared); else the LICENSE*/COPYING*
    files directly in a root. ``roots`` end in "/" ("" is the archive's top)."""
    present = set(names)
    own = [d for d in declared if "/" not in d] or declared
    picked = [next(r + d for r in roots if r + d in present) for d in own if any(r + d in present for r in roots)]
    if picked:
        return list(dict.fromkeys(picked))
    return sorted(n for n in present for r in roots
                  if n.startswith(r) and "/" not in n[len(r):] and _LICENSE_FILE.match(n[len(r):]))


def license_of_members(texts: dict[str, bytes]) -> str:
    """The license stated by license files read from an archive (member -> bytes): a file named like a license is
    read like a checkout's LICENSE; another declared one (NOTICE, AUTHORS) counts only when it names a license."""
    found = []
    for member, data in texts.items():
        base = PurePosixPath(member).name
        text = data[:65536].decode("utf-8", "replace")
        name = licenses.license_from_text(text) if _LICENSE_FILE.match(base) else licenses.known_license_in_text(text)
        found.append((base, name))
    return combine_license_files(found)


def _declared_license_files(meta: email.message.Message | importlib.metadata.PackageMetadata | None) -> list[str]:
    if meta is None:
        return []
    return [str(v).strip() for v in (meta.get_all("License-File") or []) if str(v).strip()]


def installed_license(dist: importlib.metadata.Distribution) -> tuple[str, str]:
    """(license, where it was read) of an installed distribution: its metadata, else its license files."""
    declared = license_from_metadata(dist.metadata)
    if declared:
        return declared, "metadata"
    names = [PurePosixPath(str(f)).as_posix() for f in (dist.files or [])]
    info_dirs = sorted({n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")})
    roots = [r for d in info_dirs for r in (f"{d}/licenses/", f"{d}/")]
    members = license_file_members(names, roots, _declared_license_files(dist.metadata)) if roots else []
    texts: dict[str, bytes] = {}
    for m in members:
        try:
            texts[m] = Path(str(dist.locate_file(m))).read_bytes()
        except OSError:
            continue
    name = license_of_members(texts)
    return (name, ", ".join(texts)) if name else ("", "")


def open_dir(path: Path, spec: str | None = None) -> Source:
    """A directory: a package dir (module names start with its own name) or a checkout."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise SourceError(f"not a directory: {path}")
    base = path.parent if (path / "__init__.py").exists() else path
    checkout = git_checkout(path)
    top = checkout[0] if checkout else None
    license, license_from = directory_license_from(path, top)
    info = PackageInfo(package=path.name, version=git_head(path), license=license, license_from=license_from)
    path_base = top or base
    facts = DirectoryFacts(path, top, info, path_base)
    return _TreeSource(spec or f"dir:{path}", path, base, info, path_base=path_base, facts=facts)


@dataclass(frozen=True)
class FileFacts:
    """A file's own provenance in a directory source: ``path`` relative to the checkout whose commit ``version``
    names (a submodule's own root for a file in a submodule), and the license that covers it."""

    path: str
    version: str
    license: str


@dataclass
class _Checkout:
    """A git work tree holding files of a directory source: its version (``git_head``) and the paths git tracks
    (None when git cannot tell)."""

    root: Path
    version: str
    tracked: frozenset[str] | None


def _tracked_files(root: Path) -> frozenset[str] | None:
    """The paths (relative to ``root``, posix) that git tracks in the checkout at ``root``; None when git fails. Read
    as bytes: a file name need not be UTF-8."""
    try:
        out = subprocess.run(["git", "-C", str(root), "--no-optional-locks", "ls-files", "-z"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return frozenset(os.fsdecode(p) for p in out.stdout.split(b"\0") if p)


class DirectoryFacts:
    """Per-file version, path and license of a ``dir:`` source.

    Why per file: a checkout vendors code under other terms (``third_party/x/LICENSE`` is GPL in an MIT repo), holds
    submodules (their own commits: the parent's commit does not hold their files), and files git ignores (no commit
    holds them). A file's license is its header's SPDX-License-Identifier, else that of the nearest folder from its own
    up to (not including) the source's root with license files or a declared license, else the source's. Its commit is
    that of the innermost checkout holding it (a submodule or a nested clone), with ``-dirty`` when a ``.py`` file of
    that checkout differs from it or is not tracked. Each folder is looked at once."""

    def __init__(self, root: Path, top: Path | None, info: PackageInfo, path_base: Path):
        self.root, self.top, self.info, self.path_base = root, top, info, path_base
        self._folder_license: dict[Path, str] = {}
        self._checkout_at: dict[Path, _Checkout | None] = {}  # folder -> the innermost checkout holding it
        self._checkouts: dict[Path, _Checkout] = {}
        self._dirty: set[Path] = set()  # roots of checkouts with an indexed file git does not track
        self._top_version = info.version

    # ------------------------------------------------------------ git

    def _checkout(self, root: Path) -> _Checkout:
        if root not in self._checkouts:
            version = self._top_version if root == self.top else git_head(root)
            self._checkouts[root] = _Checkout(root, version, _tracked_files(root))
        return self._checkouts[root]

    def _is_own_checkout(self, d: Path) -> bool:
        """Whether ``d`` is the root of a git work tree of its own (a submodule, a nested clone). Asked of git, so
        that a stray empty ``.git`` folder (which git looks past) does not count."""
        if d == self.top or not (d / ".git").exists():
            return False
        toplevel = _git(d, "rev-parse", "--show-toplevel")
        return toplevel is None or Path(toplevel.strip()).resolve() == d.resolve()

    def checkout_of(self, folder: Path) -> _Checkout | None:
        """The innermost checkout holding ``folder`` (a folder of the source): one at or below the source's root, else
        the source's own (None when it is in none)."""
        if folder not in self._checkout_at:
            if self._is_own_checkout(folder):
                found = self._checkout(folder)
            elif folder == self.root or not folder.is_relative_to(self.root):
                found = self._checkout(self.top) if self.top is not None else None
            else:
                found = self.checkout_of(folder.parent)
            self._checkout_at[folder] = found
        return self._checkout_at[folder]

    def prepare(self, paths: list[Path]) -> None:
        """Note the checkouts holding an indexed file that git does not track (ignored or untracked): none of their
        commits holds it, so their version is ``-dirty``. The source's version (``info.version``) follows its own."""
        self._dirty = set()
        for path in paths:
            checkout = self.checkout_of(path.parent)
            if checkout is not None and checkout.tracked is not None and checkout.version:
                if path.relative_to(checkout.root).as_posix() not in checkout.tracked:
                    self._dirty.add(checkout.root)
        if self.top is not None:
            self.info.version = self._version(self._checkout(self.top))

    def _version(self, checkout: _Checkout) -> str:
        if checkout.root in self._dirty and checkout.version and not checkout.version.endswith("-dirty"):
            return f"{checkout.version}-dirty"
        return checkout.version

    # ------------------------------------------------------------ licenses

    def license_at(self, folder: Path) -> str:
        """The license covering the files of ``folder``: its own license files or declared license, else its
        parent's, up to the source's root, whose license is the source's."""
        if folder not in self._folder_license:
            if folder == self.root or not folder.is_relative_to(self.root):
                name = self.info.license
            else:
                name = _license_files_in(folder)[0] or declared_license(folder) or self.license_at(folder.parent)
            self._folder_license[folder] = name
        return self._folder_license[folder]

    # ------------------------------------------------------------ per file

    def of(self, path: Path, relpath: str, text: str = "") -> FileFacts:
        """``path``'s facts; ``relpath`` is its path under the source's path base, ``text`` its code (or its head) for
        an SPDX-License-Identifier line ("" to leave that out, as a fingerprint does: the file's mtime covers it)."""
        license = (licenses.spdx_in_source(text) if text else "") or self.license_at(path.parent)
        checkout = self.checkout_of(path.parent)
        if checkout is None or checkout.root == self.top:
            return FileFacts(relpath, self.info.version, license)
        return FileFacts(path.relative_to(checkout.root).as_posix(), self._version(checkout), license)


# ---------------------------------------------------------------- archives


_WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SDIST_RE = re.compile(r"^(?P<name>.+)-(?P<version>[0-9][^-]*)\.(tar\.gz|tgz|zip)$")


class ArchiveSource(Source):
    """A wheel (zip) or sdist (tar.gz / zip) read in place, never unpacked nor installed. ``modules``: read only these
    modules and the packages of these names (all when empty)."""

    def __init__(self, spec: str, path: Path, modules: tuple[str, ...] = ()):
        self.spec, self.path, self.modules = spec, Path(path), modules
        if not self.path.is_file():
            raise SourceError(f"no such archive: {self.path}")
        name = self.path.name
        m = _WHEEL_RE.match(name) if name.endswith(".whl") else _SDIST_RE.match(name)
        if m is None:
            raise SourceError(f"not a wheel or sdist file name: {name}")
        self.is_wheel = name.endswith(".whl")
        self._members: list[tuple[str, str]] | None = None  # (archive member, relpath)
        meta = self._metadata()
        license, license_from = license_from_metadata(meta), "metadata"
        if not license:
            license, license_from = self._license_from_files(meta)
        self.info = PackageInfo(
            package=(meta.get("Name") if meta else None) or m.group("name"),
            version=(meta.get("Version") if meta else None) or m.group("version"),
            license=license,
            license_from=license_from,
        )

    def _names(self) -> list[str]:
        try:
            if zipfile.is_zipfile(self.path):
                with zipfile.ZipFile(self.path) as zf:
                    return [i.filename for i in zf.infolist() if not i.is_dir()]
            with tarfile.open(self.path) as tf:
                return [m.name for m in tf.getmembers() if m.isfile()]
        except ARCHIVE_ERRORS as exc:
            raise SourceError(f"cannot read archive {self.path}: {exc or type(exc).__name__}") from exc

    def _read(self, members: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        try:
            if zipfile.is_zipfile(self.path):
                with zipfile.ZipFile(self.path) as zf:
                    for m in members:
                        out[m] = zf.read(m)
            else:
                wanted = set(members)
                with tarfile.open(self.path) as tf:
                    for m in tf.getmembers():
                        if m.name in wanted and m.isfile():
                            f = tf.extractfile(m)
                            out[m.name] = f.read() if f else b""
        except ARCHIVE_ERRORS as exc:
            raise SourceError(f"cannot read archive {self.path}: {exc or type(exc).__name__}") from exc
        return out

    def _metadata(self) -> email.message.Message | None:
        names = self._names()
        if self.is_wheel:
            cands = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        else:
            cands = sorted((n for n in names if n.endswith("PKG-INFO")), key=lambda n: n.count("/"))[:1]
        if not cands:
            return None
        return email.message_from_bytes(self._read(cands[:1])[cands[0]])

    def _license_from_files(self, meta: email.message.Message | None) -> tuple[str, str]:
        """(license, members read) from the archive's license files, for metadata that declares none. Why:
        pytorch-tabnet's wheel ships an MIT ``dist-info/LICENSE`` but no License field, and a no-license block is
        refused by every license policy. A wheel's are in ``*.dist-info/`` (``licenses/`` since Metadata 2.4) or at
        its top; an sdist's at the top of its project directory."""
        names = self._names()
        if self.is_wheel:
            info_dirs = sorted({n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")})
            roots = [r for d in info_dirs for r in (f"{d}/licenses/", f"{d}/")] + [""]
        else:
            pkg_info = sorted((n for n in names if n.endswith("PKG-INFO")), key=lambda n: n.count("/"))[:1]
            top = pkg_info[0].rpartition("/")[0] if pkg_info else (names[0].split("/")[0] if names and "/" in names[0] else "")
            roots = [f"{top}/" if top else ""]
        members = license_file_members(names, roots, _declared_license_files(meta))
        if not members:
            return "", ""
        try:
            texts = self._read(members)
        except (SourceError, KeyError):
            return "", ""
        name = license_of_members(texts)
        return (name, ", ".join(members)) if name else ("", "")

    def members(self) -> list[tuple[str, str]]:
        """(archive member, path relative to the import root), sorted by relpath."""
        if self._members is None:
            pairs = []
            for n in self._names():
                rel = n
                if self.is_wheel:
                    if ".dist-info/" in n:
                        continue
                    m = re.match(r"^[^/]+\.data/(purelib|platlib)/(.+)$", n)
                    if n.split("/")[0].endswith(".data"):
                        if not m:
                            continue
                        rel = m.group(2)
                else:
                    rel = n.split("/", 1)[1] if "/" in n else n
                    if rel.startswith("src/"):
                        rel = rel[4:]
                if _is_python_path(rel) and all(p.isidentifier() for p in PurePosixPath(rel).with_suffix("").parts):
                    pairs.append((n, rel))
            if not self.is_wheel:  # an sdist also ships tests/docs/setup.py: keep its packages and top modules
                pkgs = {rel.split("/")[0] for _, rel in pairs if rel.count("/") == 1 and rel.endswith("/__init__.py")}
                pairs = [(n, rel) for n, rel in pairs if rel.split("/")[0] in pkgs or ("/" not in rel and rel not in ("setup.py", "conftest.py"))]
            self._members = self._selected(sorted(pairs, key=lambda p: p[1]))
        return self._members

    def _selected(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The members of the modules the spec selects (``#d2l.torch``); a selected module the archive lacks is an
        error naming the modules it has. Why: d2l ships its book code four times (``torch``, ``mxnet``,
        ``tensorflow``, ``paddle``); three of them only fill a store with blocks that stop at import."""
        if not self.modules:
            return pairs
        named = {rel: module_name_for(rel)[0] for _, rel in pairs}
        missing = [m for m in self.modules if not any(n == m or n.startswith(m + ".") for n in named.values())]
        if missing:
            have = sorted({n for n in named.values() if n.count(".") <= 1})[:12]
            raise SourceError(f"{self.path.name} holds no module {missing[0]!r}; its modules include {', '.join(have)}")
        # the selected modules, what their packages hold, and the ``__init__.py`` of the packages above them (a module
        # of no package is mined as none: ``d2l/torch.py`` alone gave no block)
        return [(n, rel) for n, rel in pairs if any(named[rel] == m or named[rel].startswith(m + ".")
                                                    or rel.endswith("__init__.py") and m.startswith(named[rel] + ".")
                                                    for m in self.modules)]

    def holds_python(self) -> bool:
        return bool(self.members())

    def files(self) -> Iterator[SourceFile]:
        members = self.members()
        data = self._read([n for n, _ in members])
        for n, rel in members:
            module, is_package = module_name_for(rel)
            yield self._make(rel, module, is_package, pyparse.decode_source(data[n]))

    def fingerprint(self) -> str:
        st = self.path.stat()
        # the license as read now: a store built when it was read otherwise (raw metadata names, before license files
        # were read) re-reads the archive once and its unchanged blocks get the new name (``Source.refresh``)
        parts = [self.spec, str(self.path.resolve()), str(st.st_size), str(st.st_mtime_ns), self.info.license]
        return _sha(parts)


_REQ_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pypi_archive(requirement: str, cache_dir: Path) -> Path:
    """The wheel or sdist of ``NAME==VER`` in ``cache_dir/wheels``, downloaded on first use."""
    m = _REQ_RE.match(requirement.strip())
    if m is None:
        raise SourceError(f"pypi spec must be NAME==VERSION, got {requirement!r}")
    name, version = m.group("name"), m.group("version")
    wheel_dir = Path(cache_dir) / "wheels"

    def cached() -> Path | None:
        if not wheel_dir.is_dir():
            return None
        for p in sorted(wheel_dir.iterdir()):
            mm = (_WHEEL_RE if p.name.endswith(".whl") else _SDIST_RE).match(p.name)
            if mm and _normalize(mm.group("name")) == _normalize(name) and mm.group("version") == version:
                return p
        return None

    found = cached()
    if found is not None:
        return found
    wheel_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check", "-d", str(wheel_dir), f"{name}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"pip download {name}=={version} timed out") from exc
    found = cached()
    if proc.returncode != 0 or found is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        try:  # an sdist pip could not prepare: take the file itself, nnrag only reads it
            direct = download_release_file(name, version, wheel_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(f"pip download {name}=={version} failed: {' | '.join(tail)}; nor could its file be fetched "
                              f"from the index: {exc}") from None
        return direct
    return found


SIMPLE_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691: the index's file list as JSON (pip reads it too)


def download_release_file(name: str, version: str, into: Path, index: str | None = None) -> Path:
    """The release's pure-Python wheel, else its sdist, fetched from the package index's simple API (``index``, else
    ``$PIP_INDEX_URL``, else PyPI) into ``into`` and checked against the sha256 the index lists. Why: ``pip download``
    of an sdist runs the package's build backend to read its metadata, and mmcv 2.2.0 (an sdist only) fails there
    (``No module named 'pkg_resources'``), though nnrag only reads its files."""
    base = (index or os.environ.get("PIP_INDEX_URL") or SIMPLE_INDEX).rstrip("/")
    project = f"{base}/{re.sub(r'[-_.]+', '-', name).lower()}/"  # PEP 503's name in the URL
    request = urllib.request.Request(project, headers={"Accept": SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=60) as reply:
        files = [f for f in json.load(reply).get("files", []) if not f.get("yanked") and _is_release(f["filename"], name, version)]
    pure = [f for f in files if f["filename"].endswith("-none-any.whl")]
    sdists = [f for f in files if not f["filename"].endswith(".whl")]
    if not pure and not sdists:
        raise ValueError(f"{name} {version} has no pure-Python wheel nor sdist on {base}")
    chosen = (pure or sdists)[0]
    url = urllib.parse.urljoin(project, chosen["url"])
    with urllib.request.urlopen(url, timeout=600) as reply:
        data = reply.read()
    if hashlib.sha256(data).hexdigest() != chosen["hashes"]["sha256"]:
        raise ValueError(f"{chosen['filename']}: sha256 differs from the index's")
    target = Path(into) / chosen["filename"]
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _is_release(filename: str, name: str, version: str) -> bool:
    m = (_WHEEL_RE if filename.endswith(".whl") else _SDIST_RE).match(filename)
    return bool(m) and _normalize(m.group("name")) == _normalize(name) and m.group("version") == version


# ---------------------------------------------------------------- LEMUR


class LemurSource(Source):
    """The LEMUR model files: ``ab/nn/nn/<name>.py`` of the nn-dataset wheel, module ``ab.nn.nn.<name>``."""

    def __init__(self, cache_dir: Path):
        self.spec = "lemur"
        self.wheel = lemur.lemur_wheel(Path(cache_dir))
        self.info = PackageInfo(package="nn-dataset", version=lemur.LEMUR_VERSION, license=lemur.wheel_license(self.wheel))

    def files(self) -> Iterator[SourceFile]:
        for name, text in lemur.iter_models(self.wheel, include_init=True):
            is_package = name == "__init__"
            module = "ab.nn.nn" if is_package else f"ab.nn.nn.{name}"
            yield self._make(f"{lemur.MODEL_PREFIX}{name}.py", module, is_package, text)

    def fingerprint(self) -> str:
        st = self.wheel.stat()
        return _sha([self.spec, str(self.wheel.resolve()), str(st.st_size), str(st.st_mtime_ns)])


# ---------------------------------------------------------------- entry point


def canonical_spec(spec: str) -> str:
    """``spec`` as a store keeps it: ``dir:`` and ``wheel:`` paths absolute and resolved. Why: a store is used from
    any directory, so ``dir:proj`` typed in one place must not name another ``proj`` (or nothing) in the next
    ``--add``, and ``dir:proj/`` and ``dir:/abs/proj`` must be one source, not two copies of every block."""
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if kind == "wheel" and arg:
        path, hash_mark, modules = arg.partition("#")
        return f"{kind}:{Path(path).expanduser().resolve()}{hash_mark}{modules}"
    if kind == "dir" and arg:
        return f"{kind}:{Path(arg).expanduser().resolve()}"
    return spec


def selected_modules(fragment: str, spec: str) -> tuple[str, ...]:
    """The dotted module names after an archive spec's ``#`` (``d2l.torch,d2l.utils``)."""
    modules = tuple(m.strip() for m in fragment.split(",") if m.strip())
    bad = [m for m in modules if not all(part.isidentifier() for part in m.split("."))]
    if bad or not modules:
        raise SourceError(f"bad module list after '#' in {spec!r}: expected dotted module names such as d2l.torch")
    return modules


def open_source(spec: str, cache_dir: Path) -> Source:
    """Open a source by SPEC (see module docstring). Raises SourceError with the reason."""
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if spec == "lemur":
        return LemurSource(cache_dir)
    if not arg:
        raise SourceError(f"bad source spec {spec!r}: expected pkg:NAME, dir:PATH, wheel:PATH, pypi:NAME==VER (either with #MODULE) or lemur")
    if kind == "pkg":
        return open_package(arg, spec)
    if kind == "dir":
        return open_dir(Path(arg), spec)
    archive, hash_mark, fragment = arg.partition("#")
    modules = selected_modules(fragment, spec) if hash_mark else ()
    if kind == "wheel":
        return ArchiveSource(spec, Path(archive).expanduser(), modules)
    if kind == "pypi":
        return ArchiveSource(spec, pypi_archive(archive, cache_dir), modules)
    raise SourceError(f"unknown source kind {kind!r} in {spec!r}: expected pkg, dir, wheel, pypi or lemur")
