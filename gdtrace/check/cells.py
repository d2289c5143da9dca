"""The cells of a worked solution: every number a student writes, addressed as the JSON does.

A cell is one value of the ``--format json`` document of one run: an epoch's loss, a step's
``values``/``grad``/``params`` entry (one per sample in a step with several samples), or a
``final`` parameter. Answers documents, blank sheets and ``check`` reports all use these
addresses (docs/check.md, shared spec answer-format.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from gdtrace.trace import Quantity, Role, Run, Trace

SECTIONS = ("values", "grad", "params", "loss", "final")


@dataclass(frozen=True)
class Address:
    """Where a number sits in the JSON document. ``index`` picks one entry of a vector or
    matrix value (an addition to the spec's fields; empty for a number)."""

    epoch: int | None
    step: int | None
    sample: int | None
    section: str
    key: str
    index: tuple[int, ...] = ()

    def whole(self) -> Address:
        """The address of the whole value (without the entry index)."""
        if not self.index:
            return self
        return Address(self.epoch, self.step, self.sample, self.section, self.key)

    def at(self, index: tuple[int, ...]) -> Address:
        if index == self.index:
            return self
        return Address(self.epoch, self.step, self.sample, self.section, self.key, index)

    def label(self) -> str:
        """A short human name: ``step 2 (sample 1) values.z``, ``epoch 1 loss``, ``final w1``."""
        entry = "[" + ",".join(str(i + 1) for i in self.index) + "]" if self.index else ""
        if self.section == "final":
            return f"final {self.key}{entry}"
        if self.section == "loss":
            return f"epoch {self.epoch} loss"
        sample = f" (sample {self.sample})" if self.sample is not None else ""
        return f"step {self.step}{sample} {self.section}.{self.key}{entry}"


@dataclass(frozen=True)
class Cell:
    """One graded place of the worked solution and the trace line it is."""

    address: Address
    quantity: Quantity
    shape: tuple[int, ...] = ()  # of the value: () for a number

    @staticmethod
    def of(address: Address, quantity: Quantity) -> Cell:
        return Cell(address, quantity, tuple(np.shape(quantity.value)))


def listed(run: Run, step_rows: int) -> bool:
    """Whether a step's per-sample values are lists, as the JSON writes them."""
    return step_rows > 1 or run.settings.get("update") in ("batch", "minibatch")


def cells_of(run: Run) -> Iterator[Cell]:
    """Every cell of a run in trace order (the order of a worked solution)."""
    last_params: dict[str, Quantity] = {}
    for epoch in run.epochs:
        if epoch.loss_line is not None:
            yield Cell.of(Address(epoch.index, None, None, "loss", "loss"), epoch.loss_line)
        for step in epoch.steps:
            many = listed(run, len(step.rows))
            for number, row in enumerate(step.rows, start=1):
                for quantity in row:
                    if quantity.role is Role.VALUE:
                        yield Cell.of(Address(epoch.index, step.index, number if many else None,
                                           "values", quantity.key), quantity)
            for quantity in step.quantities:
                section = {Role.VALUE: "values", Role.GRAD: "grad",
                           Role.PARAM: "params"}.get(quantity.role)
                if section is None:
                    continue
                yield Cell.of(Address(epoch.index, step.index, None, section, quantity.key),
                           quantity)
                if quantity.role is Role.PARAM:
                    last_params[quantity.key] = quantity
    for name in run.final:
        if name in last_params:
            yield Cell.of(Address(None, None, None, "final", name), last_params[name])


def pick_run(trace: Trace, label: str | None) -> Run:
    """The run an answers document is about: by label, or the first one."""
    if label is None:
        return trace.runs[0]
    for run in trace.runs:
        if run.label == label:
            return run
    raise KeyError(label)
