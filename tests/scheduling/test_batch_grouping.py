"""The one batch-grouping function (both drivers' batching and the shared engine's dispatcher)
and the one busy-time meter."""
from __future__ import annotations

import time
from collections import deque

from reasonrank.engines.base import ChatRequest, EncodeRequest, SamplingParams
from reasonrank.scheduling.stats import BusyClock
from reasonrank.scheduling.steps import Encode, Generate, Step, take_batch

SHORT, LONG = SamplingParams(max_tokens=8), SamplingParams(max_tokens=64)


def gen(text: str, params: SamplingParams = SHORT) -> Generate:
    return Generate(ChatRequest.of([{"role": "user", "content": text}]), params)


def names(batch: list[tuple[str, Step]]) -> list[str]:
    return [name for name, _ in batch]


def test_oldest_first_with_the_compatible_ones_others_keep_their_order():
    queue = deque([("a", gen("a")), ("b", gen("b", LONG)), ("c", gen("c")), ("d", Encode(EncodeRequest("d"))),
                   ("e", gen("e"))])
    assert names(take_batch(queue, 8, lambda item: item[1])) == ["a", "c", "e"]
    assert names(list(queue)) == ["b", "d"]  # skipped ones first again, in order
    assert names(take_batch(queue, 8, lambda item: item[1])) == ["b"]
    assert names(take_batch(queue, 8, lambda item: item[1])) == ["d"]
    assert not queue and take_batch(queue, 8, lambda item: item[1]) == []


def test_size_bounds_a_call_and_the_rest_waits():
    queue = deque((str(i), gen(str(i))) for i in range(5))
    assert names(take_batch(queue, 2, lambda item: item[1])) == ["0", "1"]
    assert names(list(queue)) == ["2", "3", "4"]


def test_dropped_items_are_never_sent_and_do_not_start_a_call():
    dropped: list[str] = []

    def drop(item: tuple[str, Step]) -> bool:
        if item[0].startswith("x"):
            dropped.append(item[0])
            return True
        return False

    queue = deque([("x1", gen("x1", LONG)), ("a", gen("a")), ("x2", gen("x2")), ("b", gen("b"))])
    assert names(take_batch(queue, 8, lambda item: item[1], drop=drop)) == ["a", "b"]
    assert dropped == ["x1", "x2"] and not queue


def test_busy_clock_counts_overlapping_calls_once():
    clock = BusyClock()
    clock.start()
    time.sleep(0.05)
    clock.start()  # a second call overlaps the first
    time.sleep(0.05)
    clock.end()
    clock.end()
    busy = clock.seconds
    assert 0.09 <= busy < 0.5
    time.sleep(0.05)  # idle: not counted
    assert clock.seconds == busy
    clock.start()
    time.sleep(0.02)
    assert clock.seconds > busy  # an open stretch counts up to now
    clock.end()
    clock.reset()
    assert clock.seconds == 0.0
