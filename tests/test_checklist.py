"""The seed's check lists, item for item."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from handlers.checklist import AUDIT_AREAS, AUDIT_ITEMS, INSPECTION_ITEMS, area_status

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "ops-quality-management-system.zh.txt"


def test_the_audit_checklist_has_every_lettered_item_of_the_seed():
    counts = Counter(item.area for item in AUDIT_ITEMS)
    assert counts == {"CAP": 7, "RES": 5, "TEC": 3, "PRC": 8}  # 23 items, as S1 expects
    assert [area.code for area in AUDIT_AREAS] == ["CAP", "PPL", "RES", "TEC", "PRC"]
    assert len({item.code for item in AUDIT_ITEMS + INSPECTION_ITEMS}) == 28


def test_item_texts_are_the_seeds_own_words():
    if not SEED.exists():  # the seed sits beside the repository; CI has it, a lone clone may not
        return
    seed = SEED.read_text(encoding="utf-8").replace(" ", "")
    for item in AUDIT_ITEMS + INSPECTION_ITEMS:
        assert item.text_zh.rstrip("。") in seed, item.code


def test_an_area_without_items_is_never_conforming():
    assert area_status("PPL", 0, []) == "no items configured"
    assert area_status("CAP", 7, ["conform"] * 6) == "incomplete"
    assert area_status("CAP", 7, ["conform"] * 6 + ["nonconform"]) == "nonconform"
    assert area_status("RES", 5, ["conform", "observation", "not_applicable", "conform", "conform"]) == "conform"
