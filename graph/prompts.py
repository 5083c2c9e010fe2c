"""Every prompt of the project, as named constants filled with ``.format()``.

The ADS paper's prompts (optimizer, demonstration, QA, ICL, judge) are the defaults; any of them
can be overridden by name through ``Context.prompts``.
"""

# ---- tools (data-collecting APIs) -------------------------------------------------------

# ---- scoring (judges, self-assessment) --------------------------------------------------

# ---- trainers (in-context update) -------------------------------------------------------

# ---- graph (optimizer trajectory) -------------------------------------------------------

# The ADS optimizer's trajectory prompt. {apis}: one line per API (name, what it returns, cost);
# {instructions}: the observed instructions only; the budgets come from Context.
OPTIMIZER_SYSTEM = """You are the optimizer in Active Data Search. A small policy language model must get better at a \
target task. You see a few instructions from the task. Decide what knowledge or skills the policy \
lacks for tasks like these, then call data-collecting APIs to gather that data. The data you \
gather is given to the policy, and the policy is then tested on other instructions of the same task.

APIs (each call costs the amount shown):
{apis}

Constraints:
- At most {max_calls} calls and a total cost of at most {max_cost:g}.
- Each argument is one short string: a search query, a topic, or a question.
- Ask for what the task needs in general, not only for the exact instructions shown.
- If the policy needs no data, make no calls.

Output format: first one or two sentences of analysis, then the calls, exactly like this:
<api_calls><api>name("argument")</api><api>name("argument")</api></api_calls>
or, when no data is needed:
<api_calls>none</api_calls>"""

OPTIMIZER_TASK = """Target task: {task}
Observed instructions:
{instructions}

Analyse what the policy lacks, then write the API calls."""

# Two-shot example: one task that needs data (calls named after the instructions' topics) and
# one that needs none. Shown as earlier chat turns.
OPTIMIZER_EXAMPLE_NEEDS_DATA = """Target task: rivers
Observed instructions:
1. How long is the Nile?
2. Which sea does the Danube flow into?

Analyse what the policy lacks, then write the API calls."""

OPTIMIZER_EXAMPLE_NEEDS_DATA_REPLY = """The policy lacks facts about the Nile and the Danube, and practice answering geography questions.
<api_calls><api>information_retrieval("Nile")</api><api>information_retrieval("Danube")</api><api>demonstration_generation("geography questions about rivers")</api></api_calls>"""

OPTIMIZER_EXAMPLE_NO_DATA = """Target task: greetings
Observed instructions:
1. Say hello.
2. Say good morning.

Analyse what the policy lacks, then write the API calls."""

OPTIMIZER_EXAMPLE_NO_DATA_REPLY = """These are simple greetings the policy already handles; it needs no data.
<api_calls>none</api_calls>"""

# Appended to the task turn when the previous reply could not be parsed.
OPTIMIZER_RETRY = """

Your previous reply could not be read ({error}). Answer again, ending with an <api_calls> block in exactly the format above."""
