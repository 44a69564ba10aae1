"""Article identity: canonical URLs, article ids and content hashes.

Cleaning fills these keys and dedup groups on them, so both stages must compute them the
same way: everything here is a pure, deterministic function of its argument.

URL policy (why not plain ``courlan.clean_url``): courlan does the structural work
(scrubbing, lower-case scheme and host, punycode, default ports, ``//`` and ``/../`` in
paths), but its query filters are unsafe for identity. ``normalize_url(strict=True)`` keeps
only 14 allow-listed parameters, so ``/read.php?story=1`` and ``?story=2`` would become one
article; the non-strict tracker regex is a substring search that also drops content
parameters (``gallery``, ``source``, ``cid``, ``session``, ``keyword``, ``reference``,
``global``), yet misses ``cmpid``, ``ocid``, ``CMP``, ``icid``, ``smid``, ``WT.mc_id``,
``_hsenc``, ``guccounter``, ``ttclid`` and ``amp``. Merging two different articles loses
one of them, while a tracker we miss only leaves a duplicate for the text-hash dedup to
catch, so query filtering uses the explicit lists below and keeps everything else.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit, urlunsplit

from courlan import is_valid_url, normalize_url, scrub_url

#: Query parameters that only say how a reader reached the page (compared lower-cased).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # ad-click ids: Facebook, Google, DoubleClick, Microsoft, Yandex, Twitter, TikTok, LinkedIn
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "ysclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "igsh", "srsltid",
        # e-mail and marketing platforms: Mailchimp, Marketo, HubSpot, Yahoo consent redirect
        "mc_cid", "mc_eid", "mkt_tok", "_hsenc", "_hsmi", "guccounter", "guce_referrer",
        "guce_referrer_sig",
        # referrer markers
        "ref", "ref_src", "ref_url", "referrer", "referer",
        # publishers' campaign ids: Guardian (CMP, INTCMP), Microsoft/MSN (ocid), NYT (smid,
        # smtyp), AT Internet (xtor), Adobe (s_cid, s_kwcid), Yahoo (ncid), many (cmpid, icid)
        "cmp", "cmpid", "intcmp", "icid", "ocid", "ncid", "smid", "smtyp", "xtor", "s_cid",
        "s_kwcid", "sr_share", "_ga", "_gl", "spm", "share",
    }
)  # fmt: skip

#: Parameter-name prefixes of tracking families (utm_source, pk_campaign, at_medium, ...).
TRACKING_PREFIXES: tuple[str, ...] = (
    "utm_", "pk_", "mtm_", "matomo_", "piwik_", "itm_", "hsa_", "oly_", "vero_", "ns_", "at_", "wt.",
    "ga_", "trk_", "__twitter",
)  # fmt: skip

#: ``source=rss`` and the like: added by feeds to the links they publish.
_FEED_MARKER_PARAMS = frozenset({"source", "src", "from", "via"})
_FEED_MARKER_VALUE = re.compile(r"^(?:rss|feed|atom)", re.IGNORECASE)

#: AMP markers in the query: ``?amp``, ``?amp=1``, ``?outputType=amp``.
_AMP_PARAMS = frozenset({"amp", "_amp"})

#: Google's AMP cache serves ``https://<mangled-host>.cdn.ampproject.org/c/s/<host>/<path>``.
_AMP_CACHE_PATH = re.compile(r"^/(?:[cv]/)?(?:s/)?(?P<rest>[^/]+\.[^/]+/.*)$")

ARTICLE_ID_HEX_CHARS = 16
CONTENT_HASH_HEX_CHARS = 32


def _is_tracking(name: str, value: str) -> bool:
    """True when a query parameter carries no identity, only provenance or AMP-ness."""
    key = name.lower()
    if key in TRACKING_PARAMS or key in _AMP_PARAMS or key.startswith(TRACKING_PREFIXES):
        return True
    if key == "outputtype" and value.lower() == "amp":
        return True
    return key in _FEED_MARKER_PARAMS and bool(_FEED_MARKER_VALUE.match(value))


_QUERY_SAFE = "!#$%&'()*+,/:;=?@[]^`{|}~"
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def _clean_query(query: str) -> str:
    """Drop tracking parameters and sort the rest by name (values keep their order).

    Kept parameters stay as given (``?123``, ``?a=b+c``), only non-ASCII is percent-encoded:
    decoding and re-encoding them could change what the server reads.
    """
    kept: list[tuple[str, str]] = []
    for segment in query.split("&"):
        if not segment:
            continue
        name, _, value = segment.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        if not _is_tracking(name, value):
            kept.append((name, quote(segment, safe=_QUERY_SAFE)))
    kept.sort(key=lambda pair: pair[0])
    return "&".join(segment for _, segment in kept)


def _de_amp_path(path: str) -> str:
    """``/amp/`` segments, ``.amp.html`` and ``.amp`` endings are AMP copies of the article."""
    if path.endswith(".amp.html"):
        path = path[: -len(".amp.html")] + ".html"
    elif path.endswith(".amp"):
        path = path[: -len(".amp")]
    segments = path.split("/")
    kept = [segment for segment in segments if segment.lower() != "amp"]
    if len(kept) == len(segments):
        return path
    # "/story/amp" -> "/story", "/story/amp/" -> "/story/"; keep the leading "/"
    result = "/".join(kept)
    return result if result.startswith("/") else "/" + result


def _unwrap_amp_cache(parts: SplitResult) -> SplitResult:
    """Map a Google AMP-cache URL back to the publisher's URL."""
    if not parts.hostname or not parts.hostname.endswith(".cdn.ampproject.org"):
        return parts
    match = _AMP_CACHE_PATH.match(parts.path)
    if not match:
        return parts
    return urlsplit("https://" + match["rest"] + (f"?{parts.query}" if parts.query else ""))


def _minimal(url: str) -> str:
    """Best effort for URLs courlan rejects: lower-case scheme and host, no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def canonical_url(url: str) -> str:
    """The URL that identifies an article, however a feed or a share button spelled it.

    Lower-cased scheme and host, default port, fragment and tracking parameters dropped,
    remaining query sorted, AMP variants mapped to the regular page. Never raises: input
    courlan does not accept as an http(s) URL comes back only minimally normalised.
    """
    url = url.strip()
    if not url:
        return url
    try:
        scrubbed = scrub_url(url)
        if not is_valid_url(scrubbed):
            return _minimal(url)
        parts = _unwrap_amp_cache(urlsplit(scrubbed))
        query = _clean_query(parts.query)
        path = _de_amp_path(parts.path)
        # courlan normalises everything but the query, which it would filter its own way
        base = normalize_url(parts._replace(path=path, query="", fragment=""), strict=True)
    except (ValueError, TypeError, AttributeError, UnicodeError):
        return _minimal(url)
    if query:
        base = f"{base}/?{query}" if not urlsplit(base).path else f"{base}?{query}"
    # %c3%bc and %C3%BC are the same character
    return _PERCENT_ESCAPE.sub(lambda match: match[0].upper(), base)


def article_id(canonical: str) -> str:
    """Stable article id: the first 16 hex chars (64 bits) of sha256 of the canonical URL.

    64 bits keeps ids short in the lake while collisions stay negligible (about 1 in 10^8
    even at 10^6 articles); the same URL always gives the same id across runs and workers.
    """
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ARTICLE_ID_HEX_CHARS]


_QUOTES = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u0060\u00b4", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u2039\u203a\u300c\u300d", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
        # invisible characters that differ between copies of one text
        **dict.fromkeys("\u00ad\u200b\u2060\ufeff", ""),
    }
)
_QUOTE_CHARS = re.compile("[" + re.escape("".join(map(chr, _QUOTES))) + "]")


def normalise_text(text: str) -> str:
    """Text reduced to what a reader sees, so republished copies of one article compare equal.

    NFKC (full-width forms, ligatures, non-breaking spaces), case-folded, typographic quotes
    and dashes unified, soft hyphens and zero-width spaces removed, whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if _QUOTE_CHARS.search(text):  # most texts have none: searching is ~10x cheaper than translating
        text = text.translate(_QUOTES)
    return " ".join(text.split())  # str.split() and re's \s agree on every code point; 5x faster than re.sub


def content_hash(text: str) -> str:
    """sha256 hex (first 32 chars, 128 bits) of the normalised text: exact-duplicate key."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:CONTENT_HASH_HEX_CHARS]


__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "article_id",
    "canonical_url",
    "content_hash",
    "normalise_text",
]
