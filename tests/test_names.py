"""The identifier rule: what is rejected, with which reason, and what is allowed."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemalog.errors import InvalidEvent
from schemalog.model.names import (
    MAX_NAME_LENGTH,
    catalog_key,
    validate_name,
    validate_table_name,
    validate_text,
    validate_token,
)
from strategies import HOSTILE_NAMES, names, slow_ok


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "x" * MAX_NAME_LENGTH, "Person", "_private"])
def test_hostile_but_valid_names_are_accepted(name: str) -> None:
    assert validate_name(name, "f") == name


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_NAME_LENGTH + 1), "more than 128"),
        ("a\nb", "control character U+000A at index 1"),
        ("a\x00b", "control character U+0000"),
        ("a\tb", "control character U+0009"),
        ("a\x7fb", "control character U+007F"),
        ("a\u200bb", "format character (zero-width or bidi control) U+200B"),
        ("a\u202eb", "U+202E"),
        ("\ufeffname", "U+FEFF"),
        ("a\u2028b", "line separator"),
        ("a\ud800b", "lone surrogate U+D800"),
        ("a\ue000", "private-use"),
        ("e\u0301", "not NFC"),
        (" lead", "leading or trailing whitespace"),
        ("trail\u3000", "leading or trailing whitespace"),
        ("_schemalog", "reserved"),
        ("_SchemaLog_meta", "reserved"),
        ("\U000e0001x", "format character"),
        ("a`b", "backtick at index 1"),
        ("``", "backtick at index 0"),
    ],
)
def test_bad_names_are_rejected_with_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        validate_name(value, "change.name")
    assert info.value.field == "change.name"
    assert reason in info.value.reason
    assert "change.name" in str(info.value)


@pytest.mark.parametrize("value", [b"abc", 1, None, True, ["a"]])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(InvalidEvent, match="must be a string"):
        validate_name(value, "n")


def test_nfc_form_of_a_rejected_name_is_accepted() -> None:
    decomposed = "Cafe\u0301"
    with pytest.raises(InvalidEvent):
        validate_name(decomposed, "n")
    assert validate_name(unicodedata.normalize("NFC", decomposed), "n") == "Café"


def test_unassigned_code_point_is_rejected() -> None:
    # U+0378 is unassigned in every Unicode version Python 3.11..3.14 ships.
    with pytest.raises(InvalidEvent, match="unassigned"):
        validate_name("a\u0378", "n")


@slow_ok
@given(names())
def test_generated_names_are_valid_nfc_and_fold_stably(name: str) -> None:
    assert validate_name(name, "n") == name
    assert unicodedata.is_normalized("NFC", name)
    assert catalog_key(catalog_key(name)) == catalog_key(name)


def test_catalog_key_folds_ascii_only() -> None:
    assert catalog_key("PeRSon") == "person"
    assert catalog_key("Ä") == "Ä"
    assert catalog_key("Ä") != catalog_key("ä")
    assert catalog_key("PeRSon_Ä") == "person_Ä"  # non-ASCII: ASCII letters still fold
    assert catalog_key("İK") == "İk"  # str.lower would give "i̇k"


@given(st.text())
def test_catalog_key_is_ascii_folding_of_any_text(text: str) -> None:
    """Two paths (ASCII or not): both equal a character-by-character A-Z fold."""
    expected = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    assert catalog_key(text) == expected


@pytest.mark.parametrize("token", ["a", "origin-1", "A.b_c", "x" * 64])
def test_tokens_accepted(token: str) -> None:
    assert validate_token(token, "origin") == token


@pytest.mark.parametrize("token", ["", "-a", "a b", "a@b", "a/b", "x" * 65, "é", 5])
def test_tokens_rejected(token: object) -> None:
    with pytest.raises(InvalidEvent) as info:
        validate_token(token, "origin")
    assert info.value.field == "origin"


def test_text_allows_newlines_but_not_nul_or_surrogates() -> None:
    assert validate_text("line\nline 😀", "comment") == "line\nline 😀"
    with pytest.raises(InvalidEvent, match="NUL"):
        validate_text("a\x00", "comment")
    with pytest.raises(InvalidEvent, match="lone surrogate"):
        validate_text("a\udc00", "comment")
    with pytest.raises(InvalidEvent, match="more than 3"):
        validate_text("abcd", "comment", 3)


def test_table_names_have_no_dot_but_property_names_may() -> None:
    assert validate_name("a.b", "properties[0].name") == "a.b"
    with pytest.raises(InvalidEvent, match=r"'\.' at index 1") as info:
        validate_table_name("a.b", "name")
    assert info.value.field == "name"
