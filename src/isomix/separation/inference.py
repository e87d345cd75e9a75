"""Chunked inference for Demucs models: the maths of `demucs.apply.apply_model`, leaner.

What is the same as demucs (so stems match `python -m demucs`):
- the track is cut into segments of the model's length, `stride = (1 - overlap) * segment`;
- each segment is read with the context demucs gives it (a short last segment is padded from
  the neighbouring audio, centred, then zeros), run through the model, centre-trimmed;
- segments are blended with the same triangular weights, summed in the same order and divided
  by the same summed weights, so with `shifts=0` the floats are the ones demucs computes;
- shifts pad the track with `int(0.5 * samplerate)` zeros on each side and draw their offsets
  with `random.randint` in demucs' order (per model, then per shift), so a seeded run matches;
- a bag of models is weighted per source and divided by the summed weights.

What is leaner:
- no full-length copy of the (normalised, padded) input: segments are read and normalised on
  the fly from the caller's array;
- no full-length temporaries per shift or per model: each pass blends its segments in a
  window one segment long and adds the finished samples straight into one preallocated
  float32 output, so peak memory is input + output + one batch of model activations;
- several segments of equal length can go through the model in one batch;
- `torch.inference_mode`, and progress after each finished segment;
- self-attention through `scaled_dot_product_attention` (see `_attention_through_sdpa`).

Progressive output (`on_final`): a sample is final once the segments that overlap it are
blended, which in a single pass is as soon as the segment before the next segment's offset is
added; the blender flushes right then (same values: the flush only divides each sample by its
own summed weight), and `on_final(end)` says that `out[..., :end]` will not change any more.
Only a job of one pass can say that: with a bag or shifts > 1, every pass runs over the
whole track before the next one starts and adds into the same output, so nothing is final
before the last pass, and running the passes side by side segment by segment would change
the order of demucs' random draws (shift offsets, the transformer's positions) and with it the
stems.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

import torch
from demucs.apply import BagOfModels
from demucs.htdemucs import HTDemucs

from isomix.separation.base import ProgressCallback
from isomix.separation.precision import Precision, autocast

# A demucs Demucs / HDemucs / HTDemucs or a BagOfModels of them. Typed Any: they carry
# attributes (sources, samplerate, segment, ...) that nn.Module does not declare.
Model = Any
T = TypeVar("T")
# Progressive output: `out[..., :end]` is final (see the module's docstring).
FinalCallback = Callable[[int], None]


@dataclass(frozen=True)
class _Pass:
    """One run of one model over the whole track, at one shift."""

    model: Model
    source_weights: Sequence[float]
    # Offset into the track padded with `max_shift` zeros each side; None when not shifting.
    shift_offset: int | None
    max_shift: int


@dataclass(frozen=True)
class _Segment:
    offset: int  # in pass coordinates
    length: int  # the samples this segment contributes (the last one may be short)
    model_length: int  # what the model is fed, context included


def bag_members(model: Model) -> tuple[list[Model], list[list[float]]]:
    """The models of a bag with their per-source weights; a single model is a bag of one."""
    if isinstance(model, BagOfModels):
        return list(model.models), [list(map(float, w)) for w in model.weights]
    sources: Sequence[str] = model.sources
    return [model], [[1.0] * len(sources)]


def iter_passes(model: Model, shifts: int) -> Iterator[_Pass]:
    """The passes in demucs' order (per bag member, then per shift).

    Lazy on purpose: each shift offset is drawn with `random.randint` just before its pass,
    as demucs does, because the models' forward also draws from `random` (the transformer's
    positional embedding), so a seeded run only matches demucs if the draws interleave alike.
    """
    for member, weights in zip(*bag_members(model), strict=True):
        max_shift = int(0.5 * member.samplerate)
        if not shifts:
            yield _Pass(member, weights, None, max_shift)
        for _ in range(shifts):
            yield _Pass(member, weights, random.randint(0, max_shift), max_shift)


def transition_weight(segment_length: int, transition_power: float = 1.0) -> torch.Tensor:
    """demucs' triangle, largest in the middle of the segment (same float32 values)."""
    weight = torch.cat(
        [
            torch.arange(1, segment_length // 2 + 1),
            torch.arange(segment_length - segment_length // 2, 0, -1),
        ]
    )
    return (weight / weight.max()) ** transition_power


def _model_input_length(model: Model, segment: float | None, length: int) -> int:
    # Same rule as the innermost branch of demucs' apply_model.
    if isinstance(model, HTDemucs) and segment is not None:
        return int(segment * model.samplerate)
    if hasattr(model, "valid_length"):
        return int(model.valid_length(length))
    return length


def _segments(
    model: Model, pass_length: int, segment: float | None, overlap: float
) -> tuple[int, list[_Segment]]:
    seconds = segment if segment is not None else model.segment
    if seconds is None or seconds <= 0:
        raise ValueError("the model has no segment length; give one")
    segment_length = int(model.samplerate * seconds)
    stride = int((1 - overlap) * segment_length)
    if stride <= 0:
        raise ValueError(f"overlap {overlap} leaves no stride between segments")
    result = []
    for offset in range(0, pass_length, stride):
        length = min(pass_length - offset, segment_length)
        result.append(_Segment(offset, length, _model_input_length(model, segment, length)))
    return segment_length, result


class _PassBlender:
    """Weighted overlap-add of one pass in a window one segment long.

    Segments arrive in offset order; once a segment is added, everything before the next
    segment's offset can no longer change, so it is divided by its summed weight and added to
    the output. Sums are taken in demucs' order, so the values are demucs' to the last bit.
    """

    def __init__(
        self,
        out: torch.Tensor,
        segment_length: int,
        weight: torch.Tensor,
        trim: int,
        source_weights: Sequence[float],
        on_final: FinalCallback | None = None,
    ) -> None:
        self.out = out  # (sources, channels, length), summed into
        self.weight = weight
        self.trim = trim  # pass sample j is output sample j - trim
        self.source_weights = source_weights
        sources, channels, _ = out.shape
        self.acc = torch.zeros(sources, channels, segment_length)
        self.acc_weight = torch.zeros(segment_length)
        self.start = 0  # pass coordinate of acc[..., 0]
        # Told the output sample up to which `out` is final, after it is written there;
        # only for a pass that is the whole job (`out` receives nothing else).
        self.on_final = on_final
        self.reported = 0

    def add(self, offset: int, estimate: torch.Tensor) -> None:
        """Add a segment's estimate (sources, channels, length) that starts at `offset`."""
        self._flush_until(offset)
        length = estimate.shape[-1]
        begin = offset - self.start
        weight = self.weight[:length]
        self.acc[..., begin : begin + length] += weight * estimate
        self.acc_weight[begin : begin + length] += weight

    def finish(self, pass_length: int) -> None:
        self.flush_until(pass_length)

    def flush_until(self, position: int) -> None:
        """Everything before pass sample `position` is complete (no segment that is still to
        come reaches it): divide it by its weight and add it to the output."""
        self._flush_until(position)

    def _flush_until(self, position: int) -> None:
        count = position - self.start
        if count <= 0:
            return
        if count > self.acc.shape[-1]:
            raise AssertionError("segments must overlap or touch")
        finished = self.acc[..., :count]
        finished /= self.acc_weight[:count]
        for index, source_weight in enumerate(self.source_weights):
            if source_weight != 1.0:
                finished[index] *= source_weight
        first = self.start - self.trim
        out_begin, out_end = max(first, 0), min(first + count, self.out.shape[-1])
        if out_end > out_begin:
            self.out[..., out_begin:out_end] += finished[..., out_begin - first : out_end - first]
        # Slide the window: keep what is still open, zero the freed tail.
        keep = self.acc.shape[-1] - count
        self.acc[..., :keep] = self.acc[..., count:].clone()
        self.acc[..., keep:] = 0
        self.acc_weight[:keep] = self.acc_weight[count:].clone()
        self.acc_weight[keep:] = 0
        self.start = position
        if self.on_final is not None and out_end > self.reported:
            self.reported = out_end
            self.on_final(out_end)


class _SegmentReader:
    """Reads model inputs from the track as demucs' TensorChunk.padded does, normalising each
    piece on the fly so no normalised or zero-padded full-length copy is ever made."""

    def __init__(
        self,
        mix: torch.Tensor,
        pad: int,
        mean: torch.Tensor | None,
        std: torch.Tensor | None,
    ) -> None:
        self.mix = mix  # (channels, length), raw
        self.pad = pad  # zeros virtually added on each side (shifts)
        self.mean = mean
        self.std = std

    def read_into(self, target: torch.Tensor, base_offset: int, length: int) -> None:
        """Fill `target` (channels, model_length) with the padded segment."""
        model_length = target.shape[-1]
        start = base_offset - (model_length - length) // 2
        # Track sample i sits at padded position i + pad.
        first = max(start, self.pad)
        last = min(start + model_length, self.pad + self.mix.shape[-1])
        target.zero_()
        if last <= first:
            return
        piece = self.mix[:, first - self.pad : last - self.pad]
        destination = target[:, first - start : last - start]
        if self.mean is None or self.std is None:
            destination.copy_(piece)
        else:
            torch.sub(piece, self.mean, out=destination)
            destination /= self.std


def _batches(segments: list[_Segment], batch_size: int) -> list[list[_Segment]]:
    batches: list[list[_Segment]] = []
    for segment in segments:
        if (
            batches
            and len(batches[-1]) < batch_size
            and batches[-1][0].model_length == segment.model_length
        ):
            batches[-1].append(segment)
        else:
            batches.append([segment])
    return batches


def apply_model(
    model: Model,
    mix: torch.Tensor,
    *,
    shifts: int = 1,
    overlap: float = 0.25,
    segment: float | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    mix_mean: torch.Tensor | None = None,
    mix_std: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
    transition_power: float = 1.0,
    workers: int = 1,
    on_final: FinalCallback | None = None,
    precision: Precision = "fp32",
) -> torch.Tensor:
    """Separate `mix` (channels, length) into (sources, channels, length), like demucs'
    `apply_model(model, ((mix - mix_mean) / mix_std)[None], split=True, ...)[0]`.

    `out`, if given, must be zero-filled float32 of that shape; it is filled and returned.
    `progress` gets the fraction of segments done (all shifts and bag members), increasing.
    `workers` > 1 runs that many segments at once, each with an equal share of torch's
    threads (set process-wide for the duration of the call); each one in flight costs a
    model's working memory.
    `on_final(end)`, called in order with increasing `end` from the caller's thread, says
    that `out[..., :end]` holds its final values; the last call has `end == length`. Only a
    single-pass job (one model with unit weights, shifts <= 1) makes these calls; see the
    module's docstring for why the others cannot.
    """
    if mix.dim() != 2:
        raise ValueError(f"mix must be (channels, length), got {tuple(mix.shape)}")
    if transition_power < 1:
        raise ValueError("transition_power < 1 leads to weird behavior")
    if batch_size < 1 or workers < 1:
        raise ValueError("batch_size and workers must be at least 1")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    _attention_through_sdpa()
    channels, length = mix.shape
    sources: Sequence[str] = model.sources
    if out is None:
        out = torch.zeros(len(sources), channels, length)
    elif out.shape != (len(sources), channels, length) or out.dtype != torch.float32:
        raise ValueError(f"out must be float32 {(len(sources), channels, length)}")

    runner = _Runner(mix, out, segment, overlap, device, batch_size, mix_mean, mix_std,
                     transition_power, progress, on_final, precision)  # fmt: skip
    if workers == 1:
        runner.run(model, shifts, _InlineExecutor(), 1)
    else:
        with (
            _torch_threads_shared_by(workers),
            ThreadPoolExecutor(workers, thread_name_prefix="isomix-segment") as pool,
        ):
            runner.run(model, shifts, pool, workers)

    if shifts > 1:
        out /= shifts
    totals = [sum(column) for column in zip(*bag_members(model)[1], strict=True)]
    for index, source_total in enumerate(totals):
        if source_total != 1.0:
            out[index] /= source_total
    return out


def _attention_through_sdpa() -> None:
    """Turn off nn.MultiheadAttention's inference fast path (process-wide, as torch has it).

    Under inference mode a self-attention (query is key is value) takes the fast path,
    `torch._native_multi_head_attention`, which on CPU multiplies with `bmm` and a separate
    softmax; the regular path calls `scaled_dot_product_attention`, whose fused CPU kernel
    took 28 ms instead of 67 per attention call of an htdemucs-sized model in fp32 and 10
    instead of 93 under bf16 autocast (profiled, one segment). Over a 30 s separation in
    fp32, 13.8 s became 12.6 s. The sums are ordered differently, so stems move by float
    rounding (max |diff| against `python -m demucs` in `make bench`).
    """
    torch.backends.mha.set_fastpath_enabled(False)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextmanager
def _torch_threads_shared_by(workers: int) -> Iterator[None]:
    """Give each of `workers` segment threads an equal share of torch's thread count.

    torch's thread count is process-wide, so concurrent separations share one setting:
    the first sets it, the last one out restores it.
    """
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(max(1, _threads_before // workers))
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


@contextmanager
def _all_threads_while_alone() -> Iterator[None]:
    """In the calling thread, torch's whole thread count instead of a segment's share, if this
    is the only separation sharing them (see `_torch_threads_shared_by`); else nothing."""
    with _threads_lock:
        alone = _threads_users == 1
        if alone:
            shared = torch.get_num_threads()
            torch.set_num_threads(_threads_before)
    try:
        yield
    finally:
        if alone:
            with _threads_lock:
                torch.set_num_threads(shared)


class _InlineExecutor(Executor):
    """Runs each call when it is submitted: one worker, the caller."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@dataclass
class _Runner:
    mix: torch.Tensor
    out: torch.Tensor
    segment: float | None
    overlap: float
    device: str | torch.device
    batch_size: int
    mix_mean: torch.Tensor | None
    mix_std: torch.Tensor | None
    transition_power: float
    progress: ProgressCallback | None
    on_final: FinalCallback | None
    precision: Precision

    def run(self, model: Model, shifts: int, pool: Executor, workers: int) -> None:
        members, weights = bag_members(model)
        pass_count = len(members) * max(shifts, 1)
        # One pass whose blended samples go to `out` unchanged: final as they are flushed.
        single_pass = pass_count == 1 and all(weight == 1.0 for weight in weights[0])
        on_final = self.on_final if single_pass else None
        self._report(0.0)
        for pass_index, one_pass in enumerate(iter_passes(model, shifts)):

            def pass_progress(fraction: float, index: int = pass_index) -> None:
                # Passes count equally; within a pass, by segments finished.
                self._report(min((index + fraction) / pass_count, 1.0))

            self._run_pass(one_pass, pool, workers, pass_progress, on_final)

    def _report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(fraction)

    def _run_pass(
        self,
        one_pass: _Pass,
        pool: Executor,
        workers: int,
        pass_progress: Callable[[float], None],
        on_final: FinalCallback | None,
    ) -> None:
        member = one_pass.model
        member.to(self.device)
        member.eval()
        channels, length = self.mix.shape
        if one_pass.shift_offset is None:
            reader = _SegmentReader(self.mix, 0, self.mix_mean, self.mix_std)
            pass_length, base_start, trim = length, 0, 0
        else:
            reader = _SegmentReader(self.mix, one_pass.max_shift, self.mix_mean, self.mix_std)
            pass_length = length + one_pass.max_shift - one_pass.shift_offset
            base_start = one_pass.shift_offset
            trim = one_pass.max_shift - one_pass.shift_offset
        segment_length, segments = _segments(member, pass_length, self.segment, self.overlap)
        weight = transition_weight(segment_length, self.transition_power)
        blender = _PassBlender(
            self.out, segment_length, weight, trim, one_pass.source_weights, on_final
        )
        # A segment's samples before the next segment's offset are complete once it is added.
        complete_until = {seg.offset: after.offset for seg, after in pairwise(segments)}
        done = 0
        # Up to `workers` forwards in flight; results are blended in segment order.
        in_flight: deque[tuple[list[_Segment], int, Future[torch.Tensor]]] = deque()

        def blend_oldest() -> None:
            nonlocal done
            oldest, model_length, future = in_flight.popleft()
            estimates = future.result()
            for row_estimate, seg in zip(estimates, oldest, strict=True):
                # demucs' center_trim back to the segment's own length.
                delta = model_length - seg.length
                blender.add(seg.offset, row_estimate[..., delta // 2 : delta // 2 + seg.length])
                blender.flush_until(complete_until.get(seg.offset, pass_length))
                done += 1
                pass_progress(done / len(segments))

        all_batches = _batches(segments, self.batch_size)
        for index, batch in enumerate(all_batches):
            model_length = batch[0].model_length
            inputs = torch.empty(len(batch), channels, model_length)
            for row, seg in zip(inputs, batch, strict=True):
                reader.read_into(row, base_start + seg.offset, seg.length)
            if workers > 1 and index == len(all_batches) - 1:
                # The pass's last forward goes after the others, on all the threads: beside
                # the one before it, it would have one thread and, once that one is done, a
                # core to itself that it cannot use (an odd number of segments left a core
                # idle for a whole segment).
                while in_flight:
                    blend_oldest()
                with _all_threads_while_alone():
                    future = _InlineExecutor().submit(
                        _forward, member, inputs, self.device, self.precision
                    )
            else:
                future = pool.submit(_forward, member, inputs, self.device, self.precision)
            in_flight.append((batch, model_length, future))
            del inputs
            if len(in_flight) >= workers:
                blend_oldest()
        while in_flight:
            blend_oldest()
        blender.finish(pass_length)
        if not segments:
            pass_progress(1.0)


def _forward(
    model: Model, inputs: torch.Tensor, device: str | torch.device, precision: Precision
) -> torch.Tensor:
    # Under the autocast of `precision` (nothing for fp32); the estimates are float32.
    with torch.inference_mode(), autocast(precision, device):
        result: Any = model(inputs.to(device))
    estimates: torch.Tensor = result.to("cpu", torch.float32)
    return estimates
