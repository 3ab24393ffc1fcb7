"""Checkpoints: the history's head signed with the service's Ed25519 key.

A checkpoint says "the first SEQ events of database D end in HEAD, signed at AT". The private key is a
file only the service account reads (the scheduler or `opsqa serve` signs); the public key is recorded in
the database and kept by the auditor, who checks a copy with it alone. Whoever can write the database
can still rewrite it, but no longer so that it verifies against a checkpoint: what they can cut without
being seen is the tail after the last one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from i18n import _

FORMAT = "opsqa-checkpoint/1"
MAX_KEY_FILE = 4096


class KeyError_(Exception):
    """A key file that cannot be used: one line for a person."""


def statement(database_id: str, seq: int, head_hash: str, at: datetime) -> bytes:
    """What a checkpoint's signature covers."""
    return (f"{FORMAT}\ndatabase {database_id}\nevents {seq}\nhead {head_hash}\n"
            f"at {at.astimezone(UTC).isoformat(timespec='microseconds')}\n").encode()


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode()


def verifies(public: bytes, message: bytes, signature: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def new_key(path: Path) -> Ed25519PrivateKey:
    """A new private key, written to `path` readable by its owner only; never over an existing file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise KeyError_(_("{path} exists; a signing key is never written over (move it away first)").format(
                            path=path)) from None
    except OSError as exc:
        raise KeyError_(_("cannot write {path}: {reason}").format(path=path, reason=exc.strerror)) from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    """The private key at `path`: a regular file, readable by its owner only, holding an Ed25519 key."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyError_(_("no signing key at {path} (the service's key: give --key or $OPSQA_SIGNING_KEY where it "
                          "is kept, or an admin makes one with `opsqa history keygen`)").format(path=path)) from None
    except OSError as exc:
        raise KeyError_(_("cannot read the signing key {path}: {reason}").format(
                            path=path, reason=exc.strerror)) from None
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_FILE:
            raise KeyError_(_("{path} is not a signing key file").format(path=path))
        if info.st_mode & 0o077:
            raise KeyError_(_("the signing key {path} is readable by others (mode {mode:o}); it must be 0600").format(
                                path=path, mode=info.st_mode & 0o777))
        data = source.read(MAX_KEY_FILE)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyError_(_("{path} is not a signing key file").format(path=path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(_("{path} is not an Ed25519 key").format(path=path))
    return key


def public_file_text(public: bytes) -> str:
    """The public key as the auditor keeps it (PEM)."""
    return Ed25519PublicKey.from_public_bytes(public).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public(data: bytes, path: str) -> bytes:
    """A public key file's contents (read with a bound by the caller) -> the raw key."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyError_(_("{path} is not a public key file").format(path=path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_(_("{path} is not an Ed25519 public key").format(path=path))
    return raw_public(key)


def exported(checkpoint: dict, public: bytes) -> str:
    """A checkpoint as a file for the auditor (JSON, with the public key that signed it)."""
    body = {**checkpoint, "at": checkpoint["at"].astimezone(UTC).isoformat(timespec="microseconds")}
    return json.dumps({"format": FORMAT, **body, "public_key": base64.b64encode(public).decode()},
                      ensure_ascii=False, indent=2, default=str) + "\n"


def read_exported(data: bytes, path: str) -> dict:
    """A checkpoint file's contents (read with a bound by the caller) -> the checkpoint."""
    try:
        data = json.loads(data)
        if data.get("format") != FORMAT:
            raise ValueError
        checkpoint = {"database_id": str(data["database_id"]), "seq": int(data["seq"]),
                      "head_hash": str(data["head_hash"]), "at": datetime.fromisoformat(data["at"]),
                      "key_id": str(data["key_id"]), "signature": str(data["signature"]),
                      "public_key": base64.b64decode(data["public_key"], validate=True)}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyError_(_("{path} is not an opsqa checkpoint file").format(path=path)) from None
    return checkpoint
