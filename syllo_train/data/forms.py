"""Record forms: one decoded record → one conversation (its turns, the answer last), or why not.

The forms people fine-tune on (docs/data.md shows a literal record of each):

* ``chat``: ``{"messages": [{"role": …, "content": …}, …]}``;
* ``prompt_completion``: ``{"prompt": "…", "completion": "…"}`` (strings);
* ``chat_prompt_completion``: TRL's conversational prompt-completion,
  ``{"prompt": [messages…], "completion": [messages…]}``;
* ``sharegpt``: ``{"conversations": [{"from": "human", "value": …}, {"from": "gpt", …}]}``,
  roles ``human``/``gpt``/``system`` and also ``user``/``assistant``, an optional
  ``system`` field (as LLaMA-Factory reads it);
* ``alpaca``: ``{"instruction": …, "input"?: …, "output": …, "system"?: …, "history"?: [[q, a], …]}``;
  the user turn is ``instruction``, a newline, then ``input`` when it is not
  empty (LLaMA-Factory's join).

``data.format = "auto"`` recognises each record's form by its keys, so the
form of a file is the form of its records (a file may mix forms, as chat and
prompt/completion JSONL always could); any other value reads every record as
that form. ``data.columns`` renames keys (``{instruction = "question"}``:
the file's ``question`` is read as ``instruction``), ``data.roles`` maps other
role names to ``system``/``user``/``assistant``.

Every form becomes the same thing: a list of ``{role, content}`` turns ending
with the assistant's answer, checked by one set of rules (``_finish``), so the
encoder (syllo_train/data/encode.py) sees every form alike. Only the standard
library is used here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FORMS = ("chat", "prompt_completion", "chat_prompt_completion", "sharegpt", "alpaca")

#: Names a record's keys can be renamed from (``data.columns``): top-level keys, then message keys.
RECORD_KEYS = (
    "messages",
    "prompt",
    "completion",
    "conversations",
    "instruction",
    "input",
    "output",
    "system",
    "history",
    "metadata",
)
MESSAGE_KEYS = ("role", "content", "from", "value")
COLUMN_KEYS = RECORD_KEYS + MESSAGE_KEYS

ROLES = ("system", "user", "assistant")
#: ShareGPT's role names (``from``), with the chat names that many ShareGPT files use instead.
SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "user": "user",
    "assistant": "assistant",
}

#: Columns whose CSV cells hold JSON text (a CSV cell cannot hold a list).
_JSON_LIST = re.compile(r"\s*\[")
_JSON_MESSAGES = re.compile(r"\s*\[\s*\{")

Turn = dict[str, str]


@dataclass
class Conversation:
    """One record, read: its turns (the answer last, role ``assistant``) and metadata."""

    turns: list[Turn]
    prompt: str  # the last user turn (what a person reads as "the prompt")
    metadata: dict[str, Any]
    form: str


class FormReader:
    """Reads records of the forms above, with the key and role names a config gives."""

    def __init__(
        self,
        form: str = "auto",
        *,
        columns: Mapping[str, str] | None = None,
        roles: Mapping[str, str] | None = None,
        system_prompt: str = "",
    ) -> None:
        if form != "auto" and form not in FORMS:
            raise ValueError(f"unknown record form {form!r}")
        self.form = form
        self.system_prompt = system_prompt
        names = {k: k for k in COLUMN_KEYS} | dict(columns or {})
        self.names = names
        (
            self.k_messages,
            self.k_prompt,
            self.k_completion,
            self.k_conversations,
            self.k_instruction,
            self.k_input,
            self.k_output,
            self.k_system,
            self.k_history,
            self.k_metadata,
        ) = (names[k] for k in RECORD_KEYS)
        self.k_role, self.k_content, self.k_from, self.k_value = (names[k] for k in MESSAGE_KEYS)
        extra = dict(roles or {})
        self.chat_roles = {r: r for r in ROLES} | extra
        self.sharegpt_roles = SHAREGPT_ROLES | extra
        self._parsers = {
            "chat": self._chat,
            "prompt_completion": self._prompt_completion,
            "chat_prompt_completion": self._chat_prompt_completion,
            "sharegpt": self._sharegpt,
            "alpaca": self._alpaca,
        }

    # ---- which form -------------------------------------------------------------------------

    def detect(self, rec: Mapping[str, Any]) -> str | None:
        """The form a record's keys say it is (None: no form's keys)."""
        if self.k_messages in rec:
            return "chat"
        if self.k_conversations in rec:
            return "sharegpt"
        if self.k_prompt in rec or self.k_completion in rec:
            lists = isinstance(rec.get(self.k_prompt), list) or isinstance(
                rec.get(self.k_completion), list
            )
            return "chat_prompt_completion" if lists else "prompt_completion"
        if self.k_instruction in rec or self.k_output in rec:
            return "alpaca"
        return None

    def read(self, rec: Any) -> Conversation | str:
        """The record as a conversation, or the reason it is bad (the caller adds its location)."""
        if not isinstance(rec, dict):
            return f"expected a JSON object, got {type(rec).__name__}"
        form = self.form if self.form != "auto" else self.detect(rec)
        if form is None:
            keys = ", ".join(repr(k) for k in list(rec)[:8]) or "none"
            return (
                f"a record needs {self.k_messages!r} (chat), {self.k_prompt!r} and {self.k_completion!r}, "
                f"{self.k_conversations!r} (ShareGPT) or {self.k_instruction!r} and {self.k_output!r} (Alpaca); "
                f"its keys are {keys} (map other names with data.columns)"
            )
        turns = self._parsers[form](rec)
        if isinstance(turns, str):
            return turns
        meta = rec.get(self.k_metadata)
        return _finish(turns, meta if isinstance(meta, dict) else {}, form)

    def json_text_columns(self) -> dict[str, re.Pattern[str]]:
        """Column names whose text is JSON in a CSV file, with the start that marks it as JSON.

        A prompt or completion is read as JSON only when it starts like a list
        of messages (``[{``), so a string prompt such as ``[1, 2]`` stays a string.
        """
        found = {self.k_prompt: _JSON_MESSAGES, self.k_completion: _JSON_MESSAGES}
        for key in (self.k_messages, self.k_conversations, self.k_history):
            found[key] = _JSON_LIST
        return found

    # ---- the forms --------------------------------------------------------------------------

    def _messages(
        self,
        msgs: Any,
        field: str,
        role_key: str,
        content_key: str,
        roles: Mapping[str, str],
        known: str,
    ) -> list[Turn] | str:
        if not isinstance(msgs, list) or not msgs:
            return f"{field!r} must be a non-empty list of {{{role_key}, {content_key}}} objects"
        turns: list[Turn] = []
        for i, m in enumerate(msgs):
            role = m.get(role_key) if isinstance(m, dict) else None
            if not isinstance(role, str):
                return f"{field}[{i}] has no {role_key!r}"
            content = m.get(content_key)
            if not isinstance(content, str):
                return f"{field}[{i}] ({role}) has no string {content_key!r}"
            mapped = roles.get(role)
            if mapped is None:
                return f"{field}[{i}] has unknown role {role!r} ({known})"
            turns.append({"role": mapped, "content": content})
        return turns

    def _chat(self, rec: dict[str, Any]) -> list[Turn] | str:
        return self._messages(
            rec[self.k_messages],
            self.k_messages,
            self.k_role,
            self.k_content,
            self.chat_roles,
            "use system, user or assistant, or map it with data.roles",
        )

    def _with_system(self, turns: list[Turn], system: str) -> list[Turn]:
        return [{"role": "system", "content": system}, *turns] if system else turns

    def _prompt_completion(self, rec: dict[str, Any]) -> list[Turn] | str:
        prompt, golden = rec.get(self.k_prompt), rec.get(self.k_completion)
        if not isinstance(prompt, str) or not isinstance(golden, str):
            return f"{self.k_prompt!r} and {self.k_completion!r} must both be strings (or both lists of messages)"
        turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": golden}]
        return self._with_system(turns, self.system_prompt)

    def _chat_prompt_completion(self, rec: dict[str, Any]) -> list[Turn] | str:
        prompt, completion = rec.get(self.k_prompt), rec.get(self.k_completion)
        if not isinstance(prompt, list) or not isinstance(completion, list):
            return (
                f"{self.k_prompt!r} and {self.k_completion!r} must both be lists of messages "
                "(TRL's conversational prompt-completion), or both strings"
            )
        known = "use system, user or assistant, or map it with data.roles"
        args = (self.k_role, self.k_content, self.chat_roles, known)
        before = self._messages(prompt, self.k_prompt, *args)
        if isinstance(before, str):
            return before
        answer = self._messages(completion, self.k_completion, *args)
        if isinstance(answer, str):
            return answer
        for i, turn in enumerate(answer):
            if turn["role"] != "assistant":
                return (
                    f"{self.k_completion}[{i}] has role {turn['role']!r}: the completion holds "
                    "the assistant's answer (role 'assistant')"
                )
        return before + answer

    def _sharegpt(self, rec: dict[str, Any]) -> list[Turn] | str:
        msgs = rec[self.k_conversations]
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict):
            # Many "ShareGPT" files write chat's role/content inside `conversations`.
            chat_keys = self.k_from not in msgs[0] and self.k_role in msgs[0]
        else:
            chat_keys = False
        role_key, content_key = (
            (self.k_role, self.k_content) if chat_keys else (self.k_from, self.k_value)
        )
        turns = self._messages(
            msgs,
            self.k_conversations,
            role_key,
            content_key,
            self.sharegpt_roles,
            "use human, gpt or system (or user, assistant), or map it with data.roles",
        )
        if isinstance(turns, str):
            return turns
        system = rec.get(self.k_system)
        if system is not None and not isinstance(system, str):
            return f"{self.k_system!r} must be a string"
        if system and turns[0]["role"] == "system":
            return (
                f"the record has both a {self.k_system!r} field and a system turn in "
                f"{self.k_conversations!r}: keep one"
            )
        return self._with_system(turns, system or "")

    def _alpaca(self, rec: dict[str, Any]) -> list[Turn] | str:
        instruction, extra, output = (
            rec.get(self.k_instruction),
            rec.get(self.k_input),
            rec.get(self.k_output),
        )
        if not isinstance(instruction, str):
            return f"an Alpaca record needs {self.k_instruction!r} as a string"
        if extra is not None and not isinstance(extra, str):
            return f"{self.k_input!r} must be a string when given"
        if not isinstance(output, str):
            return f"an Alpaca record needs {self.k_output!r} (the answer) as a string"
        system = rec.get(self.k_system)
        if system is not None and not isinstance(system, str):
            return f"{self.k_system!r} must be a string when given"
        turns: list[Turn] = []
        history = rec.get(self.k_history)
        if history is not None:
            if not isinstance(history, list):
                return f"{self.k_history!r} must be a list of [instruction, answer] pairs"
            for i, pair in enumerate(history):
                if (
                    not isinstance(pair, list | tuple)
                    or len(pair) != 2
                    or not all(isinstance(x, str) for x in pair)
                ):
                    return f"{self.k_history}[{i}] must be a pair of strings [instruction, answer]"
                turns += [
                    {"role": "user", "content": pair[0]},
                    {"role": "assistant", "content": pair[1]},
                ]
        user = "\n".join(x for x in (instruction, extra) if x)
        turns += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        return self._with_system(turns, system or self.system_prompt)


def _finish(turns: list[Turn], meta: dict[str, Any], form: str) -> Conversation | str:
    """The rules every conversation meets, whatever form it came in."""
    answer = turns[-1]
    if answer["role"] != "assistant":
        return "the last message must be the assistant's answer (role 'assistant')"
    prompt = None
    for t in reversed(turns):
        if t["role"] == "user":
            prompt = t["content"]
            break
    if prompt is None:
        return "no 'user' message before the assistant's answer"
    if not answer["content"].strip():
        return "the answer is empty"
    if not prompt.strip():
        return "the prompt is empty"
    try:  # one encode for the whole record: this runs once per record of every file
        "".join([t["content"] for t in turns]).encode("utf-8")
    except UnicodeEncodeError:
        # JSON can spell a lone surrogate (\ud800); the tokenizer then raised a
        # TypeError deep inside training setup.
        bad = next(t for t in turns if not _is_unicode(t["content"]))
        return f"the {bad['role']} text holds an unpaired surrogate escape (\\ud800-\\udfff): not valid Unicode"
    return Conversation(turns, prompt, meta, form)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
