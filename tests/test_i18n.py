"""The message catalogs (server/strings/*.json): every language says the same things."""

from __future__ import annotations

import string

from server.i18n import CATALOGS, DEFAULT_LANGUAGE


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_catalog_has_the_keys_and_placeholders_of_the_default() -> None:
    default = CATALOGS[DEFAULT_LANGUAGE]
    assert set(CATALOGS) == {"en", "fr"}
    for lang, catalog in CATALOGS.items():
        assert catalog.keys() == default.keys(), lang
        for section, texts in catalog.items():
            assert texts.keys() == default[section].keys(), (lang, section)
            for key, text in texts.items():
                assert placeholders(text) == placeholders(default[section][key]), (lang, key)
