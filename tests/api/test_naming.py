"""User file names are data: cleaned for display, quoted for headers, never a path."""

from __future__ import annotations

import re
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from isomix.api.downloads import content_disposition
from isomix.api.present import stem_color
from isomix.api.upload import clean_filename


@given(st.text(min_size=1, max_size=300))
def test_cleaned_names_have_no_path_or_control_characters(raw: str) -> None:
    name = clean_filename(raw)
    assert name and len(name) <= 255
    assert "/" not in name and "\\" not in name
    assert not re.search(r"[\x00-\x1f\x7f]", name)


def test_clean_filename_examples() -> None:
    assert clean_filename("C:\\Users\\me\\Música\\song.mp3") == "song.mp3"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("a\r\nb.wav") == "ab.wav"
    assert clean_filename("/") == "audio"


@given(st.text(min_size=1, max_size=200).map(clean_filename))
def test_content_disposition_is_one_ascii_line_that_round_trips(name: str) -> None:
    header = content_disposition(name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="')
    fallback = header.split('filename="', 1)[1].split('"; filename*=', 1)[0]
    assert '"' not in fallback and "\\" not in fallback
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name


def test_stem_colours_are_stable_hex() -> None:
    assert stem_color("vocals") == "#e4572e"
    assert stem_color("no_vocals") == stem_color("no_drums")
    assert stem_color("kazoo") == stem_color("kazoo")
    assert all(re.fullmatch(r"#[0-9a-f]{6}", stem_color(name)) for name in ("a", "b", "piano"))
