"""The usage page's tables stay in step with the verbs and the config's options they describe."""

from __future__ import annotations

from gps3async.core.configfile import _INJECTED_KEYS, _PLUGIN_KEYS
from gps3async.usage import OPTION_GROUPS, SUMMARIES, usage_page
from gps3async.verbs import ANSWER_ONLY, HELP, VERBS


def test_every_verb_has_one_line_and_every_option_a_group() -> None:
    assert list(SUMMARIES) == [*ANSWER_ONLY, *VERBS], "one summary per verb, in the table's order"
    grouped = [name for _, names in OPTION_GROUPS for name in names]
    assert sorted(grouped) == sorted(_PLUGIN_KEYS), "every option the config accepts, each once"
    page = usage_page("gpbackup_s3_plugin")
    lines = page.splitlines()
    for verb, summary in SUMMARIES.items():
        spec = VERBS.get(verb)
        call = f"  {verb} {spec.usage}" if spec else f"  {verb}"
        assert f"\n{call}\n      {summary}\n" in page, verb
    assert f"  {', '.join(HELP)}" in lines
    assert max(len(line) for line in lines) <= 100, "the page fits a terminal"
    assert not set(HELP) & set(VERBS) and not set(HELP) & set(_INJECTED_KEYS)
