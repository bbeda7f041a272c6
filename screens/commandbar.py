"""The command bar: type a docker command, see its output, watch the panels react."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dockerscope.screens.printable import printable_output
from dockerscope.screens.sessions import interactive
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RichLog

#: Runs one docker-style command line ("docker ps -a") and returns what it printed.
Client = Callable[[str], str]


class CommandBar(Vertical):
    """An input for docker commands and a log of their output."""

    @dataclass
    class Interactive(Message):
        """A command that needs a terminal (``run -ti``): the app opens a pane for it."""

        command: str

    @dataclass
    class Done(Message):
        """A command finished (posted from the worker thread)."""

        command: str
        output: str
        failed: bool

    def __init__(self, client: Client | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.client = client
        self.history: list[str] = []  #: commands run, oldest first

    def compose(self) -> ComposeResult:
        yield RichLog(id="commandbar-log", wrap=False, markup=False, highlight=False)
        yield Input(placeholder="docker ps -a   (enter runs, esc closes)", id="commandbar-input")

    def focus_input(self) -> None:
        """Open the bar and put the cursor in it."""
        self.add_class("-open")
        self.query_one("#commandbar-input", Input).focus()

    @on(Input.Submitted, "#commandbar-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        command = event.value.strip()
        if not command:
            return
        event.input.value = ""
        self.history.append(command)
        log = self.query_one(RichLog)
        log.write(Text(f"$ {command}", style="bold"))
        if interactive(command):
            self.post_message(self.Interactive(command))
            return
        if self.client is None:
            log.write(Text("no lab to talk to: open the dashboard on a lab "
                           "(dockerscope scope --lab NAME) to run commands", style="yellow"))
            return
        self._run(command)

    @work(thread=True, group="commandbar", exit_on_error=False)
    def _run(self, command: str) -> None:
        # A thread: the client blocks on the socket. The widget is only touched via the message.
        assert self.client is not None
        try:
            output, failed = self.client(command), False
        except Exception as exc:  # noqa: BLE001 - any client error is shown to the user
            output, failed = f"{type(exc).__name__}: {exc}", True
        self.post_message(self.Done(command, output, failed))

    def say(self, text: str, style: str = "") -> None:
        """Write a line of our own (not command output) into the log."""
        self.query_one(RichLog).write(Text(text, style=style))

    @on(Done)
    def _done(self, message: Done) -> None:
        log = self.query_one(RichLog)
        text = message.output.rstrip("\n")
        if text:
            log.write(Text(printable_output(text), style="red1" if message.failed else ""))
