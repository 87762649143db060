"""Reading user files safely: bounded size, regular files only, and YAML / JSON parsing whose work is bounded
before it is done. Errors name the file, line and column.

Every file a user names (scenario, catalog, ``config.json``, sweep, architecture) goes through
``read_text_file``: a FIFO, a device or a symlink loop is refused before anything is read (opening is
non-blocking), and at most ``MAX_FILE_BYTES`` are read. YAML is checked event by event (nesting depth, number of
values, over-long numbers) before a document is built, and the built node graph is measured with every alias
expanded before any Python object is made from it, so alias bombs and recursive anchors cost microseconds.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from .errors import Issue, PlannerError, ScenarioError
from .limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_LIST_ITEMS, MAX_NODES, MAX_NUMBER_CHARS

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 7x faster, same marks
_RESOLVER = yaml.resolver.Resolver()
_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def line_column(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of a character index."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def open_user_file(path: str | Path, what: str, error: type[PlannerError]) -> BinaryIO:
    """Open a user-supplied file for reading in binary: only a regular file (a FIFO, device or socket is refused
    before anything is read, and opening never blocks), with errors naming the file."""
    path = Path(path)

    def fail(title: str, message: str) -> PlannerError:
        return error(f"{what} {title}", [Issue(message, source=str(path))])

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise fail("not found", "no such file") from None
    except IsADirectoryError:
        raise fail("path is a directory", "expected a file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise fail("cannot be read", "the path is a symbolic link loop") from None
        raise fail("cannot be read", exc.strerror or str(exc)) from None
    handle = os.fdopen(fd, "rb")
    info = os.fstat(handle.fileno())
    if stat.S_ISREG(info.st_mode):
        return handle
    handle.close()
    if stat.S_ISDIR(info.st_mode):
        raise fail("path is a directory", "expected a file")
    kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a regular file")
    raise fail("is not a regular file", f"the path is {kind}; give a file")


def read_text_file(path: str | Path, what: str, error: type[PlannerError]) -> str:
    """Read a user-supplied file as UTF-8; anything but a readable regular text file of at most ``MAX_FILE_BYTES``
    becomes ``error`` naming the file and what is wrong with it."""
    source = str(path)

    def fail(title: str, message: str, line: int | None = None, column: int | None = None) -> PlannerError:
        return error(f"{what} {title}", [Issue(message, source=source, line=line, column=column)])

    with open_user_file(path, what, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise fail("is too large", f"{size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes")
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise fail("cannot be read", exc.strerror or str(exc)) from None
    if len(data) > MAX_FILE_BYTES:
        raise fail("is too large", f"more than {MAX_FILE_BYTES:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = line_column(data[:exc.start].decode("utf-8", "replace"), exc.start)
        raise fail("cannot be read", f"not UTF-8 text ('utf-8' codec: invalid byte 0x{data[exc.start]:02x})", line, column) from None
    nul = text.find("\0")
    if nul >= 0:
        line, column = line_column(text, nul)
        raise fail("cannot be read", "the file contains a NUL byte: it is binary, not text", line, column)
    return text


def check_output_file(path: str | Path, flag: str, error: type[PlannerError]) -> Path:
    """Refuse, before any work, an output path that cannot be written: a missing folder, a directory, a FIFO or
    device, a read-only place. The file is opened for appending (never truncated) and removed again when this
    check created it."""
    path = Path(path)
    if not path.parent.is_dir():
        raise error("output folder not found", [Issue(f"no folder {path.parent}", field_path=flag)])
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise error("output file cannot be written", [Issue(exc.strerror or str(exc), source=str(path), field_path=flag)]) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise error("output path is a directory", [Issue("give a file name", source=str(path), field_path=flag)])
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise error("output path is not a regular file", [Issue("give a file name", source=str(path), field_path=flag)])
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        os.close(fd)
    except OSError as exc:
        raise error("output file cannot be written", [Issue(exc.strerror or str(exc), source=str(path), field_path=flag)]) from None
    if info is None:
        path.unlink(missing_ok=True)
    return path


@dataclass
class Locator:
    """Maps a field path (tuple of keys and indexes) to its 1-based (line, column) in the source."""

    source: str
    positions: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: tuple[Any, ...]) -> tuple[int | None, int | None]:
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))


def _located(error: type[PlannerError], title: str, message: str, source: str, mark: Any = None,
             suggestion: str | None = None) -> PlannerError:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return error(title, [Issue(message, source=source, line=line, column=column, suggestion=suggestion)])


@dataclass
class _OpenContainer:
    """A list or mapping the event stream is inside: values seen so far, values per entry (1 list, 2 mapping)."""

    values: int
    values_per_entry: int
    start: Any  # the parser's mark (pure Python or libyaml), or None


def _check_events(text: str, source: str, error: type[PlannerError]) -> None:
    """Depth, size, entries per list or mapping and number length, event by event, before anything is built (the
    parser is iterative, so a huge or deep file is refused at the first value past a limit)."""
    depth = 0
    entries: list[_OpenContainer] = []
    for count, event in enumerate(yaml.parse(text, Loader=_LOADER), start=1):
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)) and entries:
            top = entries[-1]
            top.values += 1
            if top.values > MAX_LIST_ITEMS * top.values_per_entry:
                kind = "mapping" if top.values_per_entry == 2 else "list"
                raise _located(error, "too many entries", f"a {kind} of more than {MAX_LIST_ITEMS:,} entries; the limit "
                               f"is {MAX_LIST_ITEMS:,}", source, top.start)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _located(error, "the file is nested too deeply", f"more than {MAX_DEPTH} levels of nested "
                               "mappings and lists (the limit)", source, event.start_mark)
            entries.append(_OpenContainer(0, 2 if isinstance(event, yaml.MappingStartEvent) else 1, event.start_mark))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            entries.pop()
        elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_NUMBER_CHARS and not event.style:
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
            if tag.endswith((":int", ":float")):
                raise _located(error, "number too long", f"a number of {len(event.value):,} characters; the limit is "
                               f"{MAX_NUMBER_CHARS}", source, event.start_mark)
        if count > MAX_NODES:
            raise _located(error, "the file is too large", f"more than {MAX_NODES:,} values (the limit)", source, event.start_mark)


def _check_graph(root: yaml.Node, source: str, error: type[PlannerError]) -> None:
    """Values with every alias expanded (memoised per node, so a bomb is measured, never expanded), and no
    alias that contains itself."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            children = _children(node)
            total = 1 + sum(size[id(child)] for child in children)
            size[key] = total
            open_nodes.discard(key)
            if total > MAX_NODES:
                raise _located(error, "the file is too large", f"its aliases expand to more than {MAX_NODES:,} values "
                               "(the limit)", source, node.start_mark, "write the values out, or use fewer aliases")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise _located(error, "the file is not valid YAML", "an alias refers to a mapping or list that contains it "
                           "(a recursive anchor)", source, node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise _located(error, "the file is not valid YAML", "an alias refers to a mapping or list that contains it "
                               "(a recursive anchor)", source, child.start_mark)
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _index(root: yaml.Node, source: str, error: type[PlannerError], positions: dict[tuple[Any, ...], tuple[int, int]]) -> None:
    """Record where every field path is; refuse keys given twice and keys that are not plain names."""
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _located(error, "the file is not valid here", "a key must be a plain name, not a mapping or list",
                                   source, key_node.start_mark)
                key = key_node.value
                if key != "<<" and key in first_line:
                    raise _located(error, "duplicate key", f"{key!r} is given twice in the same mapping (first on line "
                                   f"{first_line[key]}); only one value can count", source, key_node.start_mark,
                                   "remove or merge one of them")
                first_line[key] = key_node.start_mark.line + 1
                positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (index,)) for index, item in enumerate(node.value))


def parse_yaml(text: str, source: str, error: type[PlannerError] = ScenarioError) -> tuple[Any, Locator]:
    """Parse one YAML document within the limits; syntax errors become ``error`` with line and column."""
    locator = Locator(source)
    try:
        _check_events(text, source, error)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, locator
            _check_graph(node, source, error)
            _index(node, source, error, locator.positions)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, error) from None
    except (ValueError, RecursionError) as exc:  # a constructor's own limits (dates, numbers): never a traceback
        raise error("the file is not valid YAML", [Issue(str(exc), source=source)]) from None
    return data, locator


def _yaml_error(exc: yaml.YAMLError, text: str, source: str, error: type[PlannerError]) -> PlannerError:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids: PyYAML gives its index, not a mark
        line, column = line_column(text, exc.position)
        return error("the file is not valid YAML", [Issue(f"character {exc.character!r} is not allowed in YAML", source=source,
                                                          line=line, column=column)])
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    if problem == "exceeded maximum nesting depth":  # libyaml's own limit (1,000) can fire before ours
        return _located(error, "the file is nested too deeply", f"more than {MAX_DEPTH} levels of nested mappings and lists "
                        "(the limit)", source, mark)
    if problem.startswith("found character that") and mark is not None and 0 <= mark.index < len(text):
        problem = f"found character {text[mark.index]!r} that" + problem.removeprefix("found character that")  # libyaml omits it
    return _located(error, "the file is not valid YAML", problem, source, mark)


class _DeferredLocator(Locator):
    """The positions of a file parsed without them, found by the checked parser the first time one is asked for."""

    def __init__(self, source: str, text: str, error: type[PlannerError]) -> None:
        super().__init__(source)
        self._text, self._error = text, error

    def locate(self, path: tuple[Any, ...]) -> tuple[int | None, int | None]:
        if not self.positions:
            self.positions.update(parse_yaml(self._text, self.source, self._error)[1].positions)
        return super().locate(path)


def load_packaged_yaml_file(path: Path, kind: str, error: type[PlannerError]) -> tuple[Any, Locator]:
    """A YAML file shipped with the package (the built-in catalogs), parsed by libyaml directly: the limits and
    checks ``parse_yaml`` applies to what a user supplies are for untrusted input (tests parse these files both ways
    and compare). Line numbers for an error are found when first asked for."""
    text = read_text_file(path, f"{kind} file", error)
    try:
        return yaml.load(text, Loader=_LOADER), _DeferredLocator(str(path), text, error)
    except yaml.YAMLError:
        return parse_yaml(text, str(path), error)  # the checked parser says where and why


def load_yaml_file(path: str | Path, kind: str = "scenario", error: type[PlannerError] = ScenarioError) -> tuple[Any, Locator]:
    """Read and parse a YAML file; ``kind`` names it in errors ("scenario", "sweep", "catalog")."""
    return parse_yaml(read_text_file(path, f"{kind} file", error), str(Path(path)), error)


def parse_json(text: str, source: str, error: type[PlannerError]) -> Any:
    """Parse JSON within the limits: no over-long numbers, NaN or Infinity, duplicate keys or deep nesting."""
    def number(kind: str) -> Callable[[str], int | float]:
        def parse(value: str) -> int | float:
            if len(value) > MAX_NUMBER_CHARS:
                raise _JsonLimit(f"a number of {len(value):,} characters; the limit is {MAX_NUMBER_CHARS}")
            return int(value) if kind == "int" else float(value)
        return parse

    def constant(value: str) -> Any:
        raise _JsonLimit(f"{value} is not a number JSON allows")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise _JsonLimit(f"key {key!r} is given twice in the same object; only one value can count")
            out[key] = value
        return out

    try:
        data = json.loads(text, parse_int=number("int"), parse_float=number("float"), parse_constant=constant,
                          object_pairs_hook=unique)
    except json.JSONDecodeError as exc:
        raise error("the file is not valid JSON", [Issue(exc.msg, source=source, line=exc.lineno, column=exc.colno)]) from None
    except _JsonLimit as exc:
        raise error("the file is not valid here", [Issue(str(exc), source=source)]) from None
    except RecursionError:
        raise error("the file is nested too deeply", [Issue(f"more than {MAX_DEPTH} levels of nested objects and lists "
                                                            "(the limit)", source=source)]) from None
    _check_tree(data, source, error)
    return data


class _JsonLimit(ValueError):
    pass


def _check_tree(data: Any, source: str, error: type[PlannerError]) -> None:
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise error("the file is nested too deeply", [Issue(f"more than {MAX_DEPTH} levels of nested objects and lists "
                                                                "(the limit)", source=source)])
        if count > MAX_NODES:
            raise error("the file is too large", [Issue(f"more than {MAX_NODES:,} values (the limit)", source=source)])
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
