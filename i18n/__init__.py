"""Messages in the operator's language: gettext catalogues of the domain `opsqa`, English the source.

The English strings in the code are the msgids and the fallback. The language is the one given to
`set_language` (the CLI's `--lang`), else the environment's, read as gettext reads it: LANGUAGE,
LC_ALL, LC_MESSAGES, LANG (`LANG=zh_CN.UTF-8`). A web request chooses its own with `use_language`,
for its context only (a context variable): requests served at once never see each other's. Every
layer may import this module: it imports nothing of ours and not click. Names from BPMN files and
stored values are never passed through it.
"""

from __future__ import annotations

import gettext as _stdlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

DOMAIN = "opsqa"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "zh_CN")

_translation: _stdlib.NullTranslations | None = None
_in_context: ContextVar[_stdlib.NullTranslations | None] = ContextVar("opsqa_translation", default=None)
_stdlib_dgettext, _stdlib_dngettext = _stdlib.dgettext, _stdlib.dngettext


def set_language(lang: str | None = None) -> None:
    """Show messages in `lang` (one of LANGUAGES), or in the environment's language when None."""
    global _translation
    languages = [lang] if lang else None
    _translation = _stdlib.translation(DOMAIN, LOCALE_DIR, languages=languages, fallback=True)
    _route_global_domain()


@cache
def _catalogue(lang: str) -> _stdlib.NullTranslations:
    return _stdlib.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Messages in `lang` (one of LANGUAGES) for this context only — one web request — then as before."""
    if lang not in LANGUAGES:
        raise ValueError(f"no language {lang!r}; the languages are {', '.join(LANGUAGES)}")
    token = _in_context.set(_catalogue(lang))
    try:
        yield
    finally:
        _in_context.reset(token)


def translation() -> _stdlib.NullTranslations:
    """The catalogue in use: this context's (`use_language`), else the process's (loaded from the
    environment's language on first use)."""
    chosen = _in_context.get()
    if chosen is not None:
        return chosen
    if _translation is None:
        set_language()
    assert _translation is not None
    return _translation


def chinese() -> bool:
    """Whether the language in use is Chinese (its catalogue says zh…): listings then show stored ids in words."""
    return str(translation().info().get("language", "")).startswith("zh")


def gettext(message: str) -> str:
    return translation().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation().ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a message for extraction without translating it: for texts made at import time (click's
    `help=`), translated where they are shown."""
    return message


def _route_global_domain() -> None:
    """click looks its own messages ("Usage:", "No such option") up with gettext.gettext, i.e. in the
    global domain, in the language the environment names. Our catalogue holds click's messages too:
    make `opsqa` the global domain and answer its lookups in the language chosen here."""
    _stdlib.textdomain(DOMAIN)
    _stdlib.dgettext, _stdlib.dngettext = _dgettext, _dngettext


def _dgettext(domain: str, message: str) -> str:
    return gettext(message) if domain == DOMAIN else _stdlib_dgettext(domain, message)


def _dngettext(domain: str, singular: str, plural: str, n: int) -> str:
    return ngettext(singular, plural, n) if domain == DOMAIN else _stdlib_dngettext(domain, singular, plural, n)
