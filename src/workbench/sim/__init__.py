"""Simulators: LLM router (router.py) and memory/GC (memory.py), plus queueing closed forms."""
