"""The optimizer-reply parser (tools/parse.py) and the call budget: pure functions, no models."""


from tools.parse import parse_api_calls, within_budget


def calls(text):
    return parse_api_calls(text).calls


def test_the_prompted_format():
    text = 'Needs facts.\n<api_calls><api>information_retrieval("Jupiter")</api><api>question_answering("How big is Mars?")</api></api_calls>'
    assert calls(text) == [("information_retrieval", "Jupiter"), ("question_answering", "How big is Mars?")]


def test_explicit_none_is_usable_and_empty():
    parsed = parse_api_calls("Nothing to learn.\n<api_calls>none</api_calls>")
    assert parsed.ok and parsed.none and parsed.calls == []


def test_paper_names_quote_variants_and_missing_closing_tags():
    text = ("<api_calls>\n<api>retrieve_information('Saturn rings')</api>\n"
            "<api>get_instances(“questions about planets”)\n"
            "<api>Ask_Question(query=\"Why is Mars red?\")\n")
    assert calls(text) == [("information_retrieval", "Saturn rings"),
                           ("demonstration_generation", "questions about planets"),
                           ("question_answering", "Why is Mars red?")]


def test_argument_keeps_inner_quotes_and_parentheses():
    text = '<api_calls><api>question_answering("What does \'AU\' (astronomical unit) mean?")</api></api_calls>'
    assert calls(text) == [("question_answering", "What does 'AU' (astronomical unit) mean?")]


def test_bare_calls_without_tags_are_accepted_only_for_known_apis():
    text = 'I would call information_retrieval("Mars")\nand also os.system("rm -rf /")'
    assert calls('information_retrieval("Mars")\nos.system("rm -rf /")') == [("information_retrieval", "Mars")]
    assert calls(text) == []  # a call buried mid-sentence is not a call line


def test_unknown_names_and_empty_arguments_are_errors_not_calls():
    parsed = parse_api_calls('<api_calls><api>delete_everything("x")</api><api>memory_search("")</api></api_calls>')
    assert not parsed.ok
    assert any("unknown API 'delete_everything'" in e for e in parsed.errors)
    assert any("empty argument" in e for e in parsed.errors)


def test_prose_without_calls_is_unparsable():
    parsed = parse_api_calls("The policy should learn more about planets.")
    assert not parsed.ok and parsed.errors


def test_nothing_is_ever_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    text = f'<api_calls><api>information_retrieval(__import__("os").system("touch {marker}"))</api></api_calls>'
    parsed = parse_api_calls(text)
    assert not marker.exists()
    assert parsed.calls and "touch" in parsed.calls[0][1]  # kept as plain text


def test_budget_keeps_calls_in_order_and_says_why_others_are_dropped():
    costs = {"information_retrieval": 1.0, "question_answering": 3.0}
    planned = [("information_retrieval", "a"), ("question_answering", "b"), ("information_retrieval", "a"),
               ("question_answering", "c"), ("information_retrieval", "d"), ("information_retrieval", "e")]
    kept, dropped = within_budget(planned, costs, max_calls=3, max_cost=5.0)
    assert [(c["name"], c["arg"]) for c in kept] == [("information_retrieval", "a"), ("question_answering", "b"),
                                                    ("information_retrieval", "d")]
    assert [c["index"] for c in kept] == [0, 1, 2]
    assert [d["reason"] for d in dropped] == ["duplicate call", "over --max-cost 5", "over --max-calls 3"]



def test_only_the_allowed_apis_parse():
    text = '<api_calls><api>information_retrieval("Mars")</api><api>ask_question("Why?")</api></api_calls>'
    parsed = parse_api_calls(text, names=["information_retrieval"])
    assert parsed.calls == [("information_retrieval", "Mars")]
    assert any("unknown API 'ask_question'" in e for e in parsed.errors)


def test_a_call_cut_off_at_the_token_limit_is_not_a_call():
    text = '<api_calls><api>information_retrieval("Jupiter")</api><api>information_retrieval("J'
    assert calls(text) == [("information_retrieval", "Jupiter"), ("information_retrieval", "J")]  # not known to be cut
    parsed = parse_api_calls(text, cut_off=True)
    assert parsed.calls == [("information_retrieval", "Jupiter")] and "cut off at the token limit" in parsed.errors[0]
