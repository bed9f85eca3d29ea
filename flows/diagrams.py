"""Print flows/README.md: every flow as a Mermaid diagram, from its definition.

Run `python -m flows.diagrams > flows/README.md` after changing a flow.
"""

from flows import FLOWS

HEADER = """# Flows

Each flow is declared as data in its own module: pages of a few steps, each step with a
stable id (saved in drafts, so reordering steps never breaks a conversation in progress).
Every step offers back, skip (when optional), pause, cancel and help. These diagrams are
generated from the flow definitions (`Flow.mermaid()`), and a test fails when they drift:
regenerate with `python -m flows.diagrams > flows/README.md`.
"""


def render() -> str:
    parts = [HEADER]
    for flow in FLOWS.values():
        parts.append(f"## `{flow.id}`: {flow.title}\n\n```mermaid\n{flow.mermaid()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
