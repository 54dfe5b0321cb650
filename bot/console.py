"""The conversation service in a terminal: `chat`, and `ask` for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from bot.conversation import ConversationService, Reply, User

#: The console is one local resident.
CONSOLE_USER = User(id=1, client_lang=None)


def render_plain(reply: Reply) -> tuple[str, list[str]]:
    """Plain text of a reply and the actions of its numbered choices."""
    lines = [reply.full_text]
    actions: list[str] = []
    for hit in reply.places:
        if hit.place.location is not None:
            loc = hit.place.location
            lines.append(f"  🗺  https://www.openstreetmap.org/?mlat={loc.lat}&mlon={loc.lon}")
    for row in reply.buttons:
        for button in row:
            if button.url:
                lines.append(f"  🔗 {button.label}: {button.url}")
            elif button.action:
                actions.append(button.action)
                lines.append(f"  [{len(actions)}] {button.label}")
    return "\n".join(lines), actions


async def chat(
    service: ConversationService, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Interactive chat: type a question, or the number of a choice; /quit to leave."""
    user = CONSOLE_USER
    reply = await service.start(user)
    while True:
        text, actions = render_plain(reply)
        print(f"\n{text}\n", file=stdout, flush=True)
        try:
            line = _prompt(stdin, stdout)
        except EOFError:
            return
        line = line.strip()
        if line in ("/quit", "/exit", "/q"):
            return
        reply = await _dispatch(service, user, line, actions)


async def _dispatch(
    service: ConversationService, user: User, line: str, actions: list[str]
) -> Reply:
    if line.isdigit() and 1 <= int(line) <= len(actions):
        return await service.press(user, actions[int(line) - 1])
    command, _, arg = line.partition(" ")
    commands = {
        "/start": lambda: service.start(user, arg or None),
        "/help": lambda: service.help(user),
        "/privacy": lambda: service.privacy(user),
        "/forget": lambda: service.forget(user),
        "/lang": lambda: service.choose_language(user),
        "/menu": lambda: service.start(user),
    }
    if command in commands:
        return await commands[command]()
    return await service.ask(user, line)


def _prompt(stdin: TextIO, stdout: TextIO) -> str:
    if stdin is sys.stdin and stdin.isatty():
        return input("> ")
    print("> ", end="", file=stdout, flush=True)
    line = stdin.readline()
    if not line:
        raise EOFError
    # Piped input is not shown by a terminal: echo it so the transcript reads like a chat.
    print(line.rstrip("\r\n"), file=stdout, flush=True)
    return line


def reply_json(question: str, reply: Reply) -> dict[str, Any]:
    """The `ask --json` object for one question."""
    return {
        "question": question,
        "lang": reply.lang,
        "status": str(reply.kind),
        "entry_id": reply.entry_id,
        "score": reply.score,
        "answer": reply.full_text,
        "candidates": [
            {"entry_id": c.entry_id, "title": c.title, "score": c.score} for c in reply.candidates
        ],
    }


async def ask(
    service: ConversationService,
    questions: Iterable[str],
    *,
    as_json: bool,
    stdout: TextIO = sys.stdout,
) -> int:
    """Answer each question in order; a bad line never stops a batch."""
    user = CONSOLE_USER
    for raw in questions:
        question = raw.rstrip("\r\n")
        try:
            reply = await service.ask(user, question)
        except Exception as exc:  # one broken line must not end a batch
            obj: dict[str, Any] = {
                "question": question,
                "lang": "zh",
                "status": "invalid",
                "entry_id": None,
                "score": None,
                "answer": f"error: {type(exc).__name__}",
                "candidates": [],
            }
            print(json.dumps(obj, ensure_ascii=False), file=stdout, flush=True)
            continue
        if as_json:
            print(
                json.dumps(reply_json(question, reply), ensure_ascii=False), file=stdout, flush=True
            )
        else:
            print(render_plain(reply)[0] + "\n", file=stdout, flush=True)
    return 0
