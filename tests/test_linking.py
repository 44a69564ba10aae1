"""Within-article linking rules: titles stripped, short names to full names, acronyms to long forms."""

from __future__ import annotations

from newsbeam.transforms.entities.linking import Span, defined_acronyms, identity_text, link, unlinked_id

TEXT = (
    "Foreign Minister Wang Yi arrived on Monday. Mr Wang met Sergei Lavrov. Wang said the talks, the "
    "eighteenth round of the Strategic Security Consultations (SSC), would continue. Lavrov agreed; "
    "the SSC meets yearly. Joe Biden and Hunter Biden were not there; Biden was in Delaware."
)


def spans_of(*names: tuple[str, str]) -> list[Span]:
    """Spans at each occurrence of each (text, type), ids as a model without a gazetteer gives them."""
    found = []
    for name, type_ in names:
        start = 0
        while (i := TEXT.find(name, start)) >= 0:
            # skip matches inside a longer name, e.g. "Wang" inside "Wang Yi"
            if not any(TEXT.startswith(other, i) and len(other) > len(name) for other, _ in names):
                found.append(Span(i, i + len(name), name, type_, unlinked_id(name, type_)))
            start = i + len(name)
    return sorted(found, key=lambda s: s.start)


def test_identity_text_drops_titles_and_possessives() -> None:
    assert identity_text("Mr Wang") == "Wang"
    assert identity_text("Foreign Minister Wang Yi’s") == "Wang Yi"
    assert identity_text("President") == "President"  # a lone title is kept, not emptied


def test_short_and_titled_mentions_link_to_the_full_name() -> None:
    spans = spans_of(
        ("Wang Yi", "PER"), ("Mr Wang", "PER"), ("Wang", "PER"), ("Sergei Lavrov", "PER"), ("Lavrov", "PER")
    )
    linked = {(s.start, s.text, s.entity_id) for s in link(spans, TEXT)}
    assert {(text, entity_id) for _, text, entity_id in linked} == {
        ("Wang Yi", "nb:PER:wang-yi"),
        ("Wang", "nb:PER:wang-yi"),
        ("Sergei Lavrov", "nb:PER:sergei-lavrov"),
        ("Lavrov", "nb:PER:sergei-lavrov"),
    }
    # "Mr Wang" links too, and its mention leaves the title out, as CoNLL-2003 marks people
    mr_wang = TEXT.index("Mr Wang")
    assert (mr_wang + len("Mr "), "Wang", "nb:PER:wang-yi") in linked
    assert not any(start == mr_wang for start, _, _ in linked)


def test_shared_surname_stays_unlinked() -> None:
    spans = spans_of(("Joe Biden", "PER"), ("Hunter Biden", "PER"), ("Biden", "PER"))
    ids = {s.text: s.entity_id for s in link(spans, TEXT)}
    assert ids["Biden"] == "nb:PER:biden"


def test_gazetteer_ids_are_never_relinked() -> None:
    spans = [Span(0, 7, "Wang Yi", "PER", "Q1", linked=False), Span(44, 51, "Mr Wang", "PER", "Q999", linked=True)]
    assert [s.entity_id for s in link(spans, "Wang Yi" + " " * 37 + "Mr Wang")] == ["nb:PER:wang-yi", "Q999"]


def test_defined_acronyms_link_to_their_long_form() -> None:
    assert defined_acronyms(TEXT) == {"SSC": "Strategic Security Consultations"}
    assert defined_acronyms("The WHO (World Health Organization) said") == {"WHO": "World Health Organization"}
    assert defined_acronyms("He met (SSCC) officials") == {}
    long_form = TEXT.index("Strategic Security")
    spans = [
        Span(long_form, long_form + 32, "Strategic Security Consultations", "MISC", "Q42", linked=True),
        *[Span(i, i + 3, "SSC", "ORG", unlinked_id("SSC", "ORG")) for i in (TEXT.index("SSC"), TEXT.rindex("SSC"))],
    ]
    assert {s.entity_id for s in link(spans, TEXT)} == {"Q42"}


def test_title_mentions_link_against_the_body() -> None:
    body = spans_of(("Wang Yi", "PER"))
    title = [Span(0, 4, "Wang", "PER", unlinked_id("Wang", "PER"))]
    assert link(title, "Wang heads to Moscow", extra=body)[0].entity_id == "nb:PER:wang-yi"


def test_titles_are_stripped_from_people_only() -> None:
    assert identity_text("Foreign Minister Wang Yi", "PER") == "Wang Yi"
    assert identity_text("Foreign Ministry", "ORG") == "Foreign Ministry"
    assert unlinked_id("Foreign Ministry", "ORG") == "nb:ORG:foreign-ministry"
