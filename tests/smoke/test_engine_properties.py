"""Property-based tests of the template and assertion engines (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relgate.smoke.assertions import Matcher, evaluate, json_equal, json_type
from relgate.smoke.template import MissingReference, TemplateError, references, render, stringify

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: n not in ("env", "secrets", "run", "base_url")
)
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)
plain_text = st.text(max_size=40).filter(lambda t: "{{" not in t)


def _lookup(values: dict[str, Any]) -> Any:
    def lookup(ref: str) -> Any:
        if ref not in values:
            raise MissingReference(ref)
        return values[ref]

    return lookup


@given(plain_text)
def test_text_without_templates_is_unchanged(text: str) -> None:
    assert render(text, _lookup({})) == text
    assert references(text) == []


@given(names, json_values)
def test_whole_value_reference_keeps_the_json_type(name: str, value: Any) -> None:
    rendered = render("{{ " + name + " }}", _lookup({name: value}))
    assert rendered is value


@given(plain_text, names, json_values, plain_text)
def test_embedded_reference_is_rendered_as_text(
    before: str, name: str, value: Any, after: str
) -> None:
    # Text ending in "{" could join the template's braces: not what this property is about.
    if before.endswith("{") or after.startswith("}"):
        return
    text = before + "{{" + name + "}}" + after
    rendered = render(text, _lookup({name: value}))
    if before or after:
        assert rendered == before + stringify(value) + after
    else:
        assert rendered is value


@given(st.dictionaries(names, json_values, max_size=4))
def test_render_walks_structures_and_keeps_keys(values: dict[str, Any]) -> None:
    doc = {f"k_{n}": ["{{ " + n + " }}", {"x": "{{" + n + "}}"}] for n in values}
    assert render(doc, _lookup(values)) == {f"k_{n}": [v, {"x": v}] for n, v in values.items()}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{{", id="open-only"),
        pytest.param("{{ }}", id="empty"),
        pytest.param("a {{ b c }}", id="space-in-name"),
        pytest.param("{{ 1abc }}", id="leading-digit"),
        pytest.param("ok {{ a }} then {{ broken", id="second-unclosed"),
    ],
)
def test_malformed_templates_are_errors(text: str) -> None:
    with pytest.raises(TemplateError):
        references(text)


@given(json_values)
def test_eq_is_reflexive_and_ne_its_negation(value: Any) -> None:
    assert all(c.passed for c in evaluate(Matcher(eq=value), "v", value))
    assert not any(c.passed for c in evaluate(Matcher(ne=value), "v", value))


@given(json_values, json_values)
def test_eq_and_ne_always_disagree(a: Any, b: Any) -> None:
    (eq,) = evaluate(Matcher(eq=b), "v", a)
    (ne,) = evaluate(Matcher(ne=b), "v", a)
    assert eq.passed != ne.passed


@given(st.integers() | st.floats(allow_nan=False), st.integers() | st.floats(allow_nan=False))
def test_order_operators_partition_numbers(a: float, b: float) -> None:
    def ok(**op: Any) -> bool:
        return all(c.passed for c in evaluate(Matcher(**op), "v", a))

    assert ok(gt=b) != ok(lte=b)
    assert ok(lt=b) != ok(gte=b)
    assert ok(gte=b) == (ok(gt=b) or ok(eq=b))


@given(st.lists(json_values, max_size=6), json_values)
def test_contains_on_lists_is_json_membership(items: list[Any], probe: Any) -> None:
    (check,) = evaluate(Matcher(contains=probe), "v", items)
    assert check.passed == any(json_equal(i, probe) for i in items)


@given(st.lists(scalars, max_size=8) | st.text(max_size=8), st.integers(0, 8))
def test_length_matches_len(value: Any, n: int) -> None:
    (exact,) = evaluate(Matcher(length=n), "v", value)
    assert exact.passed == (len(value) == n)
    (bigger,) = evaluate(Matcher(length=Matcher(gt=n)), "v", value)
    assert bigger.passed == (len(value) > n)


@given(json_values)
def test_type_operator_agrees_with_json_type(value: Any) -> None:
    (check,) = evaluate(Matcher(type=json_type(value)), "v", value)  # type: ignore[arg-type]
    assert check.passed


@given(st.booleans(), st.integers(0, 1))
def test_booleans_are_not_numbers(flag: bool, number: int) -> None:
    assert not json_equal(flag, number)
    assert not json_equal(str(number), number)


@given(json_values)
def test_json_equal_survives_a_json_round_trip(value: Any) -> None:
    assert json_equal(json.loads(json.dumps(value)), value)


def test_missing_value_fails_every_operator_but_exists_false() -> None:
    assert not any(c.passed for c in evaluate(Matcher(eq=None), "v", None, present=False))
    assert all(c.passed for c in evaluate(Matcher(exists=False), "v", None, present=False))
