"""Every prompt of the project, as named constants filled with ``.format()``.

The ADS paper's prompts (optimizer, demonstration, QA, ICL, judge) are the defaults; any of them
can be overridden by name through ``Context.prompts``.
"""

# ---- tools (data-collecting APIs) -------------------------------------------------------

# demonstration_generation: the ADS paper's prompt, plus the two markers our parser reads.
DEMONSTRATION_PROMPT = """Generate an Instruction and the corresponding comprehensive Response related to the Topic.

Topic: {topic}

Write them in this format:
Instruction: <the instruction>
Response: <the response>"""

# Where the backend can continue raw text, the policy's reply starts with this (it turns SmolLM2's
# parsable pairs from ~1 in 12 samples to nearly all).
DEMONSTRATION_REPLY_PREFIX = "Instruction:"

# question_answering with a stronger teacher model: the ADS paper's prompt.
QA_PROMPT = """Provide a detailed Answer to the given Question.

Question: {question}
Answer:"""

# question_answering without a teacher: the policy answers from retrieved passages (and the
# provenance of every row says so).
QA_GROUNDED_PROMPT = """Provide a detailed Answer to the given Question. Use the facts in the Passages.

Passages:
{passages}

Question: {question}
Answer:"""

# ---- tasks (held-out augmentation) ------------------------------------------------------

# New instructions in the style of a task's own (Self-Instruct's generation prompt, adapted to
# one task; candidates with ROUGE-L > 0.7 against the pool are dropped). {examples}: numbered
# instructions of the task; the model continues the numbered list.
TASK_AUGMENT_PROMPT = """Here are instructions from one task. Write one more instruction for the same task: \
the same kind of request on a different subject, answerable in a few sentences.

{examples}"""

# ---- scoring (judges, self-assessment) --------------------------------------------------

# MT-Bench pairwise judge (FastChat "pair-v2"), the judge of the ADS paper. Reasoning first,
# verdict last: "[[A]]", "[[B]]" or "[[C]]" (tie). Filled with question, answer_a, answer_b.
JUDGE_PAIRWISE_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows "
    "the user's instructions and answers the user's question better. Your evaluation should consider "
    "factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of "
    "their responses. Begin your evaluation by comparing the two responses and provide a short "
    "explanation. Avoid any position biases and ensure that the order in which the responses were "
    "presented does not influence your decision. Do not allow the length of the responses to "
    "influence your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly following "
    'this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" '
    "for a tie."
)
JUDGE_PAIRWISE_PROMPT = """[User Question]
{question}

[The Start of Assistant A's Answer]
{answer_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{answer_b}
[The End of Assistant B's Answer]"""

# I-SHEEP self-assessment: the model rates its own pair 1-10 on two axes, one score a line.
# Filled with instruction, response.
SELF_ASSESS_PROMPT = """Rate the response to the instruction below on two scales from 1 (very poor) to 10 (excellent).
Quality: is the response correct, helpful, clear and complete?
Following: does the response do exactly what the instruction asks?

[Instruction]
{instruction}

[Response]
{response}

Answer with exactly two lines and nothing else:
Quality: <1-10>
Following: <1-10>"""

# Judging by log-probabilities (local and vLLM backends): one yes/no-style question per axis, read
# from the probabilities of the two words after the reply prefix. The answer template is
# "<prefix> [<positive>|<negative>]": the reply is started with <prefix>, and the axis scores
# p(positive) / (p(positive) + p(negative)). Measured on SmolLM2-135M (bench/judge.py), these
# order a right answer above a nonsense one far more often than the 1-10 rating tokens do.
# Filled with instruction, response.
JUDGE_QUALITY_QUESTION = """Here is a question and an answer.
Question: {instruction}
Answer: {response}

Is this answer good or bad?"""
JUDGE_QUALITY_ANSWER = "This answer is [good|bad]"
JUDGE_FOLLOWING_QUESTION = """Here is an instruction and a response.
Instruction: {instruction}
Response: {response}

Is the response relevant to the instruction?"""
JUDGE_FOLLOWING_ANSWER = "The response is [relevant|irrelevant]"

# ---- trainers (in-context update) -------------------------------------------------------

# The ADS paper's in-context update: the collected data, then the rules, then the held-out
# instruction. {data}: the packed rows (trainers.icl.pack); {instruction}: the held-out one.
ICL_PROMPT = """Here is some information collected for you:

{data}

Rules:
- Do not say that you read the text above, and do not mention it.
- Use it only as a hint for your answer.
- You know more than the provided information: answer with your own knowledge too.

{instruction}"""

# icl-knn (ours, not the paper's): each question with the few bought rows most like it, then the
# question itself. Chosen on the NQ dev suite's validation split: with each question's own two best
# passages in context SmolLM2-135M answered 45.5% of 66 items this way, 24.2% with ICL_PROMPT's
# rules (it echoed the question) and 33.3% with a "Question: ... Answer:" frame (docs/results.md).
ICL_KNN_PROMPT = """{data}

{instruction}"""

# How one packed row reads inside {data}: a retrieved document, or an instruction-response pair
# (demonstrations, QA pairs, memory-bank entries). {n}: its number in the packed block.
ICL_DOCUMENT = """[{n}] {title}
{text}"""

ICL_EXAMPLE = """[{n}] Instruction: {instruction}
Response: {response}"""

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
- Most tasks need data: one information_retrieval call for each topic the instructions name. Make no
  calls only for trivial tasks such as greetings.

Output format: first one or two sentences of analysis, then the calls, exactly like this:
<api_calls><api>name("argument")</api><api>name("argument")</api></api_calls>
or, when no data is needed:
<api_calls>none</api_calls>"""

OPTIMIZER_TASK = """Task: {description}
Observed instructions:
{instructions}

What does the policy lack? Write your analysis and the API calls."""

# Shown when the task has no description: the optimizer infers it from the instructions. (The
# task's name is never shown: a file name such as "nq-03-michael-phelps" was copied as a query.)
OPTIMIZER_NO_DESCRIPTION = "(not given: infer it from the instructions)"

# Examples shown as earlier chat turns: one task that needs no data, then one that does, rotated
# by the run's seed among three domains (A, B, C) so a reply cannot lean on one example; calls that
# copy an example's argument are flagged in the report.
OPTIMIZER_EXAMPLE_NO_DATA = """Task: greetings
Observed instructions:
1. Say hello.
2. Say good morning.

What does the policy lack? Write your analysis and the API calls."""

OPTIMIZER_EXAMPLE_NO_DATA_REPLY = """These are simple greetings the policy already handles; it needs no data.
<api_calls>none</api_calls>"""

OPTIMIZER_EXAMPLE_A = """Task: questions about the rules of cricket
Observed instructions:
1. How many players are on a cricket team?
2. What does LBW mean in cricket?
3. How long is a cricket pitch?

What does the policy lack? Write your analysis and the API calls."""

OPTIMIZER_EXAMPLE_A_REPLY = """The policy lacks facts about cricket's rules and practice explaining sports rules.
<api_calls><api>information_retrieval("Cricket")</api><api>information_retrieval("Leg before wicket")</api><api>demonstration_generation("explaining the rules of a sport")</api></api_calls>"""

OPTIMIZER_EXAMPLE_B = """Task: writing short polite business emails
Observed instructions:
1. Write an email declining a meeting invitation.
2. Write an email asking a colleague for a report.

What does the policy lack? Write your analysis and the API calls."""

OPTIMIZER_EXAMPLE_B_REPLY = """The policy needs examples of the polite business email format more than facts.
<api_calls><api>demonstration_generation("polite business emails")</api><api>memory_search("write a business email")</api></api_calls>"""

OPTIMIZER_EXAMPLE_C = """Task: the chemistry of cooking
Observed instructions:
1. Why does bread dough rise?
2. What makes a steak turn brown when it is seared?

What does the policy lack? Write your analysis and the API calls."""

OPTIMIZER_EXAMPLE_C_REPLY = """The policy lacks the chemistry behind these kitchen processes; one question needs a detailed answer.
<api_calls><api>information_retrieval("Maillard reaction")</api><api>information_retrieval("Yeast fermentation")</api><api>question_answering("Why does bread dough rise?")</api></api_calls>"""

# Appended to the task turn in runs of several rounds: the policy's current answers to the observed
# instructions (its competence), and what the rounds so far bought and gained.
OPTIMIZER_COMPETENCE = """

The policy's current answers to these instructions:
{answers}"""

OPTIMIZER_HISTORY = """

Earlier rounds (the data of every round stays with the policy):
{rounds}
Plan round {round}: buy what is still missing; calls already made are not repeated."""

# Appended to the task turn of a task whose answers must pass checks (IFEval's), in words.
OPTIMIZER_CHECKS = """

Every answer in this task must pass these checks:
{checks}
demonstration_generation("<an instruction of the task>") samples the policy's answers to that instruction and keeps only those that pass the checks: the data teaches the constraint."""

# Appended to the task turn when the previous reply copied an example's calls instead of planning.
OPTIMIZER_COPIED = """

Your previous reply copied the example's calls ({calls}), which have nothing to do with this task. Plan calls for the observed instructions above and answer again, ending with an <api_calls> block."""

# The optimizer anticipates: questions the task is likely to ask besides the observed ones, in
# their style (Self-Instruct's numbered blocks, as TASK_AUGMENT_PROMPT). It never sees a held-out
# item. {examples}: the observed instructions as numbered blocks; the model continues the list.
OPTIMIZER_ANTICIPATE = """Here are questions from one task. Write one more question the same task is likely to ask: the same kind of question about a related subject the policy will need facts for.

{examples}"""

# Appended to the task turn when the previous reply could not be parsed.
OPTIMIZER_RETRY = """

Your previous reply could not be read ({error}). Answer again, ending with an <api_calls> block in exactly the format above."""

# ---- star-agents (graph/star_agents.py) -------------------------------------------------

# An instruction agent's task: rewrite the seed instruction. Its system prompt (below) is what
# makes one agent differ from another when they share a model. Filled with instruction.
STAR_REWRITE = """Rewrite the instruction below. Keep its task and topic. Write only the new instruction, not an answer.

Instruction: {instruction}"""

# Where the backend continues raw text, the rewrite starts with this (the parser strips it).
STAR_REWRITE_REPLY_PREFIX = "Rewritten instruction:"

# System prompts of the default agents (graph/star_agents_pairs.py DEFAULT_AGENTS).
STAR_SYSTEM_CLARIFY = "You rewrite instructions to be clear and specific: say exactly what the answer must contain."
STAR_SYSTEM_DEEPEN = ("You rewrite instructions to be more demanding: add one concrete constraint, or ask for "
                      "reasons or an example. Keep the same topic.")
STAR_SYSTEM_PLAIN = "You are a helpful assistant."
STAR_SYSTEM_EXPERT = "You are an expert. Answer accurately and thoroughly, with concrete details and an example."
STAR_SYSTEM_STEPS = "You are a careful teacher. Answer step by step in a short numbered list, then sum up in one sentence."

# ---- self-improve (I-SHEEP, graph/self_improve.py) ----------------------------------------

# I-SHEEP's instruction-generation prompt (Alpaca's meta prompt, which I-SHEEP uses), asking for
# one new task instead of a list of 20: a 135M model continues one numbered block, not twenty.
# {examples}: the sampled pool tasks as "###\nN. Instruction: ...\nN. Input:\n..." blocks
# (tools.self_instruct.encode_prompt); the reply is started with the next "N. Instruction:".
SELF_INSTRUCT_PROMPT = """You are asked to come up with a new task instruction. It will be given to a language model, and we will evaluate how well the model completes it.

Here are the requirements:
1. Do not repeat the verbs or topics of the examples: the new task should differ from them.
2. The type of the task can be open-ended generation, classification, editing, question answering, rewriting, and so on.
3. A language model should be able to complete it with text alone: no visual or audio output, and no actions such as setting a reminder.
4. The instruction is in English, 1 to 2 sentences long: an imperative sentence or a question.
5. If the task needs an input (a text to edit, a list to sort, a passage to read), write a specific, realistic input of at most 100 words; otherwise write <noinput>.

Examples:
{examples}"""

# Every template above, by name: what Context.prompts may override.
NAMES = tuple(name for name, value in list(globals().items()) if name.isupper() and isinstance(value, str))
