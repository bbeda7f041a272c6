"""Image commands: images, rmi, tag, pull, history, import, load, save."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from .. import formatting as fmt
from ..api import DockerClient
from ..options import (
    full_ref,
    parse_filters,
    split_image_ref,
)
from ..transport import APIError
from .base import CommandFailed, Console, command, current_time, each


def pull_image(client: DockerClient, ref: str, console: Console, to_stderr: bool = False) -> None:
    """Pull ``ref`` printing docker-like progress: plain lines, one per change of status; on a
    terminal a step's progress (``progressDetail``) is redrawn in place on one line."""
    repo, tag = split_image_ref(ref)
    write = console.err if to_stderr else console.out
    in_place = console.is_tty(console.stderr if to_stderr else console.stdout)
    last: dict[str, str] = {}
    final = ""
    display = console.pull_display
    open_line = False
    try:
        for msg in client.pull(repo, tag):
            status = str(msg.get("status", ""))
            ident = str(msg.get("id", ""))
            detail = msg.get("progressDetail") or {}
            if status.startswith(("Status:", "Digest:")):
                final = status
            if display is not None:
                display.update(msg)
                continue
            line = f"{ident}: {status}" if ident else status
            total = detail.get("total")
            if in_place and total:
                write(f"\r\x1b[K{line} {detail.get('current', 0)}/{total}")
                open_line = True
                continue
            if open_line:
                write("\n")
                open_line = False
            key = ident or status
            # progress updates of one layer repeat with only the bar changing: show the first
            # line of each status, not every tick
            if (msg.get("progress") or detail) and last.get(key) == status:
                continue
            last[key] = status
            if line:
                write(line + "\n")
    finally:
        if display is not None:
            display.close()
        if open_line:
            write("\n")
    if display is not None and final:
        write(final + "\n")
    if not final:
        write(f"Status: Downloaded newer image for {repo}:{tag}\n")
    if not to_stderr:
        write(f"{repo}:{tag}\n")


def _images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?")
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--format", help="Pretty-print images using a Go template")


@command("images", "List images", flags=_images_flags)
def cmd_images(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = client.images(all=args.all, filters=filters)
    if args.quiet:
        # one line per row of the table, as docker prints it (an id repeats for each tag)
        lines = []
        for img in images:
            ident = str(img.get("Id", ""))
            shown = ident if args.no_trunc else fmt.short_id(ident)
            lines += [shown] * max(1, len(img.get("RepoTags") or []))
        console.out("".join(line + "\n" for line in lines))
        return 0
    if args.format:
        now = current_time()
        rows = [row for img in images for row in fmt.image_fields(img, now, args.no_trunc)]
        console.out(fmt.render_rows(args.format, rows, fmt.IMAGE_HEADERS))
        return 0
    console.out(fmt.images_table(images, current_time(), no_trunc=args.no_trunc))
    return 0


def _rmi_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("images", nargs="+", metavar="IMAGE")


@command("rmi", "Remove one or more images", flags=_rmi_flags)
def cmd_rmi(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    def remove(name: str) -> None:
        for item in client.remove_image(name, args.force):
            for key in ("Untagged", "Deleted"):
                if item.get(key):
                    console.out(f"{key}: {item[key]}\n")

    return each(args.images, console, remove, echo=False)


def _tag_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("source")
    p.add_argument("target")


@command("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", flags=_tag_flags)
def cmd_tag(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    repo, tag = split_image_ref(args.target)
    client.tag(args.source, repo, tag)
    return 0


def _pull_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("image")


@command(
    "pull", "Pull an image (dockerscope builds its built-in images offline)", flags=_pull_flags
)
def cmd_pull(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if ":" not in args.image.rsplit("/", 1)[-1] and "@" not in args.image:
        console.out("Using default tag: latest\n")
    if args.quiet:
        quiet = Console(io.BytesIO(), io.BytesIO(), console.stdin_fd)
        pull_image(client, args.image, quiet)
        console.out(full_ref(args.image) + "\n")
        return 0
    pull_image(client, args.image, console)
    return 0


def _history_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")


@command("history", "Show the history of an image", flags=_history_flags)
def cmd_history(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    console.out(fmt.history_table(client.history(args.image), current_time()))
    return 0


def _print_stream_messages(messages: Iterator[dict[str, Any]], console: Console) -> None:
    for msg in messages:
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise APIError(500, str(msg.get("error") or detail.get("message", "")))
        if msg.get("stream"):
            console.out(str(msg["stream"]))
        elif msg.get("status"):
            ident = msg.get("id")
            console.out((f"{ident}: " if ident else "") + str(msg["status"]) + "\n")


def _import_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--message", help="Set commit message for imported image")
    p.add_argument("file", metavar="file|-")
    p.add_argument("repository", nargs="?")


@command(
    "import", "Import the contents from a tarball to create a filesystem image", flags=_import_flags
)
def cmd_import(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    repo = tag = None
    if args.repository:
        repo, tag = split_image_ref(args.repository)
    if args.file != "-" and "://" in args.file:
        raise CommandFailed("dockerscope: import from a URL is not supported offline", 1)
    with _open_input(args.file, console) as src:
        _print_stream_messages(client.import_image(src, repo, tag, args.message), console)
    return 0


@contextlib.contextmanager
def _open_input(path: str | None, console: Console) -> Iterator[BinaryIO]:
    if not path or path == "-":
        yield console.stdin_stream()
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise CommandFailed(
            f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", 1
        ) from None
    with fh:
        yield fh


def _load_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


@command("load", "Load an image from a tar archive or STDIN", flags=_load_flags)
def cmd_load(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not args.input and console.stdin_is_tty():
        raise CommandFailed("requested load from stdin, but stdin is empty", 1)
    with _open_input(args.input, console) as src:
        _print_stream_messages(client.load(src, args.quiet), console)
    return 0


def _save_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("images", nargs="+", metavar="IMAGE")


@command(
    "save",
    "Save one or more images to a tar archive (streamed to STDOUT by default)",
    flags=_save_flags,
)
def cmd_save(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not args.output and console.stdout_is_tty():
        raise CommandFailed(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect", 1
        )
    chunks = client.save(args.images)
    if args.output:
        tmp = args.output + ".tmp"
        try:
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            os.replace(tmp, args.output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        for chunk in chunks:
            console.stdout.write(chunk)
        console.stdout.flush()
    return 0
