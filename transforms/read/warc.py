"""Stage 1, input records: HTML responses from WARC files (``--warc``), e.g. a Common Crawl backfill.

Each HTTP 200 HTML ``response`` record becomes the ``Page`` an ``--input`` line with ``url``
(WARC-Target-URI), ``html`` (decoded by the HTTP charset) and ``fetched_at`` (WARC-Date) would be.
Its ``feed_url`` keeps its provenance, ``<file>@<offset>`` (for ``.warc.gz`` the offset of its gzip
member, as Common Crawl's index gives it), as a feed's page keeps its feed.

Not pages, skipped and counted (``warc_skipped_<why>``): warcinfo, request, metadata, revisit...
records, non-HTTP responses (``dns:``), statuses other than 200, non-HTML payloads (images, PDFs:
a crawl holds them as a matter of course). Broken, a dead letter with stage ``warc`` and identity
``<file>@<offset>``: a truncated gzip member or record, a Content-Length that does not end at the
record's end, an unreadable HTTP message, a 200 with no body, bytes that are no record, a file that
cannot be opened (``<file>@0``). Reading resumes at the next well-formed record (gzip member or
``WARC/1.x`` header), so the rest of the file is still read.

Parsing is FastWARC's (twice warcio's speed on ``.warc.gz``, ``bench/warc.py``). FastWARC is lenient
(a record cut off by the end of the file comes out short), so each record is held back until the
next one parsed, and the record before an error, and a file's last one, are checked against their
framing here.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from newsbeam.schemas.records import Page
from newsbeam.transforms.base import MAIN, DeadLetterOutput, Stage, TaggedTransform, apply_stage, counter
from newsbeam.transforms.errors import InputRecordError
from newsbeam.transforms.fetch.decode import decode_html
from newsbeam.transforms.fetch.http import HttpResponse
from newsbeam.transforms.read.files import matching_files
from newsbeam.transforms.read.jsonl import parse_timestamp

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})
"""Payload types read as pages; "" is a response that declares none (as the fetch stage takes it)."""
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
RECORD_END = b"\r\n\r\n"
HEADER_LIMIT = 1 << 16
"""Longest WARC header block accepted when checking a record's framing."""
CHUNK = 1 << 20
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Skipped:
    """A record that is not a page, counted as ``warc_skipped_<reason>``."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """A broken record or stretch of the file: a dead letter at ``offset``."""

    offset: int
    error: InputRecordError
    excerpt: str | bytes = b""


Outcome = Page | Skipped | Rejected
Resuming = Generator[Outcome, None, int | None]
"""Outcomes, then where reading resumes (None: the file is done)."""


def location(path: str, offset: int) -> str:
    """The ``<file>@<offset>`` identity of a record: dead letters' input id, articles' ``feed_url``."""
    return f"{path}@{offset}"


def warc_files(pattern: str) -> list[str]:
    """The files ``--warc`` matches, sorted; a pattern matching nothing is a configuration error."""
    return matching_files(pattern, "--warc")


def response_outcome(record: WarcRecord, where: str) -> Outcome:
    """What one parsed record gives: a ``Page``, a counted skip, or (raised) why it is unusable."""
    kind = record.record_type
    if kind != WarcRecordType.response:
        return Skipped(str(kind) or "unknown")
    url = record.headers.get("WARC-Target-URI") or ""
    if not url.startswith(("http://", "https://")) or not record.is_http:
        return Skipped("not_http")
    record.parse_http(auto_decode="all")  # undoes chunked transfer and gzip/deflate/br content coding
    status = record.http_headers.status_code
    if status is None:
        raise InputRecordError(f"the response for {url} has no HTTP status line")
    if status != 200:
        return Skipped("status")
    headers: dict[str, str] = {}
    for name, value in record.http_headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    fetched_at = parse_timestamp(record.headers.get("WARC-Date"), "WARC-Date") or datetime.now(timezone.utc)
    response = HttpResponse(requested_url=url, url=url, status=status, headers=headers, body=b"", fetched_at=fetched_at)
    if (response.content_type or "") not in HTML_TYPES:
        return Skipped("not_html")
    body = record.reader.read()
    if not body:
        raise InputRecordError(f"the HTTP 200 response for {url} has no body")
    html, _codec = decode_html(body, response.charset)
    return Page(
        url=url,
        fetched_url=url,
        fetched_at=fetched_at,
        html=html,
        feed_url=where,
        status=status,
        content_type=response.content_type,
    )


def _header(head: bytes) -> tuple[int, int | None, str]:
    """``(header length with its blank line, Content-Length, "")`` of a WARC header, or ``(0, None, why not)``."""
    if not head.startswith(WARC_MAGIC):
        return 0, None, "no WARC header where the record should start"
    blank = head.find(RECORD_END)
    if blank < 0:
        return 0, None, "its WARC header does not end"
    match = _CONTENT_LENGTH.search(head[:blank].replace(b"\r\n", b"\n"))
    if match is None:
        return 0, None, "its WARC header has no Content-Length"
    return blank + len(RECORD_END), int(match.group(1)), ""


@dataclass
class _Member:
    """What inflating one gzip member showed."""

    head: bytes = b""
    size: int = 0
    tail: bytes = b""
    end: int | None = None
    """Offset just past the member; None when the file ends inside it."""
    overflows: bool = False
    """It inflates past the one record its first header announces (a file gzipped whole, or a short Content-Length)."""


class WarcScanner:
    """Every record of one open WARC file as an ``Outcome``, resuming after whatever is broken."""

    def __init__(self, path: str, handle: IO[bytes] | gzip.GzipFile) -> None:
        self.path = path
        self.handle = handle

    def outcomes(self) -> Iterator[Outcome]:
        start: int | None = 0
        while start is not None:
            start = yield from self._run(start)

    def gzipped_whole(self) -> bool:
        """True for a ``.warc.gz`` that is one gzip stream, not one member per record: it is read inflated."""
        try:
            return self._read(0, len(GZIP_MAGIC)) == GZIP_MAGIC and self._inflate(0).overflows
        except Exception:  # noqa: BLE001 - a corrupt first member: read record by record, it is reported there
            return False

    def _run(self, start: int) -> Resuming:
        """Parse from ``start`` until the end (returns None) or an error (returns where to resume)."""
        self.handle.seek(start)
        records = iter(ArchiveIterator(self.handle, parse_http=False))
        pending: tuple[int, Outcome] | None = None  # held back until the next record parses
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as error:  # noqa: BLE001 - FastWARC raises OSError/ValueError on bad bytes
                return (yield from self._after_error(pending, start, error))
            offset = record.stream_pos
            try:
                outcome = response_outcome(record, location(self.path, offset))
            except InputRecordError as error:  # the record is whole but no usable page: no need to resync
                outcome = self._rejected(offset, error.reason, record.headers.get("WARC-Target-URI") or "")
            except Exception as error:  # noqa: BLE001 - the record's bytes are bad, not our code
                if pending is not None:
                    yield pending[1]
                return (yield from self._bad_record(offset, error))
            if pending is not None:
                yield pending[1]
            pending = (offset, outcome)
        if pending is None:
            return None
        offset, outcome = pending
        end, why = self.record_end(offset)
        if end is None:  # the last record is cut short (FastWARC does not say so)
            yield self._rejected(offset, why)
            return self.resync(offset + 1)
        yield outcome
        return None

    def _after_error(self, pending: tuple[int, Outcome] | None, start: int, error: Exception) -> Resuming:
        """The parser failed after ``pending``: either that record overran its bounds, or what follows it is bad."""
        if pending is None:
            yield self._rejected(start, f"no readable WARC record here ({error})")
            return self.resync(start + 1)
        offset, outcome = pending
        end, why = self.record_end(offset)
        if end is None:
            yield self._rejected(offset, why)
            return self.resync(offset + 1)
        yield outcome
        if self._only_padding(end):
            return None
        _, why = self.record_end(end)
        yield self._rejected(end, why or f"no readable WARC record here ({error})")
        return self.resync(end + 1)

    def _bad_record(self, offset: int, error: Exception) -> Resuming:
        """The record at ``offset`` parsed as a WARC record but its content could not be read."""
        end, why = self.record_end(offset)
        yield self._rejected(offset, why if end is None else f"unreadable HTTP response ({error})")
        return self.resync(offset + 1 if end is None else end)

    def _rejected(self, offset: int, why: str, excerpt: str | bytes | None = None) -> Rejected:
        """The dead letter's makings; the excerpt is read from the file unless given (never mid-parse)."""
        if excerpt is None:
            try:
                excerpt = self._read(offset, 200)
            except Exception:  # noqa: BLE001 - the excerpt is a courtesy
                excerpt = b""
            excerpt = b"" if excerpt.startswith(GZIP_MAGIC) else excerpt
        reason = f"WARC record at byte {offset} of {self.path}: {why}; the rest of the file is still read"
        return Rejected(offset, InputRecordError(reason), excerpt)

    def _only_padding(self, offset: int) -> bool:
        """True when nothing but blank lines or NUL padding follows ``offset`` to the end of the file."""
        try:
            rest = self._read(offset, HEADER_LIMIT)
        except Exception:  # noqa: BLE001 - unreadable is not padding
            return False
        return len(rest) < HEADER_LIMIT and not rest.strip(b"\r\n\t \x00")

    def _read(self, offset: int, size: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(size)

    def record_end(self, offset: int) -> tuple[int | None, str]:
        """``(offset just past the record at offset, "")`` if it is well framed, else ``(None, why not)``."""
        try:
            if self._read(offset, len(GZIP_MAGIC)) == GZIP_MAGIC:
                return self._member_end(offset)
            return self._plain_end(offset)
        except Exception as error:  # noqa: BLE001 - zlib.error, EOFError of a file gzipped whole, I/O
            return None, f"unreadable ({error})"

    def _plain_end(self, offset: int) -> tuple[int | None, str]:
        header_length, block_length, why = _header(self._read(offset, HEADER_LIMIT))
        if block_length is None:
            return None, why
        end = offset + header_length + block_length
        if self._read(end, len(RECORD_END)) != RECORD_END:
            return None, f"its Content-Length ({block_length}) does not end where the record does"
        return end + len(RECORD_END), ""

    def _member_end(self, offset: int) -> tuple[int | None, str]:
        """A gzip member must hold exactly one whole record (the per-record gzip of ``.warc.gz``)."""
        try:
            member = self._inflate(offset)
        except zlib.error as error:
            return None, f"its gzip member is truncated or corrupt ({error})"
        header_length, block_length, why = _header(member.head)
        if block_length is None:
            return None, why
        if member.end is None and not member.overflows:
            return None, "its gzip member is truncated"
        if member.overflows or member.size != header_length + block_length + len(RECORD_END):
            return None, f"its Content-Length ({block_length}) does not match its gzip member"
        if member.tail != RECORD_END:
            return None, "its block does not end with the blank lines that close a record"
        return member.end, ""

    def _inflate(self, offset: int) -> _Member:
        """Inflate the gzip member at ``offset``, stopping early once it outgrows its first record."""
        self.handle.seek(offset)
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        member, consumed, expected = _Member(), 0, None
        while not inflater.eof:
            chunk = self.handle.read(CHUNK)
            if not chunk:
                return member
            data = inflater.decompress(chunk)
            consumed += len(chunk)
            if len(member.head) < HEADER_LIMIT:
                member.head += data[: HEADER_LIMIT - len(member.head)]
            member.size, member.tail = member.size + len(data), (member.tail + data)[-len(RECORD_END) :]
            if expected is None:
                header_length, block_length, _ = _header(member.head)
                expected = None if block_length is None else header_length + block_length + len(RECORD_END)
            if expected is not None and member.size > expected:
                member.overflows = True
                return member
        member.end = offset + consumed - len(inflater.unused_data)
        return member

    def resync(self, position: int) -> int | None:
        """The first well-framed record at or after ``position`` (None: there is none)."""
        while (candidate := self._candidate(position)) is not None:
            if self.record_end(candidate)[0] is not None:
                return candidate
            position = candidate + 1
        return None

    def _candidate(self, position: int) -> int | None:
        """The next place a record may start: a gzip member or a ``WARC/1.`` header."""
        overlap = len(WARC_MAGIC) - 1
        try:
            while chunk := self._read(position, CHUNK):
                found = [at for at in (chunk.find(GZIP_MAGIC), chunk.find(WARC_MAGIC)) if at >= 0]
                if found:
                    return position + min(found)
                if len(chunk) < CHUNK:
                    return None
                position += len(chunk) - overlap
        except Exception:  # noqa: BLE001 - a file gzipped whole that ends early: nothing more to find
            return None
        return None


def read_warc(path: str) -> Iterator[Outcome]:
    """Every record of the WARC file at ``path`` (any Beam file system) as an ``Outcome``."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        scanner = WarcScanner(path, handle)
        if scanner.gzipped_whole():
            # No member boundaries to resume at: read it inflated, offsets count inflated bytes.
            handle.seek(0)
            with gzip.GzipFile(fileobj=handle, mode="rb") as inflated:
                yield from WarcScanner(path, inflated).outcomes()
        else:
            yield from scanner.outcomes()


def _path(metadata: FileMetadata) -> str:
    return str(metadata.path)


class ReadWarcFile(Stage):
    """One WARC path in; its pages out, and a dead letter per broken record (``<file>@<offset>``)."""

    stage = "warc"

    def input_id(self, element: Any) -> str:
        return location(str(element), 0)

    def handle(self, path: str) -> Iterator[Page | DeadLetterOutput]:
        counter("warc_files").inc()
        for outcome in read_warc(path):
            if isinstance(outcome, Page):
                counter("records").inc()
                yield outcome
            elif isinstance(outcome, Skipped):
                counter(f"warc_skipped_{outcome.reason}").inc()
            else:
                counter("warc_failed").inc()
                yield self.reject(outcome.error, location(path, outcome.offset), outcome.excerpt)

    def process(self, element: Any) -> Iterator[Any]:
        """Streams (a WARC holds thousands of pages); an unopenable file is one dead letter."""
        try:
            yield from self.handle(element)
        except Exception as error:  # noqa: BLE001 - routed to the dead-letter table, not swallowed
            counter("warc_failed").inc()
            reason = f"WARC file {element} cannot be read: {error}"
            yield self.reject(InputRecordError(reason), self.input_id(element))


class ReadWarcPages(TaggedTransform):
    """A file pattern of WARC files in; ``main`` pages and ``dead_letter`` out.

    The matched paths go through a reshuffle before any is opened, so a distributed runner
    reads the files on many workers; ``spread`` reshuffles the pages too (as ``--input`` does),
    worth it only with several workers.
    """

    def __init__(self, pattern: str, spread: bool = True) -> None:
        super().__init__()
        self.pattern = pattern
        self.spread = spread

    def expand(self, pipeline: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        paths = (
            pipeline
            | "MatchWarc" >> fileio.MatchFiles(self.pattern)
            | "WarcPaths" >> beam.Map(_path)
            | "SpreadFiles" >> beam.Reshuffle()
        )
        read = apply_stage(paths, "ReadWarcFile", ReadWarcFile())
        if self.spread:
            read[MAIN] = read[MAIN] | "Spread" >> beam.Reshuffle()
        return read
