"""The ```console examples of the docs (docs/cli.md, README.md), for the tests that run
them and compare what they print: `cdp` commands in tests/unit/test_cli.py (against a
fake cluster), `kubectl` commands in tests/e2e/test_admission.py (against the real API
server). A console block shows each command after `$ ` and its output below it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI_DOC = REPO / "docs" / "cli.md"
README = REPO / "README.md"

#: (line, command, output) of one example.
Example = tuple[int, str, str]


def doc_examples(text: str, tool: str | None = None) -> list[Example]:
    """The ```console blocks of a document: (line, command, output) per `$ ` command;
    a command line ending in a backslash continues on the next line. With `tool`, only
    the commands that run it (`cdp`, `kubectl`)."""
    examples: list[Example] = []
    in_block = continued = False
    command: list[str] = []
    output: list[str] = []
    start = 0

    def flush() -> None:
        if command:
            parts = [c.removesuffix("\\").strip() for c in command]
            examples.append((start, " ".join(parts), "\n".join(output).rstrip("\n")))
        command.clear()
        output.clear()

    for number, line in enumerate(text.splitlines(), 1):
        if not in_block:
            in_block = line.strip() == "```console"
            continue
        if line.strip() == "```" and not continued:
            flush()
            in_block = False
        elif continued:
            command.append(line)
        elif line.startswith("$ "):
            flush()
            start = number
            command.append(line[2:])
        else:
            output.append(line)
        continued = bool(command) and not output and command[-1].rstrip().endswith("\\")
    if tool is not None:
        examples = [e for e in examples if e[1].split(" ", 1)[0] == tool]
    return examples
