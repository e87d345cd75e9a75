"""The "classic" engine: a weight-free DSP fallback, MUCH LOWER QUALITY than Demucs.

It exists so IsoMix still produces four stems on a machine without model weights. It uses no
training at all, only numpy/scipy signal processing on one STFT per block of audio:

* vocals: what does not repeat (REPET-SIM nearest-neighbour median), within a vocal band,
  and only from the centre of the stereo image;
* drums / harmonic split of the rest: median-filter harmonic/percussive separation;
* bass: the harmonic part below ~250 Hz; other: the harmonic part above, plus any residual.

Soft masks sum to one per bin and "other" takes mixture minus the three other stems, so the
four stems always add back to the input exactly (to float rounding). Its parameters were
tuned only on the SDR of two short excerpts (bench/classic_sdr.py), where it reaches about
5-6 dB against about 9 dB published for htdemucs on MUSDB18: expect audible bleed between
stems on real songs. A fallback, not a separator to recommend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from isomix.separation import classic_dsp as dsp
from isomix.separation.base import AudioArray, PartCallback, ProgressCallback, SeparationOptions

LOW_QUALITY_NOTICE = "classic: weight-free DSP fallback, much lower quality than Demucs"

SOURCES = ("drums", "bass", "other", "vocals")
_MASKED = ("drums", "bass", "vocals")  # "other" is always the remainder


@dataclass(frozen=True)
class ClassicParams:
    """Defaults picked by coordinate search on the two excerpts of bench/classic_sdr.py only."""

    # Long frames (186 ms): bass harmonics resolve, and a sung note's vibrato smears.
    n_fft: int = 8192
    hop: int = 2048
    # REPET-SIM (vocals): frames in the median, and the time around each frame they must
    # keep clear of (so they come from other repetitions, not the same note).
    neighbours: int = 20
    min_gap_seconds: float = 0.1
    vocal_power: float = 1.0
    vocal_low_hz: float = 150.0
    vocal_high_hz: float = 16000.0
    # Lead vocals sit in the centre: a bin whose channels differ by this fraction of its
    # energy (|L-R|^2 / (|L|^2+|R|^2) >= 1/centre_strictness) is not given to the vocals.
    centre_strictness: float = 3.0
    # Harmonic/percussive medians: across this much time, and across this many Hz.
    harmonic_seconds: float = 1.2
    percussive_hz: float = 40.0
    hpss_power: float = 2.0
    bass_cutoff_hz: float = 250.0
    bass_crossover_hz: float = 100.0
    # Audio is processed in blocks of this many seconds, cross-faded over `overlap_seconds`,
    # which bounds memory for long songs (REPET-SIM looks for repetitions within a block).
    block_seconds: float = 40.0
    overlap_seconds: float = 4.0


class ClassicEngine:
    """Satisfies `isomix.separation.base.Engine`; ignores shifts/overlap/segment."""

    name = "classic"
    sources = SOURCES
    sample_rate = 44_100
    notice = LOW_QUALITY_NOTICE

    def __init__(self, params: ClassicParams | None = None) -> None:
        self.params = params or ClassicParams()

    def separate(
        self,
        mix: AudioArray,
        options: SeparationOptions,
        progress: ProgressCallback | None = None,
        on_part: PartCallback | None = None,
    ) -> dict[str, AudioArray]:
        # shifts/overlap/segment only mean something for neural models; no progressive
        # output: the whole song takes a few seconds.
        del options, on_part
        return separate(mix, self.params, self.sample_rate, progress)


def separate(
    mix: AudioArray,
    params: ClassicParams,
    sample_rate: int = 44_100,
    progress: ProgressCallback | None = None,
) -> dict[str, AudioArray]:
    """Split (channels, n) audio in overlapping blocks; the stems sum to `mix`."""
    if mix.ndim != 2:
        raise ValueError(f"expected (channels, samples) audio, got shape {mix.shape}")
    mix = np.ascontiguousarray(mix, dtype=np.float32)
    n = mix.shape[1]
    stems = {name: np.zeros_like(mix) for name in SOURCES}
    block = max(params.n_fft, round(params.block_seconds * sample_rate))
    overlap = min(round(params.overlap_seconds * sample_rate), block // 2)
    blocks = _blocks(n, block, overlap) if n else []
    for index, (start, stop) in enumerate(blocks):
        fade = _crossfade(stop - start, overlap, first=start == 0, last=stop == n)

        def report(stage: float, index: int = index) -> None:
            if progress is not None:
                progress((index + stage) / len(blocks))

        pieces = separate_block(mix[:, start:stop], params, sample_rate, report)
        for name in _MASKED:
            stems[name][:, start:stop] += pieces[name] * fade
    # "other" is the remainder, so the sum is the mixture whatever the cross-fades rounded;
    # in place, because on a long song each temporary is the size of the whole mixture.
    other = stems["other"]
    np.copyto(other, mix)
    for name in _MASKED:
        other -= stems[name]
    if progress is not None:
        progress(1.0)
    return stems


def separate_block(
    mix: AudioArray,
    params: ClassicParams,
    sample_rate: int,
    progress: ProgressCallback | None = None,
) -> dict[str, AudioArray]:
    """All four stems of one block from one STFT; masks sum to one per bin.

    `progress` gets the fraction of this block done, below 1.0 (the caller reports the end).
    """
    n = mix.shape[1]
    spectrum = dsp.stft(mix, params.n_fft, params.hop)
    masks = block_masks(spectrum, params, sample_rate, progress)
    stems = {
        name: dsp.istft(spectrum * mask, params.n_fft, params.hop, n)
        for name, mask in masks.items()
    }
    stems["other"] = mix - stems["drums"] - stems["bass"] - stems["vocals"]
    return stems


def block_masks(
    spectrum: dsp.Spectrum,
    params: ClassicParams,
    sample_rate: int,
    progress: ProgressCallback | None = None,
) -> dict[str, dsp.Real]:
    """(bins, frames) masks for drums, bass and vocals, shared by all channels; "other" is
    one minus their sum."""
    magnitude = np.abs(spectrum).mean(axis=0).astype(np.float32)
    freqs = (np.arange(magnitude.shape[0]) * sample_rate / params.n_fft).astype(np.float32)

    frame_seconds = params.hop / sample_rate
    bin_hz = sample_rate / params.n_fft
    min_gap = max(1, round(params.min_gap_seconds / frame_seconds))
    background = dsp.repeating_background(magnitude, params.neighbours, min_gap)
    repeating = dsp.soft_mask(background, magnitude - background, params.vocal_power)
    vocal_band = dsp.bandpass_weight(freqs, params.vocal_low_hz, params.vocal_high_hz)
    off_centre = np.clip(params.centre_strictness * dsp.side_fraction(spectrum), 0.0, 1.0)
    vocals_mask = (1 - repeating) * vocal_band * (1 - off_centre)
    rest = 1 - vocals_mask
    if progress is not None:
        progress(0.4)

    harmonic, percussive = dsp.harmonic_percussive(
        magnitude * rest,
        _odd(params.harmonic_seconds / frame_seconds),
        _odd(params.percussive_hz / bin_hz),
    )
    harmonic_mask = dsp.soft_mask(harmonic, percussive, params.hpss_power)
    low = dsp.lowpass_weight(freqs, params.bass_cutoff_hz, params.bass_crossover_hz)
    if progress is not None:
        progress(0.6)
    return {
        "vocals": vocals_mask,
        "bass": rest * harmonic_mask * low,
        "drums": rest * (1 - harmonic_mask),
    }


def _odd(size: float) -> int:
    """Median kernels are odd so they are centred on the bin they filter."""
    return max(1, 2 * round((size - 1) / 2) + 1)


def _blocks(n: int, block: int, overlap: int) -> list[tuple[int, int]]:
    """Equal (start, stop) blocks of at most `block` samples, each overlapping the next by
    exactly `overlap`, so the linear cross-fades of neighbours always sum to one."""
    if n <= block:
        return [(0, n)]
    count = math.ceil((n - overlap) / (block - overlap))
    step = math.ceil((n - overlap) / count)
    return [(i * step, min(n, i * step + step + overlap)) for i in range(count)]


def _crossfade(length: int, overlap: int, *, first: bool, last: bool) -> AudioArray:
    """Linear ramps over `overlap` samples at inner block edges; neighbours' ramps sum to 1."""
    fade = np.ones(length, dtype=np.float32)
    ramp = ((np.arange(overlap) + 0.5) / overlap).astype(np.float32)
    if not first and overlap:
        fade[:overlap] = ramp
    if not last and overlap:
        fade[-overlap:] = ramp[::-1]
    return fade
