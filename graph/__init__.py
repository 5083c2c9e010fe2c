"""LangGraph state machines: the improve graph (Active Data Search) and its relatives."""
