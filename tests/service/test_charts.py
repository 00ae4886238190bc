"""The server-drawn SVG bar chart: well-formed XML for any series and any labels, one bar per value."""

from __future__ import annotations

from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from service.charts import Bar, bar_chart

NS = "{http://www.w3.org/2000/svg}"
labels = st.text(max_size=30)  # any characters: markup, quotes, ampersands, controls, surrogates' neighbours
bars = st.builds(Bar, labels, st.integers(-5, 10_000), st.integers(-5, 10_000))


@given(st.lists(bars, max_size=60), labels, st.tuples(labels, labels))
def test_any_series_is_well_formed_svg_with_one_group_per_bar(series: list[Bar], title: str, legend: tuple[str, str]):
    svg = ElementTree.fromstring(str(bar_chart(series, title=title, legend=legend)))

    assert svg.tag == f"{NS}svg" and svg.attrib["viewBox"] == "0 0 360 180"
    groups = list(svg.iter(f"{NS}g"))
    tallest = max((b.total for b in series), default=0)
    assert len(groups) == (len(series) if tallest > 0 else 0)
    drawn = sum(1 for b in series if b.total > 0) + sum(1 for b in series if min(b.part, b.total) > 0)
    assert sum(len(g.findall(f"{NS}rect")) for g in groups) == (drawn if tallest > 0 else 0)
    for rect in svg.iter(f"{NS}rect"):
        assert float(rect.attrib["y"]) >= 0 and float(rect.attrib["y"]) + float(rect.attrib["height"]) <= 180


def test_labels_are_text_never_markup() -> None:
    chart = str(bar_chart([Bar('<script>alert("x")</script> & co', 3, 1)], title="t", legend=("a", "b")))
    svg = ElementTree.fromstring(chart)
    assert "<script>" not in chart and svg.find(f"{NS}script") is None
    assert [t.text for t in svg.iter(f"{NS}text")][-1] == '<script>alert("x")</script> & co'
    assert "style=" not in chart, "colours are attributes: the pages' content security policy forbids inline styles"


def test_an_empty_or_all_zero_series_says_so() -> None:
    for series in ([], [Bar("Mar 1", 0)]):
        svg = ElementTree.fromstring(str(bar_chart(series, title="t", legend=("a", "b"))))
        assert "Nothing logged yet" in [t.text for t in svg.iter(f"{NS}text")]
