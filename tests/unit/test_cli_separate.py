"""`isomix separate` end to end with the tiny built-in model and a small imported one."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from helpers.models import build_small_htdemucs_repo

from isomix.audio.io import decode, encode
from isomix.cli import main
from isomix.separation import store

STEMS = ["bass", "drums", "other", "vocals"]
RATE = 44_100
# The built-in tiny model without the random time shift: quicker, and the same stems each run.
FAST = ["-n", "demucs_unittest", "--shifts", "0"]


def song(path: Path, seconds: float = 1.0, pitch: float = 220.0) -> Path:
    t = np.arange(round(seconds * RATE)) / RATE
    left = 0.4 * np.sin(2 * np.pi * pitch * t) + 0.1 * np.sign(np.sin(2 * np.pi * 2 * t))
    right = 0.3 * np.sin(2 * np.pi * pitch * 1.5 * t)
    encode(path, np.stack([left, right]).astype(np.float32), RATE)
    return path


def separate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["separate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def error_lines(err: str) -> list[str]:
    # tqdm draws its bars on stderr too; errors are the lines that start with "error:".
    return [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error:")]


def test_two_good_files_and_a_corrupt_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = song(tmp_path / "first.wav")
    second = song(tmp_path / "second song.flac", seconds=0.7, pitch=330)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 20)
    out = tmp_path / "out"

    code, stdout, err = separate(
        capsys, "-n", "demucs_unittest", str(first), str(corrupt), str(second), "-o", str(out)
    )

    assert code == 1
    assert files_in(out / "demucs_unittest") == ["first", "second song"]
    for track, seconds in (("first", 1.0), ("second song", 0.7)):
        assert files_in(out / "demucs_unittest" / track) == [f"{s}.wav" for s in STEMS]
        for stem in STEMS:
            with wave.open(str(out / "demucs_unittest" / track / f"{stem}.wav")) as file:
                assert (file.getnchannels(), file.getframerate(), file.getsampwidth()) == (
                    2,
                    RATE,
                    2,
                )
                assert file.getnframes() == round(seconds * RATE)
    errors = error_lines(err)
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {corrupt}: ")
    assert "Traceback" not in err
    assert "Done: 2 file(s) separated, 1 failed" in stdout
    assert err.count("100%|") >= 2  # a progress bar per separated file, run to the end
    assert "real-time factor" in stdout


def test_two_stems_is_the_stem_and_the_sum_of_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track = song(tmp_path / "mix.wav")
    # shifts 0: no random offset, so both runs give the same stems; float32 without
    # clipping keeps the exact sums.
    common = [*FAST, "--float32", "--clip-mode", "none"]

    assert separate(capsys, *common, str(track), "-o", str(tmp_path / "all"))[0] == 0
    code, _, err = separate(
        capsys, *common, "--two-stems", "vocals", str(track), "-o", str(tmp_path / "two")
    )

    assert code == 0, err
    two = tmp_path / "two" / "demucs_unittest" / "mix"
    assert files_in(two) == ["no_vocals.wav", "vocals.wav"]
    full = {s: decode(tmp_path / "all" / "demucs_unittest" / "mix" / f"{s}.wav") for s in STEMS}
    np.testing.assert_allclose(decode(two / "vocals.wav"), full["vocals"], atol=1e-6)
    others = full["drums"] + full["bass"] + full["other"]
    np.testing.assert_allclose(decode(two / "no_vocals.wav"), others, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "extension", "codec"),
    [
        (["--format", "flac"], "flac", "flac"),
        (["--format", "flac", "--int24"], "flac", "flac"),
        (["--format", "mp3", "--bitrate", "192"], "mp3", "mp3"),
        (["--mp3", "--mp3-bitrate", "192"], "mp3", "mp3"),  # the Demucs CLI's spelling
    ],
)
def test_output_formats(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    extension: str,
    codec: str,
) -> None:
    track = song(tmp_path / "tune.wav")

    code, _, err = separate(capsys, *FAST, *options, str(track), "-o", str(tmp_path / "o"))

    assert code == 0, err
    folder = tmp_path / "o" / "demucs_unittest" / "tune"
    assert files_in(folder) == [f"{stem}.{extension}" for stem in STEMS]
    with av.open(str(folder / f"vocals.{extension}")) as container:
        stream = container.streams.audio[0]
        assert container.format.name == codec
        assert stream.sample_rate == RATE
        assert stream.channels == 2
        if "--int24" in options:
            assert stream.format.name == "s32"  # FFmpeg's sample format for 24-bit FLAC
        if "192" in options:
            assert stream.bit_rate == 192_000
    assert abs(decode(folder / f"drums.{extension}").shape[1] - RATE) < 2 * 1152


def test_int24_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    track = song(tmp_path / "deep.wav")

    code, _, _ = separate(capsys, *FAST, "--int24", str(track), "-o", str(tmp_path))

    assert code == 0
    with wave.open(str(tmp_path / "demucs_unittest" / "deep" / "bass.wav")) as file:
        assert file.getsampwidth() == 3


def test_default_output_folder_is_separated_under_the_working_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    track = song(tmp_path / "here.wav", seconds=0.3)
    monkeypatch.chdir(tmp_path)

    assert separate(capsys, *FAST, str(track))[0] == 0
    assert files_in(tmp_path / "separated" / "demucs_unittest" / "here") == [
        f"{s}.wav" for s in STEMS
    ]


def test_an_imported_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store.import_model(build_small_htdemucs_repo(tmp_path / "weights", "small"))
    track = song(tmp_path / "a.wav", seconds=1.5)

    code, stdout, err = separate(
        capsys, "-n", "small", "--shifts", "0", str(track), "-o", str(tmp_path / "o")
    )

    assert code == 0, err
    stems = tmp_path / "o" / "small" / "a"
    assert files_in(stems) == [f"{s}.wav" for s in STEMS]
    assert "Done: 1 file(s) separated, 0 failed" in stdout


def _isomix(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isomix", *argv],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_model_is_one_line_before_any_file_is_touched(tmp_path: Path) -> None:
    track = song(tmp_path / "song.wav")

    result = _isomix("separate", "-n", "htdemucs", str(track), "missing.wav", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: Model 'htdemucs' is not installed.")
    assert "isomix models pull htdemucs" in result.stderr
    assert "isomix models import PATH --name htdemucs" in result.stderr
    assert not (tmp_path / "separated").exists()


def test_the_program_ends_without_teardown_and_loses_no_output(tmp_path: Path) -> None:
    # `isomix separate` ends with os._exit once done (cli.exit_now): what it printed to pipes
    # (block-buffered) and the stems it wrote must all be there, and the exit code kept.
    good = song(tmp_path / "good.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(64))
    result = _isomix("separate", *FAST, str(good), str(corrupt), "-o", "out", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("Done: 1 file(s) separated, 1 failed, in ")
    assert any(line.startswith("error:") for line in error_lines(result.stderr))
    folder = tmp_path / "out" / "demucs_unittest" / "good"
    assert files_in(folder) == [f"{stem}.wav" for stem in STEMS]
    for stem in STEMS:
        assert decode(folder / f"{stem}.wav").shape == (2, RATE)


def test_a_missing_model_is_found_without_loading_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from isomix.cli import main\n"
        f"assert main(['separate', '-n', 'nosuch', {str(tmp_path / 'x.wav')!r}]) == 1\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "Unknown model 'nosuch'" in result.stderr


def test_an_unknown_two_stems_stem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    track = song(tmp_path / "song.wav")

    code, _, err = separate(
        capsys,
        "-n",
        "demucs_unittest",
        "--two-stems",
        "guitar",
        str(track),
        "-o",
        str(tmp_path / "o"),
    )

    assert code == 1
    assert err == (
        "error: --two-stems guitar: model 'demucs_unittest' has no stem 'guitar' "
        "(its stems: drums, bass, other, vocals)\n"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--int24", "--float32"],
        ["--format", "ogg"],
        ["--mp3", "--flac"],
        ["--bitrate", "64"],
        ["--overlap", "1"],
        ["--shifts", "-1"],
        ["--segment", "0"],
        ["--device", "tpu"],
    ],
)
def test_bad_options_are_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["separate", "-n", "demucs_unittest", *options, str(tmp_path / "x.wav")])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_missing_gpu_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    track = song(tmp_path / "song.wav")

    code, _, err = separate(
        capsys, *FAST, "--device", "cuda", str(track), "-o", str(tmp_path / "o")
    )

    assert code == 1
    assert err.startswith("error: device 'cuda' was asked for but torch sees no CUDA GPU")
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_float32_is_only_for_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = separate(
        capsys, "-n", "demucs_unittest", "--float32", "--format", "mp3", str(tmp_path / "x.wav")
    )
    assert code == 1
    assert err == "error: --float32 is only for --format wav\n"


def test_the_classic_engine_says_it_is_low_quality(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track = song(tmp_path / "song.wav")
    code, _, err = separate(capsys, "-n", "classic", str(track), "-o", str(tmp_path / "o"))
    assert code == 0
    assert "much lower quality than Demucs" in err
    assert sorted(files_in(tmp_path / "o" / "classic" / "song")) == [
        "bass.wav",
        "drums.wav",
        "other.wav",
        "vocals.wav",
    ]


def test_without_a_model_the_cli_uses_the_servers_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One rule for the default (store.default_model): with nothing installed it is the
    # built-in engine, and `isomix models default` moves it for the CLI as for the server.
    track = song(tmp_path / "song.wav")
    code, _, _ = separate(capsys, str(track), "-o", str(tmp_path / "o"))
    assert code == 0
    assert files_in(tmp_path / "o") == ["classic"]
    assert main(["models", "default", "demucs_unittest"]) == 0
    capsys.readouterr()
    code, _, _ = separate(capsys, str(track), "-o", str(tmp_path / "p"))
    assert code == 0
    assert files_in(tmp_path / "p") == ["demucs_unittest"]
