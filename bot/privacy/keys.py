"""The key that seals what people wrote, and sealing itself.

Everything a person wrote or that names them is stored sealed: AES-256-GCM
(`cryptography`'s AESGCM, an authenticated cipher: a changed byte is refused,
never read as something else), a fresh 96-bit nonce for every seal, and the
place it belongs to (e.g. "report:HB-2026-0001") bound in as associated data,
so a sealed value copied onto another record does not open there.

A sealed value is text: `hb1.<key id>.<base64 of nonce + ciphertext>`. The key
id says which key of the ring sealed it, so a rotation can go on while Harbour
runs: new seals use the current key, old ones open with the key that made them
until `harbour rotate-key` has resealed everything and retires it.

The ring lives in a key file outside the data directory (`HARBOUR_KEY_FILE`),
or comes whole from `HARBOUR_KEY` (for a secret manager). A fresh install with
neither gets a key file made once, with a loud instruction to back it up: data
sealed with a lost key cannot be read by anyone, including Harbour.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import StoreError

log = logging.getLogger(__name__)

PREFIX = "hb1"
NONCE_BYTES = 12
KEY_BYTES = 32
CHECK_TEXT = b"harbour key check"
"""Sealed with the current key and stored beside the data: a wrong key is
found at start, before any record is read."""


class KeyProblem(StoreError):
    """A key problem Harbour cannot go on with: the message says what to do
    (a store problem to whoever runs Harbour: nothing was read or changed)."""


class SealError(RuntimeError):
    """A sealed value that does not open: damaged, moved, or sealed with a key
    the ring does not hold. The message names the key id, never the value."""


@dataclass
class KeyRing:
    """Keys by id; `current` seals, every key opens what it sealed."""

    keys: dict[str, bytes]
    current: str
    origin: str = field(default="", compare=False)
    """Where the ring came from, for messages ("HARBOUR_KEY" or the file path)."""

    def __post_init__(self) -> None:
        where = self.origin or "the key ring"
        if self.current not in self.keys:
            raise KeyProblem(
                f"{where}: its current key ({self.current!r}) is not in it: restore the key "
                "from your backup"
            )
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise KeyProblem(
                    f"{where}: key {kid!r} is {len(key)} bytes, not {KEY_BYTES} (it was cut "
                    "short or changed): restore the key from your backup"
                )

    # ------------------------------------------------------------------ sealing

    def seal(self, plain: bytes, where: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plain, where.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{PREFIX}.{self.current}.{body}"

    def open(self, token: str, where: str) -> bytes:
        prefix, _, rest = token.partition(".")
        kid, _, body = rest.partition(".")
        if prefix != PREFIX or not kid or not body:
            raise SealError("not a sealed value")
        key = self.keys.get(kid)
        if key is None:
            raise SealError(
                f"sealed with key {kid!r}, which the key ring does not hold: was the key file "
                "replaced, or a rotation undone?"
            )
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise SealError(
                f"a value sealed with key {kid!r} does not open: it was damaged or moved"
            ) from None

    def seal_text(self, plain: str, where: str) -> str:
        return self.seal(plain.encode("utf-8"), where)

    def open_text(self, token: str, where: str) -> str:
        return self.open(token, where).decode("utf-8")

    def check_value(self) -> str:
        return self.seal(CHECK_TEXT, "key-check")

    def opens_check(self, token: str) -> bool:
        try:
            return self.open(token, "key-check") == CHECK_TEXT
        except SealError:
            return False

    # ------------------------------------------------------------------ rotation

    def rotated(self) -> KeyRing:
        """This ring with a new current key; the old ones still open."""
        kid = _new_id(self.keys)
        return KeyRing({**self.keys, kid: AESGCM.generate_key(bit_length=256)}, kid, self.origin)

    def only_current(self) -> KeyRing:
        """This ring without its retired keys (after everything was resealed)."""
        return KeyRing({self.current: self.keys[self.current]}, self.current, self.origin)

    def retired(self) -> KeyRing | None:
        """The keys besides the current one, as a ring of their own (what a
        rotation retires; the newest of them is its current), or None if there
        are none."""
        others = {kid: key for kid, key in self.keys.items() if kid != self.current}
        if not others:
            return None
        return KeyRing(others, max(others), self.origin)

    # ------------------------------------------------------------------ as text

    def dumps(self) -> str:
        return json.dumps(
            {
                "format": "harbour-keys-1",
                "current": self.current,
                "keys": {
                    kid: base64.urlsafe_b64encode(key).decode() for kid, key in self.keys.items()
                },
            },
            indent=2,
        )

    @classmethod
    def loads(cls, text: str, origin: str) -> KeyRing:
        """The ring in `text` (as `dumps` writes it); `KeyProblem`, naming
        `origin` and what is wrong (never a key), if it is not one."""
        try:
            data = json.loads(text)
            found = data["keys"].items()
            current = str(data["current"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyProblem(
                f"{origin} is not a Harbour key ring (the JSON Harbour writes in its key "
                "file): restore it from your backup"
            ) from None
        keys: dict[str, bytes] = {}
        for kid, value in found:
            try:
                keys[str(kid)] = base64.b64decode(str(value), altchars=b"-_", validate=True)
            except (ValueError, binascii.Error):
                raise KeyProblem(
                    f"{origin}: key {kid!r} is not base64 (it was changed by hand, or damaged): "
                    "restore the key from your backup"
                ) from None
        return cls(keys, current, origin)


def _new_id(taken: dict[str, bytes]) -> str:
    while True:
        kid = datetime.now(UTC).strftime("k%Y%m%d") + secrets.token_hex(2)
        if kid not in taken:
            return kid


def new_ring(origin: str) -> KeyRing:
    kid = _new_id({})
    return KeyRing({kid: AESGCM.generate_key(bit_length=256)}, kid, origin)


def write_key_file(path: Path, ring: KeyRing, *, replace: bool = True) -> bool:
    """Write the ring where only Harbour's account can read it (0600), whole
    and durable (the file, then its directory, synced). With `replace` False a
    key file already there is kept (another process made it first): returns
    whether this ring was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ring.dumps().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if it exists: never over another's key
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True


def read_key_file(path: Path) -> KeyRing:
    """The ring in the key file `path`; `KeyProblem` naming the file if it
    cannot be read or is not a key ring. One others may read is used, with a
    warning (a secret mounted by an orchestrator often is)."""
    try:
        found = path.stat()
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise KeyProblem(
            f"{path} is a directory, not a key file: set HARBOUR_KEY_FILE to the key file itself"
        ) from None
    except UnicodeDecodeError:
        raise KeyProblem(
            f"{path} is not a Harbour key file (not text): restore it from your backup"
        ) from None
    except OSError as exc:
        raise KeyProblem(
            f"Harbour cannot read its key file {path} ({exc.strerror or type(exc).__name__}): "
            "it must be readable by the account that runs Harbour, and by no other"
        ) from None
    if found.st_mode & 0o077:
        log.warning(
            "The key file %s can be read by other accounts (mode %o): make it readable by "
            "Harbour's account only (chmod 600).",
            path,
            found.st_mode & 0o777,
        )
    return KeyRing.loads(text, str(path))


def load_ring(*, key: str, key_file: Path, data_dir: Path | None, fresh: bool) -> KeyRing:
    """The key ring Harbour runs with.

    `key` (HARBOUR_KEY, the ring's JSON) wins; else `key_file`. With neither,
    a fresh install (`fresh`: nothing stored yet) makes the key file and says
    loudly to back it up; a store that already holds data is refused: starting
    it with a new key would leave everything in it unreadable."""
    if key.strip():
        return KeyRing.loads(key, "HARBOUR_KEY")
    resolved = key_file.resolve()
    if data_dir is not None and resolved.is_relative_to(data_dir.resolve()):
        raise KeyProblem(
            f"HARBOUR_KEY_FILE ({key_file}) is inside the data directory ({data_dir}): keep "
            "the key apart from the data it protects (a copy of one must not give the other)"
        )
    if key_file.exists():
        return read_key_file(key_file)
    if not fresh:
        raise KeyProblem(
            f"Harbour's data is sealed but there is no key: {key_file} is missing and "
            "HARBOUR_KEY is not set. Restore the key file from your backup (or set "
            "HARBOUR_KEY_FILE to where it is). Nothing was changed."
        )
    ring = new_ring(str(key_file))
    if not write_key_file(key_file, ring, replace=False):  # another process made it first
        return read_key_file(key_file)
    log.warning(
        "A new encryption key was made at %s. BACK IT UP NOW, somewhere other than "
        "Harbour's data: without it nothing Harbour stores can be read, by anyone.",
        key_file,
    )
    return ring
