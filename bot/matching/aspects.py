"""What a message asks for, beyond its topic: a phone number, a price, opening hours.

"殡仪馆电话多少" is about funerals, but it asks for a phone number; an entry
about funeral facilities that never mentions a phone number cannot answer it,
however close the topic. Near-topic questions like this are where FAQ bots
answer wrongly with confidence, so a candidate whose texts (answer included)
never touch an aspect the message asks for loses confidence.
"""

from __future__ import annotations

import re

# Normalised forms (lower case, simplified). English entries are phrases with
# word boundaries: "phone" alone is also the device ("I left my phone").
_ASPECTS: dict[str, tuple[str, ...]] = {
    "price": (
        "多少钱",
        "收费",
        "费用",
        "价格",
        "价钱",
        "免费",
        "how much",
        "cost",
        "fee",
        "fees",
        "price",
        "free of charge",
    ),
    "phone": (
        "电话",
        "热线",
        "联系方式",
        "phone number",
        "hotline",
        "telephone",
        "contact number",
    ),
    "hours": (
        "几点",
        "开门",
        "关门",
        "营业时间",
        "办公时间",
        "停运",
        "opening hours",
        "open until",
        "what time",
    ),
    "holiday": ("放假", "假期", "public holiday", "day off"),
    "papers": ("带什么", "什么材料", "哪些材料", "证件", "what documents", "paperwork"),
}


def _pattern(term: str) -> str:
    if term.isascii():
        return rf"(?<![a-z]){re.escape(term)}(?![a-z])"
    return re.escape(term)


# An amount of money answers "how much" without any of the words above.
_EXTRA = {"price": (r"\d\s*万?元",)}

_COMPILED = {
    name: re.compile("|".join([*map(_pattern, terms), *_EXTRA.get(name, ())]))
    for name, terms in _ASPECTS.items()
}


def aspects(normalized: str) -> frozenset[str]:
    """The aspects a normalised text speaks of."""
    return frozenset(name for name, pattern in _COMPILED.items() if pattern.search(normalized))
