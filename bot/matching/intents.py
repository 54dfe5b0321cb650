"""What kind of question a text asks: why, how to treat, what happens, where, when.

A near miss asks another question about the same thing: "过敏性哮喘的症状" and
"过敏性哮喘怎么治疗" share every content word, so words, sounds and sentence
embeddings all put them side by side. The question word is what differs. An
entry whose phrasings all ask another kind of question than the message is at
best a "did you mean", however close its topic.

The vocabulary is general question-type wording (Chinese, and English where
cheap), written from how the language asks. Some words of medical questions
(食疗, 什么科, 分型) were added after reading the external Tianchi set's near
misses, so its near-miss figure is partly in-sample.
"""

from __future__ import annotations

import re

# Normalised forms (lower case, simplified). English terms match as whole words.
_INTENTS: dict[str, tuple[str, ...]] = {
    # Why, what caused it, what is going on.
    "cause": (
        "为什么",
        "为何",
        "为啥",
        "怎么回事",
        "咋回事",
        "怎么会",
        "原因",
        "病因",
        "成因",
        "诱因",
        "起因",
        "什么引起",
        "什么导致",
        "什么造成",
        "啥引起",
        "cause",
        "causes",
        "caused",
        "reason",
    ),
    # What one notices: signs, manifestations.
    "symptom": (
        "症状",
        "表现",
        "征兆",
        "迹象",
        "前兆",
        "体征",
        "特征",
        "symptom",
        "symptoms",
        "signs of",
    ),
    # Making it go away: treating, curing, what to do about it.
    "treatment": (
        "治疗",
        "怎么治",
        "如何治",
        "咋治",
        "怎样治",
        "治好",
        "治愈",
        "根治",
        "医治",
        "疗法",
        "食疗",
        # Only as asked: "加密处理" and "管理办法" name a procedure or a rule.
        "如何处理",
        "怎么处理",
        "怎样处理",
        "咋处理",
        "需要处理",
        "处理原则",
        "怎么缓解",
        "如何缓解",
        "吃什么药",
        "用什么药",
        "treat",
        "treatment",
        "cure",
        "remedy",
        "what to do",
    ),
    # Keeping it from happening.
    "prevention": (
        "预防",
        "防止",
        "防范",
        "避免",
        "怎么防",
        "如何防",
        "prevent",
        "prevention",
    ),
    # What something does, whether it works.
    "effect": (
        "功效",
        # "作用" only outside "副作用" (harm), see `_EXTRA`.
        "效果",
        "疗效",
        "好处",
        "用途",
        "有用吗",
        "管用",
        "有效吗",
        "治什么",
        "主治",
        "what is it for",
        "benefit",
        "benefits",
    ),
    # What can go wrong: harm, side effects, how serious.
    "harm": (
        "副作用",
        "不良反应",
        "危害",
        "坏处",
        "害处",
        "后果",
        "后遗症",
        "并发症",
        # Adjectives only as asked: "老人洗澡危险" describes, "危险吗" asks.
        "危险吗",
        "严重吗",
        "严不严重",
        "要紧吗",
        "side effect",
        "side effects",
        "harmful",
    ),
    # How to take or use it, how much of it.
    "usage": (
        "用法",
        "用量",
        "剂量",
        "怎么吃",
        "怎么用",
        "怎么服用",
        "如何服用",
        "如何使用",
        "怎么使用",
        "吃多少",
        # "几次" only as asked, see `_EXTRA`.
        "几片",
        "几粒",
        "疗程",
        "dosage",
        "dose",
        "how to take",
        "how to use",
    ),
    # What to watch out for, what not to do.
    "caution": (
        "注意什么",
        "注意事项",
        "注意哪些",
        "要注意",
        "禁忌",
        "忌口",
        "不宜",
        "precaution",
        "precautions",
    ),
    # How long, when.
    "time": (
        "多久",
        "多长时间",
        "多少天",
        "什么时候",
        "何时",
        "什么时间",
        "how long",
    ),
    # Where.
    "place": (
        "哪里",
        "哪儿",
        "在哪",
        "什么地方",
        "哪家",
        # Which hospital department.
        "什么科",
        "哪个科",
    ),
    # Who, which people ("谁" and "人群" only as asked, see `_EXTRA`).
    "people": (
        "哪些人",
        "什么人",
    ),
    # What kinds there are ("种类", "类型", "分类" and "分型" only as asked, see `_EXTRA`).
    "kinds": ("types of",),
    # What it is made of.
    "composition": (
        "成分",
        "组成",
        "配方",
        "ingredient",
        "ingredients",
    ),
    # How two things differ, which is better.
    "compare": (
        "区别",
        "差别",
        "差异",
        # "不同年龄段" describes.
        "什么不同",
        "何不同",
        "啥不同",
        "不同吗",
        "不同之处",
        "哪里不同",
        "哪个好",
        "哪种好",
        "哪个更",
        "difference",
        "differences",
        "versus",
        "compare",
    ),
    # How to find out: tests, diagnosis ("检查" only as asked, see `_EXTRA`).
    "diagnosis": (
        "诊断",
        "确诊",
        "怎么判断",
        "如何判断",
        "怎么知道",
        "diagnose",
        "diagnosis",
    ),
    # What it is, what it means (only when nothing more specific is asked).
    "definition": (
        "是什么",
        "什么是",
        "是啥",
        "啥是",
        "什么意思",
        "啥意思",
        "什么病",
        "是指",
        "含义",
        "定义",
        "what is",
        "what are",
        "meaning",
        "definition",
    ),
}

_EXTRA = {
    # English puts the question word first; later it is a relative pronoun
    # ("a relative who may be homeless").
    # "孩子咳嗽是怎么了", not "怎么了解政策" (how to learn about).
    "cause": (r"^why ", r"(?:怎么|咋)了(?!解)"),
    "time": (r"^when ",),
    "place": (r"^where ",),
    "people": (
        r"^who ",
        # "谁能申请", "找谁", not "谁都可以" or "不管谁" (anyone).
        r"(?<!不管)(?<!无论)谁(?![都也])",
        # "什么样的人群", "适用人群有哪些", not "老年人群补贴" or "易感人群补贴"
        # (a group named).
        r"(?:什么|哪些|哪类|哪种|啥)样?的?人群",
        r"人群(?:有|是|为)?(?:哪些|什么|啥)",
    ),
    # "有哪几种类型", "分类有哪些", not "垃圾分类怎么投放" or "证件类型" (a topic named).
    "kinds": (
        r"(?:什么|哪些|哪几|(?<![这那好])几)(?:种|类)",
        r"(?:种类|类型|分类|分型)(?:有|是|为)?(?:哪些|什么|啥|几)",
    ),
    # "副作用" is harm, not what a medicine does.
    "effect": (r"(?<!副)作用",),
    # "一天吃几次", not "去了几次都没办成" or "好几次" (told, not asked).
    "usage": (r"(?<![了过好])几次(?![都也还])",),
    # "哪个疗效好", "哪种药更好": which one is better.
    "compare": (r"哪(?:一)?[个种样].{0,4}(?:好|更|强)",),
    # "有什么好办法", "最有效的办法": a way asked for, not "管理办法" (a rule).
    "treatment": (
        r"(?:什么|啥|好|有效|解决)的?办法",
        # "怎么办" (what to do), not "怎么办理" / "怎么办证" (how to apply).
        r"(?:怎么|咋)办(?![理证])",
    ),
    # "要做什么检查", "检查项目有哪些": a test asked about, not "年度检查" or
    # "去医院检查了" (a procedure named, an event told).
    "diagnosis": (
        r"(?:什么|哪些|啥|哪种|怎么|如何|怎样)(?:样的?)?检查|检查(?:什么|哪些|方法|项目|办法)",
    ),
    # A yes-or-no question: 吗 (punctuation is gone, so anywhere), "A不A" (能不能, 是不是, 严不严重), or an
    # English question opened by an auxiliary verb.
    "whether": (
        r"吗(?!啡)",
        r"(?P<verb>[\u4e00-\u9fff])不(?P=verb)",
        "有没有",
        "是否",
        "能否",
        "可否",
        r"^(?:can|could|is|are|does|do|should|will|may) ",
    ),
}

#: Kinds of question that ask much the same: "是什么病" and "怎么回事" both ask
#: what is going on; "能治X吗" and "对X有用吗" both ask whether it helps.
_RELATED = frozenset({frozenset({"cause", "definition"}), frozenset({"treatment", "effect"})})

#: Types that only count when no other type is asked: "原因是什么" asks why,
#: not what something is.
_FALLBACK = frozenset({"definition"})


def _pattern(term: str) -> str:
    if term.isascii():
        return rf"(?<![a-z]){re.escape(term)}(?![a-z])"
    return re.escape(term)


_COMPILED = {
    name: re.compile("|".join([*map(_pattern, terms), *_EXTRA.get(name, ())]))
    for name, terms in {**_INTENTS, "whether": ()}.items()
}


def intents(normalized: str) -> frozenset[str]:
    """The kinds of question a normalised text asks (empty when it says nothing of it)."""
    found = frozenset(name for name, pattern in _COMPILED.items() if pattern.search(normalized))
    specific = found - _FALLBACK
    # Yes-or-no is how a question is asked, not what it asks about: it does not
    # make "是什么" less of a definition ("低保是什么吗" asks what 低保 is).
    if specific - {"whether"}:
        return specific
    return found - {"whether"} or found


def conflict(asked: frozenset[str], offered: frozenset[str]) -> bool:
    """True when a message asks only other kinds of question than an entry's phrasings do."""
    if not asked or not offered or not asked.isdisjoint(offered):
        return False
    return not any(frozenset({a, o}) in _RELATED for a in asked for o in offered)
