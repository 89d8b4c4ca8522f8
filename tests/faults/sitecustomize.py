"""Test-only fault injection: Python imports this at start-up when ``tests/faults`` is on PYTHONPATH.

``LAM3_FAULT='{"path": "/abs/out.jsonl", "after_bytes": 5000, "errno": 28}'`` lets ``os.write`` put
``after_bytes`` bytes into that file (the last write cut short, as a disk that fills up mid-line
does) and then fail with that errno. With ``"vanish": true`` the file is deleted at that point
instead, as another program removing it mid-run would. Nothing in LAM3 knows about this hook.
"""

import json
import os

_spec = os.environ.get("LAM3_FAULT")
if _spec:
    _fault = json.loads(_spec)
    _target = os.path.realpath(_fault["path"])
    _left = [int(_fault["after_bytes"])]
    _real_write = os.write

    def _write(fd, data):
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            name = None
        if name != _target:
            return _real_write(fd, data)
        if _left[0] <= 0:
            if _fault.get("vanish"):
                os.unlink(_target)
                return _real_write(fd, data)
            raise OSError(_fault["errno"], os.strerror(_fault["errno"]))
        written = _real_write(fd, bytes(memoryview(data)[: _left[0]]))
        _left[0] -= written
        return written

    os.write = _write
