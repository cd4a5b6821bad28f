#!/usr/bin/env python3
"""Prints the flash and RAM footprint of a firmware image.

    python3 firmware/footprint.py [--stack USED] [--budget memory.x] ELF...

Reads the ELF section headers (no tools needed beyond Python): flash is
what the image stores (vector table, code, read-only data and the initial
values of .data), static RAM is .data + .bss + .uninit. The budget comes
from the board's memory.x (by default the one next to the ELF's crate, or
firmware/mps2-an385/memory.x). `--stack USED` adds a measured stack
high-water mark (the firmware reports it on its console: key `s`).

Exits non-zero if an image does not fit its budget.
"""

import argparse
import os
import re
import struct
import sys

FLASH_SECTIONS = (".vector_table", ".text", ".rodata")
RAM_SECTIONS = (".data", ".bss", ".uninit")
HERE = os.path.dirname(os.path.abspath(__file__))


def sections(path):
    """{name: size} of the allocated sections of a 32-bit little-endian ELF."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise SystemExit(f"{path}: not a 32-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [
        struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize)
        for i in range(shnum)
    ]
    names_offset = headers[shstrndx][4]

    def name(offset):
        end = data.index(b"\0", names_offset + offset)
        return data[names_offset + offset : end].decode()

    SHF_ALLOC = 0x2
    return {
        name(h[0]): h[5] for h in headers if h[2] & SHF_ALLOC and h[5] > 0
    }


def default_budget(elf):
    """The memory.x of the board crate that built `elf` (udpkit-BOARD is
    built by firmware/BOARD/), or mps2-an385's."""
    name = os.path.basename(elf)
    board = name[len("udpkit-"):] if name.startswith("udpkit-") else ""
    memory_x = os.path.join(HERE, board, "memory.x")
    if board and os.path.isfile(memory_x):
        return memory_x
    return os.path.join(HERE, "mps2-an385", "memory.x")


def budget(memory_x):
    """(flash, ram) lengths in bytes from a memory.x."""
    text = open(memory_x).read()
    lengths = {}
    for region, length, unit in re.findall(
        r"^\s*(\w+)\s*:\s*ORIGIN\s*=\s*\w+\s*,\s*LENGTH\s*=\s*(\d+)\s*([KM]?)",
        text,
        re.M,
    ):
        lengths[region] = int(length) * {"": 1, "K": 1024, "M": 1024 * 1024}[unit]
    return lengths["FLASH"], lengths["RAM"]


def kib(n):
    return f"{n / 1024:6.1f}"


def report(elf, memory_x, stack_used):
    s = sections(elf)
    flash_budget, ram_budget = budget(memory_x)
    get = lambda n: s.get(n, 0)
    flash = sum(get(n) for n in FLASH_SECTIONS) + get(".data")
    ram = sum(get(n) for n in RAM_SECTIONS)
    stack_room = ram_budget - ram
    rows = [
        ("flash", flash, flash_budget,
         f".text {get('.text')} + .rodata {get('.rodata')} + .vector_table "
         f"{get('.vector_table')} + .data's initial values {get('.data')}"),
        ("ram: statics", ram, ram_budget,
         f".data {get('.data')} + .bss {get('.bss')} + .uninit {get('.uninit')}"),
        ("ram: stack room", stack_room, ram_budget,
         "the rest of RAM; the stack grows down into it"),
    ]
    if stack_used is not None:
        rows.append(("stack high-water", stack_used, stack_room,
                     "measured: deepest stack use since boot (painted stack)"))
    target = os.path.basename(os.path.dirname(os.path.dirname(elf)))
    print(f"{os.path.basename(elf)} ({target}), budget from {os.path.relpath(memory_x, HERE)}")
    print(f"  {'':18} {'bytes':>7} {'KiB':>6} {'of KiB':>7} {'used':>6}")
    for label, value, total, what in rows:
        print(f"  {label:18} {value:7d} {kib(value)} {kib(total):>7} "
              f"{100 * value / total:5.1f}%  {what}")
    ok = flash <= flash_budget and ram <= ram_budget
    if stack_used is not None:
        ok = ok and stack_used <= stack_room
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("elf", nargs="+")
    parser.add_argument("--budget", help="memory.x to read the budget from")
    parser.add_argument("--stack", type=int, help="measured stack high-water mark, bytes")
    args = parser.parse_args()
    ok = all([report(elf, args.budget or default_budget(elf), args.stack) for elf in args.elf])
    if not ok:
        print("DOES NOT FIT the budget", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
