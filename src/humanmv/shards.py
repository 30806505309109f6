"""Which share of a job this process does when several run it at once.

`accelerate launch --multi_gpu --num_processes N -m humanmv generate|synth ...` starts N copies
of the command (torchrun underneath; on a CPU-only machine `--multi_gpu` is what starts N, since
accelerate 1.15's `--cpu --num_processes N` starts one). Each copy asks `current_shard()` for
its index and the count (accelerate's `PartialState`, on the CPU: gloo) and does items
`index, index + count, ...` of the job: items of even cost spread evenly, and the split depends
only on the item's position, never on what is already done, so a resumed run gives every item
to the same process as long as N is the same. A plain process (no launcher) is shard 0 of 1
and imports no accelerate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """index: this process (0 = the main one). count: the number of processes. state: the
    accelerate PartialState when count > 1 (its barrier), else None."""

    index: int = 0
    count: int = 1
    state: Any = None

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def owns(self, position: int) -> bool:
        """Whether item number `position` (0-based, in the job's order) is this process's."""
        return position % self.count == self.index

    def take(self, items: Sequence[T]) -> list[T]:
        """This process's items, in order."""
        return list(items[self.index::self.count])

    def barrier(self) -> None:
        """Wait until every process got here (nothing to wait for alone). Meant for short
        waits (at the start): the process group's timeout is torch's default, 30 min."""
        if self.state is not None:
            self.state.wait_for_everyone()

    def wait_until(self, done: Callable[[], bool], poll_s: float = 0.5,
                   tick: Callable[[], None] | None = None) -> None:
        """Wait, with no time limit, until `done()` (e.g. the others' files are there); a
        process that dies ends the whole launch (torchrun stops the rest), so this never
        waits for a dead process. `tick()` after every poll."""
        while not done():
            if tick:
                tick()
            time.sleep(poll_s)


def current_shard() -> Shard:
    """This process's shard: from accelerate's PartialState when a launcher set WORLD_SIZE > 1,
    else shard 0 of 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard()
    from accelerate import PartialState

    state = PartialState(cpu=True)  # coordination only: every process runs on the CPU
    return Shard(state.process_index, state.num_processes, state)
