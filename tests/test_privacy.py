"""Pseudonymous ids and masking of personal data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.privacy import hash_user_id, mask_personal_data

# --- hashing -----------------------------------------------------------------------------


def test_hash_is_hmac_sha256_hex_and_hides_the_id() -> None:
    digest = hash_user_id(123456789, "secret")
    assert len(digest) == 64
    assert int(digest, 16) >= 0  # hex
    assert "123456789" not in digest
    assert digest == hash_user_id(123456789, "secret")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((1, "secret"), (2, "secret")),
        # Another deployment's secret gives unlinkable hashes for the same person.
        ((1, "secret"), (1, "other-secret")),
    ],
    ids=["other-user", "other-secret"],
)
def test_hash_differs(a: tuple[int, str], b: tuple[int, str]) -> None:
    assert hash_user_id(*a) != hash_user_id(*b)


# --- masking: table tests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678谢谢", "电话[phone]谢谢"),
        ("call 138 1234 5678 please", "call [phone] please"),
        ("138-1234-5678", "[phone]"),
        ("+8613912345678", "[phone]"),
        ("+86 139-1234-5678", "[phone]"),
        ("(+86)139 1234 5678", "[phone]"),
        ("0086 13912345678", "[phone]"),
        # Full-width digits from a Chinese input method.
        ("手机１３８１２３４５６７８", "手机[phone]"),
        ("座机024-23456789", "座机[phone]"),
        ("(024)2345678", "[phone]"),
        ("0411 12345678", "[phone]"),
        ("身份证11010119900101123X号", "身份证[id-card]号"),
        ("id 110101199001011234", "id [id-card]"),
        ("110101 19900101 123x", "[id-card]"),
        ("老身份证110101900101123", "老身份证[id-card]"),
        ("卡号6222021234567890123", "卡号[card-number]"),
        ("mail zhang.san+bot@example.com.cn now", "mail [email] now"),
        ("邮箱：abc_1@mail.example.org。", "邮箱：[email]。"),
        ("全角ａｂｃ＠ｅｘａｍｐｌｅ．ｃｏｍ", "全角[email]"),
        # The digits of a phone-number address go with the address, not left behind.
        ("13812345678@example.com", "[email]"),
        ("电话13812345678，邮箱a@b.cn", "电话[phone]，邮箱[email]"),
    ],
    ids=[
        "mobile-in-chinese",
        "mobile-spaces",
        "mobile-dashes",
        "mobile-plus86",
        "mobile-plus86-dashes",
        "mobile-bracket-plus86",
        "mobile-0086",
        "mobile-fullwidth",
        "landline-dash",
        "landline-brackets",
        "landline-4-digit-area",
        "id18-x",
        "id18-digits",
        "id18-spaced",
        "id15",
        "bank-card",
        "email-plus-subdomain",
        "email-chinese-punctuation",
        "email-fullwidth",
        "email-of-digits",
        "two-kinds",
    ],
)
def test_masks(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "为2000户困难老年人家庭实施适老化改造",
        "共查办案件19637件,移送公安机关225件",
        "《沈阳市殡葬设施规划建设规划(2023年—2035年)》",
        "帮扶重点旅客11.9万人次,收到各类感谢信1100余封",
        "实现13个区县(市)全部开展",
        "创建率分别达80%、60%",
        "3月6日召开2024年全市民政工作会议",
        "2024-03-06 08:30-17:00",
        "20240306",
        # A 5-digit hotline is public, not personal.
        "拨打12345热线",
        # Eleven digits that do not start like a mobile number.
        "12345678901",
        # Ten digits not starting with 0: no area code, so not a landline.
        "2147483647",
        "@沈阳民政 on weibo",
        "user at example dot com",
        "marriage-registration-points",
        "",
    ],
    ids=[
        "households",
        "case-count",
        "year-range-em-dash",
        "decimal-and-count",
        "district-count",
        "percentages",
        "dates-chinese",
        "iso-date-and-hours",
        "compact-date",
        "hotline",
        "eleven-digits-not-mobile",
        "ten-digits",
        "mention-without-domain",
        "spelled-out-address",
        "entry-id",
        "empty",
    ],
)
def test_does_not_mask(text: str) -> None:
    assert mask_personal_data(text) == text


# --- masking: properties -----------------------------------------------------------------

_digit = st.sampled_from("0123456789")


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.lists(_digit, min_size=n, max_size=n).map("".join)


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    number = "1" + draw(st.sampled_from("3456789")) + draw(_digits(9))
    sep = draw(st.sampled_from(["", " ", "-"]))
    body = sep.join([number[:3], number[3:7], number[7:]])
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "86", "0086 ", "(+86)"]))
    return prefix + body


@st.composite
def landlines(draw: st.DrawFn) -> str:
    area = "0" + draw(st.sampled_from("123456789")) + draw(_digits(draw(st.sampled_from([1, 2]))))
    local = draw(_digits(draw(st.sampled_from([7, 8]))))
    sep = draw(st.sampled_from(["", "-", " "]))
    if draw(st.booleans()):
        area = f"({area})"
    return area + sep + local


@st.composite
def id_cards(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(_digits(15))
    return draw(_digits(17)) + draw(st.sampled_from("0123456789Xx"))


personal_data = st.one_of(mobiles(), landlines(), id_cards(), st.emails())

# Arbitrary text, but a digit right next to a number would make it a different, longer
# number: that case is covered by the "must not mask" table, not by this property.
prefixes = st.text().filter(lambda s: not s[-1:].isdecimal())
suffixes = st.text().filter(lambda s: not s[:1].isdecimal())


@given(prefix=prefixes, secret=personal_data, suffix=suffixes)
def test_personal_data_never_survives(prefix: str, secret: str, suffix: str) -> None:
    masked = mask_personal_data(prefix + secret + suffix)
    assert secret not in masked


@given(prefix=prefixes, secret=personal_data, suffix=suffixes)
def test_masking_is_idempotent(prefix: str, secret: str, suffix: str) -> None:
    once = mask_personal_data(prefix + secret + suffix)
    assert mask_personal_data(once) == once


@given(st.text(alphabet=st.characters(blacklist_categories=["Nd"]).filter(lambda c: c != "@")))
def test_text_without_digits_or_at_is_unchanged(text: str) -> None:
    # Full-width "＠" is blacklisted too: it counts as "@".
    text = text.replace("＠", "")
    assert mask_personal_data(text) == text
