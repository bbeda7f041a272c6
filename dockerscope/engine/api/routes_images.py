"""``/images/...`` and ``/commit`` endpoints, wired to the lab's ImageStore."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from dockerscope.engine.api import limits
from dockerscope.engine.api.backend import Backend
from dockerscope.engine.api.filters import checked_filters
from dockerscope.engine.api.platform import check_platform
from dockerscope.engine.api.replies import Response, StreamResponse
from dockerscope.engine.api.request import Request
from dockerscope.engine.api.router import Router, refused
from dockerscope.engine.containers.model import Container
from dockerscope.engine.errors import InvalidArgument, NotFound, NotSupported
from dockerscope.engine.images import Image, ImageStore
from dockerscope.engine.images.builtin import Progress


async def _spool(req: Request) -> IO[bytes]:
    """The request body (a tar, maybe hundreds of MB) in a temp file, rewound.

    At most ``limits.MAX_IMAGE_UPLOAD`` bytes (read at each call, so a test can lower it): past
    it a 413, and the file, already unlinked by ``TemporaryFile``, is closed, so its blocks are
    freed at once."""
    cap = limits.MAX_IMAGE_UPLOAD
    f = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    try:
        async for chunk in req.chunks(cap, "image tar"):
            f.write(chunk)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def image_summary(img: Image, containers: int = -1) -> dict[str, Any]:
    """One element of ``GET /images/json`` (see reference 09-api-images_json.txt)."""
    return {
        "Containers": containers,
        "Created": img.created_unix,
        "Id": img.id,
        "Labels": dict(img.config.labels) or None,
        "ParentId": img.parent,
        "RepoDigests": None,
        "RepoTags": list(img.repo_tags) or None,
        "SharedSize": -1,
        "Size": img.size,
        "VirtualSize": img.size,
    }


def image_inspect(img: Image, layer_dirs: list[str]) -> dict[str, Any]:
    """``GET /images/{name}/json``."""
    raw = dict(img.raw) if img.raw else {}
    return {
        "Id": img.id,
        "RepoTags": list(img.repo_tags),
        "RepoDigests": [],
        "Parent": img.parent,
        "Comment": img.comment,
        "Created": img.created,
        "Container": raw.get("container", ""),
        "ContainerConfig": raw.get("container_config") or img.config.to_docker(),
        "DockerVersion": img.docker_version,
        "Author": img.author,
        "Config": img.config.to_docker(raw.get("config")),
        "Architecture": img.architecture,
        "Os": img.os,
        "Size": img.size,
        "VirtualSize": img.size,
        "GraphDriver": {
            "Data": {
                "LowerDir": ":".join(layer_dirs[1:]),
                "UpperDir": layer_dirs[0] if layer_dirs else "",
                "MergedDir": "",
                "WorkDir": "",
            },
            "Name": "overlay2",
        },
        "RootFS": {"Type": "layers", "Layers": list(img.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


class ImageRoutes:
    """Handlers bound to a daemon's image store (and its containers, for rmi and commit)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def store(self) -> ImageStore:
        return self.backend.images

    def register(self, r: Router) -> None:
        r.add("GET", "/images/json", self.list_images)
        r.add("POST", "/images/create", self.create)
        r.add("POST", "/images/load", self.load)
        r.add("GET", "/images/get", self.save_many)
        r.add("POST", "/images/prune", self.prune)
        r.add("GET", "/images/search", refused("docker search (no registry)"))
        r.add("POST", "/build", refused("docker build"))
        # `docker system prune` asks too: there is no build cache, so nothing to reclaim.
        r.add("POST", "/build/prune", self.build_prune)
        r.add("POST", "/commit", self.commit)
        r.add("GET", "/images/{name*}/json", self.inspect)
        r.add("GET", "/images/{name*}/history", self.history)
        r.add("GET", "/images/{name*}/get", self.save_one)
        r.add("POST", "/images/{name*}/tag", self.tag)
        r.add("POST", "/images/{name*}/push", refused("docker push (no registry)"))
        r.add("DELETE", "/images/{name*}", self.remove)

    def _users(self, image_id: str) -> list[Container]:
        return [c for c in self.backend.containers.containers.values() if c.image_id == image_id]

    def _in_use(self, image_id: str) -> str | None:
        """The container (short id) using an image, for rmi's 409."""
        users = self._users(image_id)
        return users[0].id[:12] if users else None

    async def list_images(self, req: Request) -> Response:
        imgs = self.store.list()
        checked_filters(req.json_q("filters"), {"dangling", "reference"}, "images")
        flt = req.json_q("filters") or {}
        out = []
        for img in imgs:
            if "dangling" in flt:
                want = str(flt["dangling"]).lower() in ("true", "['true']", "{'true': true}", "1")
                if (not img.repo_tags) != want:
                    continue
            if "reference" in flt:
                refs = (
                    flt["reference"]
                    if isinstance(flt["reference"], list)
                    else list(flt["reference"])
                )
                if not any(
                    fnmatch.fnmatch(t, r) or fnmatch.fnmatch(t.split(":")[0], r)
                    for t in img.repo_tags
                    for r in refs
                ):
                    continue
            out.append(image_summary(img, -1))
        return Response.json(out)

    async def inspect(self, req: Request, name: str) -> Response:
        img = self.store.get(name)
        return Response.json(image_inspect(img, list(self.store.layer_dirs(img))))

    async def history(self, req: Request, name: str) -> Response:
        rows = self.store.history(name)
        return Response.json(
            [
                {
                    "Id": r.id,
                    "Created": r.created,
                    "CreatedBy": r.created_by,
                    "Tags": list(r.tags) or None,
                    "Size": r.size,
                    "Comment": r.comment,
                }
                for r in rows
            ]
        )

    async def create(self, req: Request) -> StreamResponse:
        src = req.q("fromSrc")
        if src is not None:
            return await self._import(req, src)
        name = req.q("fromImage")
        if not name:
            raise InvalidArgument("fromImage or fromSrc is required")
        check_platform(req.q("platform"))
        tag = req.q("tag") or ""
        ref = f"{name}:{tag}" if tag and ":" not in name.rsplit("/", 1)[-1] else name
        await req.drain()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        short = name.rsplit("/", 1)[-1]

        def progress(current: int, total: int, text: str) -> None:
            # The builder's steps reported as a registry pull reports a layer.
            msg = {
                "status": text,
                "progressDetail": {"current": current, "total": total},
                "id": short,
            }
            loop.call_soon_threadsafe(queue.put_nowait, _line(msg))

        # First check the name: an unknown image is a normal 404 before the stream starts.
        if not self.store.is_builtin(ref):
            raise NotFound(
                f"pull access denied for {name}: dockerscope is offline and only builds its "
                "built-in images (busybox, debian, docker)"
            )

        try:
            self.store.get(ref)
            fresh = False
        except Exception:
            fresh = True

        async def body() -> AsyncIterator[bytes]:
            task = loop.run_in_executor(None, self._ensure, ref, progress)
            task.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
            while True:
                item = await queue.get()
                if item is None:
                    break
                yield item
            try:
                img = await task
            except Exception as exc:
                yield _line({"errorDetail": {"message": str(exc)}, "error": str(exc)})
                return
            tag_text = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
            yield _line({"status": f"Digest: {img.id}"})
            if fresh:
                yield _line({"status": f"Status: Downloaded newer image for {tag_text}"})
            else:
                yield _line({"status": f"Status: Image is up to date for {tag_text}"})
            self.backend.events.emit("image", "pull", tag_text, {"name": tag_text})

        return StreamResponse(body())

    def _ensure(self, ref: str, progress: Progress) -> Image:
        return self.store.ensure_builtin(ref, progress=progress)

    async def _import(self, req: Request, src: str) -> StreamResponse:
        if src != "-":
            raise NotSupported("docker import from a URL (use - and send the tar)")
        repo = req.q("repo") or ""
        tag = req.q("tag") or ""
        changes = req.query.get("changes", [])
        message = req.q("message") or ""
        ref = f"{repo}:{tag}" if repo and tag else repo
        with await _spool(req) as f:
            img = await asyncio.to_thread(
                self.store.import_tar, f, ref, changes=changes, message=message
            )

        async def body() -> AsyncIterator[bytes]:
            yield _line({"status": img.id})

        self.backend.events.emit("image", "import", img.id, {"name": ref or img.id})
        return StreamResponse(body())

    async def load(self, req: Request) -> StreamResponse:
        with await _spool(req) as f:
            loaded = await asyncio.to_thread(self.store.load, f)
        names = [str(x) for x in (loaded or [])]

        async def body() -> AsyncIterator[bytes]:
            for n in names:
                prefix = "Loaded image ID" if n.startswith("sha256:") else "Loaded image"
                yield _line({"stream": f"{prefix}: {n}\n"})

        for n in names:
            self.backend.events.emit("image", "load", n, {"name": n})
        return StreamResponse(body())

    async def _save(self, names: list[str]) -> StreamResponse:
        for n in names:
            self.store.get(n)  # 404 before the stream starts
        fd, path = tempfile.mkstemp(prefix="save-", suffix=".tar")
        os.close(fd)
        try:
            with open(path, "wb") as f:
                await asyncio.to_thread(self.store.save, names, f)
        except BaseException:
            os.unlink(path)
            raise

        async def body() -> AsyncIterator[bytes]:
            try:
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        yield chunk
            finally:
                os.unlink(path)

        return StreamResponse(body(), content_type="application/x-tar")

    async def save_one(self, req: Request, name: str) -> StreamResponse:
        return await self._save([name])

    async def save_many(self, req: Request) -> StreamResponse:
        names = req.query.get("names", [])
        if not names:
            raise InvalidArgument("no images given (names=...)")
        return await self._save(names)

    async def tag(self, req: Request, name: str) -> Response:
        repo = req.q("repo")
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        tag = req.q("tag") or "latest"
        self.store.tag(name, f"{repo}:{tag}")
        self.backend.events.emit("image", "tag", self.store.get(name).id, {"name": f"{repo}:{tag}"})
        return Response.empty(201)

    async def remove(self, req: Request, name: str) -> Response:
        self.store.get(name)  # 404 first
        out = self.store.remove(name, force=req.flag("force"), in_use=self._in_use)
        for item in out:
            for kind, value in item.items():
                action = "untag" if kind == "Untagged" else "delete"
                self.backend.events.emit("image", action, value, {"name": value})
        return Response.json(out)

    async def prune(self, req: Request) -> Response:
        flt = checked_filters(req.json_q("filters"), {"dangling"}, "image prune")
        if any(v.lower() in ("false", "0") for v in flt.get("dangling", [])):
            raise NotSupported("image prune -a (only dangling images are pruned)")
        deleted = self.store.prune(in_use=self._in_use)
        return Response.json({"ImagesDeleted": deleted or None, "SpaceReclaimed": 0})

    async def build_prune(self, req: Request) -> Response:
        checked_filters(req.json_q("filters"), set(), "builder prune")
        return Response.json({"CachesDeleted": None, "SpaceReclaimed": 0})

    async def commit(self, req: Request) -> Response:
        ref = req.q("container")
        if not ref:
            raise InvalidArgument("container is required")
        c = self.backend.containers.get(ref)
        body = await req.json() or {}
        repo, tag = req.q("repo") or "", req.q("tag") or ""
        name = f"{repo}:{tag or 'latest'}" if repo else ""
        upper = str(self.backend.containers.store.dir(c.id) / "upper")
        # No pause (dockerscope does not freeze containers): the upper dir is copied live.
        img = await asyncio.to_thread(
            self.store.commit,
            upper,
            c.image_id,
            name,
            req.query.get("changes", []),
            req.q("comment") or "",
            req.q("author") or "",
            config=body if isinstance(body, dict) and body else c.config.to_docker(),
            created_by=" ".join(c.config.argv),
            container=c.id,
        )
        self.backend.events.emit(
            "container", "commit", c.id, {"name": c.name, "image": name or img.id}
        )
        return Response.json({"Id": img.id}, 201)
