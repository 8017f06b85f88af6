# SPDX-License-Identifier: MIT
"""Cut scenarios.sh's framed files out of a console stream.

A guest's serial console carries the kernel's messages and whatever else
reaches /dev/console besides the frames, and a kernel message may even land
inside one of their lines. So each file travels as base64 between BEGIN and
END lines with its MD5 on the BEGIN line: a frame that arrives damaged is
reported as damaged, never read as a wrong figure.

    @@KM START SCOPE               a scenario begins
    @@KM BEGIN SCOPE NAME MD5      base64 lines follow, then
    @@KM END SCOPE NAME
    @@KM DONE SCOPE                every file of SCOPE has been sent
    @@KM FINISHED                  the guest's work is over
"""

import base64
import binascii
import hashlib
from collections import deque
from dataclasses import dataclass, field

MARK = "@@KM "
CONSOLE_TAIL = 200      # console lines kept to show why a guest died (an oops is ~60)


@dataclass
class Scope:
    """The files of one scope (`kernel`, or SERVER.MODE) as they arrived."""
    name: str
    files: dict = field(default_factory=dict)      # NAME -> bytes
    damaged: list = field(default_factory=list)    # NAME of each frame that failed its MD5


class FrameReader:
    """Feed it console lines; it calls on_start(scope name) when a scenario
    begins and on_done(Scope) when one is complete."""

    def __init__(self, on_start, on_done):
        self.on_start = on_start
        self.on_done = on_done
        self.scopes = {}
        self.finished = False
        self.console = deque(maxlen=CONSOLE_TAIL)   # what was not a frame
        self._open = None       # (scope, name, md5, [base64 lines]) of the frame being read

    def _scope(self, name):
        return self.scopes.setdefault(name, Scope(name))

    def feed(self, line):
        line = line.rstrip("\r\n")
        if self._open is not None:
            scope, name, md5, chunks = self._open
            if line == f"{MARK}END {scope} {name}":
                self._close()
            elif line.startswith(MARK):
                # a frame cut short (the guest died mid-file, or its END
                # line was garbled): keep what the new line says
                self._scope(scope).damaged.append(name)
                self._open = None
                self.feed(line)
            else:
                chunks.append(line.strip())
            return
        if not line.startswith(MARK):
            self.console.append(line)
            return
        words = line[len(MARK):].split()
        if words[:1] == ["BEGIN"] and len(words) == 4:
            self._open = (words[1], words[2], words[3], [])
        elif words[:1] == ["START"] and len(words) == 2:
            self.on_start(words[1])
        elif words[:1] == ["DONE"] and len(words) == 2:
            self.on_done(self._scope(words[1]))
        elif words == ["FINISHED"]:
            self.finished = True
        else:
            self.console.append(line)

    def _close(self):
        scope, name, md5, chunks = self._open
        self._open = None
        try:
            data = base64.b64decode("".join(chunks), validate=True)
        except (binascii.Error, ValueError):
            data = None
        if data is None or hashlib.md5(data).hexdigest() != md5:
            self._scope(scope).damaged.append(name)
        else:
            self._scope(scope).files[name] = data
