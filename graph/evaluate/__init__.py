"""The evaluate graph: tasks x methods x updates x seeds cells, each a checkpointed improve run
(or a rule baseline), against the original policy; the report is graph/harness.py's."""
