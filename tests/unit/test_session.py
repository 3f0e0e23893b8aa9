"""The simulated runtime: variable store, sessions, monitored sessions, checkpoint saver."""

from __future__ import annotations

from typing import Any

import pytest

from reference.runtime.graph import Op, Placeholder, Read, Variable
from reference.runtime.session import (
    CheckpointSaver,
    MonitoredSession,
    OutOfRangeError,
    Session,
    VariableStore,
)
from reference.runtime.session_run_hook import (
    CheckpointSaverListener,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)


class RecordingHook(SessionRunHook):
    """Appends every lifecycle call to a shared trace; optionally fetches something."""

    def __init__(
        self,
        name: str,
        trace: list[Any],
        fetches: Any = None,
        feed_dict: dict[Any, Any] | None = None,
        stop_after: int | None = None,
    ) -> None:
        self.name = name
        self.trace = trace
        self.fetches = fetches
        self.feed_dict = feed_dict
        self.stop_after = stop_after
        self.runs = 0
        self.contexts: list[SessionRunContext] = []
        self.values: list[Any] = []
        self.end_sessions: list[Any] = []

    def begin(self) -> None:
        self.trace.append((self.name, "begin"))

    def after_create_session(self, session: Any, coord: Any) -> None:
        self.trace.append((self.name, "after_create_session"))

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self.trace.append((self.name, "before_run"))
        self.contexts.append(run_context)
        if self.fetches is None and self.feed_dict is None:
            return None
        return SessionRunArgs(self.fetches, self.feed_dict)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self.trace.append((self.name, "after_run"))
        self.values.append(run_values.results)
        self.runs += 1
        if self.stop_after is not None and self.runs >= self.stop_after:
            run_context.request_stop()

    def end(self, session: Any) -> None:
        self.trace.append((self.name, "end"))
        self.end_sessions.append(session)


def _appender(log: list[str], name: str) -> Op:
    def run(store: Any, feed: Any) -> None:
        log.append(name)

    return Op(name, run)


# -- variable store and plain sessions ---------------------------------------------------


def test_local_variables_are_per_worker_and_shared_ones_are_shared() -> None:
    store = VariableStore()
    local = Variable("local", 0, local=True)
    shared = Variable("shared", 0, local=False)
    w0, w1 = Session(store, worker=0), Session(store, worker=1)
    w0.run([local.assign(5), shared.assign(7)])
    assert w0.run([local, shared]) == [5, 7]
    assert w1.run([local, shared]) == [0, 7]


def test_initial_values_are_copied() -> None:
    initial = [False, False]
    var = Variable("flags", initial)
    initial[0] = True
    sess = Session()
    assert sess.run(var) == [False, False]
    sess.run(var[1].assign(True))
    assert sess.run(var) == [False, True]
    assert var.initial == [False, False]
    # A fetched value is a copy: mutating it does not change the store.
    fetched = sess.run(var)
    fetched[0] = True
    assert sess.run(var) == [False, True]


def test_run_evaluates_nested_structures_in_order() -> None:
    sess = Session()
    log: list[str] = []
    v = Variable("v", 3)
    result = sess.run({"a": [_appender(log, "x"), v], "b": (v, _appender(log, "y")), "c": None})
    assert result == {"a": [None, 3], "b": (3, None), "c": None}
    assert log == ["x", "y"]


def test_placeholders_are_fed_and_an_unfed_one_raises() -> None:
    sess = Session()
    ph = Placeholder("idx")
    vec = Variable("vec", [0, 0, 0])
    sess.run(vec[ph].assign(9), feed_dict={ph: 2})
    assert sess.run(vec) == [0, 0, 9]
    with pytest.raises(KeyError) as exc:
        sess.run(ph)
    assert exc.value.args == ("placeholder 'idx' was not fed",)


def test_element_index_out_of_bounds_raises() -> None:
    sess = Session()
    vec = Variable("vec", [False, False])
    with pytest.raises(IndexError) as exc:
        sess.run(vec[2])
    assert str(exc.value) == "slice index 2 of dimension 0 out of bounds for vec of size 2"


def test_a_read_fetched_twice_in_one_run_is_computed_once() -> None:
    calls: list[int] = []

    def next_element(store: Any) -> int:
        calls.append(1)
        return len(calls)

    elem = Read("IteratorGetNext", next_element)
    sess = Session()
    assert sess.run([elem, {"again": elem}]) == [1, {"again": 1}]
    assert sess.run(elem) == 2
    assert sess.run_many([elem, [elem]], {}) == [3, [3]]
    assert len(calls) == 3


# -- monitored session ----------------------------------------------------------------


def test_lifecycle_order() -> None:
    trace: list[Any] = []
    h1, h2 = RecordingHook("h1", trace), RecordingHook("h2", trace)
    dummy = Variable("dummy", 1)
    session = Session()
    with MonitoredSession([h1, h2], session) as sess:
        assert trace == [
            ("h1", "begin"),
            ("h2", "begin"),
            ("h1", "after_create_session"),
            ("h2", "after_create_session"),
        ]
        trace.clear()
        assert sess.run(dummy) == 1
        assert sess.run(dummy) == 1
        assert (
            trace
            == [
                ("h1", "before_run"),
                ("h2", "before_run"),
                ("h1", "after_run"),
                ("h2", "after_run"),
            ]
            * 2
        )
        trace.clear()
    assert trace == [("h1", "end"), ("h2", "end")]
    assert h1.end_sessions == [session]


def test_run_context_carries_the_callers_args_and_the_raw_session() -> None:
    trace: list[Any] = []
    hook = RecordingHook("h", trace)
    session = Session()
    dummy = Variable("dummy", 1)
    ph = Placeholder("p")
    with MonitoredSession([hook], session) as sess:
        assert sess.raw_session is session
        sess.run([dummy, ph], feed_dict={ph: 4})
    (ctx,) = hook.contexts
    assert ctx.original_args == SessionRunArgs([dummy, ph], {ph: 4})
    assert ctx.session is session


def test_hook_fetches_come_back_in_after_run_and_none_gives_none() -> None:
    trace: list[Any] = []
    v = Variable("v", [1, 2])
    fetching = RecordingHook("fetching", trace, fetches={"v": v})
    silent = RecordingHook("silent", trace)
    with MonitoredSession([fetching, silent]) as sess:
        sess.run(Variable("dummy", 0))
    assert fetching.values == [{"v": [1, 2]}]
    assert silent.values == [None]


def test_hook_feeds_are_merged_into_the_run() -> None:
    trace: list[Any] = []
    ph = Placeholder("hook_ph")
    vec = Variable("vec", [0, 0])
    hook = RecordingHook("feeder", trace, fetches=vec[ph], feed_dict={ph: 1})
    with MonitoredSession([hook]) as sess:
        sess.run(vec[ph].assign(8))  # the caller's op uses the hook's feed too
        assert sess.raw_session.run(vec) == [0, 8]
    assert hook.values == [8]


def test_caller_fetches_are_evaluated_before_hook_fetches_in_hook_order() -> None:
    log: list[str] = []
    trace: list[Any] = []
    flag = Variable("flag", False)
    h1 = RecordingHook("h1", trace, fetches=[_appender(log, "hook1"), flag])
    h2 = RecordingHook("h2", trace, fetches=_appender(log, "hook2"))
    with MonitoredSession([h1, h2]) as sess:
        sess.run([_appender(log, "caller"), flag.assign(True)])
    assert log == ["caller", "hook1", "hook2"]
    # The hook's read of the flag sees the caller's assignment made in the same run.
    assert h1.values == [[None, True]]


def test_a_dataset_element_is_shared_by_caller_and_hooks_within_one_run() -> None:
    elements = iter(["e1", "e2"])
    calls: list[str] = []

    def next_element(store: Any) -> str:
        value = next(elements)
        calls.append(value)
        return value

    elem = Read("IteratorGetNext", next_element)
    trace: list[Any] = []
    h1 = RecordingHook("h1", trace, fetches=elem)
    h2 = RecordingHook("h2", trace, fetches={"x": elem})
    with MonitoredSession([h1, h2]) as sess:
        assert sess.run(elem) == "e1"
        assert sess.run({"e": elem}) == {"e": "e2"}
    assert calls == ["e1", "e2"]
    assert h1.values == ["e1", "e2"]
    assert h2.values == [{"x": "e1"}, {"x": "e2"}]


def test_request_stop_sets_should_stop_after_the_run_and_further_runs_raise() -> None:
    trace: list[Any] = []
    stopper = RecordingHook("stopper", trace, stop_after=2)
    after = RecordingHook("after", trace)
    dummy = Variable("dummy", 1)
    with MonitoredSession([stopper, after]) as sess:
        assert sess.run(dummy) == 1
        assert not sess.should_stop()
        assert sess.run(dummy) == 1  # the stopping run still returns its result
        assert sess.should_stop()
        assert after.runs == 2  # hooks after the stopping one still ran
        with pytest.raises(RuntimeError) as exc:
            sess.run(dummy)
        assert str(exc.value) == "Run called even after should_stop requested."
    assert stopper.runs == 2
    assert trace[-2:] == [("stopper", "end"), ("after", "end")]


def test_close_closes_the_session_and_a_second_close_is_an_error_as_in_tensorflow() -> None:
    trace: list[Any] = []
    hook = RecordingHook("h", trace)
    raw = Session()
    sess = MonitoredSession([hook], raw)
    sess.close()
    assert trace.count(("h", "end")) == 1
    assert sess.should_stop() is True
    with pytest.raises(RuntimeError, match=r"^Attempted to use a closed Session\.$"):
        raw.run(Variable("dummy", 1))
    with pytest.raises(AttributeError, match=r"^'NoneType' object has no attribute 'run'$"):
        sess.run(Variable("dummy", 1))
    # TensorFlow's _close_internal calls end again, then finds the session gone.
    with pytest.raises(RuntimeError, match=r"^Session is already closed\.$"):
        sess.close()
    assert trace.count(("h", "end")) == 2


@pytest.mark.parametrize("error", [OutOfRangeError("End of sequence"), StopIteration()])
def test_end_is_called_and_the_error_swallowed_on_out_of_range_and_stop_iteration(
    error: BaseException,
) -> None:
    trace: list[Any] = []
    hook = RecordingHook("h", trace)
    with MonitoredSession([hook]):
        raise error
    assert trace[-1] == ("h", "end")


@pytest.mark.parametrize("error", [ValueError("boom"), RuntimeError("x"), KeyboardInterrupt()])
def test_end_is_not_called_on_other_errors_which_propagate(error: BaseException) -> None:
    trace: list[Any] = []
    hook = RecordingHook("h", trace)
    with pytest.raises(type(error)), MonitoredSession([hook]):
        raise error
    assert ("h", "end") not in trace


def test_an_error_raised_by_a_run_ends_the_session_like_any_other() -> None:
    def exhausted(store: Any) -> Any:
        raise OutOfRangeError("End of sequence")

    trace: list[Any] = []
    hook = RecordingHook("h", trace)
    with MonitoredSession([hook]) as sess:
        sess.run(Read("IteratorGetNext", exhausted))
    # before_run ran for the failing run, after_run did not; end was called.
    assert trace[-2:] == [("h", "before_run"), ("h", "end")]


class _MyStopIteration(StopIteration):
    pass


def test_a_subclass_of_stop_iteration_is_not_a_normal_end_as_in_tensorflow() -> None:
    trace: list[Any] = []
    hook = RecordingHook("h", trace)
    with pytest.raises(_MyStopIteration), MonitoredSession([hook]):
        raise _MyStopIteration()
    assert ("h", "end") not in trace


def test_a_hook_feeding_what_the_caller_feeds_is_an_error() -> None:
    ph = Placeholder("p")
    hook = RecordingHook("h", [], fetches=ph, feed_dict={ph: 1})
    with MonitoredSession([hook]) as sess, pytest.raises(RuntimeError) as exc:
        sess.run(ph, feed_dict={ph: 2})
    assert str(exc.value) == (
        "Same tensor is fed by a SessionRunHook and user. Conflict(s): [Placeholder('p')]"
    )


def test_two_hooks_feeding_the_same_placeholder_is_an_error() -> None:
    ph = Placeholder("p")
    hooks = [RecordingHook(n, [], feed_dict={ph: i}) for i, n in enumerate(("a", "b"))]
    with MonitoredSession(hooks) as sess, pytest.raises(RuntimeError) as exc:
        sess.run(ph)
    assert str(exc.value) == "Same tensor is fed by two hooks. Conflict(s): [Placeholder('p')]"


def test_hooks_begin_when_the_session_is_constructed() -> None:
    trace: list[Any] = []
    MonitoredSession([RecordingHook("h", trace)])
    assert trace == [("h", "begin"), ("h", "after_create_session")]


# -- checkpoint saver ---------------------------------------------------------------------


class RecordingListener(CheckpointSaverListener):
    def __init__(self, name: str, trace: list[Any]) -> None:
        self.name = name
        self.trace = trace

    def begin(self) -> None:
        self.trace.append((self.name, "begin"))

    def before_save(self, session: Any, global_step_value: int) -> None:
        self.trace.append((self.name, "before_save", global_step_value))

    def after_save(self, session: Any, global_step_value: int) -> None:
        self.trace.append((self.name, "after_save", global_step_value))

    def end(self, session: Any, global_step_value: int) -> None:
        self.trace.append((self.name, "end", global_step_value))


def test_checkpoint_saver_calls_listeners_around_each_save() -> None:
    trace: list[Any] = []
    saver = CheckpointSaver(
        [RecordingListener("l1", trace), RecordingListener("l2", trace)], Session()
    )
    assert saver.last_step is None
    saver.save(10)
    saver.save(20)
    saver.end(20)
    assert trace == [
        ("l1", "begin"),
        ("l2", "begin"),
        ("l1", "before_save", 10),
        ("l2", "before_save", 10),
        ("l1", "after_save", 10),
        ("l2", "after_save", 10),
        ("l1", "before_save", 20),
        ("l2", "before_save", 20),
        ("l1", "after_save", 20),
        ("l2", "after_save", 20),
        ("l1", "end", 20),
        ("l2", "end", 20),
    ]
    assert saver.last_step == 20
