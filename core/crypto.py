"""Patient free text encrypted at rest: the data key (CARELINE_DATA_KEY), and the column types that use it.

The key is cryptography's Fernet (AES-128-CBC with an HMAC-SHA256, a timestamp in each token). CARELINE_DATA_KEY
holds one key or several, comma-separated: the first encrypts, every one decrypts (MultiFernet), so a new key is
put first, `careline keys rotate` re-encrypts every value with it, and the old one can then go.

An engine carries its key (`bind_cipher`, done by `core.db.make_engine`): the column types read it from the
engine's dialect, so code that reads and writes the models sees plaintext, the database only ciphertext, and no
key lives in a global. An encrypted column cannot be searched or compared in SQL (each token is different).
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

# A fixed key for development and tests only (core/config.py refuses to use it in production): data written with
# it is as good as plaintext.
DEVELOPMENT_DATA_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"careline development data key").digest()).decode()
DIALECT_ATTRIBUTE = "careline_data_cipher"
FERNET_TOKEN_PREFIX = "gAAAAA"  # every Fernet token starts with its version byte 0x80, base64url: "gAAAAA..."


class DataKeyError(RuntimeError):
    """CARELINE_DATA_KEY is missing or malformed, or a value was encrypted with none of its keys."""


def parse_data_keys(value: str) -> list[str]:
    """CARELINE_DATA_KEY's keys, first (the one that encrypts) first; DataKeyError names a malformed one by
    position, never by its value."""
    keys = [part.strip() for part in value.split(",") if part.strip()]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise DataKeyError(f"CARELINE_DATA_KEY: key {position} is not a Fernet key (32 url-safe base64 bytes; "
                               "make one with `careline keys generate`)") from exc
    return keys


def generate_data_key() -> str:
    """A new random Fernet key."""
    return Fernet.generate_key().decode()


class DataCipher:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: Iterable[str]):
        keys = list(keys)
        if not keys:
            raise DataKeyError("no data key: set CARELINE_DATA_KEY")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_setting(cls, value: str) -> "DataCipher":
        """The cipher of a CARELINE_DATA_KEY value."""
        return cls(parse_data_keys(value))

    def encrypt(self, plaintext: str) -> str:
        """A token of `plaintext` under the first key."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a token made with any of the keys."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise DataKeyError("a value was encrypted with none of CARELINE_DATA_KEY's keys") from exc

    def rotate(self, token: str) -> str:
        """The same plaintext, as a token of the first key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise DataKeyError("a value was encrypted with none of CARELINE_DATA_KEY's keys") from exc


def is_token(value: object) -> bool:
    """Whether `value` looks like a Fernet token (what an encrypted column holds), not plaintext."""
    return isinstance(value, str) and value.startswith(FERNET_TOKEN_PREFIX)


def bind_cipher(engine, cipher: DataCipher | None) -> None:
    """Give `engine` its data key: the encrypted column types of its statements use it."""
    setattr(engine.dialect, DIALECT_ATTRIBUTE, cipher)


def engine_cipher(dialect) -> DataCipher:
    """The cipher of an engine's dialect; DataKeyError when the engine was given none."""
    cipher = getattr(dialect, DIALECT_ATTRIBUTE, None)
    if cipher is None:
        raise DataKeyError("this database engine has no data key (core.crypto.bind_cipher)")
    return cipher


class Sealed(str):
    """A value already encrypted with the data key (a Fernet token), stored as it is: the call log hands a
    transcription on from its event to its message without decrypting it."""


class EncryptedText(TypeDecorator):
    """Text stored as a Fernet token of the engine's data key; the models read and write plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, Sealed):
            return str(value)
        return engine_cipher(dialect).encrypt(str(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return engine_cipher(dialect).decrypt(value)


class EncryptedJSON(TypeDecorator):
    """A JSON document stored as a Fernet token of its text; the models read and write dicts and lists."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return engine_cipher(dialect).encrypt(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return json.loads(engine_cipher(dialect).decrypt(value))
