"""The Coral Edge TPUs plugged into this machine (USB or PCIe), found without loading anything.

The accelerator spec and the delegate loading that ``Model`` needs are core
(:mod:`edge_sdk.delegates`) and re-exported here.

"""

from __future__ import annotations

import enum
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_sdk.delegates import (  # re-exported: the spec and its delegates are core
    EDGETPU_HINT,
    EDGETPU_LIBRARIES,
    Accelerator,
    AcceleratorKind,
    default_num_threads,
)

__all__ = [
    "EDGETPU_HINT",
    "EDGETPU_LIBRARIES",
    "EDGETPU_USB_IDS",
    "Accelerator",
    "AcceleratorKind",
    "EdgeTpuBus",
    "EdgeTpuDevice",
    "default_num_threads",
    "edgetpu_enumeration_supported",
    "list_edgetpus",
]


# USB ids of the Coral USB Accelerator: before its firmware is loaded (Global Unichip) and
# after (Google). A PCIe/M.2 Coral appears as /dev/apex_N once the gasket/apex driver is loaded.
EDGETPU_USB_IDS = (("1a6e", "089a"), ("18d1", "9302"))


class EdgeTpuBus(str, enum.Enum):
    USB = "usb"
    PCI = "pci"


@dataclass(frozen=True)
class EdgeTpuDevice:
    """An Edge TPU found on this machine (nothing was loaded to find it).

    Attributes:
        bus: USB or PCI(e).
        index: N in the ``device`` option (``usb:N`` / ``pci:N``), counted per bus in sorted
            path order.
        path: the sysfs USB device folder or the ``/dev/apex_N`` node.
        usb_id: ``"vendor:product"`` for USB devices, else None.
    """

    bus: EdgeTpuBus
    index: int
    path: str
    usb_id: str | None = None

    @property
    def device(self) -> str:
        """The delegate's ``device`` option for this TPU, e.g. ``"usb:0"``."""
        return f"{self.bus.value}:{self.index}"

    def as_dict(self) -> dict[str, Any]:
        return {"bus": self.bus.value, "device": self.device, "path": self.path, "usb_id": self.usb_id}


def _read_id(path: Path) -> str:
    try:
        return path.read_text().strip().lower()
    except OSError:
        return ""


def list_edgetpus(sys_root: str | Path = "/sys", dev_root: str | Path = "/dev") -> list[EdgeTpuDevice]:
    """Edge TPUs present, found from USB ids in ``/sys/bus/usb/devices/*/idVendor,idProduct``
    (1a6e:089a, 18d1:9302) and ``/dev/apex_*`` nodes. Loads nothing; Linux only (elsewhere the
    folders do not exist and the list is empty). The roots are parameters for tests."""
    found: list[EdgeTpuDevice] = []
    usb = sorted(Path(sys_root, "bus", "usb", "devices").glob("*/idVendor"))
    n = 0
    for vendor_file in usb:
        ident = (_read_id(vendor_file), _read_id(vendor_file.with_name("idProduct")))
        if ident in EDGETPU_USB_IDS:
            found.append(EdgeTpuDevice(EdgeTpuBus.USB, n, str(vendor_file.parent), ":".join(ident)))
            n += 1
    apex = sorted(Path(dev_root).glob("apex_*"), key=lambda p: (len(p.name), p.name))
    for i, node in enumerate(apex):
        found.append(EdgeTpuDevice(EdgeTpuBus.PCI, i, str(node)))
    return found


def edgetpu_enumeration_supported() -> bool:
    """Whether :func:`list_edgetpus` can see devices here (Linux); elsewhere an empty list
    means "unknown", not "none"."""
    return platform.system() == "Linux"
