"""Messages in Chinese and English: the catalogue is complete and compiled, every message in cli/ is
marked, and a zh_CN run of the main commands looks nothing up that the catalogue lacks."""

from __future__ import annotations

import ast
import gettext
import io
import re

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from helpers import ROOT

import i18n

POT = ROOT / "i18n" / "opsqa.pot"
PO = ROOT / "i18n" / "locale" / "zh_CN" / "LC_MESSAGES" / "opsqa.po"
MO = PO.with_suffix(".mo")


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{[^{}]*\}|%\(\w+\)s", text.replace("{{", "").replace("}}", "")))


def _read(path, **options):
    with path.open("rb") as file:
        return read_po(file, **options)


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def test_every_message_is_translated_with_its_placeholders():
    template = _read(POT)
    catalogue = _read(PO, locale="zh_CN")
    problems = []
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id)
        strings = () if translated is None else (
            translated.string if isinstance(translated.string, tuple) else (translated.string,))
        if translated is None or translated.fuzzy or not all(strings):
            problems.append(f"untranslated: {message.id!r}")
            continue
        ids = _ids(message)
        wanted = set.union(*map(_placeholders, ids))
        for string in strings:
            found = _placeholders(string)
            # a plural's one Chinese form may name either form's placeholders (click gives both)
            if (found != wanted) if len(ids) == 1 else not (found <= wanted and found):
                problems.append(f"placeholders of {message.id!r}: {sorted(found)} != {sorted(wanted)}")
    assert problems == []


def test_the_committed_mo_is_the_compiled_po():
    compiled = io.BytesIO()
    write_mo(compiled, _read(PO, locale="zh_CN"))
    with MO.open("rb") as file:
        committed = gettext.GNUTranslations(file)
    fresh = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))
    assert committed._catalog == fresh._catalog, "run `make messages` and commit the .mo"


# -- every message in cli/ is marked -------------------------------------------------------

OUTPUT = {"click.echo", "click.secho", "click.prompt", "click.confirm"}
NOT_REFUSALS = {"TypeError"}  # a bug's message, for the developer


def _literals(node: ast.expr):
    """The string literals that make up an argument (directly, in a +, or in an if-else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node, node.value
    elif isinstance(node, ast.JoinedStr):
        yield node, "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    elif isinstance(node, ast.BinOp):
        yield from _literals(node.left)
        yield from _literals(node.right)
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)


def _language(text: str) -> bool:
    """Words, as opposed to separators and layout ("-", ": ", "  ")."""
    return re.search(r"[A-Za-z]{2,}", text) is not None


@pytest.mark.parametrize("path", sorted((ROOT / "cli").glob("*.py")), ids=lambda path: path.name)
def test_every_message_of_the_cli_is_marked(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    unmarked = []
    for node in ast.walk(tree):
        arguments = []
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in OUTPUT:
                arguments += node.args[:1]
            arguments += [k.value for k in node.keywords if k.arg == "help"]
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = ast.unparse(node.exc.func)
            if name.split(".")[-1] not in NOT_REFUSALS:
                arguments += node.exc.args
        for argument in arguments:
            for literal, text in _literals(argument):
                if _language(text):
                    unmarked.append(f"line {literal.lineno}: {text!r}")
    assert unmarked == []


# -- a zh_CN run -------------------------------------------------------------------------------


class Recorder(gettext.NullTranslations):
    """The catalogue's fallback: sees every message the catalogue has no translation for."""

    def __init__(self):
        super().__init__()
        self.missing: list[str] = []

    def gettext(self, message):
        self.missing.append(message)
        return message

    def ngettext(self, singular, plural, n):
        self.missing.append(singular)
        return singular if n == 1 else plural


@pytest.fixture
def recorder(monkeypatch):
    recorder, choose = Recorder(), i18n.set_language

    def set_language(lang=None):
        choose(lang)
        if isinstance(i18n.translation(), gettext.GNUTranslations):
            i18n.translation().add_fallback(recorder)

    monkeypatch.setattr(i18n, "set_language", set_language)
    return recorder


def _main_commands(run, *lang: str) -> list:
    """The main commands, a refusal from the engine, help pages and a usage error."""
    results = [run(*lang, "init"), run(*lang, "users", "add", "qmd1", "--role", "qmd", "--name", "张三"),
               run(*lang, "deploy", "--reason", "set-up", "processes"), run(*lang, "processes"),
               run(*lang, "cycle", "start", "--year", "2027"), run(*lang, "start", "quality_plan")]
    task_id = run.json("tasks")[0]["id"]
    results += [run(*lang, "tasks"), run(*lang, "task", "show", task_id[:8]),
                run(*lang, "task", "complete", task_id, "--set", "objectives=x", login="qmd1"),
                run(*lang, "task", "complete", task_id, "--set", "nonsense=1", login="qmd1"),
                run(*lang, "instances"), run(*lang, "instance", "show", "1"), run(*lang, "findings"),
                run(*lang, "start", "no_such_process"), run(*lang, "instance", "show", "99"),
                run(*lang, "--help"), run(*lang, "task", "complete", "--help"), run(*lang, "task", "complete"),
                run(*lang, "tasks", "--no-such-option")]
    return results


def test_a_chinese_run_of_the_main_commands_is_all_chinese(run, recorder):
    results = _main_commands(run, "--lang", "zh_CN")
    assert recorder.missing == []
    text = "\n".join(r.output for r in results)
    assert "已在" in text and "创建 opsqa 数据库" in text
    assert "任务 draft_plan，字段 verification" in text  # the field's label stays as the BPMN writes it
    assert "opsqa：未部署流程 'no_such_process'；见 `opsqa processes`" in text
    assert "用法： cli task complete [OPTIONS] TASK_ID" in text and "错误：缺少参数 'TASK_ID'" in text
    assert "错误：没有选项 '--no-such-option'。" in text
    assert "显示此帮助信息并退出。" in text and "用表单值完成一个任务" in text
    assert [r.exit_code for r in results[-5:]] == [1, 0, 0, 2, 2]


def test_the_language_comes_from_the_environment_unless_given(run, monkeypatch):
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    assert "显示此帮助信息并退出。" in run("--help").output
    assert "Show this message and exit." in run("--lang", "en", "--help").output
    assert "Show this message and exit." in run("--help", "--lang", "en").output  # whatever the order
    monkeypatch.setenv("LANGUAGE", "")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert run("tasks").stderr.startswith("opsqa：")


def test_an_english_run_is_unchanged_and_json_is_not_translated(run):
    results = _main_commands(run)
    text = "\n".join(r.output for r in results)
    assert "Usage: cli task complete [OPTIONS] TASK_ID" in text and "Error: No such option" in text
    assert "opsqa: no process 'no_such_process' is deployed; see `opsqa processes`" in text
    assert [r.exit_code for r in results[-5:]] == [1, 0, 0, 2, 2]
    assert run.json("--lang", "zh_CN", "tasks") == run.json("tasks")
    assert run.json("--lang", "zh_CN", "instance", "show", "1") == run.json("instance", "show", "1")


def test_an_unknown_language_is_refused_in_one_line(run):
    result = run("--lang", "fr", "tasks")
    assert result.exit_code == 2
    assert "Invalid value for '--lang': 'fr' is not one of 'en', 'zh_CN'." in result.stderr
