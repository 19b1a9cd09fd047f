"""The Flask secret key: generated on first start into HOME, never in the code or the repo."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

KEY_BYTES = 48


def load_or_create_secret_key(path: Path) -> bytes:
    """Read the key at ``path``, creating it (mode 0600) when it does not exist yet.

    Several web processes may start at once: the file is created with O_EXCL, so exactly one
    of them writes it and the others read the same key.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_existing(path)
    try:
        os.write(fd, secrets.token_hex(KEY_BYTES).encode("ascii"))
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # the umask may have narrowed O_CREAT's mode further, never widened
    log.info("generated a new secret key in %s", path)
    return path.read_bytes().strip()


def _read_existing(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Readable by others: anyone who can read it can forge sessions. Tighten, and say so.
        log.warning("secret key %s had mode %o; setting it to 0600", path, mode)
        os.chmod(path, 0o600)
    key = path.read_bytes().strip()
    if len(key) < 32:
        # Another process may be between creating and writing the file: wait for it briefly.
        import time

        for _ in range(50):
            time.sleep(0.02)
            key = path.read_bytes().strip()
            if len(key) >= 32:
                break
        else:
            raise RuntimeError(f"secret key file {path} is empty or too short; delete it")
    return key
