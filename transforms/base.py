"""The stage base class: one hook for the work, dead letters and counters for free.

A stage subclasses ``Stage`` and implements ``handle(element)``, a thin call into a pure
function. Whatever ``handle`` raises becomes a ``DeadLetter`` on the ``dead_letter``
output instead of failing the bundle, so one bad feed or page never crashes a run and
never disappears.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, ClassVar, Final, Literal

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.typehints.decorators import IOTypeHints, get_type_hints

from newsbeam.schemas.records import DeadLetter
from newsbeam.transforms import progress
from newsbeam.transforms.errors import NewsbeamError

MAIN = "main"
DEAD_LETTER: Final = "dead_letter"
METRICS_NAMESPACE = "newsbeam"
EXCERPT_CHARS = 300

DeadLetterOutput = TaggedOutput[Literal["dead_letter"], DeadLetter]
"""A stage's ``dead_letter`` output in a return hint (Beam 2.78 reads tagged types from ``TaggedOutput``)."""


class _Counter:
    """A Beam counter that also feeds the live progress line (``transforms/progress.py``)."""

    __slots__ = ("beam", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.beam = Metrics.counter(METRICS_NAMESPACE, name)

    def inc(self, n: int = 1) -> None:
        self.beam.inc(n)
        progress.note(self.name, n)


def counter(name: str) -> Any:
    """A run-summary counter; every counter of the run lives in one namespace."""
    return _Counter(name)


def excerpt(value: str | bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """A short, single-line, printable excerpt for a dead-letter row."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value[: limit * 4].decode("utf-8", errors="replace")
    return " ".join(value.split())[:limit]


def dead_letter(stage: str, error: BaseException, input_id: str, excerpt_text: str | bytes | None = None) -> DeadLetter:
    """Build the dead letter for ``error``; unexpected errors keep their traceback."""
    details: dict[str, Any] = {}
    if isinstance(error, NewsbeamError):
        reason = error.reason
        status = getattr(error, "status", None)
        if status is not None:
            details["status"] = status
    else:
        reason = f"unexpected {type(error).__name__} in stage {stage}: {error} (a bug: please report it)"
        details["traceback"] = "".join(traceback.format_exception(error))[-4000:]
    return DeadLetter(
        stage=stage,
        reason=reason,
        error_type=type(error).__name__,
        input_id=input_id,
        occurred_at=datetime.now(timezone.utc),
        excerpt=excerpt(excerpt_text),
        details=details,
    )


class Stage(beam.DoFn):  # type: ignore[misc]
    """Base DoFn of every stage: subclasses implement ``handle`` and nothing else is required."""

    stage: ClassVar[str] = "stage"

    def handle(self, element: Any) -> Iterable[Any]:
        """Do the stage's work for one element; raise ``NewsbeamError`` for expected failures."""
        raise NotImplementedError

    def input_id(self, element: Any) -> str:
        """Identity of the input written to the dead letter (URL by default)."""
        for attr in ("url", "link", "feed_url"):
            value = getattr(element, attr, None)
            if value:
                return str(value)
        return repr(element)[:200]

    def input_excerpt(self, element: Any) -> str | bytes | None:
        """Short excerpt of the input written to the dead letter."""
        for attr in ("title", "text", "summary"):
            value = getattr(element, attr, None)
            if value:
                return str(value)
        return None

    def reject(self, error: BaseException, input_id: str, excerpt_text: str | bytes | None = None) -> DeadLetterOutput:
        """The dead letter for ``error`` as this stage's ``dead_letter`` output, counted in the summary."""
        counter("dead_letters").inc()
        return beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(self.stage, error, input_id, excerpt_text))

    def default_type_hints(self) -> IOTypeHints:
        """What flows in and out is what ``handle`` declares, plus the ``dead_letter`` output.

        Beam reads a DoFn's types from ``process``; here ``process`` is generic, so the types come
        from the subclass's ``handle`` instead and the pipeline type check sees real element types.
        """
        hints = IOTypeHints.from_callable(self.handle) or IOTypeHints.empty()
        hints = hints.strip_iterable().extract_tagged_outputs()
        if not hints.output_types:
            return hints
        (main, *_), tagged = hints.output_types
        return hints.with_output_types(main, **{**tagged, DEAD_LETTER: DeadLetter})

    def process(self, element: Any) -> Iterator[Any]:
        try:
            # Materialised so an element either succeeds whole or becomes one dead letter.
            outputs = list(self.handle(element))
        except Exception as error:  # noqa: BLE001 - routed to the dead-letter table, not swallowed
            counter(f"{self.stage}_failed").inc()
            yield self.reject(error, self.input_id(element), self.input_excerpt(element))
            return
        yield from outputs


class TaggedTransform(beam.PTransform):  # type: ignore[misc]
    """A composite whose result is a dict of tagged PCollections (``main``, ``dead_letter``, ...).

    Beam's hint for a composite describes one PCollection; read from an ``expand`` that returns
    a dict (or takes one) it is ignored with a warning on every run. The type check does not
    need it: each tagged PCollection carries the type its inner step declared, and each inner
    step checks its input. So the composite declares nothing of its own (class decorators
    still apply).
    """

    def default_type_hints(self) -> IOTypeHints:
        return get_type_hints(type(self))


def apply_stage(pcoll: beam.PCollection, label: str, fn: Stage) -> dict[str, beam.PCollection]:
    """Apply ``fn`` and return its ``main`` and ``dead_letter`` outputs."""
    result = pcoll | label >> beam.ParDo(fn).with_outputs(DEAD_LETTER, main=MAIN)
    return {MAIN: result[MAIN], DEAD_LETTER: result[DEAD_LETTER]}
