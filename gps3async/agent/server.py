"""The agent: serves plugin calls for thin clients over a Unix socket, with one warm S3 client.

One agent runs per user, host and identity (:mod:`.place`).  It listens on its
socket, accepts only its own user (``SO_PEERCRED``), and runs each call with
:func:`gps3async.commands.execute.run_verb`, the code the in-process path runs, on the
descriptors the client passed.  Per call it watches the connection: a
forwarded SIGINT/SIGTERM cancels the call and it ends as an in-process call
would (exit 130/143, one stderr line); a connection that closes (the client
was killed) cancels the call, so an upload in progress is aborted.  The agent
closes its copies of a call's descriptors before it sends the exit code, so
whoever reads the plugin's stdout sees EOF when the client exits.

All calls share the agent's S3 client (its connections stay warm between
calls) and one :class:`~gps3async.runtime.buffers.MemoryBudget` (``host_memory_limit``).
The agent exits after ``agent_idle_timeout`` seconds without a call, as soon
as it is idle after a ``cleanup_plugin_for_*`` hook, and on SIGTERM/SIGINT
(cancelling what is in progress).

Every multipart upload the agent opens is on record in the upload journal
beside its socket until it ends (:mod:`gps3async.runtime.journal`), and once its first
call is under way the agent aborts what gone processes of the host left open
(:mod:`.sweep`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, SocketListener

from ..commands.execute import Interrupted, check_arguments, fail, report, run_verb
from ..commands.invocation import Invocation
from ..core.config import DEFAULT_AGENT_IDLE_TIMEOUT, PluginConfig
from ..core.configfile import parse_config
from ..core.errors import ConfigError, GpS3Error
from ..runtime.bandwidth import HostBandwidth, shared_backoff
from ..runtime.buffers import MemoryBudget
from ..runtime.journal import UploadJournal, journal_directory
from ..runtime.logs import CALLER_PID, setup_logging
from ..s3.sweep import sweep_orphans
from . import wire
from .connection import close_fds, receive_request, refusal, watch_client
from .process import name_process, peer_uid, write_pidfile
from .stores import SharedStores

if TYPE_CHECKING:
    from anyio.abc import SocketStream


__all__ = ["Agent", "main"]

log = logging.getLogger("gps3async")

#: Idle part buffers kept for reuse when there is no host_memory_limit.
KEEP_IDLE_BUFFERS = 256 << 20
#: Kept buffers are freed after this long with no call in progress.
TRIM_AFTER = 5.0
#: The sweep of the upload journal waits this long for the first call to end before it runs beside it.
SWEEP_DELAY = 5.0


class Agent:
    def __init__(self, socket_path: str, identity: str, *, allowed_uid: int | None = None) -> None:
        self.socket_path = socket_path
        self.identity = identity
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self.idle_timeout = DEFAULT_AGENT_IDLE_TIMEOUT
        self.budget = MemoryBudget(None, keep_idle=KEEP_IDLE_BUFFERS)
        self.bandwidth = HostBandwidth(None, None, shared_backoff=shared_backoff(os.environ))
        self.journal = UploadJournal(journal_directory(os.path.dirname(socket_path)), identity)
        self.stores = SharedStores(self.journal)
        #: The sweep of uploads left open by gone processes runs (the agent does not exit idle meanwhile).
        self.sweeping = False
        self._housekeeping: anyio.abc.TaskGroup | None = None
        self._first_call_ended = anyio.Event()
        self.active = 0
        self.served = 0
        self.last_activity = time.monotonic()
        self.retiring = False
        self._activity = anyio.Event()
        self._configured = False
        self._bound: tuple[int, int] | None = None

    # -- set-up and tear-down ------------------------------------------------

    def _listen(self) -> socket.socket:
        """Bind a new socket and move it over the path in one step (a stale socket is simply replaced).

        The temporary name is shorter than the socket's own (the directory, then the pid instead of the
        digest), so a socket path the client found short enough for a Unix socket can always be bound.
        """
        temporary = f"{os.path.dirname(self.socket_path)}/{os.getpid()}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(temporary)
        os.chmod(temporary, 0o600)
        sock.listen(128)
        os.replace(temporary, self.socket_path)
        info = os.stat(self.socket_path)
        self._bound = (info.st_dev, info.st_ino)
        return sock

    def _unlisten(self) -> None:
        """Remove the socket path if it is still ours (a newer agent may have replaced it)."""
        try:
            info = os.stat(self.socket_path)
            if (info.st_dev, info.st_ino) == self._bound:
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass

    def _configure(self, config_text: str) -> None:
        """Take the idle timeout and memory limit from the first call's config, and start the journal's sweep."""
        if self._configured:
            return
        try:
            config = parse_config(config_text)
        except ConfigError:
            return  # the call itself reports it; a later valid call configures the agent
        self._configured = True
        self.idle_timeout = config.agent_idle_timeout
        if config.host_memory_limit is not None:
            self.budget = MemoryBudget(config.host_memory_limit, keep_idle=config.host_memory_limit)
        self.bandwidth = HostBandwidth(
            config.host_upload_limit,
            config.host_download_limit,
            shared_backoff=shared_backoff(os.environ),
            max_attempts=config.max_attempts,
        )
        log.info("agent %d: %s, shared by every stream it serves", os.getpid(), self.bandwidth.describe())
        log.info(
            "agent %d: idle timeout %.1f s, host memory limit %s", os.getpid(), self.idle_timeout,
            f"{config.host_memory_limit} bytes" if config.host_memory_limit else "none",
        )  # fmt: skip
        if self._housekeeping is not None:
            self.sweeping = True
            self._housekeeping.start_soon(self._sweep, config)

    async def _sweep(self, config: PluginConfig) -> None:
        """Abort the uploads gone processes left open (:mod:`.sweep`), never before the first call: once it
        ended, or :data:`SWEEP_DELAY` into it (a long stream), so that its start-up has the loop to itself.
        The journal is read in a worker thread, and a store opened only when there is something to abort."""
        with anyio.move_on_after(SWEEP_DELAY):
            await self._first_call_ended.wait()
        try:
            await sweep_orphans(self.journal, lambda: self.stores(config, concurrency=1))
        except GpS3Error as err:  # the store could not be opened (credentials, CA bundle): the calls say why
            log.warning("agent %d: upload journal not swept: %s; its records stay for the next agent", os.getpid(), err)
        except Exception:  # a chore that failed must not stop the calls
            log.exception("agent %d: the sweep of the upload journal failed", os.getpid())
        finally:
            self.sweeping = False
            self._note_activity()

    async def serve(self, ready_fd: int | None = None) -> None:
        sock = self._listen()
        listener = await SocketListener.from_socket(sock)
        pidfile = self.socket_path[: -len(".sock")] + ".pid"
        write_pidfile(pidfile)
        log.info("agent %d: started, listening on %s", os.getpid(), self.socket_path)
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, b"1")
                os.close(ready_fd)
        reason = "stopped by a signal"
        try:
            async with anyio.create_task_group() as tg:
                self._housekeeping = tg
                tg.start_soon(self._watch_signals, tg.cancel_scope)
                async with listener:
                    async with anyio.create_task_group() as calls:
                        calls.start_soon(self._accept, listener, calls)
                        reason = await self._until_idle()
                        self._unlisten()
                        calls.cancel_scope.cancel()  # stops accepting; idle means no call is running
                tg.cancel_scope.cancel()
        finally:
            self._unlisten()
            with contextlib.suppress(FileNotFoundError):
                if self._bound is not None:
                    os.unlink(pidfile)
            await self.stores.aclose()
            log.info("agent %d: %s; served %d calls", os.getpid(), reason, self.served)

    async def _watch_signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("agent %d: %s received; cancelling %d calls in progress", os.getpid(),
                         signal.Signals(signum).name, self.active)  # fmt: skip
                self._unlisten()
                scope.cancel()
                return

    async def _until_idle(self) -> str:
        """Return when the agent should stop: idle too long, or idle after a cleanup hook."""
        while True:
            wait = self.idle_timeout
            if self.active == 0 and not self.sweeping:
                if self.retiring:
                    return "exiting, idle after a cleanup hook"
                idle = time.monotonic() - self.last_activity
                if idle >= self.idle_timeout:
                    return f"exiting after {self.idle_timeout:g} s idle"
                if idle >= TRIM_AFTER:
                    self.budget.trim()
                    wait = self.idle_timeout - idle
                else:
                    wait = min(TRIM_AFTER, self.idle_timeout) - idle
            with anyio.move_on_after(max(wait, 0.01)):
                await self._activity.wait()
            self._activity = anyio.Event()

    def _note_activity(self) -> None:
        self.last_activity = time.monotonic()
        self._activity.set()

    async def _accept(self, listener: SocketListener, calls: anyio.abc.TaskGroup) -> None:
        while True:
            stream = await listener.accept()
            calls.start_soon(self._serve_connection, stream)

    # -- one call ------------------------------------------------------------

    async def _serve_connection(self, stream: SocketStream) -> None:
        async with stream:
            fds: list[int] = []
            try:
                # Read the request before judging it: a refusal sent before the client finished
                # sending would reach it as a reset, not as a reason.
                body, fds = await receive_request(stream)
                refused = refusal(
                    peer_uid(stream.extra(SocketAttribute.raw_socket)),
                    body,
                    fds,
                    allowed_uid=self.allowed_uid,
                    identity=self.identity,
                )
                request = wire.decode_request(body) if not refused else {}
                if refused:
                    log.warning("agent %d: refused a call: %s", os.getpid(), refused)
                    close_fds(fds)
                    await stream.send(wire.encode_refusal(refused))
                    return
                await stream.send(wire.ACCEPTED)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, ValueError) as err:
                log.info("agent %d: a connection ended before its call started (%s)", os.getpid(), err or "closed")
                close_fds(fds)
                return
            # Counted busy until the exit code is sent, so an idle shutdown never cuts a reply short.
            self.active += 1
            self._note_activity()
            try:
                code = await self._run_call(stream, request, fds)
                close_fds(fds)  # before the exit code: the client's readers must see EOF when it exits
                if code is not None:
                    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await stream.send(wire.encode_exit(code))
            finally:
                close_fds(fds)
                self.active -= 1
                self._note_activity()

    async def _run_call(self, stream: SocketStream, request: dict[str, Any], fds: list[int]) -> int | None:
        """Run the call; its exit code, or ``None`` when the client went away (nobody to tell)."""
        argv = [str(arg) for arg in request["argv"]]
        verb, args = argv[0], argv[1:]
        pid = int(request["pid"])
        door = str(request.get("client", "Python"))  # which thin client handed the call over: for the log
        config_text = str(request.get("config", ""))
        self._configure(config_text)  # before the Invocation: the first call must draw from the configured budget
        umask = request.get("umask")
        inv = Invocation(fds[0], fds[1], fds[2], str(request["cwd"]), self.stores, self.budget,
                         self.bandwidth, int(umask) if umask is not None else None)  # fmt: skip
        token = CALLER_PID.set(pid)
        started = time.monotonic()
        signals: list[int] = []
        gone: list[bool] = []
        code = 0
        try:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch_client, stream, scope, signals, gone)
                    code = await self._call(inv, verb, args, config_text)
                    tg.cancel_scope.cancel()
            if signals:
                code = fail(Interrupted(signals[0]), inv.stderr)
            elif gone:
                log.warning("%s: the client went away; call cancelled", verb)
                return None
            return code
        finally:
            self.served += 1
            self._first_call_ended.set()
            log.info("agent %d served %s for pid %d (%s client) in %.3f s (exit %s); peak buffer budget %d bytes",
                     os.getpid(), verb, pid, door, time.monotonic() - started,
                     "none" if gone else code, self.budget.peak_reserved)  # fmt: skip
            CALLER_PID.reset(token)

    async def _call(self, inv: Invocation, verb: str, args: list[str], config_text: str) -> int:
        try:
            spec = check_arguments(verb, args)
            if not spec.needs_config:
                self.retiring = True
                log.info("%s: the agent will exit once idle", verb)
                return 0
            self.retiring = False  # another backup or restore began before this agent went idle
            await run_verb(inv, verb, args, config_text=config_text)
        except Exception as exc:  # noqa: BLE001 - one call's failure is its exit code, not the agent's
            return report(exc, verb, inv.stderr)
        return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m gps3async.agent --socket PATH --identity DIGEST [--ready-fd N]``."""
    parser = argparse.ArgumentParser(prog="python -m gps3async.agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="the Unix socket path to listen on")
    parser.add_argument("--identity", required=True, help="the identity digest calls must present")
    parser.add_argument("--ready-fd", type=int, help="write '1' to this descriptor once listening")
    options = parser.parse_args(argv)
    name_process()
    setup_logging()
    from ..runtime.malloc import tune_malloc

    # Part buffers (5 MiB and more) are mmapped, so the memory of a finished call goes back to the system.
    tune_malloc(mmap_threshold=4 << 20)
    agent = Agent(options.socket, options.identity)
    try:
        anyio.run(agent.serve, options.ready_fd, backend="asyncio", backend_options={"use_uvloop": True})
    except Exception:
        log.exception("agent %d failed", os.getpid())
        return 1
    return 0
