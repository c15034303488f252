"""What a container asks of the machine: its resource signature (`Spec`, which also picks its
pool) and the cores and memory every container of a backend shares (`Capacity`): a container
holds its cpu and mem for its life, and one bigger than the whole budget runs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Capacity", "Spec"]

_EPS = 1e-9


@dataclass(frozen=True)
class Spec:
    """A resource signature: jobs with equal ones can share containers."""

    image: str
    cpu: float
    mem: float
    requires_docker: bool = False
    run_args: tuple[str, ...] = ()
    gpu: int = 0


class Capacity:
    """Cores and GB shared by every container of the backend."""

    def __init__(self, cpu: float, mem: float) -> None:
        self.cpu, self.mem = float(cpu), float(mem)
        self.used_cpu = self.used_mem = 0.0
        self.holders = 0

    def amount(self, spec: Spec) -> tuple[float, float]:
        return min(spec.cpu, self.cpu), min(spec.mem, self.mem)

    def fits(self, spec: Spec) -> bool:
        cpu, mem = self.amount(spec)
        return self.holders == 0 or (
            self.used_cpu + cpu <= self.cpu + _EPS and self.used_mem + mem <= self.mem + _EPS
        )

    def take(self, spec: Spec) -> None:
        cpu, mem = self.amount(spec)
        self.used_cpu += cpu
        self.used_mem += mem
        self.holders += 1

    def give(self, spec: Spec) -> None:
        cpu, mem = self.amount(spec)
        self.holders -= 1
        if self.holders == 0:
            self.used_cpu = self.used_mem = 0.0
        else:
            self.used_cpu -= cpu
            self.used_mem -= mem
