"""Turn a fetched HTML body into text without mojibake.

News sites routinely declare the wrong charset (a header saying utf-8 over cp1252 bytes,
"ISO-8859-1" pages full of Windows smart quotes), so a declaration is only trusted when
the bytes actually decode under it; otherwise we fall through to the next clue.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

META_SNIFF_BYTES = 2048

# Longest first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# What browsers actually use for these labels (WHATWG Encoding Standard): the superset,
# so e.g. cp1252 smart quotes in an "ISO-8859-1" page come out as quotes, not C1 controls.
_SUPERSETS = {
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}

# A single-byte charset decodes any bytes "cleanly"; valid multi-byte UTF-8 in such a
# page is almost always a server default that is wrong, not real Windows-1252 text.
_ANYTHING_GOES = frozenset({"cp1252", "cp1254", "cp874"})

# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:+-]+)""", re.IGNORECASE)


def _codec(label: str | None) -> str | None:
    """Python text codec for a charset label, or None if it is not one we can use."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
        b"".decode(name)  # rejects bytes-to-bytes codecs such as "base64" or "zlib"
    except (LookupError, ValueError):
        return None
    return _SUPERSETS.get(name, name)


def _strict(body: bytes, codec: str) -> str | None:
    try:
        text = body.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None
    if codec in _ANYTHING_GOES and not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return text
        return None
    return text


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:META_SNIFF_BYTES])
    if match is None:
        return None
    codec = _codec(match.group(1).decode("ascii"))
    # A meta tag readable as ASCII cannot be in UTF-16/32; browsers read such pages as UTF-8.
    if codec is not None and codec.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return codec


def decode_html(body: bytes, declared_charset: str | None) -> tuple[str, str]:
    """Decode ``body`` and return ``(text, codec used)``; never raises on bad bytes.

    Order: byte-order mark, the HTTP-declared charset if the bytes decode cleanly under
    it, a ``<meta>`` charset in the first 2 KB (same condition), strict UTF-8, then
    ``charset_normalizer`` detection, then UTF-8 with replacement characters.
    """
    if not body:
        return "", "utf-8"
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace"), codec
    for declared in (_codec(declared_charset), _meta_charset(body)):
        if declared is not None and (text := _strict(body, declared)) is not None:
            return text, declared
    # Valid UTF-8 with non-ASCII bytes is near-certainly UTF-8; detection is slower and can only guess.
    if (text := _strict(body, "utf-8")) is not None:
        return text, "utf-8"
    matches = from_bytes(body)
    best = matches.best()
    if best is not None:
        # Among the readings with the least mess, take what browsers fall back to: Latin text
        # often reads cleanly as cp1250, cp1257 or cp775 too (coherence then only guesses the
        # language), and cp1252 is by far the most common of them on the web.
        least = min(match.chaos for match in matches)
        best = next((m for m in matches if m.chaos == least and m.encoding == "cp1252"), best)
        detected = _codec(best.encoding)
        if detected is not None and (text := _strict(body, detected)) is not None:
            return text, detected
        try:
            return body.decode(best.encoding, errors="replace"), detected or best.encoding
        except LookupError:
            pass
    return body.decode("utf-8", errors="replace"), "utf-8"
