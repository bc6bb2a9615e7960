"""The launcher's restart policy (`runtime.processes.RestartBackoff`): a crash loop backs off, a
process that stayed up for the stable window comes back at once, however often it crashed before.
"""

from __future__ import annotations

from runtime.processes import RestartBackoff


def test_a_crash_loop_waits_longer_each_time_up_to_the_cap() -> None:
    backoff = RestartBackoff(stable_seconds=60, first_delay=0.5, max_delay=30)

    delays = [backoff.delay_after(uptime=1.0) for _ in range(9)]

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_process_that_stayed_up_for_the_window_restarts_at_the_first_delay() -> None:
    # given a process that crashed four times in a row, right after each start
    backoff = RestartBackoff(stable_seconds=60, first_delay=0.5)
    for _ in range(4):
        backoff.delay_after(uptime=2.0)
    assert backoff.delay_after(uptime=59.9) == 8.0  # still within the window: backing off

    # when it then stays up for the window before crashing
    delay = backoff.delay_after(uptime=60.0)

    # then it comes back as fast as after its first crash, and the count starts again
    assert delay == 0.5
    assert backoff.crashes == 1
    assert backoff.delay_after(uptime=1.0) == 1.0


def test_crashes_a_long_time_apart_never_back_off() -> None:
    backoff = RestartBackoff(stable_seconds=60, first_delay=0.5)

    delays = [backoff.delay_after(uptime=3600.0) for _ in range(10)]

    assert delays == [0.5] * 10


def test_a_short_window_resets_as_soon_as_it_has_passed() -> None:
    # a short window lets a test (and an operator) see the reset without waiting a minute
    backoff = RestartBackoff(stable_seconds=2.0)
    backoff.delay_after(uptime=0.1)
    backoff.delay_after(uptime=0.1)

    assert backoff.delay_after(uptime=2.0) == backoff.first_delay
