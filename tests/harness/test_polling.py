"""wait_until returns as soon as the condition holds and fails within its bound."""

import threading

import pytest

from harness.polling import WaitTimeout, wait_until


def test_returns_the_truthy_value():
    calls = iter([0, None, "", "done"])
    assert wait_until(lambda: next(calls), timeout=5) == "done"


def test_sees_another_thread_act():
    flag = threading.Event()
    threading.Timer(0.01, flag.set).start()
    assert wait_until(flag.is_set, timeout=10, what="the timer") is True


def test_times_out_with_a_clear_message():
    with pytest.raises(WaitTimeout, match=r"gave up after 0\.05s waiting for the file"):
        wait_until(lambda: False, timeout=0.05, what="the file")
