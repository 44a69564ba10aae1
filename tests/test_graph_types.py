"""The pipeline graph is built, not run: Beam's type check must pass, and every step must say what flows.

Beam 2.78 resolves string annotations, so a loose hint (``Iterator[object]``) on one step makes
the next step's type check fail when the graph is built. These tests build the feeds graph and
the ``--input`` graph in seconds, with the type check on, and look at every PCollection's type.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import TypeOptions
from apache_beam.typehints import typehints
from apache_beam.typehints.decorators import TypeCheckError

from newsbeam.pipeline import graph
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import pipeline_options
from newsbeam.schemas.records import Article, DeadLetter, Duplicate, FeedEntry, FeedSpec, Page

ROW_DICT = "Dict[<class 'str'>, Any]"
"""Story rows and story state are column-name -> value dicts: the only place ``Any`` is allowed."""


def build(tmp_path: Path, mode: str) -> beam.Pipeline:
    if mode == "feeds":
        config = RunConfig(output=str(tmp_path / "lake"), feeds=(FeedSpec(url="http://127.0.0.1:9/feed.xml"),))
    else:
        config = RunConfig(output=str(tmp_path / "lake"), input_pattern=str(tmp_path / "in.jsonl"))
    pipeline = beam.Pipeline(options=pipeline_options([]))
    graph.build(pipeline, config, {})
    return pipeline


def output_types(pipeline: beam.Pipeline) -> dict[tuple[str, str], object]:
    """Every output PCollection of every step (composite or not), by (label, tag)."""
    found: dict[tuple[str, str], object] = {}

    class Visitor(beam.pipeline.PipelineVisitor):  # type: ignore[misc]
        def visit_transform(self, node: beam.pipeline.AppliedPTransform) -> None:
            for tag, pcoll in node.outputs.items():
                found[(node.full_label, str(tag))] = pcoll.element_type

        def enter_composite_transform(self, node: beam.pipeline.AppliedPTransform) -> None:
            self.visit_transform(node)

    pipeline.visit(Visitor())
    return found


def is_loose(hint: object) -> bool:
    text = str(hint)
    return hint is None or hint is object or hint == typehints.Any or ("Any" in text and ROW_DICT not in text)


@pytest.mark.parametrize("mode", ["feeds", "input"])
def test_graph_builds_with_the_type_check_on(tmp_path: Path, mode: str) -> None:
    pipeline = build(tmp_path, mode)
    assert pipeline.options.view_as(TypeOptions).pipeline_type_check
    types = output_types(pipeline)
    assert len(types) > 50
    loose = {key: hint for key, hint in types.items() if is_loose(hint)}
    assert loose == {}


@pytest.mark.parametrize("mode", ["feeds", "input"])
def test_stage_outputs_carry_the_record_types(tmp_path: Path, mode: str) -> None:
    types = output_types(build(tmp_path, mode))
    expected = {
        ("Clean", "main"): Article,
        ("Clean", "dead_letter"): DeadLetter,
        ("Deduplicate", "main"): Article,
        ("Deduplicate", "duplicates"): Duplicate,
        ("AgainstEarlierRuns", "main"): Article,
        ("DeduplicateNear", "duplicates"): Duplicate,
        ("TagEntities", "main"): Article,
        ("TagEntities", "dead_letter"): DeadLetter,
        ("AssignStories", "main"): Article,
    }
    if mode == "feeds":
        expected |= {("ReadFeeds", "main"): FeedEntry, ("SkipSeen", "None"): FeedEntry}
        expected |= {("FetchPages", "main"): Page, ("FetchPages", "dead_letter"): DeadLetter}
    else:
        expected |= {("ReadInput", "main"): Page, ("SkipSeen", "None"): Page}
    assert {key: types[key] for key in expected} == expected


def test_a_wrong_hint_fails_when_the_graph_is_built(tmp_path: Path) -> None:
    """The check that protects the graph is really on: a step taking duplicates cannot read articles."""

    def duplicate_url(duplicate: Duplicate) -> str:
        return duplicate.url

    pipeline = beam.Pipeline(options=pipeline_options([]))
    config = RunConfig(output=str(tmp_path / "lake"), input_pattern=str(tmp_path / "in.jsonl"))
    graph.build(pipeline, config, {})
    kept = next(
        node
        for node in pipeline.transforms_stack[0].parts
        if node.full_label == "Deduplicate"  # the top-level composite: its "main" output is articles
    ).outputs["main"]
    with pytest.raises(TypeCheckError, match="Duplicate"):
        _ = kept | "WrongStep" >> beam.Map(duplicate_url)
