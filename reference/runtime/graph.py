"""A minimal graph model: variables, placeholders and ops a session can run.

The original hooks build TensorFlow variables and assign ops and hand them to
``session.run``. This module keeps that shape without TensorFlow: a :class:`Variable`
lives in a session's variable store (shared between the workers of one simulated job,
like variables on a parameter server), ``session.run`` evaluates fetches, and an
:class:`Op` changes the store. Values are plain Python lists, bools, ints and strings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Protocol


class Store(Protocol):
    """Where variable values live (the simulated session's state)."""

    def read(self, var: Variable) -> Any: ...
    def write(self, var: Variable, value: Any) -> None: ...


class Fetchable:
    """Anything ``session.run`` can evaluate."""

    def evaluate(self, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
        raise NotImplementedError


class Placeholder(Fetchable):
    """A value supplied per run through ``feed_dict``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def evaluate(self, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
        if self not in feed:
            raise KeyError(f"placeholder {self.name!r} was not fed")
        return feed[self]

    def __repr__(self) -> str:
        return f"Placeholder({self.name!r})"


class Variable(Fetchable):
    """A named variable; ``local`` ones belong to one worker, others are shared."""

    def __init__(self, name: str, initial: Any, local: bool = True) -> None:
        self.name = name
        self.initial = copy.deepcopy(initial)
        self.local = local

    def evaluate(self, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
        return copy.deepcopy(store.read(self))

    def __getitem__(self, index: int | Placeholder) -> Element:
        return Element(self, index)

    def assign(self, value: Any | Placeholder) -> Op:
        def run(store: Store, feed: Mapping[Placeholder, Any]) -> None:
            store.write(self, _resolve(value, store, feed))

        return Op(f"{self.name}/assign", run)

    def __repr__(self) -> str:
        return f"Variable({self.name!r})"


class Element(Fetchable):
    """One element of a vector variable, like ``var[i]`` in TensorFlow."""

    def __init__(self, var: Variable, index: int | Placeholder) -> None:
        self.var = var
        self.index = index

    def _position(self, store: Store, feed: Mapping[Placeholder, Any]) -> int:
        index = _resolve(self.index, store, feed)
        size = len(store.read(self.var))
        if not 0 <= index < size:
            raise IndexError(
                f"slice index {index} of dimension 0 out of bounds for {self.var.name} "
                f"of size {size}"
            )
        return index

    def evaluate(self, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
        return store.read(self.var)[self._position(store, feed)]

    def assign(self, value: Any | Placeholder) -> Op:
        def run(store: Store, feed: Mapping[Placeholder, Any]) -> None:
            values = list(store.read(self.var))
            values[self._position(store, feed)] = _resolve(value, store, feed)
            store.write(self.var, values)

        return Op(f"{self.var.name}/assign_element", run)


class Op(Fetchable):
    """A state change; fetching it yields ``None`` like a TensorFlow op."""

    def __init__(self, name: str, fn: Callable[[Store, Mapping[Placeholder, Any]], Any]) -> None:
        self.name = name
        self._fn = fn

    def evaluate(self, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
        self._fn(store, feed)
        return None

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


class Read(Fetchable):
    """A value computed from the store, e.g. a table dump."""

    def __init__(self, name: str, fn: Callable[[Store], Any]) -> None:
        self.name = name
        self._fn = fn

    def evaluate(self, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
        return self._fn(store)


def _resolve(value: Any, store: Store, feed: Mapping[Placeholder, Any]) -> Any:
    return value.evaluate(store, feed) if isinstance(value, Fetchable) else value


def evaluate(
    fetches: Any,
    store: Store,
    feed: Mapping[Placeholder, Any],
    memo: dict[int, Any] | None = None,
) -> Any:
    """Evaluate a nested structure of fetches (lists, tuples, dicts) in order.

    Within one ``memo`` (one session run) a :class:`Read` is computed once, as TensorFlow
    computes a tensor fetched twice in one run once: a dataset element fetched by the
    model and by a hook in the same run is the same element.
    """
    memo = {} if memo is None else memo
    if fetches is None:
        return None
    if isinstance(fetches, Read):
        if id(fetches) not in memo:
            memo[id(fetches)] = fetches.evaluate(store, feed)
        return memo[id(fetches)]
    if isinstance(fetches, Fetchable):
        return fetches.evaluate(store, feed)
    if isinstance(fetches, Mapping):
        return {k: evaluate(v, store, feed, memo) for k, v in fetches.items()}
    if isinstance(fetches, (list, tuple)):
        return type(fetches)(evaluate(f, store, feed, memo) for f in fetches)
    raise TypeError(f"cannot fetch {fetches!r}")


class Graph:
    """Named collections, like ``tf.compat.v1.get_collection``."""

    def __init__(self) -> None:
        self._collections: dict[str, list[Any]] = {}

    def add_to_collection(self, key: str, value: Any) -> None:
        self._collections.setdefault(key, []).append(value)

    def get_collection(self, key: str) -> list[Any]:
        return list(self._collections.get(key, []))

    def create_variable_name(self, name: str) -> None:
        """Claim a variable name, as ``tf.compat.v1.get_variable`` does without reuse: a
        second claim of one name raises ``ValueError``."""
        names = self._collections.setdefault("__variable_names__", [])
        if name in names:
            raise ValueError(
                f"Variable {name} already exists, disallowed. Did you mean to set "
                "reuse=True or reuse=tf.AUTO_REUSE in VarScope?"
            )
        names.append(name)
