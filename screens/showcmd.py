""""Show me the command": a modal with the shell command behind a panel and, live, its output."""

from __future__ import annotations

from dataclasses import dataclass

from dockerscope.screens.printable import printable_output
from dockerscope.screens.shell import ShellCommand, run_command
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static


class ShowCommandScreen(ModalScreen[None]):
    """The command a student would type for a panel's view, run for real when live as root."""

    BINDINGS = [
        Binding("escape,c,q", "dismiss", "Close"),
        Binding("r", "rerun", "Run again", show=True),
    ]

    @dataclass
    class Output(Message):
        """The command's output arrived (posted by the worker)."""

        text: str

    def __init__(self, command: ShellCommand, run_live: bool) -> None:
        super().__init__()
        self.command = command
        self.run_live = run_live

    def compose(self) -> ComposeResult:
        with Vertical(id="showcmd-box") as box:
            box.border_title = f"Show me the command: {self.command.title}"
            if self.command.netns:
                yield Static(
                    Text(f"inside the lab (`dockerscope ssh` or `ip netns exec "
                         f"{self.command.netns} ...`):", style="grey50"), classes="where")
            yield Static(Text(self.command.text, style="bold"), id="showcmd-command")
            if self.command.explain:
                yield Static(Text(self.command.explain, style="italic"), id="showcmd-explain")
            with VerticalScroll(id="showcmd-scroll"):
                yield Static(self._initial(), id="showcmd-output")

    def _initial(self) -> Text:
        if self.run_live:
            return Text("running...", style="grey50")
        return Text("(replay or not root: the command is shown, not run)", style="grey50")

    def on_mount(self) -> None:
        if self.run_live:
            self._run()

    def action_rerun(self) -> None:
        if self.run_live:
            self.query_one("#showcmd-output", Static).update(self._initial())
            self._run()

    @work(exclusive=True, group="showcmd", exit_on_error=False)
    async def _run(self) -> None:
        # Async worker: the subprocess runs without blocking the UI; the result goes by message.
        text = await run_command(self.command)
        self.post_message(self.Output(text))

    @on(Output)
    def _show_output(self, message: Output) -> None:
        self.query_one("#showcmd-output", Static).update(Text(printable_output(message.text)))
