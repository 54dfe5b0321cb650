"""Greetings, thanks, goodbyes and "who are you", told apart from questions.

A message is small talk only when it is basically nothing else: "你好" is a
greeting, "你好，结婚登记在哪" is a question that starts politely.
"""

from __future__ import annotations

import re

from bot.matching.types import SmalltalkKind

# Order matters: "who" phrases contain "你"/"you", which the filler below
# would otherwise eat; longer phrases go first within a kind.
_PHRASES: tuple[tuple[SmalltalkKind, tuple[str, ...]], ...] = (
    (
        "who",
        (
            "你是谁",
            "你是什么",
            "你是机器人吗",
            "你是人工智能吗",
            "你叫什么名字",
            "你叫什么",
            "你能做什么",
            "你能干什么",
            "你会做什么",
            "你会什么",
            "你会干什么",
            "你可以做什么",
            "你可以干什么",
            "你有什么用",
            "你有什么功能",
            "你能帮我做什么",
            "你能帮我什么",
            "who are you",
            "what are you",
            "are you a bot",
            "are you a robot",
            "are you human",
            "what is your name",
            "what's your name",
            "whats your name",
            "what can you do",
            "what do you do",
            "how can you help me",
            "how can you help",
            "what can you help me with",
            "what can you help with",
        ),
    ),
    (
        "thanks",
        (
            "非常感谢",
            "太感谢了",
            "感谢",
            "谢谢",
            "多谢",
            "谢了",
            "3q",
            "thank you very much",
            "thank you so much",
            "thank you",
            "thanks a lot",
            "many thanks",
            "thanks",
            "thx",
            "ty",
        ),
    ),
    (
        "bye",
        (
            "再见",
            "拜拜",
            "回头见",
            "下次见",
            "goodbye",
            "good bye",
            "bye bye",
            "bye",
            "see you later",
            "see you",
        ),
    ),
    (
        "hello",
        (
            "你好吗",
            "你好",
            "您好",
            "大家好",
            "哈喽",
            "哈罗",
            "嗨",
            "早上好",
            "上午好",
            "中午好",
            "下午好",
            "晚上好",
            "早安",
            "在吗",
            "在不在",
            "有人吗",
            "hello",
            "hallo",
            "hi",
            "hey",
            "good morning",
            "good afternoon",
            "good evening",
            "greetings",
            "how are you doing",
            "how are you",
            "anyone there",
            "is anyone there",
        ),
    ),
)

# Words that may surround small talk without making it a question.
_FILLER = str.split(
    "啊 呀 哦 噢 呢 吗 嘛 哈 哈哈 啦 了 的 吧 呗 嗯 好的 好 ok okay 你 您 小助手 助手 机器人 朋友 "
    "老师 同志 请问 非常 很 真 太 so very much a lot there bot robot dear again 们 大家 "
    "everyone all 了啊 哟 喔"
)

_LATIN_PHRASE = re.compile(r"^[a-z0-9' ]+$")


def _pattern(phrase: str) -> re.Pattern[str]:
    if _LATIN_PHRASE.match(phrase):
        return re.compile(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])")
    return re.compile(re.escape(phrase))


_COMPILED = tuple((kind, tuple(_pattern(p) for p in phrases)) for kind, phrases in _PHRASES)
_FILLER_PATTERNS = tuple(_pattern(f) for f in sorted(_FILLER, key=len, reverse=True))
#: What residents put before a question: greetings, and the polite ways of
#: saying "may I ask" (我想问一下, 麻烦您, excuse me, could you tell me). An asking
#: verb such as 咨询 or 了解 counts only with 想/我想/我要 before it or an ending
#: after it (一下, 下, 个事, 个问题): "咨询电话是多少" asks for the phone number.
_ASKING = r"(?:请问|问问(?!题)|问|咨询|请教|打听|了解)"
#: "问下" is "问一下", but punctuation is gone by now, so a 下 that starts the
#: question's first word (下午, 下周, 下岗, 下葬, 下个月, 下一步) must stay.
_A_MOMENT = (
    r"(?:一下|下(?![午周月个列次岗落水班面步旬半载雨雪车来去单乡葬属级线发拨设楼地"
    r"一星礼学年季期证肢腹调降辖达跌]))"
)
_ENDING = rf"(?:{_A_MOMENT}|个事儿?|一?个问题)"
#: Regex alternatives are tried in order, not longest first: "请问一下" must meet
#: the "一下" forms before the bare "请问", "个事儿" before "个事".
_OPENERS_ZH = (
    rf"(?:我想|想|我要)(?:问问题|{_ASKING}{_ENDING}?)",
    rf"{_ASKING}{_ENDING}",
    rf"麻烦(?:您|你)们?(?:{_ASKING}{_A_MOMENT}?)?|麻烦{_ASKING}{_A_MOMENT}?",
    r"你好|您好|你们好|大家好|哈喽|嗨|早上好|上午好|中午好|下午好|晚上好|请问|同志们?好?|劳驾",
    rf"打扰(?:一下|了|(?:您|你)们?{_A_MOMENT}?)?",
    rf"我有一?个问题|能问一?个问题吗|请?(?:帮我|帮忙)(?:查|看)(?:{_A_MOMENT}|看)",
    r"请告诉我|告诉我",
)
_OPENERS_EN = (
    r"hello|hi|hey|dear|good (?:morning|afternoon|evening)|excuse me(?: please)?|pardon me|sorry",
    r"(?:a |one |quick )?question|may i ask|can i ask|i wonder|i need to know|i want to know",
    r"(?:can|could) you (?:please )?(?:help(?: me)?|tell me)|please help(?: me)?|tell me(?: please)?|please",
)
_GREETING_PREFIX = re.compile(
    rf"^(?:(?:{'|'.join(_OPENERS_ZH)}|(?:{'|'.join(_OPENERS_EN)})(?![a-z]))(?:\s|啊|呀)*)+"
)


def detect_smalltalk(normalized: str) -> SmalltalkKind | None:
    """The kind of small talk a normalised message is, or None for anything else.

    Args:
        normalized: Output of `normalize`.

    Returns:
        "hello", "thanks", "who" or "bye"; None when the message asks something.
    """
    rest = normalized
    found: SmalltalkKind | None = None
    for kind, patterns in _COMPILED:
        for pattern in patterns:
            rest, count = pattern.subn(" ", rest)
            if count and found is None:
                found = kind
    if found is None:
        return None
    for pattern in _FILLER_PATTERNS:
        rest = pattern.sub(" ", rest)
    return found if not rest.strip() else None


def strip_greeting(normalized: str) -> str:
    """Drop what comes before the question: a greeting or a polite opener, so
    "你好 结婚登记在哪" and "我想问一下结婚登记在哪" are matched as "结婚登记在哪".

    Nothing is dropped when nothing would be left ("问一下" stays as it is).
    """
    stripped = _GREETING_PREFIX.sub("", normalized).strip()
    return stripped or normalized
