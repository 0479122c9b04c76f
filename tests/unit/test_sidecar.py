"""Metadata sidecars: INI parsing that never fails a listing, rendering, validation."""

from __future__ import annotations

import logging

import pytest

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.errors import BadRequest


class TestParse:
    def test_reads_the_section_named_after_the_data_file(self) -> None:
        body = b"[img.png]\nCell_Count = 42\nstain: DAPI\n\n[other.png]\nCell_Count = 1\n"
        assert sidecar.parse(body, "img.png") == {"Cell_Count": "42", "stain": "DAPI"}

    def test_keeps_key_case_and_does_not_interpolate(self) -> None:
        body = b"[a.csv]\nMixedCase = 100%\nref = %(MixedCase)s\n"
        assert sidecar.parse(body, "a.csv") == {"MixedCase": "100%", "ref": "%(MixedCase)s"}

    def test_keeps_comment_characters_inside_values(self) -> None:
        assert sidecar.parse(b"[a]\nnote = x ; y # z\n", "a") == {"note": "x ; y # z"}

    def test_a_missing_section_gives_no_properties(self) -> None:
        assert sidecar.parse(b"[other]\na = 1\n", "a.png") == {}

    def test_a_default_section_is_an_ordinary_section(self) -> None:
        body = b"[DEFAULT]\ninherited = yes\n[a]\nown = 1\n"
        assert sidecar.parse(body, "a") == {"own": "1"}
        assert sidecar.parse(body, "DEFAULT") == {"inherited": "yes"}

    def test_duplicate_keys_and_sections_are_tolerated(self) -> None:
        assert sidecar.parse(b"[a]\nk = 1\nk = 2\n[a]\nj = 3\n", "a") == {"k": "2", "j": "3"}

    def test_utf8_with_bom_is_read(self) -> None:
        assert sidecar.parse("\ufeff[é.png]\nk = café\n".encode(), "é.png") == {"k": "café"}

    @pytest.mark.parametrize(
        "body",
        [
            b"no section header\n",
            b"[a]\nkey without value\n",
            b"\xff\xfe\x00garbage",
            b"[a\nk = 1\n",
            b"",
            b"[a]\n" + b"k = " + b"x" * (sidecar.MAX_SIDECAR_BYTES + 1) + b"\n",
        ],
    )
    def test_malformed_files_give_no_properties_and_are_logged(
        self, body: bytes, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            assert sidecar.parse(body, "a", where="u/r/a.cfg") == {}

    def test_accepts_text(self) -> None:
        assert sidecar.parse("[a]\nk = v\n", "a") == {"k": "v"}


class TestRender:
    def test_round_trips(self) -> None:
        props = {"Cell_Count": "42", "note": "a = b; #c %(d)s", "empty": ""}
        body = sidecar.render("img[1].png", props)
        assert body.startswith(b"[img[1].png]\n")
        assert sidecar.parse(body, "img[1].png") == props

    def test_values_are_stored_stripped(self) -> None:
        assert sidecar.parse(sidecar.render("a", {"k": "  v  "}), "a") == {"k": "v"}

    def test_an_empty_set_writes_an_empty_section(self) -> None:
        assert sidecar.render("a", {}) == b"[a]\n\n"

    def test_rejects_invalid_input(self) -> None:
        with pytest.raises(BadRequest):
            sidecar.render("a", {"bad key": "v"})


class TestValidation:
    @pytest.mark.parametrize("name", ["a.png", "image 1.tif", "é.csv", "x[1].png", ".hidden"])
    def test_plain_names_are_accepted(self, name: str) -> None:
        sidecar.check_data_name(name)

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("", "non-empty"),
            ("a/b.png", "slash"),
            ("a\\b.png", "slash"),
            ("..", "invalid"),
            (".", "invalid"),
            ("a.png.cfg", "sidecar"),
            ("a\x00.png", "control"),
            ("a\n.png", "control"),
            ("x" * 300, "longer"),
        ],
    )
    def test_bad_names_are_rejected(self, name: str, problem: str) -> None:
        with pytest.raises(BadRequest, match=problem):
            sidecar.check_data_name(name)

    @pytest.mark.parametrize("key", ["a", "_x", "Cell_Count", "k9", "A" * 128])
    def test_identifier_keys_are_accepted(self, key: str) -> None:
        sidecar.check_key(key)

    @pytest.mark.parametrize(
        "key", ["", "9a", "a-b", "a b", "a.b", "a=b", "[a]", "é", "a\n", "A" * 129, 5]
    )
    def test_non_identifier_keys_are_rejected(self, key: object) -> None:
        with pytest.raises(BadRequest):
            sidecar.check_key(key)  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", ["", "plain", "with = and ; and #", "ünïcode ✓", "x" * 4096])
    def test_single_line_strings_are_accepted(self, value: str) -> None:
        sidecar.check_value("k", value)

    @pytest.mark.parametrize(
        "value",
        [
            "a\nb",
            "a\rb",
            "a\x00b",
            "a\tb",
            "a\x1bb",
            "a\u2028b",
            "a\x85b",
            "x" * 4097,
            1,
            None,
            ["a"],
        ],
    )
    def test_multi_line_control_or_non_string_values_are_rejected(self, value: object) -> None:
        with pytest.raises(BadRequest, match="'k'"):
            sidecar.check_value("k", value)

    def test_too_many_properties_are_rejected(self) -> None:
        with pytest.raises(BadRequest, match="at most"):
            sidecar.check_properties({f"k{i}": "v" for i in range(sidecar.MAX_PROPERTIES + 1)})
